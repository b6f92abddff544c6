// Stage times measured by a previous run, fed to the model (include/mpipe/stage_times.hpp).
#include "mpipe/stage_times.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <set>
#include <sstream>
#include <system_error>
#include <variant>

#include "mpipe/error.hpp"
#include "mpipe/hdf5_output.hpp"

namespace mpipe {

namespace {

// What the run's `kind` attribute says: absent means a pipeline run (docs/results-schema.md).
std::string kind_of(const run_record& r) {
  const auto* k = r.get("kind");
  if (k == nullptr || !std::holds_alternative<std::string>(*k)) return "run";
  return std::get<std::string>(*k);
}

std::string ms_text(double v) {
  const int digits = v >= 100 ? 0 : v >= 10 ? 1 : v >= 1 ? 2 : 3;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

}  // namespace

std::map<std::string, double> measured_stage_ms(const run_record& run) {
  std::map<std::int32_t, std::string> name_of;
  for (const auto& s : run.stages) name_of[s.id] = s.name;
  struct acc {
    std::set<std::uint64_t> items;
    double sum_ms = 0.0, first_ms = 0.0;  // first: item 0's rows
    std::uint64_t rows = 0, first_rows = 0;
  };
  std::map<std::int32_t, acc> by_stage;
  for (const auto& e : run.events) {
    auto& a = by_stage[e.stage];
    const double ms = static_cast<double>(e.finished_ns - e.started_ns) / 1e6;
    a.items.insert(e.item);
    a.sum_ms += ms;
    ++a.rows;
    if (e.item == 0) {
      a.first_ms += ms;
      ++a.first_rows;
    }
  }
  std::map<std::string, double> out;
  for (const auto& [stage, a] : by_stage) {
    const auto n = name_of.find(stage);
    if (n == name_of.end()) continue;  // a row of no known stage: nothing to name it by
    const bool leave_out = a.items.size() > 2 && a.first_rows > 0;
    const double sum = leave_out ? a.sum_ms - a.first_ms : a.sum_ms;
    const std::uint64_t rows = leave_out ? a.rows - a.first_rows : a.rows;
    if (rows == 0) continue;
    out[n->second] = std::max(0.0, sum / static_cast<double>(rows));
  }
  return out;
}

std::vector<std::string> apply_stage_times(pipeline_spec& spec,
                                           const std::map<std::string, double>& times) {
  std::vector<std::string> missing;
  for (auto& st : spec.stages) {
    const auto t = times.find(st.name);
    if (t == times.end()) {
      missing.push_back(st.name);
      continue;
    }
    // The model's service time of compute is work_ms / threads (src/model/model.cpp); every other
    // kernel's is work_ms. The measured wall time is the service time either way.
    st.work_ms =
        st.kernel == kernel_kind::compute ? t->second * std::max(1, st.threads) : t->second;
  }
  return missing;
}

stage_times load_stage_times(const std::string& file_and_run) {
  stage_times t;
  std::error_code ec;
  t.file = file_and_run;
  if (!std::filesystem::exists(file_and_run, ec)) {
    const auto colon = file_and_run.rfind(':');
    if (colon != std::string::npos && colon > 0 && colon + 1 < file_and_run.size() &&
        file_and_run.find('/', colon) == std::string::npos) {
      t.file = file_and_run.substr(0, colon);
      t.run_id = file_and_run.substr(colon + 1);
    }
  }
  if (!std::filesystem::is_regular_file(t.file, ec))
    throw io_error(t.file + ": cannot read stage times: " +
                   (std::filesystem::exists(t.file, ec) ? "not a regular file" : "no such file"));
  const auto ids = list_runs(t.file);
  if (t.run_id.empty()) {
    for (auto it = ids.rbegin(); it != ids.rend() && t.run_id.empty(); ++it)
      if (kind_of(read_run(t.file, *it, run_part::attributes)) == "run") t.run_id = *it;
    if (t.run_id.empty())
      throw io_error(t.file + ": cannot read stage times: no pipeline run among its " +
                     std::to_string(ids.size()) + " run(s)");
  } else if (std::find(ids.begin(), ids.end(), t.run_id) == ids.end()) {
    throw io_error(t.file + ": cannot read stage times: no run '" + t.run_id + "' (" +
                   std::to_string(ids.size()) + " run(s)" +
                   (ids.empty() ? std::string() : ", the newest " + ids.back()) + ")");
  }
  const auto run = read_run(t.file, t.run_id);
  const std::string where = t.file + " run " + t.run_id;
  if (const auto kind = kind_of(run); kind != "run")
    throw io_error(where + ": cannot read stage times: a '" + kind +
                   "' run, not a pipeline run (mpipe run)");
  if (run.events.empty())
    throw io_error(where + ": cannot read stage times: the run has no event rows");
  t.ms = measured_stage_ms(run);
  if (t.ms.empty())
    throw io_error(where + ": cannot read stage times: no event row names a stage of the run");
  std::map<std::int32_t, std::set<std::uint64_t>> items;
  for (const auto& e : run.events) items[e.stage].insert(e.item);
  for (const auto& [stage, set] : items) {
    t.items = std::max<std::uint64_t>(t.items, set.size());
    t.first_item_left_out |= set.size() > 2 && set.count(0) > 0;
  }
  for (const auto& s : run.stages)
    if (t.ms.count(s.name)) t.order.push_back(s.name);
  return t;
}

std::string describe(const stage_times& t) {
  std::ostringstream s;
  s << "stage times from " << t.file << " run " << t.run_id << " (" << t.items
    << (t.items == 1 ? " item" : " items") << (t.first_item_left_out ? ", item 0 left out" : "")
    << ", mean):";
  bool first = true;
  for (const auto& name : t.order) {
    s << (first ? " " : ", ") << name << ' ' << ms_text(t.ms.at(name)) << " ms";
    first = false;
  }
  return s.str();
}

std::string use_stage_times(pipeline_spec& spec, const std::string& file_and_run) {
  const auto t = load_stage_times(file_and_run);
  const auto missing = apply_stage_times(spec, t.ms);
  std::string out = describe(t);
  if (!missing.empty()) {
    out += "\nnote: " + std::to_string(missing.size()) + " stage(s) of the spec not in that run " +
           "keep the spec's work_ms:";
    for (std::size_t i = 0; i < missing.size(); ++i) {
      const auto& st = spec.stages[static_cast<std::size_t>(spec.stage_index(missing[i]))];
      out += (i ? ", " : " ") + st.name + " " + ms_text(st.work_ms) + " ms";
    }
  }
  return out;
}

}  // namespace mpipe
