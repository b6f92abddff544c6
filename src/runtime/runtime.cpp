#include "mpipe/runtime.hpp"

#include <mpi.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/mpi/collectives.hpp>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <filesystem>
#include <limits>
#include <map>
#include <mutex>
#include <queue>
#include <set>
#include <sstream>
#include <thread>
#include <type_traits>
#include <unordered_map>

#include "../io/item_files.hpp"
#include "bindings.hpp"
#include "clock.hpp"
#include "doorbell.hpp"
#include "gather.hpp"
#include "layout.hpp"
#include "mpi_info.hpp"
#include "mpipe/efficiency.hpp"
#include "mpipe/error.hpp"
#include "mpipe/faults.hpp"
#include "mpipe/kernels.hpp"
#include "mpipe/model.hpp"
#include "mpipe/simulate.hpp"
#include "mpipe/version.hpp"
#include "stage_work.hpp"
#include "transport.hpp"
#include "util.hpp"
#include "watchdog.hpp"

namespace mpipe {

const char* to_string(wait_policy w) {
  switch (w) {
    case wait_policy::automatic:
      return "auto";
    case wait_policy::block:
      return "block";
    case wait_policy::yield:
      return "yield";
    case wait_policy::spin:
      return "spin";
  }
  return "?";
}

pipeline_spec apply_overrides(pipeline_spec spec, const run_options& options) {
  if (options.items) {
    if (*options.items < 1 || *options.items > 10'000'000)
      throw spec_error("<command line>", 0, "--items",
                       "must be between 1 and 10000000, got " + std::to_string(*options.items));
    spec.items = *options.items;
  }
  if (!std::isfinite(options.time_scale) || options.time_scale <= 0.0 ||
      options.time_scale > 1000.0) {
    std::ostringstream s;
    s << "must be > 0 and <= 1000, got " << options.time_scale;
    throw spec_error("<command line>", 0, "--time-scale", s.str());
  }
  for (auto& st : spec.stages) {
    // User code runs as fast as it runs: its work_ms (an estimate) is not scaled either.
    if (is_synthetic(st.kernel)) st.work_ms *= options.time_scale;
    if (options.kernel && is_synthetic(st.kernel)) st.kernel = *options.kernel;  // not user code
    if (options.payload_bytes) st.payload_bytes = *options.payload_bytes;
    if (options.threads) st.threads = *options.threads;
  }
  if (options.threads && (*options.threads < 1 || *options.threads > 1024))
    throw spec_error("<command line>", 0, "threads",
                     "must be between 1 and 1024, got " + std::to_string(*options.threads));
  if (options.serialization)
    for (auto& e : spec.edges) {
      e.serialization = *options.serialization;
      e.serialization_given = true;  // a typed edge then checks it is legal for its type
    }
  if (options.inputs) spec.inputs = std::filesystem::absolute(*options.inputs).string();
  if (options.outputs) spec.outputs = std::filesystem::absolute(*options.outputs).string();
  if (options.inflight) {
    if (*options.inflight < 1 || *options.inflight > 1'000'000)
      throw spec_error("<command line>", 0, "--inflight",
                       "must be between 1 and 1000000, got " + std::to_string(*options.inflight));
    spec.inflight = *options.inflight;
  }
  apply_replicas(spec, options.replicas);
  for (const auto& st : spec.stages)
    if (st.ordered && st.replicas > 1)
      throw spec_error(spec.file, st.line, "ordered",
                       "stage '" + st.name + "' has " + std::to_string(st.replicas) +
                           " replicas: each would see only its share of the items, so their "
                           "order cannot be restored there; order the stage after it instead");
  // --inflight / --payload-bytes can push a valid spec past the payload memory limit.
  if (options.inflight || options.payload_bytes)
    if (const std::string problem = payload_in_flight_problem(spec); !problem.empty())
      throw spec_error("<command line>", 0, options.inflight ? "--inflight" : "--payload-bytes",
                       problem);
  return spec;
}

namespace {

// "5ms" -> 5.0 with `units` giving each suffix's factor; nullopt if the text is not that shape.
std::optional<double> number_with_unit(const std::string& text,
                                       const std::vector<std::pair<std::string, double>>& units) {
  for (const auto& [suffix, factor] : units) {
    if (text.size() <= suffix.size() ||
        text.compare(text.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    const std::string num = text.substr(0, text.size() - suffix.size());
    char* end = nullptr;
    const double v = std::strtod(num.c_str(), &end);
    if (end == num.c_str() || *end != '\0' || !std::isfinite(v) || v < 0.0) return std::nullopt;
    return v * factor;
  }
  return std::nullopt;
}

}  // namespace

emulated_link parse_emulated_link(const std::string& text) {
  const auto bad = [&](const std::string& why) {
    return spec_error("<command line>", 0, "--emulate-link",
                      why + " (got '" + text +
                          "'; expected e.g. 'latency=5ms,bandwidth=1Gbit/s,scope=cross-rank')");
  };
  emulated_link link;
  link.text = text;
  bool has_latency = false;
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, ',')) {
    const auto eq = part.find('=');
    if (eq == std::string::npos) throw bad("'" + part + "' is not key=value");
    const std::string key = part.substr(0, eq), value = part.substr(eq + 1);
    if (key == "latency") {
      // Longest suffixes first so "ms" is not read as "s".
      const auto v = number_with_unit(value, {{"us", 1e-3}, {"ms", 1.0}, {"s", 1e3}});
      if (!v || *v > 60'000.0) throw bad("latency must be like 5ms, 200us or 0.5s, at most 60s");
      link.latency_ms = *v;
      has_latency = true;
    } else if (key == "bandwidth") {
      const auto v = number_with_unit(value, {{"Gbit/s", 1e9 / 8},
                                              {"Mbit/s", 1e6 / 8},
                                              {"kbit/s", 1e3 / 8},
                                              {"GB/s", 1e9},
                                              {"MB/s", 1e6},
                                              {"kB/s", 1e3},
                                              {"B/s", 1.0}});
      if (!v || *v <= 0.0) throw bad("bandwidth must be like 1Gbit/s, 100Mbit/s or 125MB/s, > 0");
      link.bandwidth_bytes_per_s = *v;
    } else if (key == "scope") {
      if (value != "cross-host" && value != "cross-rank")
        throw bad("scope must be cross-host or cross-rank");
      link.cross_host_only = value == "cross-host";
    } else {
      throw bad("unknown key '" + key + "' (known: latency, bandwidth, scope)");
    }
  }
  if (!has_latency && link.bandwidth_bytes_per_s == 0.0)
    throw bad("give a latency and/or a bandwidth");
  return link;
}

double mean_latency_ms(const run_record& record) {
  if (record.items.empty()) return 0.0;
  double sum = 0.0;
  for (const auto& it : record.items) sum += static_cast<double>(it.latency_ns);
  return sum / static_cast<double>(record.items.size()) / 1e6;
}

namespace {

// Where a credit goes back to when a replica takes an item (on-demand dispatch): the producing
// instance's rank, the edge and the producer's replica. rank -1: no credit (not on-demand).
struct credit_origin {
  int rank = -1;
  std::int32_t edge = 0, src_replica = 0;
};

struct ready_item {
  std::uint64_t item = 0;
  std::int64_t received_ns = 0;
  value_list inputs;  // by input slot: the spec's order of the stage's in-edges
  credit_origin credit;
};

// An item the source has in flight: its row, final once the item is both sent and complete.
struct source_row {
  event_row row;
  bool sent, complete;
};
using source_table = std::unordered_map<std::uint64_t, source_row>;  // by item, in flight only
using source_iter = source_table::iterator;

struct join_entry {
  std::size_t have = 0;
  std::int64_t last_arrival = 0;
  value_list inputs;
  credit_origin credit;
};

// One instance (replica) of a stage hosted on this rank: its join table (an item is ready once
// every input edge delivered it) and the queue of ready items its thread works through. An
// ordered stage holds items that arrive early until every earlier item has been queued.
struct stage_state {
  int id = 0;
  int replica = 0;
  std::size_t slot = 0;  // in the stall watchdog
  std::size_t input_count = 0;
  bool ordered = false;
  bool on_engine = false;  // runs_inline: the engine thread runs its items, it has no thread
  // A sleep stage on the engine: its item in service and when its sleep ends (no thread sleeps).
  bool timer = false, in_service = false;
  std::int64_t due_ns = 0;
  ready_item serving;
  event_row serving_row;
  std::uint64_t next_in_order = 0;
  std::map<std::uint64_t, ready_item> early;
  std::mutex m;
  std::condition_variable cv;
  std::unordered_map<std::uint64_t, join_entry> joins;
  std::deque<ready_item> ready;
  std::unique_ptr<stage_work> work;  // what it does with an item (kernel, function, worker)
};

struct outgoing {
  int dest = 0;
  int edge = 0;
  std::uint64_t item = 0;
  value data;
  std::int32_t src_replica = 0, dst_replica = 0;
  std::int64_t credit_asked_ns = 0, credit_granted_ns = 0;  // equal: no credit waited for
};

// Sender and receiver halves of a message row, joined on rank 0 by (item, edge).
struct send_half {
  std::uint64_t item;
  std::int32_t edge, src, dst, src_replica, dst_replica;
  std::uint64_t bytes;
  std::int64_t send_start_ns, serialize_ns, posted_ns, credit_asked_ns, credit_granted_ns;
};
// An in-memory hand-off with its credit stamps, which are mapped onto rank 0's clock like the
// others before their difference is taken (a duration taken on the local clock would not add up
// with mapped stamps under drift).
struct handoff_half {
  handoff_row row;
  std::int64_t credit_asked_ns, credit_granted_ns;
};
struct recv_half {
  std::uint64_t item;
  std::int32_t edge;
  std::int64_t received_ns, deserialize_ns, available_ns;
};

struct rank_facts {
  std::int64_t pid, offset_ns, offset_end_ns, error_ns, rtt_ns;
  double drift;
  std::int32_t omp_max_threads, hardware_threads;
};

// Every item's latency and the steady-state window, kept on the source's rank without a row per
// item, so a run of 10^5 items needs no more memory than one of 10^4.
struct stream_stats {
  std::uint64_t completed = 0;
  double latency_sum_ns = 0.0;
  std::int64_t latency_min_ns = 0, latency_max_ns = 0;
  std::uint64_t warmup = 0, drain = 0;                  // items excluded at each end
  std::int64_t window_start_ns = 0, window_end_ns = 0;  // local clock
};

// What a run was asked to do, the attributes a complete and a partial record share: the spec,
// the placement, the overrides, the job's Slurm/OpenMP settings, the window and sampling.
void set_run_setup(run_record& rec, const pipeline_spec& spec, const placement& where,
                   const run_options& options, double critical_path_ms,
                   const std::string& wait_text, std::uint64_t detail_stride);
// The item latencies over every completed item (nothing when none completed).
void set_latency(run_record& rec, const stream_stats& st);

class rank_runtime {
 public:
  rank_runtime(const boost::mpi::communicator& comm, const pipeline_spec& spec, const graph& g,
               const placement& where, const run_options& options, std::vector<std::string> hosts,
               const bindings& b, const std::vector<output_files>& outputs)
      : comm_(comm),
        spec_(spec),
        graph_(g),
        b_(b),
        outputs_(outputs),
        where_(where),
        options_(options),
        transport_(comm),
        hosts_(std::move(hosts)),
        alarm_(comm) {
    rank_ = comm.rank();
    // Collective: before anything can throw. A spinning or yielding engine never sleeps on it.
    const bool heard = options_.wait != wait_policy::spin && options_.wait != wait_policy::yield;
    bell_ = std::make_unique<doorbell>(comm_, hosts_, heard);
    source_rank_ = where_.rank_of[static_cast<std::size_t>(graph_.source())];
    for (const auto& e : spec_.edges) {
      wire_message& m = edge_messages_.emplace_back();
      m.edge = static_cast<std::int32_t>(edge_messages_.size() - 1);
      m.names =
          make_names(e.from + "->" + e.to,
                     {{"from", e.from}, {"to", e.to}, {"src_rank", std::to_string(rank_)}}, comm_);
      consumer_of_.push_back(spec_.stage_index(e.to));  // once, not per item: it scans names
      pair_base_.push_back(pair_total_);
      pair_total_ += static_cast<std::size_t>(replicas(spec_.stage_index(e.from)) *
                                              replicas(spec_.stage_index(e.to)));
    }
    pair_items_ = std::make_unique<std::atomic<std::uint64_t>[]>(pair_total_);
    const auto instances = where_.instances_on(rank_);
    run_options unserial = options_;
    unserial.serial_stages = false;
    serial_engine_ = options_.serial_stages &&
                     std::all_of(instances.begin(), instances.end(),
                                 [&](const auto& inst) { return on_engine(inst.stage, unserial); });
    for (const auto& inst : instances) {
      auto st = std::make_unique<stage_state>();
      st->id = inst.stage;
      st->replica = inst.replica;
      st->input_count = graph_.inputs(inst.stage).size();
      st->ordered = spec_.stages[static_cast<std::size_t>(inst.stage)].ordered;
      st->work = std::make_unique<stage_work>(spec_, graph_, b_, inst.stage, inst.replica, rank_);
      const auto& ss = spec_.stages[static_cast<std::size_t>(inst.stage)];
      // serial_stages keeps sleeps off the engine (runs_inline), as the engine must not wait on
      // the lock that stage threads take for it; but where every stage of the rank runs on the
      // engine, no thread takes that lock, and the engine runs its sleeps one at a time itself.
      const bool sleeps = ss.kernel == kernel_kind::sleep && ss.work_ms > 0.0;
      st->on_engine = on_engine(inst.stage, options_) || (serial_engine_ && sleeps);
      st->timer = st->on_engine && sleeps;
      if (st->on_engine && inst.stage != graph_.source()) engine_stages_.push_back(st.get());
      if (st->on_engine && inst.stage == graph_.source()) source_on_engine_ = true;
      // Credits: one per consumer replica for each on-demand edge this instance produces on.
      for (int e : graph_.outputs(inst.stage))
        if (on_demand(consumer_of_[static_cast<std::size_t>(e)]))
          pools_[{e, inst.replica}].credits.assign(
              static_cast<std::size_t>(replicas(consumer_of_[static_cast<std::size_t>(e)])), 1);
      local_.emplace(std::make_pair(inst.stage, inst.replica), std::move(st));
    }
    index_instances();
    // Every exec worker is started above; they start up together, and the clock starts later.
    for (auto& [key, st] : local_) st->work->wait_ready();
    // The stall watchdog's slots: one per stage instance (the source is watched by completions).
    std::vector<std::string> slot_names;
    for (auto& [key, st] : local_) {
      if (key.first == graph_.source()) continue;
      st->slot = slot_names.size();
      const auto& ss = spec_.stages[static_cast<std::size_t>(key.first)];
      slot_names.push_back(ss.name + (ss.replicas > 1 ? "#" + std::to_string(key.second) : ""));
    }
    watchdog_ = std::make_unique<watchdog>(
        options_.timeout_s.value_or(default_timeout_s(graph_.critical_path_ms())),
        std::move(slot_names), rank_);
    // Per-item rows for at most detail_items items, evenly spaced; the rest only in aggregates.
    const std::uint64_t cap = std::max<std::uint64_t>(1, options_.detail_items);
    stride_ = std::max<std::uint64_t>(1, (spec_.items + cap - 1) / cap);
    reserve_rows();
    // Steady state: leave out the first and last 10 % (at least the in-flight window, so the
    // pipeline is full), never more than a third at each end.
    const std::uint64_t n = spec_.items;
    stats_.warmup = std::min(std::max(spec_.inflight, n / 10), n / 3);
    stats_.drain = stats_.warmup;
    // No rehash in the window's first 4096 items (a larger window grows the table as it fills).
    source_events_.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(spec_.inflight, 4096)));
  }

