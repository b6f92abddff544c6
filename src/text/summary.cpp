// The terminal summary. It answers the user's question in the order they ask it: where did each
// stage run and how long did it take, what did each hop cost, and how far is the measured item
// latency from the bound that the pipeline's own critical path sets.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <ostream>
#include <string>
#include <tuple>
#include <vector>

#include "mpipe/runtime.hpp"
#include "mpipe/stats.hpp"
#include "table.hpp"

namespace mpipe {
namespace {

std::string fmt(double v, int decimals) {
  if (std::isnan(v)) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

struct stat {
  double sum = 0.0;
  double min = std::numeric_limits<double>::infinity();
  double max = -std::numeric_limits<double>::infinity();
  long n = 0;
  void add(double v) {
    sum += v;
    min = std::min(min, v);
    max = std::max(max, v);
    ++n;
  }
  double mean() const { return n ? sum / static_cast<double>(n) : std::nan(""); }
};

// The one quantile (stats.hpp); NaN when empty.
double percentile(const std::vector<double>& v, double q) {
  return v.empty() ? std::nan("") : stats::quantile(v, q);
}

// Per edge instance (producer replica -> consumer replica: a farm's pairs can sit in different
// tiers), overhead = producer done -> this input available at the consumer, less the time the
// producer waited for a credit (a free replica of an on-demand farm: queueing, shown apart).
// Across ranks that is payload fill + serialize + wire + deserialize; on one rank the producer's
// hand-over to this consumer (not its later out-edges). Queued: available -> the consumer
// starting on it (a join waits for its slowest input). Both are >= 0 by construction on one
// rank's clock; across ranks, overhead is within the two ranks' clock error of the truth.
using event_index = std::map<std::pair<std::uint64_t, int>, const event_row*>;

struct edge_stats {
  std::vector<double> overhead;
  stat ser, wire, deser, wire_bytes, queued, credit_wait;
  double clock_error_us = 0.0;  // the largest of its messages' (two ranks' clocks)
};

// A time taken between two ranks' clocks, in us. One that comes out below 0 lies inside the
// clocks' error: it is shown as the bound it gives, "<3.2" (between 0 and 3.2 us), not as a
// negative duration. Only a value below even that (a defect, not noise) is shown as it is.
std::string clocked(double v, double error_us) {
  if (std::isnan(v) || v >= 0.0 || v + error_us < 0.0) return fmt(v, 1);
  return "<" + fmt(v + error_us, 1);
}

void print_edges(std::ostream& out, const run_record& rec, int source, const event_index& ev) {
  std::map<std::tuple<int, int, int>, edge_stats> by_pair;  // (edge, src replica, dst replica)
  const auto add = [&](int e, int sr, int dr, std::uint64_t item, std::int64_t available,
                       std::int64_t credit_wait) {
    auto& s = by_pair[{e, sr, dr}];
    const auto& ed = rec.edges[static_cast<std::size_t>(e)];
    const auto prod = ev.find({item, ed.from});
    const auto cons = ev.find({item, ed.to});
    s.credit_wait.add(static_cast<double>(credit_wait) / 1e3);
    if (prod != ev.end())
      s.overhead.push_back(
          static_cast<double>(available - prod->second->finished_ns - credit_wait) / 1e3);
    if (cons != ev.end() && ed.to != source)
      s.queued.add(static_cast<double>(cons->second->started_ns - available) / 1e3);
    return &s;
  };
  for (const auto& m : rec.messages) {
    auto* s = add(m.edge, m.src_replica, m.dst_replica, m.item, m.available_ns, m.credit_wait_ns);
    s->ser.add(static_cast<double>(m.serialize_ns) / 1e3);
    s->wire.add(static_cast<double>(m.transfer_ns) / 1e3);
    s->deser.add(static_cast<double>(m.deserialize_ns) / 1e3);
    s->wire_bytes.add(static_cast<double>(m.bytes));
    s->clock_error_us = std::max(s->clock_error_us, static_cast<double>(m.clock_error_ns) / 1e3);
  }
  for (const auto& h : rec.handoffs)
    add(h.edge, h.src_replica, h.dst_replica, h.item, h.available_ns, h.credit_wait_ns);

  out << "\nEdges (overhead = producer done -> input available at consumer, mean/p50/p95; its "
         "cross-rank parts serialize, wire, deserialize; credit wait = producer waited for a free "
         "replica; queued = available -> consumer starts; a farm's edges per replica pair, #k)\n";
  text_table et({"edge", "tier", "ranks", "items", "payload B", "wire B", "serialization",
                 "overhead us", "p50 us", "p95 us", "serialize us", "wire us", "deserialize us",
                 "credit wait us", "queued us"},
                {true, true, true, false, false, false, true});
  for (const auto& p : rec.edge_instances) {
    const auto& ed = rec.edges[static_cast<std::size_t>(p.edge)];
    const auto& stg = rec.stages;
    const auto name = [&](int stage, int replica) {
      const auto& st = stg[static_cast<std::size_t>(stage)];
      return st.replicas > 1 ? st.name + "#" + std::to_string(replica) : st.name;
    };
    const edge_stats& s = by_pair[{p.edge, p.src_replica, p.dst_replica}];
    const bool cross = p.from_rank != p.to_rank;
    double sum = 0.0;
    for (double v : s.overhead) sum += v;
    const double mean =
        s.overhead.empty() ? std::nan("") : sum / static_cast<double>(s.overhead.size());
    et.add(
        {name(ed.from, p.src_replica) + "->" + name(ed.to, p.dst_replica), p.tier,
         std::to_string(p.from_rank) + "->" + std::to_string(p.to_rank), std::to_string(p.items),
         // User code's output has no given size: wire B is what it measured to be.
         stg[static_cast<std::size_t>(ed.from)].function.empty() ? std::to_string(ed.payload_bytes)
                                                                 : "-",
         cross ? fmt(s.wire_bytes.mean(), 0) : "-",
         (cross ? ed.serialization : "in-memory") +
             (ed.data_type.empty() || ed.data_type == "bytes" ? "" : " (" + ed.data_type + ")"),
         clocked(mean, s.clock_error_us), clocked(percentile(s.overhead, 0.5), s.clock_error_us),
         clocked(percentile(s.overhead, 0.95), s.clock_error_us),
         cross ? fmt(s.ser.mean(), 1) : "-", cross ? clocked(s.wire.mean(), s.clock_error_us) : "-",
         cross ? fmt(s.deser.mean(), 1) : "-", fmt(s.credit_wait.mean(), 1),
         fmt(s.queued.mean(), 1)});
  }
  et.print(out);
}

// The CPUs each rank may use, one group per run of consecutive ranks on the same host with the
// same mask: "Cores: ranks 0-1 on vm: cpus 0-1 (2 usable)", or "rank 0 on vm: cpus 0 (1
// usable); rank 1 on vm: cpus 1 (1 usable)" under --bind-to core. Then the warnings of ranks
// whose CPU-bound stages exceed those cores (printed before the run too; often far above).
void print_cores(std::ostream& out, const run_record& rec) {
  if (rec.ranks.empty()) return;
  constexpr std::size_t shown = 8;  // groups; the rest are in the ranks dataset
  std::string line;
  std::size_t groups = 0, first = 0;
  for (std::size_t i = 1; i <= rec.ranks.size(); ++i) {
    const auto& a = rec.ranks[first];
    if (i < rec.ranks.size() && rec.ranks[i].host == a.host && rec.ranks[i].cpus == a.cpus &&
        rec.ranks[i].usable_cores == a.usable_cores)
      continue;
    if (++groups <= shown) {
      const auto& b = rec.ranks[i - 1];
      line += std::string(line.empty() ? "" : "; ") +
              (i - 1 == first ? "rank " + std::to_string(a.rank)
                              : "ranks " + std::to_string(a.rank) + "-" + std::to_string(b.rank)) +
              " on " + a.host + ": cpus " + a.cpus + " (" + std::to_string(a.usable_cores) +
              " usable)";
    } else if (groups == shown + 1) {
      line += "; " + std::to_string(rec.ranks.size() - first) + " more ranks in the ranks dataset";
    }
    first = i;
  }
  out << "\nCores: " << line << "\n";
  const auto* w = rec.get("core_warnings");
  const auto* text = w ? std::get_if<std::string>(w) : nullptr;
  if (text == nullptr || text->empty()) return;
  std::size_t at = 0;
  while (at <= text->size()) {
    const std::size_t end = std::min(text->find('\n', at), text->size());
    out << "Short of cores: " << text->substr(at, end - at) << "\n";
    at = end + 1;
  }
}

}  // namespace

void print_summary(std::ostream& out, const run_result& result) {
  const run_record& rec = result.record;
  const pipeline_spec& spec = result.spec;
  const graph g(spec);

  event_index event_of;
  std::vector<stat> compute(spec.stages.size()), queue(spec.stages.size());
  for (const auto& e : rec.events) {
    event_of[{e.item, e.stage}] = &e;
    compute[static_cast<std::size_t>(e.stage)].add(
        static_cast<double>(e.finished_ns - e.started_ns) / 1e6);
    if (e.stage != g.source())
      queue[static_cast<std::size_t>(e.stage)].add(
          static_cast<double>(e.started_ns - e.received_ns) / 1e3);
  }

  out << "\nStages (" << spec.name << ", " << rec.ranks.size() << " ranks, placement "
      << result.where.mode << ")\n";
  // pipe us: an exec stage's compute time is its request-to-reply round trip; this is what an
  // echo worker's round trip of the same sizes costs, so its own work is about the difference.
  text_table st({"stage", "kernel", "rank", "host", "threads", "work ms", "mean compute ms",
                 "pipe us", "mean start delay us"},
                {true, true, true, true});
  for (const auto& s : rec.stages) {
    const auto i = static_cast<std::size_t>(s.id);
    // A farm: "1,2,3 (3 on-demand)" -- its replicas' ranks, how many, how items are shared.
    const std::string ranks =
        s.replicas > 1 ? s.ranks + " (" + std::to_string(s.replicas) + " " + s.dispatch + ")"
                       : std::to_string(s.rank);
    // User code shows what it runs: "blur (Image -> Image)", or an exec worker's command.
    st.add({s.name, s.function.empty() ? s.kernel : s.kernel + ": " + s.function, ranks,
            rec.ranks[static_cast<std::size_t>(s.rank)].host, std::to_string(s.threads),
            fmt(s.work_ms, 1), fmt(compute[i].mean(), 2),
            std::isnan(s.pipe_us) ? "-" : fmt(s.pipe_us, 1),
            s.id == g.source() ? "-" : fmt(queue[i].mean(), 1)});
  }
  st.print(out);
  print_cores(out, rec);

  print_edges(out, rec, g.source(), event_of);

  stat lat;
  for (const auto& it : rec.items) lat.add(static_cast<double>(it.latency_ns) / 1e6);
  // Long streams keep rows for a sample; the run's aggregates cover every item.
  const auto number = [&](const char* name) {
    const auto* v = rec.get(name);
    if (v == nullptr) return std::nan("");
    if (const auto* d = std::get_if<double>(v)) return *d;
    if (const auto* i = std::get_if<std::int64_t>(v)) return static_cast<double>(*i);
    return std::nan("");
  };
  if (!std::isnan(number("latency_mean_ms"))) {
    lat.n = static_cast<long>(spec.items);
    lat.sum = number("latency_mean_ms") * static_cast<double>(spec.items);
    lat.min = number("latency_min_ms");
    lat.max = number("latency_max_ms");
  }
  const double bound = g.critical_path_ms();
  std::string path;
  for (int s : g.critical_path()) path += spec.stages[static_cast<std::size_t>(s)].name + " -> ";
  path += spec.stages[static_cast<std::size_t>(g.source())].name;
  out << "\nItem latency over " << lat.n << " items: mean " << fmt(lat.mean(), 2) << " ms, min "
      << fmt(lat.min, 2) << " ms, max " << fmt(lat.max, 2) << " ms\n";
  out << "Critical-path bound: " << fmt(bound, 2) << " ms (" << path << ")\n";
  if (bound > 0.0)
    out << "Above the bound: " << fmt(lat.mean() - bound, 2) << " ms ("
        << fmt((lat.mean() - bound) / bound * 100.0, 2) << " %)\n";
  if (!std::isnan(result.predicted_ms)) {
    const auto* p = rec.get("prediction_platform");
    out << "Predicted (platform " << (p ? std::get<std::string>(*p) : std::string("?"))
        << "): " << fmt(result.predicted_ms, 2) << " ms; measured " << fmt(lat.mean(), 2)
        << " ms; error " << fmt((lat.mean() - result.predicted_ms) / result.predicted_ms * 100.0, 2)
        << " %\n";
  }
  out << result.efficiency;
  if (spec.items < 2) return;
  const double warmup = number("steady_warmup_items"), drain = number("steady_drain_items");
  out << "Throughput: " << fmt(result.throughput_items_per_s, 2) << " items/s in steady state ("
      << spec.inflight << " in flight; items " << fmt(warmup + 1, 0) << "-"
      << fmt(static_cast<double>(spec.items) - drain, 0) << " of " << spec.items << ", first "
      << fmt(warmup, 0) << " (warm-up) and last " << fmt(drain, 0) << " (drain) left out, "
      << fmt(number("steady_window_s"), 3) << " s)\n";
  if (!std::isnan(result.predicted_items_per_s))
    out << "Predicted throughput: " << fmt(result.predicted_items_per_s, 2)
        << " items/s (the simulator, same window); measured / predicted "
        << fmt(result.throughput_items_per_s / result.predicted_items_per_s * 100.0, 1) << " %\n";
  if (!result.bound_text.empty()) {
    out << "Throughput " << result.bound_text << "\n";  // "bound X items/s, set by ..."
    if (std::isfinite(result.bound_items_per_s))
      out << "Measured / bound: "
          << fmt(result.throughput_items_per_s / result.bound_items_per_s * 100.0, 1) << " %\n";
  }
  const double stride = number("detail_stride");
  if (stride > 1)
    out << "Per-item rows kept for every " << fmt(stride, 0) << "th item (--detail-items); "
        << "latency and throughput above cover all " << spec.items << " items\n";
}

}  // namespace mpipe
