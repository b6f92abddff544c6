#include "mpipe/bench.hpp"

#include <mpi.h>

#include <algorithm>
#include <boost/mpi/collectives.hpp>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <iterator>
#include <limits>
#include <memory>
#include <mutex>
#include <ostream>
#include <set>
#include <sstream>
#include <thread>

#include "mpipe/error.hpp"
#include "mpipe/version.hpp"
#include "runtime/clock.hpp"
#include "runtime/mpi_info.hpp"
#include "runtime/transport.hpp"
#include "runtime/util.hpp"

namespace mpipe {
namespace {

constexpr double not_applicable = std::numeric_limits<double>::quiet_NaN();
constexpr std::uint64_t KiB = 1024, MiB = 1024 * KiB;
// Tags of the benchmark's own messages; serialized messages carry the transport's tags.
constexpr int data_tag = 1, ack_tag = 2, stats_tag = 3, plan_tag = 4;

const char* const tier_names[] = {"same-rank", "same-host", "cross-host"};

enum class method { raw_mpi, boost, datatype, raw, in_memory };

serialization_kind kind_of(method m) {
  return m == method::boost      ? serialization_kind::boost
         : m == method::datatype ? serialization_kind::datatype
                                 : serialization_kind::raw;
}

// The serializations go by the spec's own names (to_string), so bench rows and edges agree.
const char* name_of(method m) {
  if (m == method::raw_mpi) return "raw-mpi";
  if (m == method::in_memory) return "in-memory";
  return to_string(kind_of(m));
}

const method mpi_methods[] = {method::raw_mpi, method::boost, method::datatype, method::raw};

// How much of each measurement to do. The counts aim at roughly equal bytes per measurement, so
// the big sizes do not dominate the run and the small ones get enough samples for a stable
// median (OSU does the same with its small/large iteration counts). Each (size, method) is
// measured in `rounds` slices that alternate the methods, so slow drift and bursts of noise from
// the rest of the machine hit the baseline and the serializations alike.
struct plan {
  int reps = 0, warmup = 0;     // latency round trips, in all
  int window = 0, windows = 0;  // bandwidth: sends per window, timed windows in all
  int rounds = 1;
  bool fixed_reps = false;  // --reps given: exactly that many, whatever they cost
  // Time for the timed part of one phase (latency or bandwidth) of one round. A path that turns
  // out slow (boost at 64 MiB: ~1 s a round trip on a VM) gets fewer repetitions instead of
  // minutes; fast paths never reach it.
  std::int64_t budget_ns = 0;