  void index_instances() {
    consumers_.resize(spec_.edges.size());
    for (std::size_t e = 0; e < spec_.edges.size(); ++e) {
      const int to = consumer_of_[e];
      consumers_[e].assign(static_cast<std::size_t>(replicas(to)), nullptr);
      for (int r = 0; r < replicas(to); ++r)
        if (auto it = local_.find({to, r}); it != local_.end())
          consumers_[e][static_cast<std::size_t>(r)] = it->second.get();
    }
    if (auto it = local_.find({graph_.source(), 0}); it != local_.end())
      source_state_ = it->second.get();
  }

  stage_state* consumer_state(int edge, int replica) const {
    stage_state* st = consumers_[static_cast<std::size_t>(edge)][static_cast<std::size_t>(replica)];
    if (st == nullptr)
      throw error("edge " + std::to_string(edge) + ": its replica " + std::to_string(replica) +
                  " is not on rank " + std::to_string(rank_));
    return st;
  }

  // Room for every detailed item's rows before the run, touched once so that its pages are
  // mapped now: a vector that grows on the hot path copies all the rows it holds, and a row that
  // lands on a fresh page takes the page fault (~1 us in a VM) inside a measured item.
  template <class T>
  static void reserve_mapped(std::vector<T>& rows, std::size_t n) {
    rows.resize(n);
    rows.clear();  // keeps the capacity, and its pages stay mapped
  }

  void reserve_rows() {
    const std::size_t detailed = static_cast<std::size_t>((spec_.items + stride_ - 1) / stride_);
    // A stage's replicas on this rank, and all of them.
    const auto mine = [&](int stage) {
      const auto& ranks = where_.replica_ranks[static_cast<std::size_t>(stage)];
      return std::pair{std::count(ranks.begin(), ranks.end(), rank_), std::ssize(ranks)};
    };
    std::size_t here = 0, away = 0, ins = 0;  // out-edges that stay / leave, in-edges that arrive
    for (const auto& [key, st] : local_) {
      for (int e : graph_.outputs(key.first)) {
        const auto [m, n] = mine(consumer_of_[static_cast<std::size_t>(e)]);
        here += m > 0;
        away += m < n;
      }
      for (int e : graph_.inputs(key.first)) {
        const auto [m, n] = mine(spec_.stage_index(spec_.edges[static_cast<std::size_t>(e)].from));
        ins += m < n;
      }
    }
    reserve_mapped(events, detailed * local_.size());
    reserve_mapped(handoffs, detailed * here);
    reserve_mapped(sends, detailed * away);
    reserve_mapped(recvs, detailed * ins);
    if (rank_ == source_rank_) reserve_mapped(items, detailed);
  }

  // The run's core_warnings attribute, for a partial record too.
  void set_core_warnings(std::string text) { core_warnings_ = std::move(text); }

  // Runs until every item is complete, this rank's stages have ended, its sends have completed
  // and every credit it gave out has come back.
  void run(std::int64_t t0_local) {
    t0_local_ = t0_local;
    utc_start_ = utc_now_iso();
    engine_thread_ = std::this_thread::get_id();
    alone_ = std::all_of(local_.begin(), local_.end(),
                         [](const auto& kv) { return kv.second->on_engine; });
    std::vector<std::thread> threads;
    for (auto& [key, st] : local_) {
      if (st->on_engine) continue;
      if (key.first == graph_.source())
        threads.emplace_back([this] { guarded([this] { source_loop(); }); });
      else
        threads.emplace_back([this, s = st.get()] { guarded([this, s] { stage_loop(*s); }); });
    }
    threads_ = threads.size();
    if (source_on_engine()) start_source();
    try {
      comm_loop();
    } catch (...) {
      // An error here (a --verify mismatch, an MPI error) ends the run as a stage's does: under
      // the CLI rank 0 saves the partial run, the others tell it why first.
      fail(std::current_exception());
      if (options_.save_partial)
        end_run("error on rank " + std::to_string(rank_) + ": " + error_text().value_or("?"), 3);
    }
    for (auto& t : threads) t.join();
    if (error_) std::rethrow_exception(error_);
  }

  std::uint64_t stride() const { return stride_; }
  // exec instances on this rank, flat (stage, replica, pipe us): measured now, after the run.
  std::vector<double> pipe_costs() const {
    std::vector<double> out;
    for (const auto& [key, st] : local_)
      if (const double us = st->work->pipe_cost_us(); !std::isnan(us))
        out.insert(out.end(),
                   {static_cast<double>(key.first), static_cast<double>(key.second), us});
    return out;
  }
  const stream_stats& stats() const { return stats_; }
  // Items this rank produced per (edge, producer replica, consumer replica), flat: edge by edge,
  // in instance_pairs order.
  std::vector<std::uint64_t> pair_items() const {
    std::vector<std::uint64_t> out(pair_total_);
    for (std::size_t i = 0; i < pair_total_; ++i) out[i] = pair_items_[i].load();
    return out;
  }

  std::vector<event_row> events;
  std::vector<handoff_half> handoffs;
  std::vector<item_row> items;
  std::vector<send_half> sends;
  std::vector<recv_half> recvs;

 private:
  template <class F>
  void guarded(F&& f) {
    try {
      f();
    } catch (...) {
      fail(std::current_exception());
    }
    workers_done_.fetch_add(1);
    wake_comm();
  }

  void fail(std::exception_ptr e) {
    {
      std::lock_guard lk(error_m_);
      if (!error_) error_ = e;
    }
    wake_all();
  }

  // Ends every exec worker's call in progress: a hung worker must not hold a stage's thread.
  void kill_workers() noexcept {
    for (auto& [key, st] : local_) st->work->kill();
  }

  // Sets aborted_ and wakes every waiter. Each wait checks aborted_ under its own mutex, so the
  // mutex is taken between the store and the notify: a waiter that has just seen aborted_ false
  // is then already waiting and gets the notify (else a lost wake-up could hang join()).
  void wake_all() {
    aborted_.store(true);
    wake_stages();
    { std::lock_guard lk(src_m_); }
    src_cv_.notify_all();
    { std::lock_guard lk(credit_m_); }
    credit_cv_.notify_all();
    wake_comm();
  }

  void wake_stages() {
    for (auto& [key, st] : local_) {
      std::lock_guard lk(st->m);
      st->cv.notify_all();
    }
  }

