// What one run measured, in the shape it is stored: one struct per HDF5 dataset row. Times are
// int64 ns on rank 0's steady clock relative to the run's start (rank 0's t0), so rows from
// different ranks compare directly. Schema and units: docs/results-schema.md.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace mpipe {

// One item passing one stage. For the source the row spans the whole item: started = emitted,
// finished/sent right after its own work and hand-out, received = the item completed (all
// return edges in), so received is its latest time.
struct event_row {
  std::uint64_t item = 0;
  std::int32_t stage = 0;
  std::int32_t replica = 0;  // which copy of the stage (0 unless it has replicas)
  std::int32_t rank = 0;
  std::int64_t received_ns = 0;  // last input arrived (the stage could start)
  std::int64_t started_ns = 0;   // kernel began
  std::int64_t finished_ns = 0;  // kernel ended
  std::int64_t sent_ns = 0;      // outputs handed to every consumer / the outbox
};

// One item crossing one edge between ranks (same-rank hand-offs have no message row).
struct message_row {
  std::uint64_t item = 0;
  std::int32_t edge = 0;
  std::int32_t src_rank = 0;
  std::int32_t dst_rank = 0;
  std::uint64_t bytes = 0;             // on the wire, after serialization
  std::int64_t send_start_ns = 0;      // sender took it from the outbox
  std::int64_t serialize_ns = 0;       // duration
  std::int64_t posted_ns = 0;          // MPI send posted (serialization done)
  std::int64_t received_ns = 0;        // receive complete on the destination
  std::int64_t deserialize_ns = 0;     // duration
  std::int64_t transfer_ns = 0;        // received - posted (clock-offset corrected)
  std::int64_t clock_error_ns = 0;     // bound on transfer_ns's error: both ranks' clock errors
  std::int32_t below_clock_error = 0;  // 1: transfer_ns < clock_error_ns, do not trust it
  std::int32_t src_replica = 0;        // which copy of the producing stage sent it
  std::int32_t dst_replica = 0;        // which copy of the consuming stage received it
  std::int64_t available_ns = 0;       // decoded input entered the consumer's join (an emulated
                                       // link's message: once the link released it)
  std::int64_t credit_wait_ns = 0;     // duration the producer waited for a free consumer
                                       // replica (on-demand back-pressure): queueing, not cost
};

// One item handed over in memory on one edge (producer and consumer replica on one rank): when
// the input reached the consumer. The producer's sent_ns cannot stand in for it: that is after
// it has handed out to every consumer, which may include waiting for a credit on another edge.
struct handoff_row {
  std::uint64_t item = 0;
  std::int32_t edge = 0;
  std::int32_t rank = 0;
  std::int32_t src_replica = 0;
  std::int32_t dst_replica = 0;
  std::int64_t available_ns = 0;    // the input entered the consumer's join (it could start)
  std::int64_t credit_wait_ns = 0;  // duration the producer waited for a free consumer replica
};

// One item from the source's emit to the source receiving all its return edges.
struct item_row {
  std::uint64_t item = 0;
  std::int64_t emitted_ns = 0;
  std::int64_t completed_ns = 0;
  std::int64_t latency_ns = 0;
};

struct rank_row {
  std::int32_t rank = 0;
  std::string host;
  std::int64_t pid = 0;
  std::int32_t omp_max_threads = 0;
  std::int32_t hardware_threads = 0;
  std::int32_t usable_cores = 0;         // CPUs in its affinity mask: its threads' cores at once
  std::string cpus;                      // that mask as a list, "0-1" or "0,2-3"
  std::int32_t omp_places = 0;           // omp_get_num_places(): 0 when OMP_PLACES is unset
  std::int64_t clock_offset_ns = 0;      // this rank's clock minus rank 0's, at the start
  std::int64_t clock_offset_end_ns = 0;  // the same at the end of the run
  double clock_drift_ppm = 0.0;          // offset change per local time between the two, in ppm
  std::int64_t clock_error_ns = 0;       // bound on the error of any mapped stamp of this rank
  std::int64_t clock_rtt_ns = 0;         // round trip behind the offsets (the worse of the two)
  std::string stages;                    // names of the stages it hosts, comma separated
};

struct stage_row {
  std::int32_t id = 0;
  std::string name;
  std::string kernel;
  double work_ms = 0.0;  // as run (after --time-scale)
  std::int32_t threads = 1;
  std::uint64_t payload_bytes = 0;
  std::int32_t rank = 0;  // of its first replica
  std::int32_t replicas = 1;
  std::string dispatch;      // "on-demand" or "round-robin" (meaningful with replicas > 1)
  std::int32_t ordered = 0;  // 1: items entered it in item order
  std::string ranks;         // rank of each replica, comma separated
  std::string function;      // user: "blur (Image -> Image)"; exec: its command; else ""
  // exec: what the pipes alone cost per item, in us: an echo worker's round trip with this
  // stage's mean request and reply sizes, measured after the run on its rank (NaN otherwise).
  // The stage's compute time is request-to-reply, so its own work is about the difference.
  double pipe_us = std::nan("");
};

