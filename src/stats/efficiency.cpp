// POP-style efficiencies of a run (efficiency.hpp) from its event and item rows.
#include "mpipe/efficiency.hpp"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <limits>
#include <map>
#include <sstream>
#include <utility>

namespace mpipe {
namespace {

// Length of the union of [start, end) intervals, in ns.
double union_ns(std::vector<std::pair<std::int64_t, std::int64_t>> spans) {
  std::sort(spans.begin(), spans.end());
  double total = 0.0;
  std::int64_t reach = std::numeric_limits<std::int64_t>::min();
  for (const auto& [start, end] : spans) {
    const std::int64_t from = std::max(start, reach);
    if (end > from) total += static_cast<double>(end - from);
    reach = std::max(reach, end);
  }
  return total;
}

std::string two(double v) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(2) << v;
  return s.str();
}

}  // namespace

run_efficiency compute_efficiency(const std::vector<event_row>& events,
                                  const std::vector<item_row>& items,
                                  const std::vector<std::string>& hosts_per_rank,
                                  std::uint64_t items_total, double ideal_wall_ms) {
  run_efficiency e;
  const std::size_t ranks = hosts_per_rank.size();
  std::int64_t first = std::numeric_limits<std::int64_t>::max(), last = 0;
  for (const auto& it : items) {
    first = std::min(first, it.emitted_ns);
    last = std::max(last, it.completed_ns);
  }
  if (items.empty() || last <= first || ranks == 0) return e;
  e.wall_ms = static_cast<double>(last - first) / 1e6;
  e.sampled = items.size() < items_total;
  // With a sample, each rank's busy time is the sample's, scaled to every item; the wall is the
  // whole run's, so both describe all items.
  const double scale =
      e.sampled ? static_cast<double>(items_total) / static_cast<double>(items.size()) : 1.0;
  std::vector<std::vector<std::pair<std::int64_t, std::int64_t>>> spans(ranks);
  for (const auto& ev : events)
    if (ev.rank >= 0 && static_cast<std::size_t>(ev.rank) < ranks)
      spans[static_cast<std::size_t>(ev.rank)].emplace_back(ev.started_ns, ev.finished_ns);
  double sum = 0.0, top = 0.0;
  for (std::size_t r = 0; r < ranks; ++r) {
    const double u = std::min(1.0, union_ns(spans[r]) * scale / 1e6 / e.wall_ms);
    e.rank_useful.push_back(u);
    sum += u;
    top = std::max(top, u);
  }
  std::map<std::string, std::pair<double, int>> by_host;
  for (std::size_t r = 0; r < ranks; ++r) {
    auto& [total, n] = by_host[hosts_per_rank[r]];
    if (n == 0) e.hosts.push_back(hosts_per_rank[r]);
    total += e.rank_useful[r];
    ++n;
  }
  for (const auto& h : e.hosts) e.host_useful.push_back(by_host[h].first / by_host[h].second);
  e.parallel = sum / static_cast<double>(ranks);
  e.load_balance = top > 0 ? e.parallel / top : 0.0;
  e.communication = top;
  e.ideal_wall_ms = ideal_wall_ms;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  e.serialization = ideal_wall_ms > 0 ? top * e.wall_ms / ideal_wall_ms : nan;
  e.transfer = ideal_wall_ms > 0 ? ideal_wall_ms / e.wall_ms : nan;
  return e;
}

std::string efficiency_text(const run_efficiency& e) {
  if (e.rank_useful.empty()) return "";
  std::ostringstream s;
  s << "Efficiency (POP, 1 = ideal, >= 0.8 good): parallel " << two(e.parallel)
    << " = load balance " << two(e.load_balance) << " x communication " << two(e.communication)
    << " (serialization " << two(e.serialization) << ", transfer " << two(e.transfer) << ")\n"
    << "  wall " << two(e.wall_ms) << " ms, with free communication " << two(e.ideal_wall_ms)
    << " ms (the simulator)" << (e.sampled ? "; busy times from the recorded items, scaled" : "")
    << "\n  useful (busy / wall) per rank:";
  for (std::size_t r = 0; r < e.rank_useful.size() && r < 16; ++r)
    s << (r ? ", " : " ") << r << ": " << two(e.rank_useful[r]);
  if (e.rank_useful.size() > 16) s << ", ...";
  s << "\n";
  return s.str();
}

}  // namespace mpipe