  // The engine thread never needs waking by itself: what it queues, it sees before it sleeps.
  void wake_comm() {
    if (std::this_thread::get_id() != engine_thread_) bell_->ring_self();
  }

  bool detailed(std::uint64_t item) const { return item % stride_ == 0; }
  // runs_inline (layout.hpp), unless it is the source and reads item files (that is I/O).
  bool on_engine(int stage, const run_options& options) const {
    if (!runs_inline(spec_, stage, options)) return false;
    return stage != graph_.source() || b_.input_files.empty();
  }
  bool source_on_engine() const { return source_on_engine_; }
  int replicas(int stage) const { return spec_.stages[static_cast<std::size_t>(stage)].replicas; }
  bool on_demand(int stage) const {
    return replicas(stage) > 1 &&
           spec_.stages[static_cast<std::size_t>(stage)].dispatch == dispatch_kind::on_demand;
  }

  // Which replica of `consumer` gets `item` from producer replica `from` on edge e. On-demand:
  // one with a credit (a free queue slot), the fullest first, ties in turn; waits for a credit
  // when none has one -- the back-pressure that keeps every queue bounded.
  int choose_replica(int e, int consumer, int from, std::uint64_t item) {
    const int r = replicas(consumer);
    if (r <= 1) return 0;
    if (!on_demand(consumer)) return static_cast<int>(item % static_cast<std::uint64_t>(r));
    std::unique_lock lk(credit_m_);
    credit_pool& pool = pools_.at({e, from});
    const auto has_credit = [&] {
      return std::any_of(pool.credits.begin(), pool.credits.end(), [](int c) { return c > 0; });
    };
    credit_cv_.wait(lk, [&] { return has_credit() || aborted_.load(); });
    if (aborted_.load()) throw error("run aborted");
    int best = -1;
    for (int k = 0; k < r; ++k) {
      const int i = (pool.next + k) % r;
      if (pool.credits[static_cast<std::size_t>(i)] > 0 &&
          (best < 0 || pool.credits[static_cast<std::size_t>(i)] >
                           pool.credits[static_cast<std::size_t>(best)]))
        best = i;
    }
    --pool.credits[static_cast<std::size_t>(best)];
    pool.next = (best + 1) % r;
    ++outstanding_credits_;
    return best;
  }

  void return_credit(int edge, int src_replica, int dst_replica) {
    {
      std::lock_guard lk(credit_m_);
      ++pools_.at({edge, src_replica}).credits.at(static_cast<std::size_t>(dst_replica));
      --outstanding_credits_;
    }
    credit_cv_.notify_all();
    wake_comm();  // the last credit may be what the communication thread waits for
  }

  // A replica took an item from its queue: the producer may send it the next one.
  void give_credit_back(const credit_origin& c, int my_replica) {
    if (c.rank < 0) return;
    if (c.rank == rank_) {
      return_credit(c.edge, c.src_replica, my_replica);
      return;
    }
    {
      std::lock_guard lk(out_m_);
      control_out_.push_back(
          {c.rank, control_message{control_kind::credit, c.edge, c.src_replica, my_replica, 0}});
      queued_.store(true, std::memory_order_relaxed);
    }
    wake_comm();
  }

  // The lock on a hot path's mutex, or none when the engine is the rank's only thread: then
  // nothing else touches what it guards, and a lock pair costs ~40 ns of a ~250 ns hand-off here.
  std::unique_lock<std::mutex> hold(std::mutex& m) const {
    return alone_ ? std::unique_lock<std::mutex>(m, std::defer_lock)
                  : std::unique_lock<std::mutex>(m);
  }

  // An input reached a stage instance on this rank.
  void deliver(int edge, int replica, std::uint64_t item, value data, std::int64_t arrived,
               credit_origin credit) {
    const int stage = consumer_of_[static_cast<std::size_t>(edge)];
    stage_state& st = *consumer_state(edge, replica);
    if (stage == graph_.source()) {
      if (outputs_[static_cast<std::size_t>(edge)].enabled()) write_output(edge, item, data);
      if (st.input_count == 1) return complete_item(item, arrived);  // no join to wait for
      auto lk = hold(st.m);
      auto& j = st.joins[item];
      j.last_arrival = std::max(j.last_arrival, arrived);
      if (++j.have < st.input_count) return;
      const std::int64_t done = j.last_arrival;
      st.joins.erase(item);
      if (lk.owns_lock()) lk.unlock();
      complete_item(item, done);
      return;
    }
    auto lk = hold(st.m);
    if (st.input_count == 1) {  // ready now: no join table entry to make and erase
      ready_item& r = make_ready(st, item);
      r.received_ns = arrived;
      r.credit = credit;
      r.inputs.push_back(std::move(data));
    } else {
      auto& j = st.joins[item];
      j.last_arrival = std::max(j.last_arrival, arrived);
      if (j.inputs.empty()) j.inputs.resize(st.input_count);
      j.inputs[static_cast<std::size_t>(b_.input_slot[static_cast<std::size_t>(edge)])] =
          std::move(data);
      if (credit.rank >= 0) j.credit = credit;
      if (++j.have < st.input_count) return;
      ready_item& r = make_ready(st, item);
      r.received_ns = j.last_arrival;
      r.inputs = std::move(j.inputs);
      r.credit = j.credit;
      st.joins.erase(item);
    }
    if (st.ordered) release_in_order(st);
    if (lk.owns_lock())
      lk.unlock();  // wake the consumer after unlocking, or it wakes only to block on the mutex
    if (!st.on_engine)
      st.cv.notify_one();
    else
      wake_comm();
  }

  // Where a ready item is made, in place (caller holds st.m), its other fields for the caller to
  // fill: its instance's queue, or, for an ordered stage, the table of items that came early.
  static ready_item& make_ready(stage_state& st, std::uint64_t item) {
    ready_item& r = st.ordered ? st.early.try_emplace(item).first->second : st.ready.emplace_back();
    r.item = item;
    return r;
  }

  // An ordered stage's early items into its queue, as far as every earlier one has been queued.
  static void release_in_order(stage_state& st) {
    while (!st.early.empty() && st.early.begin()->first == st.next_in_order) {
      st.ready.push_back(std::move(st.early.begin()->second));
      st.early.erase(st.early.begin());
      ++st.next_in_order;
    }
  }