// tier: "same-rank" (in memory), "same-host" (MPI, shared memory), "cross-host" (MPI, network),
// or "mixed" when the edge joins replicas over more than one tier (edge_instance_row has each).
// from_rank / to_rank are those of the first replicas.
struct edge_row {
  std::int32_t id = 0;
  std::int32_t from = 0;
  std::int32_t to = 0;
  std::string from_name;
  std::string to_name;
  std::int32_t from_rank = 0;
  std::int32_t to_rank = 0;
  std::string tier;
  std::string transport;  // what Open MPI used: "ob1/vader", "ob1/tcp", "ucx", "in-memory", ...
  std::string serialization;
  std::uint64_t payload_bytes = 0;
  std::string tier_split;  // items per tier, e.g. "same-rank 10 items, same-host 10 items"
  std::string data_type;   // "bytes" (synthetic, files, exec replies) or the user type's name
};

// One (edge, producer replica, consumer replica) pair: where it ran and how many items took it.
// An edge between stages without replicas has exactly one.
struct edge_instance_row {
  std::int32_t edge = 0;
  std::int32_t src_replica = 0;
  std::int32_t dst_replica = 0;
  std::int32_t from_rank = 0;
  std::int32_t to_rank = 0;
  std::string tier;
  std::string transport;
  std::uint64_t items = 0;  // every item, not only those with detail rows
};

// One (tier, method, message size) of `mpipe bench`: what one hop costs. Times in us, bandwidth in
// MB/s (10^6 B/s); NaN where a column does not apply (no serialization on raw-mpi and in-memory,
// no raw-mpi baseline to divide by on same-rank, nothing to divide at 0 B).
struct bench_row {
  std::string tier;              // "same-rank", "same-host" or "cross-host"
  std::string method;            // "raw-mpi", "boost", "datatype", "raw" or (same-rank) "in-memory"
  std::uint64_t size_bytes = 0;  // payload, before serialization
  std::int32_t reps = 0;         // timed ping-pong round trips behind the latencies
  double latency_us = 0.0;       // median one-way: round trip / 2
  double latency_p95_us = 0.0;   // 95th percentile one-way
  double bandwidth_mb_s = 0.0;   // streaming: windows of non-blocking sends, then an ack
  double latency_ratio = 0.0;    // latency_us / raw-mpi's at this tier and size
  double bandwidth_ratio = 0.0;  // bandwidth_mb_s / raw-mpi's at this tier and size
  double serialize_us = 0.0;     // median encode, sender side
  double deserialize_us = 0.0;   // median decode after the receive, receiver side
};

// One (tier, method) of `mpipe calibrate`: the bench rows of all its sizes reduced to the two
// numbers the model uses per hop, time = alpha + bytes x ns_per_byte (weighted least squares,
// weights 1/time^2, so 0 B and 1 MiB count alike), and the same fit for encode and decode.
struct calibration_row {
  std::string tier;             // "same-rank", "same-host", "cross-host"
  std::string method;           // "raw-mpi", "boost", "datatype", "raw", "in-memory"
  std::int32_t points = 0;      // sizes the fit used
  double alpha_us = 0.0;        // one-way latency at 0 B (intercept)
  double ns_per_byte = 0.0;     // inverse bandwidth (slope)
  double bandwidth_mb_s = 0.0;  // 1000 / ns_per_byte; NaN if the slope is <= 0
  double r2 = 0.0;              // weighted coefficient of determination of the latency fit
  double serialize_us = 0.0;    // encode: intercept (NaN where there is no encode)
  double serialize_ns_per_byte = 0.0;
  double deserialize_us = 0.0;  // decode after the receive: intercept
  double deserialize_ns_per_byte = 0.0;
};

// One grid point of `mpipe sweep`: its settings and the statistics of its repeats (latency in
// ms, throughput in items/s). "" / -1 / 0 in a setting column mean "the spec's own".
struct sweep_point_row {
  std::int32_t point = 0;
  std::string transport;           // "shm" or "tcp"
  std::string placement;           // as given: pack, spread, A=0,B=1,...
  std::string placement_resolved;  // every stage = rank
  double work_scale = 1.0;         // the grid's factor on every stage's work
  double time_scale = 1.0;         // as run: work_scale x --time-scale
  double work_per_stage_ms = 0.0;  // mean work of the stages that have work, as run
  double work_per_item_ms = 0.0;   // every stage's work one after another, as run
  std::int64_t payload_bytes = 0;  // -1: the spec's
  std::string serialization;       // "": the spec's
  std::string emulated_link;       // "": none
  std::string replicas;            // "": the spec's
  std::int32_t threads = 0;        // 0: the spec's
  std::int32_t repeats = 0;        // counted runs behind the statistics
  std::int32_t warmup = 0;         // warm-up runs (not counted)
  std::int32_t stopped_early = 0;  // 1: --target-ci reached before --max-repeat
  double latency_median_ms = 0.0;
  double latency_mean_ms = 0.0;
  double latency_q1_ms = 0.0;
  double latency_q3_ms = 0.0;
  double latency_iqr_ms = 0.0;
  double latency_p95_ms = 0.0;
  double latency_min_ms = 0.0;
  double latency_max_ms = 0.0;
  double latency_ci_low_ms = 0.0;  // bootstrap CI of the median
  double latency_ci_high_ms = 0.0;
  double throughput_median_items_per_s = 0.0;
  double throughput_ci_low_items_per_s = 0.0;
  double throughput_ci_high_items_per_s = 0.0;
  double critical_path_ms = 0.0;      // free communication, enough cores
  double predicted_latency_ms = 0.0;  // the model; NaN without a platform
  double ideal_latency_ms = 0.0;      // the model with free communication on the run's cores
  double seconds = 0.0;               // wall time of the point's runs, warm-ups included
};