  int reps_in(int round) const { return reps / rounds + (round < reps % rounds ? 1 : 0); }
  int warmup_per_round() const { return (warmup + rounds - 1) / rounds; }
  int windows_per_round() const { return std::max(1, (windows + rounds - 1) / rounds); }
};

int clamped(std::uint64_t v, std::uint64_t lo, std::uint64_t hi) {
  return static_cast<int>(std::clamp(v, lo, hi));
}

plan plan_for(std::uint64_t size, const bench_options& o) {
  const std::uint64_t s = std::max<std::uint64_t>(size, 1);
  plan p;
  std::int64_t budget_ns = 0;  // per (method, size), all rounds and both phases
  if (o.quick) {
    p.reps = clamped(16 * MiB / s, 20, 200);
    p.window = clamped(16 * MiB / s, 2, 16);
    p.windows = clamped(64 * MiB / (static_cast<std::uint64_t>(p.window) * s), 2, 10);
    budget_ns = 100'000'000;
  } else {
    p.reps = clamped(256 * MiB / s, 10, 10'000);
    // A window of 64 as OSU uses, fewer where 64 messages in flight would cost gigabytes.
    p.window = clamped(64 * MiB / s, 2, 64);
    p.windows = clamped(512 * MiB / (static_cast<std::uint64_t>(p.window) * s), 4, 100);
    budget_ns = 1'000'000'000;
  }
  p.fixed_reps = o.reps.has_value();
  if (o.reps) p.reps = *o.reps;
  p.warmup = o.warmup ? *o.warmup : std::max(2, p.reps / 10);
  // Big messages need fewer rounds: each repetition is long enough to average out short noise.
  p.rounds = std::clamp(p.reps, 1, o.quick || size >= 16 * MiB ? 2 : 4);
  p.budget_ns = budget_ns / (2 * p.rounds);
  return p;
}

// Linear interpolation between order statistics; NaN for no samples.
double percentile(std::vector<double> v, double q) {
  if (v.empty()) return not_applicable;
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(pos);
  const std::size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

double us_since(std::int64_t t0_ns, std::int64_t t1_ns) {
  return static_cast<double>(t1_ns - t0_ns) / 1e3;
}

// Real, deterministic bytes: a payload of zeros could flatter a transport that compresses.
payload_ptr make_payload(std::uint64_t size) {
  auto p = std::make_shared<byte_buffer>(size);
  std::uint32_t x = 0x9E3779B9u;
  for (auto& b : *p) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    b = static_cast<unsigned char>(x);
  }
  return p;
}

// What the runtime sends: for boost also the edge's tag string and a small metadata map.
wire_message message_of(method m, const payload_ptr& payload, MPI_Comm comm) {
  wire_message msg;
  msg.edge = 0;
  msg.payload = payload;
  if (m == method::boost)
    msg.names = make_names("ping->pong", {{"from", "ping"}, {"to", "pong"}}, comm);
  return msg;
}

// Timed samples of one (tier, method, size), gathered over its rounds.
struct samples {
  std::vector<double> one_way_us;  // per timed round trip, halved
  std::vector<double> window_us;   // per timed bandwidth window, from first send to the ack
  std::vector<double> serialize_us;
  std::vector<double> deserialize_us;
};

bench_row row_of(const char* tier, method m, std::uint64_t size, const plan& p, const samples& s) {
  bench_row row;
  row.tier = tier;
  row.method = name_of(m);
  row.size_bytes = size;
  row.reps = static_cast<std::int32_t>(s.one_way_us.size());
  row.latency_us = percentile(s.one_way_us, 0.5);
  row.latency_p95_us = percentile(s.one_way_us, 0.95);
  // The median window rather than the total: one descheduled window on a shared machine would
  // otherwise decide the whole figure.
  const double window_us = percentile(s.window_us, 0.5);
  row.bandwidth_mb_s = window_us > 0.0
                           ? static_cast<double>(size) * static_cast<double>(p.window) / window_us
                           : not_applicable;
  row.latency_ratio = not_applicable;
  row.bandwidth_ratio = not_applicable;
  row.serialize_us = percentile(s.serialize_us, 0.5);
  row.deserialize_us = percentile(s.deserialize_us, 0.5);
  return row;
}

// --- same-rank: two threads and the runtime's kind of queue ---------------------------------

struct handoff {
  enum what { echo, stream, stream_last, stop } kind = echo;
  payload_ptr payload;
};

class handoff_queue {
 public:
  void push(handoff h) {
    {
      std::lock_guard lk(m_);
      q_.push_back(std::move(h));
    }
    cv_.notify_one();  // after unlocking, as the runtime does: the woken thread finds it free
  }
  handoff pop() {
    std::unique_lock lk(m_);
    cv_.wait(lk, [&] { return !q_.empty(); });
    handoff h = std::move(q_.front());
    q_.pop_front();
    return h;
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<handoff> q_;
};

samples measure_in_memory(const payload_ptr& payload, const plan& p) {
  handoff_queue to_pong, to_ping;
  std::thread pong([&] {
    for (;;) {
      handoff h = to_pong.pop();
      if (h.kind == handoff::stop) return;
      if (h.kind == handoff::echo) to_ping.push(std::move(h));
      if (h.kind == handoff::stream_last) to_ping.push({handoff::echo, nullptr});
    }
  });
  const auto round_trip = [&] {
    to_pong.push({handoff::echo, payload});
    to_ping.pop();
  };
  // At least 2 ms of warm-up besides the count: a thread just started, waking a core that was
  // idle, is slow for a while (seen: 20x the settled hand-off on a VM).
  const std::int64_t warm_until = now_ns() + (p.warmup > 0 ? 2'000'000 : 0);
  for (int i = 0; i < p.warmup || now_ns() < warm_until; ++i) round_trip();
  samples s;
  s.one_way_us.reserve(static_cast<std::size_t>(p.reps));
  std::int64_t prev = now_ns();
  for (int i = 0; i < p.reps; ++i) {
    round_trip();
    const std::int64_t t = now_ns();
    s.one_way_us.push_back(us_since(prev, t) / 2);
    prev = t;
  }
  for (int w = -1; w < p.windows; ++w) {
    const std::int64_t t0 = now_ns();
    for (int j = 0; j < p.window; ++j)
      to_pong.push({j + 1 < p.window ? handoff::stream : handoff::stream_last, payload});
    to_ping.pop();
    if (w >= 0) s.window_us.push_back(us_since(t0, now_ns()));
  }
  to_pong.push({handoff::stop, nullptr});
  pong.join();
  return s;
}

// --- MPI tiers: rank 0 measures ("ping"), the peer echoes and acknowledges ("pong") ----------

class pair_bench {
 public:
  pair_bench(MPI_Comm comm, int peer, bool ping) : comm_(comm), peer_(peer), ping_(ping) {}

  // Every method on one size: both sides call this with the same arguments; the samples mean
  // something on ping only (pong's deserialize times are sent over at the end).
  std::vector<samples> measure_size(const payload_ptr& payload, const plan& p) {
    std::vector<samples> s(std::size(mpi_methods));
    // The baseline's receive buffer, touched once per size: fresh pages are expensive on some
    // VMs (seen: ~12 us per 4 KiB page on Firecracker, whose free-page reporting hands freed
    // memory back to the host), and the baseline should measure MPI, not the page allocator.
    in_.assign(payload->size(), 0);
    for (int round = 0; round < p.rounds; ++round) {
      for (std::size_t i = 0; i < std::size(mpi_methods); ++i) {
        const method m = mpi_methods[i];
        if (m == method::raw_mpi) {
          raw_latency(*payload, p, round, s[i]);
          raw_bandwidth(*payload, p, s[i]);
        } else {
          serialized_latency(m, payload, p, round, s[i]);
          serialized_bandwidth(m, payload, p, s[i]);
        }
      }
    }
    // The receiving side decodes in the bandwidth phase: its medians come over in one message.
    std::vector<double> medians;
    for (const auto& one : s) medians.push_back(percentile(one.deserialize_us, 0.5));
    const int n = static_cast<int>(medians.size());
    if (ping_) {
      MPIPE_MPI_CHECK(
          MPI_Recv(medians.data(), n, MPI_DOUBLE, peer_, stats_tag, comm_, MPI_STATUS_IGNORE));
      for (std::size_t i = 0; i < s.size(); ++i) s[i].deserialize_us = {medians[i]};
    } else {
      MPIPE_MPI_CHECK(MPI_Send(medians.data(), n, MPI_DOUBLE, peer_, stats_tag, comm_));
    }
    return s;
  }

 private:
  // Ping's word on how many timed repetitions follow the warm-up: as planned, or fewer where
  // the warm-up showed that the planned count would overrun the budget. Pong learns it in one
  // message outside the timed part; with nothing to estimate from, both keep the plan.
  int agree(int planned, bool adjustable, std::int64_t warm_ns, int warm_count, const plan& p) {
    if (!adjustable || warm_count == 0 || planned <= 1) return planned;
    int n = planned;
    if (ping_) {
      const double each = static_cast<double>(warm_ns) / warm_count;
      if (each * planned > static_cast<double>(p.budget_ns))
        n = std::max(1, static_cast<int>(static_cast<double>(p.budget_ns) / each));
      MPIPE_MPI_CHECK(MPI_Send(&n, 1, MPI_INT, peer_, plan_tag, comm_));
    } else {
      MPIPE_MPI_CHECK(MPI_Recv(&n, 1, MPI_INT, peer_, plan_tag, comm_, MPI_STATUS_IGNORE));
    }
    return n;
  }

  // Ping-pong: `once` is one round trip on ping and one echo on pong. Warm-up, then the timed
  // repetitions, each timed on its own so the median and p95 can be taken.
  template <class Once>
  void ping_pong(const plan& p, int round, samples& s, Once&& once) {
    const int warmup = p.warmup_per_round();
    const std::int64_t w0 = now_ns();
    for (int i = 0; i < warmup; ++i) once();
    const int reps = agree(p.reps_in(round), !p.fixed_reps, now_ns() - w0, warmup, p);
    std::int64_t prev = now_ns();
    for (int i = 0; i < reps; ++i) {
      once();
      if (!ping_) continue;
      const std::int64_t t = now_ns();
      s.one_way_us.push_back(us_since(prev, t) / 2);
      prev = t;
    }
  }

  // Bandwidth windows: `window` posts a window (ping) or takes it in (pong); the 1-byte ack is
  // here. One untimed window first, which also sizes the timed ones to the budget.
  template <class Window>
  void windows(const plan& p, samples& s, Window&& window) {
    unsigned char ack = 0;
    const auto one = [&] {
      window();
      if (ping_)
        MPIPE_MPI_CHECK(MPI_Recv(&ack, 1, MPI_BYTE, peer_, ack_tag, comm_, MPI_STATUS_IGNORE));
      else
        MPIPE_MPI_CHECK(MPI_Send(&ack, 1, MPI_BYTE, peer_, ack_tag, comm_));
    };
    const std::int64_t w0 = now_ns();
    one();
    const int n = agree(p.windows_per_round(), true, now_ns() - w0, 1, p);
    for (int w = 0; w < n; ++w) {
      const std::int64_t t0 = now_ns();
      one();
      if (ping_) s.window_us.push_back(us_since(t0, now_ns()));
    }
  }

  void raw_latency(const byte_buffer& payload, const plan& p, int round, samples& s) {
    const int n = static_cast<int>(payload.size());
    ping_pong(p, round, s, [&] {
      if (ping_) {
        MPIPE_MPI_CHECK(MPI_Send(payload.data(), n, MPI_BYTE, peer_, data_tag, comm_));
        MPIPE_MPI_CHECK(
            MPI_Recv(in_.data(), n, MPI_BYTE, peer_, data_tag, comm_, MPI_STATUS_IGNORE));
      } else {
        MPIPE_MPI_CHECK(
            MPI_Recv(in_.data(), n, MPI_BYTE, peer_, data_tag, comm_, MPI_STATUS_IGNORE));
        MPIPE_MPI_CHECK(MPI_Send(in_.data(), n, MPI_BYTE, peer_, data_tag, comm_));
      }
    });
  }

  // OSU's osu_bw: the receiver pre-posts a window of receives, the sender posts a window of
  // non-blocking sends, and a 1-byte ack closes each window. As in OSU, every receive of a window
  // lands in the same buffer (its contents are never read): distinct buffers would make the
  // baseline stream through cold memory (measured: half the bandwidth at 1 MiB) while the
  // transport's receiver gets its freed buffer back from malloc each time.
  void raw_bandwidth(const byte_buffer& payload, const plan& p, samples& s) {
    const int n = static_cast<int>(payload.size());
    const auto window = static_cast<std::size_t>(p.window);
    std::vector<MPI_Request> requests(window);
    windows(p, s, [&] {
      for (std::size_t j = 0; j < window; ++j) {
        if (ping_)
          MPIPE_MPI_CHECK(
              MPI_Isend(payload.data(), n, MPI_BYTE, peer_, data_tag, comm_, &requests[j]));
        else
          MPIPE_MPI_CHECK(MPI_Irecv(in_.data(), n, MPI_BYTE, peer_, data_tag, comm_, &requests[j]));
      }
      MPIPE_MPI_CHECK(MPI_Waitall(p.window, requests.data(), MPI_STATUSES_IGNORE));
    });
  }

  // One message the way the runtime sends it: encode, then send what encode describes (one or
  // two parts), into one encoded message kept from send to send, as the runtime keeps spares.
  void send_one(serialization_kind how, const wire_message& msg) {
    encode(how, msg, comm_, out_);
    send_encoded(out_, peer_, comm_);
  }

  // One message the way the runtime receives it: a matched probe, then receive and decode.
  wire_message receive(serialization_kind how, std::int64_t& deserialize_ns) {
    MPI_Status status;
    MPI_Message message = MPI_MESSAGE_NULL;
    MPIPE_MPI_CHECK(MPI_Mprobe(peer_, tag_of(how), comm_, &message, &status));
    std::uint64_t bytes = 0;
    std::int64_t received_ns = 0;
    return receive_decoded(comm_, message, status, bytes, received_ns, deserialize_ns);
  }

  void serialized_latency(method m, const payload_ptr& payload, const plan& p, int round,
                          samples& s) {
    const serialization_kind how = kind_of(m);
    wire_message msg = message_of(m, payload, comm_);
    std::int64_t deserialize_ns = 0;
    ping_pong(p, round, s, [&] {
      if (!ping_) {
        send_one(how, receive(how, deserialize_ns));
        return;
      }
      ++msg.item;
      send_one(how, msg);
      const wire_message back = receive(how, deserialize_ns);
      if (!back.payload || back.payload->size() != payload->size() || back.item != msg.item)
        throw mpi_error("mpipe bench: the echo of item " + std::to_string(msg.item) + " (" +
                        std::to_string(payload->size()) + " B) came back altered");
    });
  }

  // As raw_bandwidth, but each message is encoded right before it is posted (timed there, as
  // the runtime times it) and received with probe + receive + decode: no pre-posted receives,
  // because the runtime cannot know sizes ahead of time either.
  void serialized_bandwidth(method m, const payload_ptr& payload, const plan& p, samples& s) {
    const serialization_kind how = kind_of(m);
    wire_message msg = message_of(m, payload, comm_);
    const auto window = static_cast<std::size_t>(p.window);
    std::vector<MPI_Request> requests(2 * window);  // a header and a payload part each at most
    std::vector<encoded_message> in_flight(window);
    std::vector<double> serialize_us, deserialize_us;
    windows(p, s, [&] {
      int posted = 0;
      for (std::size_t j = 0; j < window; ++j) {
        if (ping_) {
          ++msg.item;
          const std::int64_t s0 = now_ns();
          encode(how, msg, comm_, in_flight[j]);
          serialize_us.push_back(us_since(s0, now_ns()));
          posted += isend_encoded(in_flight[j], peer_, comm_,
                                  &requests[static_cast<std::size_t>(posted)]);
        } else {
          std::int64_t deserialize_ns = 0;
          receive(how, deserialize_ns);
          deserialize_us.push_back(static_cast<double>(deserialize_ns) / 1e3);
        }
      }
      if (!ping_) return;
      MPIPE_MPI_CHECK(MPI_Waitall(posted, requests.data(), MPI_STATUSES_IGNORE));
      for (auto& e : in_flight) e.clear();
    });
    // The untimed first window is left out of the serialization times as well.
    const auto timed = [&](std::vector<double>& all, std::vector<double>& into) {
      into.insert(into.end(), all.begin() + std::min<std::ptrdiff_t>(p.window, std::ssize(all)),
                  all.end());
    };
    timed(serialize_us, s.serialize_us);
    timed(deserialize_us, s.deserialize_us);
  }

  MPI_Comm comm_;
  int peer_;
  bool ping_;
  byte_buffer in_;
  encoded_message out_;  // send_one's, kept from message to message
};

// A line on stderr per tier, and one every few seconds inside a long tier.
class progress_lines {
 public:
  explicit progress_lines(bool on) : on_(on), start_(now_ns()), last_(start_) {}
  void tier(const std::string& text) {
    if (!on_) return;
    std::fprintf(stderr, "[mpipe] bench %s (%.1f s elapsed)\n", text.c_str(), elapsed_s());
    last_ = now_ns();
  }
  void step(const char* tier, std::uint64_t size, std::size_t done, std::size_t total) {
    if (!on_ || now_ns() - last_ < 5'000'000'000) return;
    std::fprintf(stderr, "[mpipe] bench %s: %s done (%zu/%zu sizes, %.1f s elapsed)\n", tier,
                 size_label(size).c_str(), done, total, elapsed_s());
    last_ = now_ns();
  }

 private:
  double elapsed_s() const { return static_cast<double>(now_ns() - start_) / 1e9; }
  bool on_;
  std::int64_t start_, last_;
};

void validate(const bench_options& o) {
  if (o.reps && (*o.reps < 1 || *o.reps > 10'000'000))
    throw spec_error("<command line>", 0, "--reps",
                     "must be between 1 and 10000000, got " + std::to_string(*o.reps));
  if (o.warmup && (*o.warmup < 0 || *o.warmup > 10'000'000))
    throw spec_error("<command line>", 0, "--warmup",
                     "must be between 0 and 10000000, got " + std::to_string(*o.warmup));
  for (const std::uint64_t s : o.sizes)
    if (s > max_bench_size)
      throw spec_error("<command line>", 0, "--sizes",
                       "at most " + size_label(max_bench_size) + " per message, got " +
                           std::to_string(s) + " B");
}

std::vector<std::uint64_t> sizes_of(const bench_options& o) {
  if (!o.sizes.empty()) return o.sizes;
  return o.quick ? quick_bench_sizes() : default_bench_sizes();
}

std::string join_sizes(const std::vector<std::uint64_t>& sizes) {
  std::string s;
  for (const std::uint64_t v : sizes) s += (s.empty() ? "" : ",") + std::to_string(v);
  return s;
}

}  // namespace

std::vector<std::uint64_t> default_bench_sizes() {
  std::vector<std::uint64_t> sizes{0};
  for (std::uint64_t s = 4; s <= 64 * MiB; s *= 4) sizes.push_back(s);
  return sizes;
}

std::vector<std::uint64_t> quick_bench_sizes() { return {0, 64, KiB, 64 * KiB, MiB}; }

std::vector<std::uint64_t> parse_bench_sizes(const std::string& text) {
  const auto bad = [&](const std::string& why) {
    return spec_error("<command line>", 0, "--sizes",
                      why + " (got '" + text + "'; expected e.g. '0,64,1K,1M', K = KiB, M = MiB)");
  };
  std::vector<std::uint64_t> sizes;
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, ',')) {
    std::uint64_t unit = 1;
    if (!part.empty() && (part.back() == 'K' || part.back() == 'k')) unit = KiB;
    if (!part.empty() && (part.back() == 'M' || part.back() == 'm')) unit = MiB;
    const std::string digits = unit == 1 ? part : part.substr(0, part.size() - 1);
    if (digits.empty() || digits.size() > 10 ||
        !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
      throw bad("'" + part + "' is not a size");
    const std::uint64_t bytes = std::stoull(digits) * unit;
    if (bytes > max_bench_size)
      throw bad("'" + part + "' is above the limit of " + size_label(max_bench_size));
    sizes.push_back(bytes);
  }
  if (sizes.empty() || text.empty() || text.back() == ',') throw bad("empty size");
  return sizes;
}

std::string size_label(std::uint64_t bytes) {
  if (bytes >= MiB && bytes % MiB == 0) return std::to_string(bytes / MiB) + " MiB";
  if (bytes >= KiB && bytes % KiB == 0) return std::to_string(bytes / KiB) + " KiB";
  return std::to_string(bytes) + " B";
}

std::vector<bench_row> run_bench(const boost::mpi::communicator& world,
                                 const bench_options& options) {
  validate(options);
  // A private communicator: no benchmark message can match anything else the job sends.
  const boost::mpi::communicator comm(world, boost::mpi::comm_duplicate);
  const int rank = comm.rank();
  std::vector<std::string> hosts;
  boost::mpi::all_gather(comm, host_name(), hosts);
  const auto [same_host, cross_host] = bench_peers(hosts);

  const std::vector<std::uint64_t> sizes = sizes_of(options);
  progress_lines progress(rank == 0 && options.progress && !options.quick);
  std::vector<bench_row> rows;

  if (rank == 0) {
    progress.tier("same-rank: two threads of rank 0, " + std::to_string(sizes.size()) + " sizes");
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      const plan p = plan_for(sizes[i], options);
      rows.push_back(row_of(tier_names[0], method::in_memory, sizes[i], p,
                            measure_in_memory(make_payload(sizes[i]), p)));
      progress.step(tier_names[0], sizes[i], i + 1, sizes.size());
    }
  }
  polite_barrier(comm);

  for (const auto& [tier, peer] :
       {std::pair{tier_names[1], same_host}, std::pair{tier_names[2], cross_host}}) {
    if (peer < 0) continue;
    if (rank == 0 || rank == peer) {
      if (rank == 0)
        progress.tier(std::string(tier) + ": ranks 0 and " + std::to_string(peer) + " (" +
                      hosts[static_cast<std::size_t>(peer)] + "), " + std::to_string(sizes.size()) +
                      " sizes x 4 methods");
      pair_bench pair(comm, rank == 0 ? peer : 0, rank == 0);
      for (std::size_t i = 0; i < sizes.size(); ++i) {
        const plan p = plan_for(sizes[i], options);
        const auto s = pair.measure_size(make_payload(sizes[i]), p);
        if (rank != 0) continue;
        for (std::size_t k = 0; k < s.size(); ++k)
          rows.push_back(row_of(tier, mpi_methods[k], sizes[i], p, s[k]));
        progress.step(tier, sizes[i], i + 1, sizes.size());
      }
    }
    polite_barrier(comm);
  }
  if (rank != 0) return {};

  // Tier, then method, then size (each group reads like one OSU table); ratios to raw-mpi.
  const auto method_rank = [](const std::string& m) {
    for (int i = 0; i < 5; ++i)
      if (m == name_of(static_cast<method>(i))) return i;
    return 5;
  };
  std::stable_sort(rows.begin(), rows.end(), [&](const bench_row& a, const bench_row& b) {
    return method_rank(a.method) < method_rank(b.method);
  });
  std::stable_sort(rows.begin(), rows.end(), [](const bench_row& a, const bench_row& b) {
    const auto tier = [](const std::string& t) {
      return std::find(std::begin(tier_names), std::end(tier_names), t) - std::begin(tier_names);
    };
    return tier(a.tier) < tier(b.tier);
  });
  for (auto& row : rows) {
    for (const auto& base : rows) {
      if (base.method != "raw-mpi" || base.tier != row.tier || base.size_bytes != row.size_bytes)
        continue;
      row.latency_ratio = row.latency_us / base.latency_us;
      row.bandwidth_ratio =
          base.bandwidth_mb_s > 0.0 ? row.bandwidth_mb_s / base.bandwidth_mb_s : not_applicable;
    }
  }
  return rows;
}

run_record bench_run(const boost::mpi::communicator& comm, const bench_options& options) {
  validate(options);
  std::vector<std::string> hosts;
  boost::mpi::all_gather(comm, host_name(), hosts);
  const std::string utc_start = utc_now_iso();
  std::vector<bench_row> rows = run_bench(comm, options);
  const std::string utc_end = utc_now_iso();
  run_record rec;
  if (comm.rank() != 0) return rec;

  // Pipeline runs have no `kind`: absent means "run", so files written before stay readable.
  rec.set("kind", std::string("bench"));
  set_provenance(rec, options.command_line, comm.size(), hosts, utc_start, utc_end);
  rec.set("sizes", join_sizes(sizes_of(options)));
  rec.set("reps", static_cast<std::int64_t>(options.reps.value_or(0)));
  rec.set("warmup", static_cast<std::int64_t>(options.warmup.value_or(-1)));
  rec.set("quick", options.quick);
  rec.set("complete", true);
  rec.bench = std::move(rows);
  return rec;
}

void print_bench(std::ostream& out, const std::vector<bench_row>& rows) {
  const std::vector<std::string> header = {"tier",   "method",  "size B",        "one-way us",
                                           "p95 us", "MB/s",    "lat x raw-mpi", "bw x raw-mpi",
                                           "ser us", "deser us"};
  const auto number = [](double v, int decimals) {
    if (std::isnan(v)) return std::string("-");
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return std::string(buf);
  };
  std::vector<std::vector<std::string>> cells;
  for (const auto& r : rows) {
    cells.push_back({r.tier, r.method, std::to_string(r.size_bytes), number(r.latency_us, 3),
                     number(r.latency_p95_us, 3), number(r.bandwidth_mb_s, 1),
                     number(r.latency_ratio, 2), number(r.bandwidth_ratio, 2),
                     number(r.serialize_us, 3), number(r.deserialize_us, 3)});
  }
  std::vector<std::size_t> width(header.size());
  for (std::size_t c = 0; c < header.size(); ++c) {
    width[c] = header[c].size();
    for (const auto& line : cells) width[c] = std::max(width[c], line[c].size());
  }
  const auto print_line = [&](const std::vector<std::string>& line) {
    std::string text = " ";
    for (std::size_t c = 0; c < line.size(); ++c) {
      const std::size_t pad = width[c] - line[c].size();
      // Names left-aligned, numbers right-aligned so their digits line up.
      text += c < 2 ? line[c] + std::string(pad, ' ') : std::string(pad, ' ') + line[c];
      text += "  ";
    }
    text.resize(text.find_last_not_of(' ') + 1);
    out << text << '\n';
  };
  out << "Communication benchmark (one-way = median ping-pong round trip / 2; MB/s = 10^6 B/s "
         "streaming a window of non-blocking sends + ack; x raw-mpi = ratio to raw MPI at the "
         "same tier and size)\n";
  print_line(header);
  std::string previous;
  for (std::size_t i = 0; i < cells.size(); ++i) {
    const std::string group = rows[i].tier + "/" + rows[i].method;
    if (!previous.empty() && group != previous) out << '\n';
    previous = group;
    print_line(cells[i]);
  }
  out.flush();
}

}  // namespace mpipe