  // Hands an instance's output to each consumer: in memory when the chosen replica lives here,
  // else via the outbox.
  // The value is moved into the last consumer, so one that takes it alone can move the object.
  void emit(int stage, int replica, std::uint64_t item, value data) {
    bool queued = false;
    const auto& outs = graph_.outputs(stage);
    for (int e : outs) {
      value mine = e == outs.back() ? std::move(data) : data;
      const int to = consumer_of_[static_cast<std::size_t>(e)];
      const std::int64_t asked = on_demand(to) ? now_ns() : 0;
      const int dr = choose_replica(e, to, replica, item);
      const std::int64_t granted = on_demand(to) ? now_ns() : 0;
      const int dest =
          where_.replica_ranks[static_cast<std::size_t>(to)][static_cast<std::size_t>(dr)];
      // One writer per counter (a stage instance runs on one thread), so a load and a store, not
      // a lock-prefixed add on every hand-off.
      auto& count = pair_items_[pair_base_[static_cast<std::size_t>(e)] +
                                static_cast<std::size_t>(replica * replicas(to) + dr)];
      count.store(count.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      if (dest == rank_) {
        const credit_origin c = on_demand(to) ? credit_origin{rank_, e, replica} : credit_origin{};
        // This input's own arrival: the producer's sent_ns comes after all its out-edges.
        const std::int64_t available = now_ns();
        deliver(e, dr, item, std::move(mine), available, c);
        if (detailed(item)) {
          const auto lk = hold(rec_m_);
          handoffs.push_back({{item, e, rank_, replica, dr, available, 0}, asked, granted});
        }
      } else {
        const auto lk = hold(out_m_);
        outbox_.push_back({dest, e, item, std::move(mine), replica, dr, asked, granted});
        queued_.store(true, std::memory_order_relaxed);
        queued = true;
      }
    }
    if (queued) wake_comm();
  }

  void stage_loop(stage_state& st) {
    while (true) {
      ready_item r;
      {
        std::unique_lock lk(st.m);
        st.cv.wait(lk, [&] { return !st.ready.empty() || stop_.load() || aborted_.load(); });
        if (aborted_.load() || st.ready.empty()) return;  // empty: stopped, all items done
        r = std::move(st.ready.front());
        st.ready.pop_front();
      }
      invoke(st, r);
    }
  }

  // The engine thread's share of the stages: the items its stages have ready, at most a few per
  // stage before it looks at MPI again. Returns whether it ran any.
  bool run_engine_stages() {
    bool did = false;
    for (stage_state* st : engine_stages_) {
      if (st->timer) {
        did |= run_timer(*st);
        continue;
      }
      if (serial_timer_busy_) continue;  // serial_stages: a sleep is another stage's work
      for (int n = 0; n < 16; ++n) {
        ready_item r;
        {
          const auto lk = hold(st->m);
          if (st->ready.empty()) break;
          r = std::move(st->ready.front());
          st->ready.pop_front();
        }
        invoke(*st, r);
        did = true;
      }
    }
    return did;
  }

  // A sleep stage on the engine: its sleep is a deadline the engine keeps, so no thread sleeps
  // and no hand-off wakes one; one item at a time, as a thread would serve them.
  // An item whose sleep is already over (a 0 ms stage) ends in the same call, not a turn later;
  // at most 16 items per call, as run_engine_stages() runs.
  bool run_timer(stage_state& st) {
    bool did = false;
    for (int n = 0; n < 16; ++n) {
      if (st.in_service) {
        const std::int64_t now = now_ns();
        if (now < st.due_ns) return did;
        st.serving.inputs.clear();
        st.serving_row.finished_ns = now;
        st.in_service = false;
        serial_timer_busy_ = false;
        end_item(st, st.serving_row, st.work->synthetic_output(st.serving.item));
        did = true;
      }
      if (serial_timer_busy_) return did;  // serial_stages: another stage's sleep is in service
      {
        const auto lk = hold(st.m);
        if (st.ready.empty()) return did;
        st.serving = std::move(st.ready.front());
        st.ready.pop_front();
      }
      st.serving_row = begin_item(st, st.serving);
      const double ms = spec_.stages[static_cast<std::size_t>(st.id)].work_ms;
      st.due_ns = st.serving_row.started_ns + static_cast<std::int64_t>(ms * 1e6);
      st.in_service = true;
      serial_timer_busy_ = serial_engine_;
      did = true;
    }
    return did;
  }

  // The engine's next deadline: the earliest sleep stage in service (INT64_MAX: none).
  std::int64_t next_due_ns() const {
    std::int64_t due = std::numeric_limits<std::int64_t>::max();
    for (const stage_state* st : engine_stages_)
      if (st->in_service) due = std::min(due, st->due_ns);
    return due;
  }

  // One item through one stage instance, on whichever thread runs it.
  void invoke(stage_state& st, ready_item& r) {
    event_row ev = begin_item(st, r);
    std::unique_lock<std::mutex> worker;  // serial_stages: one stage's work at a time here
    if (options_.serial_stages) {
      worker = std::unique_lock(serial_m_);
      ev.started_ns = now_ns();  // its wait for the lock is not its work
    }
    value out = st.work->run(r.item, r.inputs, ev.finished_ns);
    if (worker.owns_lock()) worker.unlock();
    end_item(st, ev, std::move(out));
  }

  // Each clock read costs ~25 ns here (vDSO): one per stamp, shared where two coincide.
  event_row begin_item(stage_state& st, const ready_item& r) {
    const std::int64_t now = now_ns();
    watchdog_->busy(st.slot, r.item, now);
    give_credit_back(r.credit, st.replica);
    if (!options_.faults.empty())
      inject_fault(options_.faults, spec_.stages[static_cast<std::size_t>(st.id)].name, st.replica,
                   r.item, aborted_);
    event_row ev;
    ev.item = r.item;
    ev.stage = st.id;
    ev.replica = st.replica;
    ev.rank = rank_;
    ev.received_ns = r.received_ns;
    ev.started_ns = options_.faults.empty() ? now : now_ns();  // a fault's delay is not work
    return ev;
  }

  void end_item(stage_state& st, event_row& ev, value out) {
    emit(st.id, st.replica, ev.item, std::move(out));
    ev.sent_ns = now_ns();
    watchdog_->idle(st.slot);
    if (!detailed(ev.item)) return;
    const auto lk = hold(rec_m_);
    events.push_back(ev);
  }

  // The source emits items (at most `inflight` at a time) and completes them in deliver().
  void source_loop() {
    start_source();
    for (std::uint64_t item = 0; item < spec_.items; ++item) {
      {
        std::unique_lock lk(src_m_);
        src_cv_.wait(lk, [&] { return inflight_ < spec_.inflight || aborted_.load(); });
        if (aborted_.load()) return;
        ++inflight_;
      }
      emit_item(item);
    }
  }

  void start_source() {
    start_ns_ = now_ns();
    watchdog_->progress(start_ns_);
  }

  // The source on the engine thread: the items the in-flight window allows now.
  bool run_engine_source() {
    if (!source_on_engine()) return false;
    bool did = false;
    while (next_item_ < spec_.items) {
      {
        const auto lk = hold(src_m_);
        if (inflight_ >= spec_.inflight) break;
        ++inflight_;
      }
      emit_item(next_item_++);
      did = true;
    }
    return did;
  }

  void emit_item(std::uint64_t item) {
    const int s = graph_.source();
    event_row ev;
    ev.item = item;
    ev.stage = s;
    ev.rank = rank_;
    ev.started_ns = now_ns();
    value out = source_state_->work->emit(item, ev.finished_ns);
    // The iterator stays valid through emit(): only this thread inserts (so nothing rehashes),
    // and the entry is erased only once it is marked sent, below.
    source_iter it;
    {
      const auto lk = hold(src_m_);
      it = source_events_.insert_or_assign(item, source_row{ev, false, false}).first;
    }
    emit(s, 0, item, std::move(out));
    const auto lk = hold(src_m_);
    it->second.row.sent_ns = now_ns();
    it->second.sent = true;
    finish_source_row(it);
  }

  // A source row is final once the item is both sent and complete -- in either order: an item
  // can complete before the source has taken its sent stamp. Caller holds src_m_.
  void finish_source_row(source_iter it) {
    if (!it->second.sent || !it->second.complete) return;
    if (detailed(it->first)) {
      const auto lk = hold(rec_m_);
      events.push_back(it->second.row);
    }
    source_events_.erase(it);
  }

  void complete_item(std::uint64_t item, std::int64_t done) {
    const auto lk = hold(src_m_);
    const auto it = source_events_.find(item);
    if (it == source_events_.end())
      throw error("item " + std::to_string(item) + " completed, but it is not in flight");
    auto& pending = it->second;
    pending.row.received_ns = done;
    pending.complete = true;
    const std::int64_t latency = done - pending.row.started_ns;
    if (detailed(item)) items.push_back({item, pending.row.started_ns, done, latency});
    finish_source_row(it);
    --inflight_;
    ++completed_;
    stats_.completed = completed_;
    stats_.latency_sum_ns += static_cast<double>(latency);
    stats_.latency_min_ns = completed_ == 1 ? latency : std::min(stats_.latency_min_ns, latency);
    stats_.latency_max_ns = std::max(stats_.latency_max_ns, latency);
    if (completed_ == stats_.warmup) stats_.window_start_ns = done;
    if (stats_.warmup == 0 && completed_ == 1) stats_.window_start_ns = start_ns_;
    if (completed_ == spec_.items - stats_.drain) stats_.window_end_ns = done;
    watchdog_->progress(done);
    report_progress(done);
    src_cv_.notify_all();
    if (source_on_engine()) wake_comm();
    if (completed_ == spec_.items) {
      stop_.store(true);  // every stage of every rank has seen every item
      wake_stages();
      wake_comm();
    }
  }

  // A line every few seconds on long runs: which item, how long so far, how long to go.
  void report_progress(std::int64_t now) {
    if (!options_.progress) return;
    const double elapsed = static_cast<double>(now - start_ns_) / 1e9;
    if (elapsed < 3.0 || now - last_progress_ns_ < 5'000'000'000) return;
    last_progress_ns_ = now;
    const double left =
        elapsed / static_cast<double>(completed_) * static_cast<double>(spec_.items - completed_);
    std::fprintf(stderr, "[mpipe] %llu/%llu items done, %.1f s elapsed, about %.1f s left\n",
                 static_cast<unsigned long long>(completed_),
                 static_cast<unsigned long long>(spec_.items), elapsed, left);
  }

  // This rank is done when it knows every item is complete (it is the source's rank, or the
  // stop message came), its stage threads ended, nothing waits to be sent, and every credit it
  // gave out has come back (so no credit message can still be on its way here).
  bool local_work_done() {
    if (!stop_.load() || workers_done_.load() < threads_) return false;
    if (rank_ == source_rank_ && !stop_sent_) return false;
    {
      const auto lk = hold(credit_m_);
      if (outstanding_credits_ != 0) return false;
    }
    const auto lk = hold(out_m_);
    return outbox_.empty() && control_out_.empty();
  }

  // The rank's main thread: the only one that calls MPI.
  void comm_loop() {
    int idle = 0;
    while (true) {
      // Before looking (see doorbell::sleep), and only on a turn that may end asleep: reading
      // the word a peer's ring() writes costs a cache-line transfer each turn otherwise.
      const std::uint32_t ticket = may_sleep(idle + 1) ? bell_->ticket() : 0;
      if (aborted_.load()) {
        // An error on this rank: under the CLI (save_partial), rank 0 stores the partial run
        // with the error as its reason and the job ends here; elsewhere run() rethrows it.
        if (options_.save_partial && error_text())
          end_run("error on rank " + std::to_string(rank_) + ": " + *error_text(), 3);
        return;
      }
      watch();
      bool did = send_queued();
      sent_to_.clear();
      did |= transport_.progress_sends(&sent_to_);
      for (int dest : sent_to_) bell_->ring(dest);
      while (auto r = transport_.try_receive()) {
        did = true;
        check_payload(*r);
        const std::int64_t due = emulated_due(*r);
        if (due > now_ns() - t0_local_) {
          held_.push(held_message{due, std::move(*r)});
        } else {
          accept(std::move(*r), r->received_ns);
        }
      }
      if (transport_.take_controls(received_controls_))
        for (const auto& c : received_controls_) {
          did = true;
          if (c.kind == control_kind::credit) {
            return_credit(c.edge, c.src_replica, c.dst_replica);
          } else {
            stop_.store(true);
            wake_stages();
          }
        }
      // Emulated links: release what is due. The received time becomes the emulated arrival.
      while (!held_.empty() && held_.top().due <= now_ns() - t0_local_) {
        auto h = std::move(const_cast<held_message&>(held_.top()));
        held_.pop();
        accept(std::move(h.message), h.due + t0_local_);
        did = true;
      }
      // What the engine's source and stages queue for other ranks goes out now, not a turn later.
      const bool ran = run_engine_source();
      if (run_engine_stages() || ran) {
        did = true;
        send_queued();
      }
      if (held_.empty() && local_work_done() && !transport_.sends_pending()) return;
      idle = did ? 0 : idle + 1;
      wait_a_little(idle, ticket);
    }
  }

  // Posts what the stages and the credits queued for other ranks, and the stop when it is due.
  // Returns whether it posted anything.
  bool send_queued() {
    bool did = false;
    // Most turns queue nothing: then no lock and no swap. The flag is set under out_m_ after
    // each push, and cleared before the swap, so a push it misses sets it again.
    if (queued_.load(std::memory_order_relaxed)) {
      queued_.store(false, std::memory_order_relaxed);
      batch_.clear();  // batch_ and controls_ are kept between calls: an empty deque allocates
      controls_.clear();
      {
        const auto lk = hold(out_m_);
        batch_.swap(outbox_);
        controls_.swap(control_out_);
      }
      for (auto& o : batch_) send_item(o);
      for (const auto& [dest, c] : controls_) {
        transport_.post_control(dest, c);
        bell_->ring(dest);
      }
      did = !batch_.empty() || !controls_.empty();
    }
    if (rank_ == source_rank_ && stop_.load() && !stop_sent_) {
      for (int r = 0; r < comm_.size(); ++r)
        if (r != rank_) {
          transport_.post_control(r, control_message{control_kind::stop});
          bell_->ring(r);
        }
      stop_sent_ = true;
      did = true;
    }
    return did;
  }

  // One item to another rank, in its edge's message: tag and metadata are set once per edge.
  void send_item(outgoing& o) {
    const auto& e = spec_.edges[static_cast<std::size_t>(o.edge)];
    wire_message& m = edge_messages_[static_cast<std::size_t>(o.edge)];
    m.item = o.item;
    m.src_replica = o.src_replica;
    m.dst_replica = o.dst_replica;
    message_row row;
    row.send_start_ns = now_ns();
    // A user object becomes bytes by its type's serialization, timed as serialization; its
    // bytes then travel raw (a second envelope would only copy them again).
    const auto* type = b_.sends[static_cast<std::size_t>(o.edge)];
    m.payload = bytes_of(o.data, type, e.serialization);
    const std::int64_t object_ns = now_ns() - row.send_start_ns;
    o.data = {};
    // Outside the timed serialization: verifying is the benchmark's cost, not the path's.
    m.checksum = options_.verify ? payload_checksum(*m.payload) : 0;
    if (options_.verify && corrupts(options_.faults, e.from, o.src_replica, o.item))
      m.checksum ^= 1;  // an injected corrupt fault (faults.hpp)
    transport_.post(o.dest, type ? serialization_kind::raw : e.serialization, m, row, t0_local_);
    m.payload.reset();  // the send keeps its own reference as long as it needs the bytes
    bell_->ring(o.dest);
    row.serialize_ns += object_ns;
    if (detailed(o.item))
      sends.push_back({o.item, o.edge, rank_, o.dest, o.src_replica, o.dst_replica, row.bytes,
                       row.send_start_ns, row.serialize_ns, row.posted_ns, o.credit_asked_ns,
                       o.credit_granted_ns});
  }

  // The error that aborted this rank, if one did.
  std::optional<std::string> error_text() {
    std::lock_guard lk(error_m_);
    if (!error_) return std::nullopt;
    try {
      std::rethrow_exception(error_);
    } catch (const std::exception& e) {
      return std::string(e.what());
    } catch (...) {
      return std::string("unknown error");
    }
  }

  // Faults (faults.hpp), looked at every 2 ms (16 turns at least): a signal, a stage holding an
  // item past the timeout, no completion on the source's rank, or (rank 0) another rank's alarm
  // ends the run.
  void watch() {
    // The clock every 16th turn only: a busy turn is ~1 us, a sleeping one at most 1 ms, and a
    // clock read on every turn was 4 % of a relaying rank's samples.
    if ((++watch_turns_ & 15u) != 0) return;
    const std::int64_t now = now_ns();
    if (now - last_watch_ns_ < 2'000'000) return;
    last_watch_ns_ = now;
    if (const int sig = pending_signal()) {
      end_run("interrupted by " + signal_name(sig) + " on rank " + std::to_string(rank_),
              128 + sig);
    }
    if (auto why = watchdog_->stuck_stage(now)) end_run(*why, 3);
    if (auto quiet = watchdog_->source_stalled(now)) {
      std::uint64_t oldest = spec_.items;
      {
        std::lock_guard lk(src_m_);
        for (const auto& [item, row] : source_events_) oldest = std::min(oldest, item);
      }
      std::ostringstream m;
      m << "stall: no item completed for " << static_cast<int>(*quiet) << " s (--timeout "
        << watchdog_->timeout_s() << " s); the oldest item in flight is " << oldest
        << " and no rank reported a stage holding it (a lost message or a join still waiting for "
           "an input?)";
      end_run(m.str(), 3);
    }
    if (rank_ == 0)
      if (auto why = alarm_.poll()) end_run(*why, 3);
  }

  // The run cannot finish: stop the source and the stages; rank 0 saves what it has, marked
  // incomplete, and says so; every other rank tells rank 0 why first. Then the job ends
  // (MPI_Abort): the other ranks may be gone or stuck, so nothing collective is tried.
  [[noreturn]] void end_run(const std::string& why, int code) {
    wake_all();      // the source emits no more, stages take no more items
    kill_workers();  // MPI_Abort would leave a worker that ignores its stdin running
    if (rank_ != 0) {
      // Rank 0 prints the whole message (an exec worker's stderr tail, say); here its first
      // line only, in case rank 0 never hears of it.
      std::string first = why.substr(0, why.find('\n'));
      if (first.size() > 300) first = first.substr(0, 300) + "...";
      std::fprintf(stderr, "[rank %d] mpipe: error: %s; telling rank 0 and ending the job\n", rank_,
                   first.c_str());
      alarm_.raise(why, 3.0);
      abort_job(comm_, code);
    }
    std::uint64_t done = 0;
    {
      std::lock_guard lk(src_m_);
      done = completed_;
    }
    std::string saved = "nothing saved (no results file)";
    if (options_.save_partial) {
      try {
        saved = options_.save_partial(partial_record(why));
      } catch (const std::exception& e) {
        saved = std::string("the partial run could not be saved: ") + e.what();
      }
    }
    std::fprintf(stderr, "mpipe: error: %s; %llu of %llu items completed%s; %s\n", why.c_str(),
                 static_cast<unsigned long long>(done),
                 static_cast<unsigned long long>(spec_.items),
                 rank_ == source_rank_ ? "" : " (as far as rank 0 knows: the source is elsewhere)",
                 saved.c_str());
    abort_job(comm_, code);
  }

  // What rank 0 holds when the run is cut short, as a record (complete = false): its own rows
  // only, on its own clock (rank 0's clock is the run's reference), no message rows.
  run_record partial_record(const std::string& why) {
    run_record rec;
    {
      std::lock_guard lk(rec_m_);
      rec.events = events;
      for (const auto& h : handoffs) {
        rec.handoffs.push_back(h.row);
        rec.handoffs.back().credit_wait_ns = h.credit_granted_ns - h.credit_asked_ns;
      }
    }
    stream_stats st;
    {
      std::lock_guard lk(src_m_);
      rec.items = items;
      st = stats_;
    }
    for (auto& e : rec.events)
      for (std::int64_t* t : {&e.received_ns, &e.started_ns, &e.finished_ns, &e.sent_ns})
        *t -= t0_local_;
    for (auto& i : rec.items) {
      i.emitted_ns -= t0_local_;
      i.completed_ns -= t0_local_;
    }
    for (auto& h : rec.handoffs) h.available_ns -= t0_local_;
    std::sort(rec.events.begin(), rec.events.end(), [](const event_row& a, const event_row& b) {
      return std::tie(a.item, a.stage) < std::tie(b.item, b.stage);
    });
    std::sort(rec.items.begin(), rec.items.end(),
              [](const item_row& a, const item_row& b) { return a.item < b.item; });
    rank_row me;
    me.rank = rank_;
    me.host = hosts_[static_cast<std::size_t>(rank_)];
    me.pid = static_cast<std::int64_t>(getpid());
    me.omp_max_threads = omp_get_max_threads();
    me.hardware_threads = static_cast<std::int32_t>(std::thread::hardware_concurrency());
    const rank_cpus cpus = my_cpus();
    me.usable_cores = cpus.usable;
    me.cpus = cpus.cpus;
    me.omp_places = cpus.omp_places;
    for (int s : where_.stages_on(rank_))
      me.stages += (me.stages.empty() ? "" : ",") + spec_.stages[static_cast<std::size_t>(s)].name;
    rec.ranks.push_back(me);
    rec.stages = stage_rows(spec_, where_);
    // Rank 0's own counts: items other ranks produced are not known here.
    rec.edge_instances = edge_instance_rows(spec_, where_, hosts_, {},
                                            split_pair_counts(spec_, where_, pair_items()));
    rec.edges = edge_rows(spec_, rec.edge_instances);
    set_run_setup(rec, spec_, where_, options_, graph_.critical_path_ms(), to_string(options_.wait),
                  stride_);
    rec.set("core_warnings", core_warnings_);
    set_provenance(rec, options_.command_line, comm_.size(), hosts_, utc_start_, utc_now_iso());
    set_latency(rec, st);
    mark_incomplete(rec, why, st.completed, std::to_string(rank_));
    return rec;
  }

  void accept(received_message r, std::int64_t arrived) {
    const auto e = static_cast<std::size_t>(r.msg.edge);
    value data{std::move(r.msg.payload), nullptr};
    // A user object is decoded by its type here, timed as deserialization; a stage that ignores
    // its inputs (a synthetic kernel) or the source without outputs never needs it decoded.
    if (b_.sends[e] && b_.takes[e]) {
      const std::int64_t start = now_ns();
      data.object = b_.sends[e]->from_bytes(data.bytes->data(), data.bytes->size(),
                                            spec_.edges[e].serialization);
      data.bytes.reset();
      r.deserialize_ns += now_ns() - start;
    }
    const std::int64_t available = now_ns();
    if (detailed(r.msg.item))
      recvs.push_back({r.msg.item, r.msg.edge, arrived, r.deserialize_ns, available});
    const int to = consumer_of_[e];
    const credit_origin c =
        on_demand(to) ? credit_origin{r.source, r.msg.edge, r.msg.src_replica} : credit_origin{};
    deliver(r.msg.edge, r.msg.dst_replica, r.msg.item, std::move(data), available, c);
  }

  // `outputs:`: what reached the source on `edge`, as bytes (a user object by its edge's
  // serialization: the contents for mpipe::blob and std::string).
  void write_output(int edge, std::uint64_t item, const value& data) {
    const auto e = static_cast<std::size_t>(edge);
    const payload_ptr p = bytes_of(data, b_.sends[e], spec_.edges[e].serialization);
    outputs_[e].write(item, p ? p->data() : nullptr, p ? p->size() : 0);
  }

  // --verify: the bytes that arrived are the bytes that were sent, or the run stops here.
  void check_payload(const received_message& r) const {
    if (!options_.verify) return;
    const std::uint64_t got = r.msg.payload ? payload_checksum(*r.msg.payload) : 0;
    if (got != r.msg.checksum) {
      const auto& e = spec_.edges[static_cast<std::size_t>(r.msg.edge)];
      throw error("payload checksum mismatch on edge " + e.from + "->" + e.to + ", item " +
                  std::to_string(r.msg.item) + " from rank " + std::to_string(r.source));
    }
  }

  // When an emulated link delivers this message, on rank 0's timeline (0 = no emulation). One
  // link per directed rank pair (model.hpp): the message goes on the wire when it was sent or
  // when the one before it from that rank has left the wire, whichever is later, occupies it for
  // bytes / bandwidth, and arrives the link's latency after that.
  std::int64_t emulated_due(const received_message& r) {
    if (!options_.emulate) return 0;
    const auto& link = *options_.emulate;
    if (link.cross_host_only &&
        hosts_[static_cast<std::size_t>(r.source)] == hosts_[static_cast<std::size_t>(rank_)])
      return 0;
    std::int64_t& wire_free = link_free_ns_[r.source];
    std::int64_t on_wire = std::max(r.msg.sent_ns, wire_free);
    if (link.bandwidth_bytes_per_s > 0.0)
      on_wire += static_cast<std::int64_t>(static_cast<double>(r.bytes) /
                                           link.bandwidth_bytes_per_s * 1e9);
    wire_free = on_wire;
    return on_wire + static_cast<std::int64_t>(link.latency_ms * 1e6);
  }

  static constexpr std::int64_t kTimerWakeNs = 50'000;  // see wait_a_little
  static constexpr int kSleepAfterTurns = 256;          // idle turns before wait_a_little sleeps
  // Whether wait_a_little may sleep after a turn that leaves `idle` idle turns: comm_loop asks
  // before the turn (idle + 1), to take the doorbell's ticket only then.
  static constexpr bool may_sleep(int idle) { return idle >= kSleepAfterTurns; }

  // Measured on 2 cores: two ranks busy-polling one core exchange a message only at the
  // scheduler tick (~4 ms). So after a short spin we yield, then sleep on the doorbell, which a
  // same-host peer's message or a local thread's work rings (doorbell.hpp). Messages from other
  // hosts cannot ring: with such peers the sleep lasts at most cross_host_poll, else at most
  // 1 ms (the watchdog's pace); never past an emulated link's next release.
  void wait_a_little(int& idle, std::uint32_t ticket) {
    if (idle == 0 || options_.wait == wait_policy::spin) return;
    if (idle < 64) return;
    // A large send in flight is pushed fragment by fragment by our MPI calls (the shared-memory
    // rendezvous without single-copy): sleeping now would stall it, so only yield.
    if (!may_sleep(idle) || options_.wait == wait_policy::yield || transport_.sends_pending()) {
      std::this_thread::yield();
      return;
    }
    using std::chrono::nanoseconds;
    constexpr nanoseconds cross_host_poll = std::chrono::microseconds(50);
    nanoseconds bound = bell_->all_peers_ring() ? std::chrono::milliseconds(1) : cross_host_poll;
    if (!held_.empty())
      bound = std::min(
          bound, nanoseconds(std::max<std::int64_t>(0, held_.top().due - (now_ns() - t0_local_))));
    // A sleep stage's timer: the sleep ends kTimerWakeNs early and the rest is yielded through,
    // so the stage ends on time and not a wake-up (~20-50 us on a VM) late.
    if (const std::int64_t due = next_due_ns(); due != std::numeric_limits<std::int64_t>::max()) {
      const std::int64_t left = due - now_ns();
      if (left <= kTimerWakeNs) {
        std::this_thread::yield();
        return;
      }
      bound = std::min(bound, nanoseconds(left - kTimerWakeNs));
    }
    // Rung: what rang may not be visible to MPI yet (an eager message still being copied), so
    // spin and yield again before the next sleep rather than sleep through it (measured: 1 in
    // 50 items then waited out the whole bound).
    if (bound.count() > 0 && bell_->sleep(ticket, bound)) idle = 0;
  }

  boost::mpi::communicator comm_;
  const pipeline_spec& spec_;
  const graph& graph_;
  const bindings& b_;
  const std::vector<output_files>& outputs_;  // per edge into the source (outputs:)
  const placement& where_;
  const run_options& options_;
  transport transport_;
  int rank_ = 0;
  int source_rank_ = 0;
  std::int64_t t0_local_ = 0;
  std::uint64_t stride_ = 1;
  std::vector<std::string> hosts_;
  std::string core_warnings_;
  struct held_message {
    std::int64_t due;
    received_message message;
    bool operator<(const held_message& o) const { return due > o.due; }  // earliest on top
  };
  std::priority_queue<held_message> held_;
  std::map<int, std::int64_t> link_free_ns_;  // emulated links into this rank: busy until
  std::map<std::pair<int, int>, std::unique_ptr<stage_state>> local_;  // (stage, replica)
  // Per edge, per consumer replica: its instance here (nullptr: elsewhere), so that a hand-off
  // does not search local_; and the source's instance, where this rank hosts it.
  std::vector<std::vector<stage_state*>> consumers_;
  stage_state* source_state_ = nullptr;
  std::vector<wire_message> edge_messages_;  // per edge: what send_item() fills in and posts
  std::vector<int> consumer_of_;             // per edge: the index of the stage it feeds
  std::vector<std::size_t> pair_base_;  // per edge: where its instance pairs start in pair_items_
  std::size_t pair_total_ = 0;
  std::unique_ptr<std::atomic<std::uint64_t>[]> pair_items_;

  std::mutex out_m_;
  std::atomic<bool> queued_{false};  // outbox_ or control_out_ may hold something (send_queued)
  std::vector<int> sent_to_;         // the engine loop's: destinations of the sends just completed
  std::unique_ptr<doorbell> bell_;   // the engine thread sleeps on it (wait_a_little)
  std::deque<outgoing> outbox_;
  std::deque<std::pair<int, control_message>> control_out_;  // (destination rank, message)
  std::deque<outgoing> batch_;                               // send_queued()'s, from outbox_
  std::deque<std::pair<int, control_message>> controls_;     // send_queued()'s, from control_out_
  std::deque<control_message> received_controls_;            // comm_loop's, from transport_

  // On-demand dispatch: per (edge, producer replica) on this rank, credits per consumer replica.
  struct credit_pool {
    std::vector<int> credits;
    int next = 0;  // where the next tie-break starts
  };
  std::mutex credit_m_;
  std::condition_variable credit_cv_;
  std::map<std::pair<int, int>, credit_pool> pools_;
  std::int64_t outstanding_credits_ = 0;
  std::atomic<bool> stop_{false};
  bool stop_sent_ = false;  // communication thread only

  std::mutex src_m_;
  std::condition_variable src_cv_;
  std::uint64_t inflight_ = 0, completed_ = 0;
  source_table source_events_;
  stream_stats stats_;
  std::int64_t start_ns_ = 0, last_progress_ns_ = 0;

  std::mutex rec_m_;
  std::mutex serial_m_;  // run_options::serial_stages, where stages have threads
  // serial_stages with every stage of the rank on the engine: the engine's timers take turns,
  // and no other stage runs while one is in service (engine thread only).
  bool serial_engine_ = false, serial_timer_busy_ = false;
  std::atomic<std::size_t> workers_done_{0};
  std::size_t threads_ = 0;  // stage and source threads started
  bool alone_ = false;  // no stage or source thread: the engine is the rank's only thread (hold)
  std::thread::id engine_thread_;            // the main thread: MPI and the stages on it
  std::vector<stage_state*> engine_stages_;  // on_engine, the source excepted, in stage order
  bool source_on_engine_ = false;
  std::uint64_t next_item_ = 0;  // the source on the engine: the next item to emit
  std::atomic<bool> aborted_{false};
  std::mutex error_m_;
  std::exception_ptr error_;

  // Faults (faults.hpp): the stall watchdog, the channel to rank 0, when the comm thread last
  // looked, and the wall-clock start a partial record names.
  alarm_channel alarm_;
  std::unique_ptr<watchdog> watchdog_;
  std::int64_t last_watch_ns_ = 0;
  std::uint32_t watch_turns_ = 0;
  std::string utc_start_;
};

// The compute kernel's rate must be measured on a quiet core: ranks of one host calibrating at
// once on an oversubscribed machine each get a share of a core and would overstate the work
// (seen: 4 ranks on 2 cores measured half the rate). So ranks of a host take turns.
void calibrate_in_turn(const boost::mpi::communicator& comm, const pipeline_spec& spec) {
  const bool needed = std::any_of(spec.stages.begin(), spec.stages.end(), [](const stage_spec& s) {
    return s.kernel == kernel_kind::compute && s.work_ms > 0.0;
  });
  if (!needed) return;
  MPI_Comm host_comm;
  MPIPE_MPI_CHECK(
      MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, comm.rank(), MPI_INFO_NULL, &host_comm));
  const boost::mpi::communicator host(host_comm, boost::mpi::comm_take_ownership);
  for (int turn = 0; turn < host.size(); ++turn) {
    if (turn == host.rank()) calibrate_compute();
    polite_barrier(host);
  }
}

void set_run_setup(run_record& rec, const pipeline_spec& spec, const placement& where,
                   const run_options& options, double critical_path_ms,
                   const std::string& wait_text, std::uint64_t detail_stride) {
  rec.set("spec_name", spec.name);
  rec.set("spec_text", spec.text);
  rec.set("spec_file", spec.file);
  rec.set("placement", where.to_string(spec));
  rec.set("placement_mode", where.mode);
  rec.set("items", static_cast<std::int64_t>(spec.items));
  rec.set("time_scale", options.time_scale);
  rec.set("kernel_override", options.kernel ? std::string(to_string(*options.kernel)) : "");
  rec.set("critical_path_ms", critical_path_ms);
  rec.set("wait", wait_text);
  rec.set("serialization_override",
          options.serialization ? std::string(to_string(*options.serialization)) : "");
  rec.set("verify", options.verify);
  rec.set("serial_stages", options.serial_stages);
  rec.set("emulated_link", options.emulate ? options.emulate->text : "");
  rec.set("timeout_s", options.timeout_s.value_or(default_timeout_s(critical_path_ms)));
  // Where the job came from, so a results file from a cluster names its batch job and array
  // task (empty outside Slurm), and how OpenMP was told to place its threads.
  const auto env = [](const char* name) {
    const char* v = std::getenv(name);
    return std::string(v != nullptr ? v : "");
  };
  rec.set("slurm_job_id", env("SLURM_JOB_ID"));
  rec.set("slurm_array_job_id", env("SLURM_ARRAY_JOB_ID"));
  rec.set("slurm_array_task_id", env("SLURM_ARRAY_TASK_ID"));
  rec.set("slurm_job_nodelist", env("SLURM_JOB_NODELIST"));
  rec.set("omp_num_threads", env("OMP_NUM_THREADS"));
  rec.set("omp_places", env("OMP_PLACES"));
  rec.set("omp_proc_bind", env("OMP_PROC_BIND"));
  rec.set("inflight", static_cast<std::int64_t>(spec.inflight));
  rec.set("detail_stride", static_cast<std::int64_t>(detail_stride));
  // The rule of thumb the analysis applies to this run's hops, as the model applies it.
  rec.set("verdict_helps_above", verdict_rule::helps_above);
  rec.set("verdict_hurts_below", verdict_rule::hurts_below);
  rec.set("verdict_helps", std::string(verdict_rule::helps));
  rec.set("verdict_hurts", std::string(verdict_rule::hurts));
  rec.set("verdict_marginal", std::string(verdict_rule::marginal));
}

void set_latency(run_record& rec, const stream_stats& st) {
  if (st.completed == 0) return;
  rec.set("latency_mean_ms", st.latency_sum_ns / static_cast<double>(st.completed) / 1e6);
  rec.set("latency_min_ms", static_cast<double>(st.latency_min_ns) / 1e6);
  rec.set("latency_max_ms", static_cast<double>(st.latency_max_ns) / 1e6);
}

}  // namespace

namespace {

// Every stamp of this rank onto rank 0's clock, relative to the run's start t0. Credit waits are
// the difference of two mapped stamps, so they add up with the others under drift.
void map_stamps(rank_runtime& rt, const clock_model& clock, std::int64_t t0) {
  const auto map = [&](std::int64_t& stamp) { stamp = clock.to_rank0(stamp) - t0; };
  for (auto& e : rt.events) {
    map(e.received_ns);
    map(e.started_ns);
    map(e.finished_ns);
    map(e.sent_ns);
  }
  for (auto& i : rt.items) {
    map(i.emitted_ns);
    map(i.completed_ns);
  }
  for (auto& s : rt.sends) {
    map(s.send_start_ns);
    map(s.posted_ns);
    map(s.credit_asked_ns);
    map(s.credit_granted_ns);
  }
  for (auto& r : rt.recvs) {
    map(r.received_ns);
    map(r.available_ns);
  }
  for (auto& h : rt.handoffs) {
    map(h.row.available_ns);
    map(h.credit_asked_ns);
    map(h.credit_granted_ns);
    h.row.credit_wait_ns = h.credit_granted_ns - h.credit_asked_ns;
  }
}

// What rank 0 collects from every rank after a run (empty elsewhere), rows sorted.
struct gathered {
  pair_transports transports;
  std::vector<std::uint64_t> pair_items;  // summed over ranks
  stream_stats stream;                    // the source's rank's
  std::vector<event_row> events;
  std::vector<item_row> items;
  std::vector<handoff_row> handoffs;
  std::vector<send_half> sends;
  std::vector<recv_half> recvs;
  std::vector<rank_facts> facts;
};

// Collective.
gathered gather_run(const boost::mpi::communicator& comm, const rank_runtime& rt,
                    const clock_model& clock, const pipeline_spec& spec, const placement& where) {
  gathered g;
  g.transports = edge_transports(comm, spec, where);
  g.pair_items = rt.pair_items();
  if (!g.pair_items.empty())
    MPIPE_MPI_CHECK(MPI_Reduce(comm.rank() == 0 ? MPI_IN_PLACE : g.pair_items.data(),
                               g.pair_items.data(), static_cast<int>(g.pair_items.size()),
                               MPI_UINT64_T, MPI_SUM, 0, comm));
  // The source's rank has the stream's aggregates; everyone else sends zeros.
  for (const auto& x : gather_rows(comm, std::vector<stream_stats>{rt.stats()}))
    if (x.completed > 0) g.stream = x;
  g.events = gather_rows(comm, rt.events);
  g.items = gather_rows(comm, rt.items);
  g.sends = gather_rows(comm, rt.sends);
  g.recvs = gather_rows(comm, rt.recvs);
  for (const auto& h : gather_rows(comm, rt.handoffs)) g.handoffs.push_back(h.row);
  const rank_facts mine{static_cast<std::int64_t>(getpid()),
                        clock.start.offset_ns,
                        clock.end.offset_ns,
                        clock.error_ns(),
                        std::max(clock.start.rtt_ns, clock.end.rtt_ns),
                        clock.drift(),
                        omp_get_max_threads(),
                        static_cast<std::int32_t>(std::thread::hardware_concurrency())};
  g.facts = gather_rows(comm, std::vector<rank_facts>{mine});
  std::sort(g.events.begin(), g.events.end(), [](const event_row& a, const event_row& b) {
    return std::tie(a.item, a.stage) < std::tie(b.item, b.stage);
  });
  std::sort(g.items.begin(), g.items.end(),
            [](const item_row& a, const item_row& b) { return a.item < b.item; });
  std::sort(g.handoffs.begin(), g.handoffs.end(), [](const handoff_row& a, const handoff_row& b) {
    return std::tie(a.item, a.edge) < std::tie(b.item, b.edge);
  });
  return g;
}

// The message rows: the sender's half joined with the receiver's on (item, edge).
std::vector<message_row> join_messages(const std::vector<send_half>& sends,
                                       const std::vector<recv_half>& recvs,
                                       const std::vector<rank_facts>& facts) {
  std::map<std::pair<std::uint64_t, std::int32_t>, recv_half> by_key;
  for (const auto& r : recvs) by_key[{r.item, r.edge}] = r;
  std::vector<message_row> out;
  for (const auto& s : sends) {
    message_row m;
    m.item = s.item;
    m.edge = s.edge;
    m.src_rank = s.src;
    m.dst_rank = s.dst;
    m.src_replica = s.src_replica;
    m.dst_replica = s.dst_replica;
    m.bytes = s.bytes;
    m.send_start_ns = s.send_start_ns;
    m.serialize_ns = s.serialize_ns;
    m.posted_ns = s.posted_ns;
    m.credit_wait_ns = s.credit_granted_ns - s.credit_asked_ns;
    if (auto it = by_key.find({s.item, s.edge}); it != by_key.end()) {
      m.received_ns = it->second.received_ns;
      m.deserialize_ns = it->second.deserialize_ns;
      m.available_ns = it->second.available_ns;
      m.transfer_ns = m.received_ns - m.posted_ns;
      // Two ranks' clock errors can add up: a one-way time shorter than that is not a measurement.
      m.clock_error_ns = facts[static_cast<std::size_t>(s.src)].error_ns +
                         facts[static_cast<std::size_t>(s.dst)].error_ns;
      m.below_clock_error = m.transfer_ns < m.clock_error_ns ? 1 : 0;
    }
    out.push_back(m);
  }
  std::sort(out.begin(), out.end(), [](const message_row& a, const message_row& b) {
    return std::tie(a.item, a.edge) < std::tie(b.item, b.edge);
  });
  return out;
}

std::vector<rank_row> rank_rows(const std::vector<rank_facts>& facts,
                                const std::vector<std::string>& hosts,
                                const std::vector<rank_cpus>& cpus, const placement& where,
                                const pipeline_spec& spec) {
  std::vector<rank_row> out;
  for (std::size_t r = 0; r < facts.size(); ++r) {
    const auto& f = facts[r];
    rank_row row;
    row.rank = static_cast<std::int32_t>(r);
    row.host = hosts[r];
    row.pid = f.pid;
    row.omp_max_threads = f.omp_max_threads;
    row.hardware_threads = f.hardware_threads;
    row.usable_cores = cpus[r].usable;
    row.cpus = cpus[r].cpus;
    row.omp_places = cpus[r].omp_places;
    row.clock_offset_ns = f.offset_ns;
    row.clock_offset_end_ns = f.offset_end_ns;
    row.clock_drift_ppm = f.drift * 1e6;
    row.clock_error_ns = f.error_ns;
    row.clock_rtt_ns = f.rtt_ns;
    for (int s : where.stages_on(static_cast<int>(r)))
      row.stages += (row.stages.empty() ? "" : ",") + spec.stages[static_cast<std::size_t>(s)].name;
    out.push_back(row);
  }
  return out;
}

// The simulator's cores for this run: each rank's CPUs as the launcher bound it (recorded).
core_layout as_bound(const std::vector<std::string>& hosts, const std::vector<rank_cpus>& cpus) {
  std::vector<std::string> lists;
  std::vector<int> usable;
  for (const auto& c : cpus) {
    lists.push_back(c.cpus);
    usable.push_back(c.usable);
  }
  return bound_cores(hosts, lists, usable);
}

// The stream's numbers on rank 0: every item's latency, throughput over the steady state, the
// bound it is measured against, and the model's prediction for this very run.
void set_stream(run_result& result, const stream_stats& st, const std::vector<std::string>& hosts,
                const std::vector<int>& cores, const std::vector<rank_cpus>& cpus,
                const run_options& options) {
  run_record& rec = result.record;
  const pipeline_spec& spec = result.spec;
  set_latency(rec, st);
  const std::uint64_t in_window = spec.items - st.drain - st.warmup;
  const double window_s = static_cast<double>(st.window_end_ns - st.window_start_ns) / 1e9;
  const double throughput = window_s > 0 ? static_cast<double>(in_window) / window_s : std::nan("");
  rec.set("throughput_items_per_s", throughput);
  rec.set("steady_warmup_items", static_cast<std::int64_t>(st.warmup));
  rec.set("steady_drain_items", static_cast<std::int64_t>(st.drain));
  rec.set("steady_window_s", window_s);
  result.throughput_items_per_s = throughput;
  const emulated_link link = options.emulate.value_or(emulated_link{});
  const throughput_bound bound = compute_throughput_bound(spec, result.where, hosts, cores, link);
  result.bound_items_per_s = bound.items_per_s;
  result.bound_text = bound.explain;
  rec.set("throughput_bound_items_per_s", bound.items_per_s);
  rec.set("throughput_bound", bound.explain);
  rec.set("throughput_efficiency", throughput / bound.items_per_s);
  simulation_result predicted;
  predicted.mean_ms = predicted.p95_ms = predicted.items_per_s = std::nan("");
  std::string platform_name;
  if (options.predict_with) {
    simulation_options o;
    o.serial_stages = options.serial_stages;
    o.wait_block = options.wait == wait_policy::block;
    predicted =
        simulate(spec, result.where, *options.predict_with, hosts, as_bound(hosts, cpus), link, o);
    platform_name = options.predict_with->name + " (" + options.predict_with->file + ")";
  }
  const double measured =
      st.completed > 0 ? st.latency_sum_ns / static_cast<double>(st.completed) / 1e6 : std::nan("");
  rec.set("prediction_platform", platform_name);
  rec.set("predicted_latency_ms", predicted.mean_ms);
  rec.set("predicted_latency_p95_ms", predicted.p95_ms);
  rec.set("predicted_throughput_items_per_s", predicted.items_per_s);
  rec.set("prediction_error_pct", (measured - predicted.mean_ms) / predicted.mean_ms * 100.0);
  rec.set("throughput_prediction_error_pct",
          (throughput - predicted.items_per_s) / predicted.items_per_s * 100.0);
  result.predicted_ms = predicted.mean_ms;
  result.predicted_items_per_s = predicted.items_per_s;
}

// Where the run's time went (efficiency.hpp): every rank's busy share, against the simulator's
// wall for the same items with free communication on the same cores.
void set_efficiency(run_result& result, const std::vector<std::string>& hosts,
                    const std::vector<rank_cpus>& cpus, const run_options& options) {
  run_record& rec = result.record;
  simulation_options o;
  o.free_communication = true;
  o.serial_stages = options.serial_stages;
  const auto ideal =
      simulate(result.spec, result.where, platform{}, hosts, as_bound(hosts, cpus), {}, o);
  const double ideal_wall = ideal.items > 0
                                ? ideal.makespan_ms * static_cast<double>(result.spec.items) /
                                      static_cast<double>(ideal.items)
                                : 0.0;
  const auto e = compute_efficiency(rec.events, rec.items, hosts, result.spec.items, ideal_wall);
  if (e.rank_useful.empty()) return;
  rec.set("pop_parallel_efficiency", e.parallel);
  rec.set("pop_load_balance", e.load_balance);
  rec.set("pop_communication_efficiency", e.communication);
  rec.set("pop_serialization_efficiency", e.serialization);
  rec.set("pop_transfer_efficiency", e.transfer);
  rec.set("pop_wall_ms", e.wall_ms);
  rec.set("pop_ideal_wall_ms", e.ideal_wall_ms);
  std::string ranks, host_text;
  for (const double u : e.rank_useful) ranks += (ranks.empty() ? "" : ",") + std::to_string(u);
  for (std::size_t h = 0; h < e.hosts.size(); ++h)
    host_text += (h ? "," : "") + e.hosts[h] + "=" + std::to_string(e.host_useful[h]);
  rec.set("pop_rank_useful", ranks);
  rec.set("pop_host_useful", host_text);
  result.efficiency = efficiency_text(e);
}

}  // namespace

namespace {

// Runs f on every rank; when it throws on any, every rank throws the error of the lowest rank
// that failed, as a spec_error (other errors are filed under `file`: bad input to this run), so
// that a plugin or a worker missing on one node is one clear error, the same on every rank, and
// every rank leaves before work starts.
template <class F>
void on_every_rank(const boost::mpi::communicator& comm, const std::string& file, F&& f) {
  std::vector<std::string> mine;  // empty: fine; else kind, file, line, field, message
  try {
    f();
  } catch (const spec_error& e) {
    mine = {"spec", e.file(), std::to_string(e.line()), e.field(), e.message()};
  } catch (const std::exception& e) {
    mine = {"spec", file, "0", "", e.what()};
  }
  int failed = mine.empty() ? comm.size() : comm.rank();
  int first = failed;
  boost::mpi::all_reduce(comm, failed, first, boost::mpi::minimum<int>());
  if (first == comm.size()) return;
  boost::mpi::broadcast(comm, mine, first);
  const std::string where = first == 0 ? "" : "on rank " + std::to_string(first) + ": ";
  throw spec_error(mine[1], std::stoi(mine[2]), mine[3], where + mine[4]);
}

// One output directory per edge into the source (`outputs:`): the directory itself for one
// such edge, DIR/<producer> for several.
std::vector<output_files> make_outputs(const pipeline_spec& spec, const graph& g,
                                       const bindings& b) {
  std::vector<output_files> out(spec.edges.size());
  if (spec.outputs.empty()) return out;
  const auto& returns = g.inputs(g.source());
  const auto names = output_names(b.input_files, spec.items);
  std::string dir = spec.outputs;
  if (!spec.dir.empty() && dir.front() != '/') dir = spec.dir + "/" + dir;
  for (int e : returns) {
    const std::string d =
        returns.size() == 1 ? dir : dir + "/" + spec.edges[static_cast<std::size_t>(e)].from;
    out[static_cast<std::size_t>(e)] = output_files(d, names);
  }
  return out;
}

}  // namespace

// validate starts no worker, but it finds a worker's program as exec will: a path with a slash
// from the spec's directory (the worker's working directory), else on PATH.
bool program_found(const std::string& program, const std::string& dir) {
  namespace fs = std::filesystem;
  const auto runnable = [](const fs::path& p) {
    std::error_code ec;
    return fs::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0;
  };
  if (program.find('/') != std::string::npos)
    return runnable(fs::path(dir.empty() ? "." : dir) / program);
  const char* path = std::getenv("PATH");
  std::istringstream entries(path ? path : "/usr/bin:/bin");
  std::string entry;
  while (std::getline(entries, entry, ':'))
    if (runnable(fs::path(entry.empty() ? "." : entry) / program)) return true;
  return false;
}

std::vector<std::string> check_user_stages(pipeline_spec& spec) {
  const bindings b = bind_stages(spec, {}, false);
  for (std::size_t s = 0; s < spec.stages.size(); ++s) {
    const auto& st = spec.stages[s];
    if (st.kernel == kernel_kind::exec && !program_found(st.command.front(), spec.dir))
      throw spec_error(spec.file, st.line, "stages (" + st.name + ").command",
                       "cannot start '" + st.signature + "': '" + st.command.front() +
                           "' is not an executable file" +
                           (st.command.front().find('/') != std::string::npos
                                ? " (relative to " + (spec.dir.empty() ? "." : spec.dir) + ")"
                                : " on PATH"));
  }
  std::vector<std::string> lines;
  for (std::size_t s = 0; s < spec.stages.size(); ++s) {
    const auto& st = spec.stages[s];
    if (b.functions[s])
      lines.push_back(st.name + ": " + describe_function(*b.functions[s]) + " from " +
                      b.functions[s]->origin);
    if (st.kernel == kernel_kind::exec) lines.push_back(st.name + ": exec " + st.signature);
  }
  if (!b.input_files.empty())
    lines.push_back("inputs: " + std::to_string(b.input_files.size()) + " files, the first " +
                    b.input_files.front());
  return lines;
}

namespace {

// How a stage's kernel reads in the dry run: "compute 20 ms", "blur (Image -> Image)", "exec
// 'python3 a.py'".
std::string kernel_text(const stage_spec& s, const bindings& b, std::size_t i) {
  std::ostringstream out;
  if (b.functions[i])
    out << describe_function(*b.functions[i]);
  else if (s.kernel == kernel_kind::exec)
    out << "exec '" << s.signature << "'";
  else
    out << to_string(s.kernel) << " " << s.work_ms << " ms";
  return out.str();
}

// The ranks short of cores, told on rank 0 before the run (options.warn) and returned one per
// line for the record. mpipe does not rebind: the binding is the launcher's (docs/running.md).
std::string warn_of_cores(const boost::mpi::communicator& comm, const pipeline_spec& spec,
                          const placement& where, const std::vector<rank_cpus>& cpus,
                          const run_options& options) {
  std::string text;
  for (const auto& w : core_warnings(spec, where, cpus, options.serial_stages)) {
    if (comm.rank() == 0 && options.warn) options.warn(w);
    text += (text.empty() ? "" : "\n") + w;
  }
  return text;
}

}  // namespace

std::string describe_layout(const boost::mpi::communicator& comm, const pipeline_spec& input,
                            const run_options& options) {
  pipeline_spec spec = apply_overrides(input, options);
  bindings b;
  on_every_rank(comm, input.file,
                [&] { b = bind_stages(spec, options.plugins, options.items.has_value()); });
  const placement where = resolve_placement(spec, options.placement, comm.size());
  std::vector<std::string> hosts;
  boost::mpi::all_gather(comm, host_name(), hosts);
  std::vector<int> cores;
  boost::mpi::all_gather(comm, static_cast<int>(std::thread::hardware_concurrency()), cores);
  const auto cpus = gather_cpus(comm);
  const auto transports = edge_transports(comm, spec, where);
  if (comm.rank() != 0) return "";
  std::ostringstream out;
  out << "Dry run: nothing was executed and nothing written.\n";
  for (int r = 0; r < comm.size(); ++r) {
    const auto ri = static_cast<std::size_t>(r);
    out << "  rank " << r << " on " << hosts[ri] << " (" << cores[ri] << " cores), may use CPUs "
        << cpus[ri].cpus << " (" << cpus[ri].usable << (cpus[ri].usable == 1 ? " core" : " cores")
        << "):";
    const auto here = where.stages_on(r);
    if (here.empty()) out << " no stages (waits in a sleeping barrier)";
    for (int st : here) {
      const auto& s = spec.stages[static_cast<std::size_t>(st)];
      out << " " << s.name << "[" << kernel_text(s, b, static_cast<std::size_t>(st)) << ", "
          << s.threads << (s.threads == 1 ? " thread]" : " threads]");
    }
    out << "\n";
  }
  out << "  edges:\n";
  for (const auto& p : edge_instance_rows(spec, where, hosts, transports, {})) {
    const auto& e = spec.edges[static_cast<std::size_t>(p.edge)];
    out << "    " << instance_name(spec, e.from, p.src_replica) << " -> "
        << instance_name(spec, e.to, p.dst_replica) << ": " << p.tier << " (rank " << p.from_rank
        << " -> " << p.to_rank
        << (p.tier == "same-rank"
                ? ", in memory"
                : ", " + std::string(to_string(e.serialization)) + ", " + p.transport)
        << ")\n";
  }
  out << "  wait: " << resolve_wait(options.wait, spec, where, hosts, cores).second << "\n";
  out << "  throughput "
      << compute_throughput_bound(spec, where, hosts, cores,
                                  options.emulate.value_or(emulated_link{}))
             .explain
      << "\n";
  for (const auto& w : core_warnings(spec, where, cpus, options.serial_stages))
    out << "  warning: " << w << "\n";
  return out.str();
}

run_result run_pipeline(const boost::mpi::communicator& world, const pipeline_spec& input,
                        const run_options& options) {
  // First, so that every thread the run starts inherits it: sleep stages and the idle waits
  // wake on time, not up to 50 us late.
  use_exact_timers();
  // A private communicator per run: no message of one run can ever be matched by another.
  const boost::mpi::communicator comm(world, boost::mpi::comm_duplicate);
  run_result result;
  result.spec = apply_overrides(input, options);
  bindings binds;
  on_every_rank(comm, input.file, [&] {
    binds = bind_stages(result.spec, options.plugins, options.items.has_value());
  });
  const pipeline_spec& spec = result.spec;
  const graph g(spec);
  result.where = resolve_placement(spec, options.placement, comm.size());
  std::vector<output_files> outputs(spec.edges.size());
  // Rank 0 checks the output directory (nothing is overwritten); the source's rank writes it.
  on_every_rank(comm, input.file, [&] {
    const int source_rank = result.where.rank_of[static_cast<std::size_t>(g.source())];
    if (comm.rank() == 0 || comm.rank() == source_rank) outputs = make_outputs(spec, g, binds);
  });
  calibrate_in_turn(comm, spec);  // before the clock starts, so item 0 is not charged for it

  std::vector<std::string> hosts;
  boost::mpi::all_gather(comm, host_name(), hosts);
  std::vector<int> cores;
  boost::mpi::all_gather(comm, static_cast<int>(std::thread::hardware_concurrency()), cores);
  run_options opts = options;
  std::string wait_text;
  std::tie(opts.wait, wait_text) = resolve_wait(options.wait, spec, result.where, hosts, cores);
  const auto cpus = gather_cpus(comm);
  const std::string core_text = warn_of_cores(comm, spec, result.where, cpus, options);
  const std::string utc_start = utc_now_iso();

  comm.barrier();
  const clock_sync clocks(comm, hosts);
  clock_model clock;
  clock.start = clocks.measure();
  // Rank 0's "now" is the run's zero. During the run (emulated links) each rank maps its stamps
  // with the start offset; afterwards with the start-to-end model, drift included.
  std::int64_t t0 = now_ns();
  boost::mpi::broadcast(comm, t0, 0);

  std::unique_ptr<rank_runtime> runtime;
  on_every_rank(comm, input.file, [&] {  // exec workers start here: one that cannot is reported now
    runtime =
        std::make_unique<rank_runtime>(comm, spec, g, result.where, opts, hosts, binds, outputs);
  });
  rank_runtime& rt = *runtime;
  rt.set_core_warnings(core_text);
  comm.barrier();
  rt.run(t0 + clock.start.offset_ns);
  clock.end = clocks.measure();  // ends in a polite barrier
  const std::string utc_end = utc_now_iso();
  std::vector<std::vector<double>> pipes;  // exec stages: what their pipes alone cost
  boost::mpi::gather(comm, rt.pipe_costs(), pipes, 0);

  map_stamps(rt, clock, t0);
  gathered all = gather_run(comm, rt, clock, spec, result.where);
  if (comm.rank() != 0) return result;

  run_record& rec = result.record;
  rec.events = std::move(all.events);
  rec.items = std::move(all.items);
  rec.handoffs = std::move(all.handoffs);
  rec.messages = join_messages(all.sends, all.recvs, all.facts);
  rec.ranks = rank_rows(all.facts, hosts, cpus, result.where, spec);
  rec.stages = stage_rows(spec, result.where);
  for (const auto& rank_pipes : pipes)
    for (std::size_t i = 0; i + 2 < rank_pipes.size(); i += 3)
      if (rank_pipes[i + 1] == 0.0)  // the first replica's, like the row's rank
        rec.stages[static_cast<std::size_t>(rank_pipes[i])].pipe_us = rank_pipes[i + 2];
  rec.edge_instances = edge_instance_rows(spec, result.where, hosts, all.transports,
                                          split_pair_counts(spec, result.where, all.pair_items));
  rec.edges = edge_rows(spec, rec.edge_instances);

  set_run_setup(rec, spec, result.where, options, g.critical_path_ms(), wait_text, rt.stride());
  rec.set("core_warnings", core_text);
  set_provenance(rec, options.command_line, comm.size(), hosts, utc_start, utc_end);
  std::int64_t worst_clock_error = 0;
  for (const auto& f : all.facts) worst_clock_error = std::max(worst_clock_error, f.error_ns);
  rec.set("clock_sync", std::string("hierarchical min-round-trip ping-pong (host leaders to "
                                    "rank 0, then ranks to their leader), at start and end; "
                                    "linear drift between"));
  rec.set("clock_error_max_ns", worst_clock_error);
  set_stream(result, all.stream, hosts, cores, cpus, opts);  // opts: the wait policy resolved
  set_efficiency(result, hosts, cpus, opts);
  rec.set("complete", true);
  return result;
}

}  // namespace mpipe