// One run of one sweep point, in the order they ran.
struct sweep_repeat_row {
  std::int32_t point = 0;
  std::int32_t round = 0;   // 0: warm-up round
  std::int32_t repeat = 0;  // index among the point's counted runs (or its warm-ups)
  std::int32_t warmup = 0;  // 1: a warm-up, not in the statistics
  std::int64_t order = 0;   // position in the sweep's run sequence
  double latency_mean_ms = 0.0;
  double latency_min_ms = 0.0;
  double latency_max_ms = 0.0;
  double throughput_items_per_s = 0.0;
  double started_s = 0.0;   // since the sweep started
  double duration_s = 0.0;  // the whole run_pipeline call, clock sync included
  std::string run_id;       // the full run appended with --keep-runs, else ""
};

// `mpipe sweep --break-even`: the work at which a distributed placement pays, measured (with a
// bootstrap CI over the repeats) and predicted by the model.
struct break_even_row {
  std::string quantity;     // "latency equal", "efficiency 50 %", ...
  std::string local;        // placement taken as local
  std::string distributed;  // placement taken as distributed
  std::string status;       // found, below range, not in range
  double work_per_stage_ms = 0.0;
  double ci_low_ms = 0.0;
  double ci_high_ms = 0.0;  // +inf: beyond the grid in some resamples
  double work_per_item_ms = 0.0;
  double found_fraction = 0.0;  // share of bootstrap resamples that crossed inside the grid
  std::string predicted_status;
  double predicted_work_per_stage_ms = 0.0;
  double predicted_work_per_item_ms = 0.0;
};

// `mpipe sweep` over `--emulate-link` latencies: per placement (and the other settings) and
// link scope, the latency tolerance the model predicts (tolerance.hpp) against the one measured.
struct latency_tolerance_row {
  std::string settings;       // the grid's other settings, e.g. "work_scale=1"; "" when none vary
  std::string placement;      // as sweep_points.placement
  std::string scope;          // cross-rank or cross-host: the hops the links held
  double slowdown_pct = 0.0;  // 1 or 10: item latency within this % of base_ms
  double base_ms = 0.0;       // measured median without an emulated link
  double predicted_base_ms = 0.0;  // the simulator's, without a link; NaN without a platform
  double predicted_ms = 0.0;       // the largest latency within it: +inf no such hop, NaN none
  std::string status;              // found, above range, below range, no base
  double measured_ms = 0.0;        // the crossing; the largest (smallest) tried if above (below)
  double min_tried_ms = 0.0;       // smallest latency > 0 the sweep ran
  double max_tried_ms = 0.0;       // largest
  double error_pct = 0.0;          // (predicted - measured) / measured, NaN unless both found
};

// Attributes of a run group. bool is stored as HDF5's h5py-style boolean enum.
using attribute_value = std::variant<std::string, std::int64_t, double, bool>;
using attribute = std::pair<std::string, attribute_value>;

struct run_record {
  std::string run_id;  // filled by append_run
  std::vector<attribute> attributes;
  std::vector<event_row> events;
  std::vector<message_row> messages;
  std::vector<item_row> items;
  std::vector<rank_row> ranks;
  std::vector<stage_row> stages;
  std::vector<edge_row> edges;
  std::vector<edge_instance_row> edge_instances;
  std::vector<handoff_row> handoffs;
  std::vector<bench_row> bench;  // `mpipe bench` and `mpipe calibrate` runs; empty otherwise
  std::vector<calibration_row> calibration;     // `mpipe calibrate` runs only
  std::vector<sweep_point_row> sweep_points;    // `mpipe sweep` runs only
  std::vector<sweep_repeat_row> sweep_repeats;  // `mpipe sweep` runs only
  std::vector<break_even_row> break_even;       // `mpipe sweep --break-even` runs only
  // `mpipe sweep` over --emulate-link latencies only
  std::vector<latency_tolerance_row> latency_tolerance;

  // Replaces an attribute of that name or adds it.
  void set(const std::string& name, attribute_value value);
  // Pointer to the value, or nullptr.
  const attribute_value* get(const std::string& name) const;
};

}  // namespace mpipe
