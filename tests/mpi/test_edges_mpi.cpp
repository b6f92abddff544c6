// What every edge reports, on real ranks: hop times are never negative (each input's own arrival
// at its consumer, not the producer's last hand-out, and a wait for a free replica counted apart),
// a farm's edges are labelled per replica pair, an emulated link is a link that messages share,
// and rows larger than MPI's int counts still reach rank 0. Run at 1, 2 and 3 ranks; sleep
// kernels, so the bounds hold on a busy 2-core box.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/mpi/communicator.hpp>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "gather.hpp"
#include "mpipe/runtime.hpp"
#include "mpipe/spec.hpp"

namespace {

boost::mpi::communicator world;

mpipe::pipeline_spec spec_of(const std::string& yaml) { return mpipe::parse_spec(yaml, "<test>"); }

// Main -> A -> {B, F}, F an on-demand farm of 2 x 20 ms that A must wait for (the reported
// -8 ms queue), B 1 ms.
const char* fan_out =
    "name: fan\nsource: Main\nitems: 24\ninflight: 8\ndefaults: {kernel: sleep, payload_bytes: "
    "256}\nstages:\n  - {name: Main, work_ms: 0}\n  - {name: A, work_ms: 1}\n  - {name: B, "
    "work_ms: 1}\n  - {name: F, work_ms: 20, replicas: 2}\nedges:\n  - Main -> A\n  - {from: A, "
    "to: [B, F]}\n  - B -> Main\n  - F -> Main\n";
// Main -> F -> Main with F x2 round-robin.
const char* rr_farm =
    "name: rr\nsource: Main\nitems: 20\ninflight: 4\ndefaults: {kernel: sleep, payload_bytes: "
    "128}\nstages:\n  - {name: Main, work_ms: 0}\n  - {name: F, work_ms: 2, replicas: 2, "
    "dispatch: round-robin}\nedges:\n  - Main -> F\n  - F -> Main\n";
// The diamond of tests/data/small.yaml as a stream.
const char* diamond =
    "name: diamond\nsource: Main\nitems: 12\ninflight: 3\ndefaults: {kernel: sleep, "
    "payload_bytes: 64}\nstages:\n  - {name: Main, work_ms: 0}\n  - {name: X, work_ms: 2}\n  - "
    "{name: Y, work_ms: 4}\n  - {name: Z, work_ms: 6}\n  - {name: W, work_ms: 1}\nedges:\n  - "
    "Main -> X\n  - {from: X, to: [Y, Z]}\n  - {from: [Y, Z], to: W}\n  - W -> Main\n";

mpipe::run_result run(const mpipe::pipeline_spec& spec, const std::string& placement,
                      std::optional<mpipe::emulated_link> link = std::nullopt) {
  mpipe::run_options opt;
  opt.placement = placement;
  opt.progress = false;
  opt.emulate = std::move(link);
  return mpipe::run_pipeline(world, spec, opt);
}

using event_key = std::pair<std::uint64_t, int>;

// Every hop of a run, checked against the events of its producer and consumer; then the
// terminal's Edges table, whose time columns must show no negative number either.
void expect_no_negative_hop(const mpipe::run_result& r, const std::string& what) {
  const auto& rec = r.record;
  std::map<event_key, const mpipe::event_row*> ev;
  for (const auto& e : rec.events) ev[{e.item, e.stage}] = &e;
  const int source = r.spec.stage_index(r.spec.edges.front().from);
  const auto check = [&](std::uint64_t item, int edge, std::int64_t available,
                         std::int64_t credit_wait, std::int64_t slack, const char* kind) {
    const auto& ed = rec.edges[static_cast<std::size_t>(edge)];
    const auto* prod = ev.at({item, ed.from});
    EXPECT_GE(available - credit_wait - prod->finished_ns, -slack)
        << what << " " << kind << " " << ed.from_name << "->" << ed.to_name << " item " << item;
    EXPECT_GE(credit_wait, 0) << what << " " << ed.from_name << "->" << ed.to_name;
    if (ed.to == source) return;
    EXPECT_GE(ev.at({item, ed.to})->started_ns - available, 0)
        << what << " queued " << ed.from_name << "->" << ed.to_name << " item " << item;
  };
  for (const auto& h : rec.handoffs)
    check(h.item, h.edge, h.available_ns, h.credit_wait_ns, 0, "in-memory");
  // Across ranks the two stamps come from two clocks: equal up to their stated error.
  for (const auto& m : rec.messages)
    check(m.item, m.edge, m.available_ns, m.credit_wait_ns, m.clock_error_ns, "message");
  EXPECT_EQ(rec.handoffs.size() + rec.messages.size(), r.spec.items * r.spec.edges.size()) << what;

  std::ostringstream out;
  mpipe::print_summary(out, r);
  std::istringstream lines(out.str());
  std::string line;
  bool in_edges = false;
  while (std::getline(lines, line)) {
    if (line.rfind("Edges", 0) == 0) in_edges = true;
    if (in_edges && line.empty()) break;
    if (!in_edges || line.rfind("  ", 0) != 0) continue;
    EXPECT_EQ(line.find(" -0"), std::string::npos) << what << ": " << line;
    for (std::size_t at = line.find(" -"); at != std::string::npos; at = line.find(" -", at + 1))
      EXPECT_FALSE(std::isdigit(static_cast<unsigned char>(line[at + 2]))) << what << ": " << line;
  }
}

TEST(Edges, NoHopIsEverNegative) {
  for (const char* yaml : {fan_out, rr_farm, diamond})
    for (const char* placement : {"pack", "spread"}) {
      const auto r = run(spec_of(yaml), placement);
      if (world.rank() == 0) expect_no_negative_hop(r, std::string(placement) + " " + yaml);
    }
}

// The reported case, packed: B has A's output within microseconds while A waits for a credit
// on A->F; the two fan-out edges must not read alike.
TEST(Edges, FanOutEdgesHaveTheirOwnTimes) {
  const auto r = run(spec_of(fan_out), "pack");
  if (world.rank() != 0) return;
  double to_b = 0.0, credit_f = 0.0;
  int nb = 0, nf = 0;
  for (const auto& h : r.record.handoffs) {
    const auto& ed = r.record.edges[static_cast<std::size_t>(h.edge)];
    if (ed.from_name != "A") continue;
    if (ed.to_name == "B") {
      const auto it =
          std::find_if(r.record.events.begin(), r.record.events.end(),
                       [&](const auto& e) { return e.item == h.item && e.stage == ed.from; });
      to_b += static_cast<double>(h.available_ns - it->finished_ns);
      ++nb;
    } else {
      credit_f += static_cast<double>(h.credit_wait_ns);
      ++nf;
    }
  }
  ASSERT_GT(nb, 0);
  ASSERT_GT(nf, 0);
  // A 20 ms farm behind a 1 ms producer: A waits for credits for most of an item's time.
  EXPECT_LT(to_b / nb, 2e6) << "A->B overhead in ns: B's input is there as soon as A is done";
  EXPECT_GT(credit_f / nf, 2e6) << "A->F credit wait in ns";
}

// The reported case: F#0 beside Main, F#1 on rank 1. Labelled "same-rank" by F#0 before, and the
// run was classed local though 20 messages crossed.
TEST(Edges, FarmEdgesAreLabelledPerReplicaPair) {
  if (world.size() < 2) GTEST_SKIP() << "needs 2 ranks";
  const auto r = run(spec_of(rr_farm), "Main=0,F#0=0,F#1=1");
  if (world.rank() != 0) return;
  const auto& rec = r.record;
  ASSERT_EQ(rec.edges.size(), 2u);
  for (const auto& e : rec.edges) {
    EXPECT_EQ(e.tier, "mixed") << e.from_name << "->" << e.to_name;
    EXPECT_EQ(e.tier_split, "same-rank 10 items, same-host 10 items");
  }
  ASSERT_EQ(rec.edge_instances.size(), 4u);
  for (const auto& p : rec.edge_instances) {
    EXPECT_EQ(p.items, 10u);
    const bool remote = (p.edge == 0 ? p.dst_replica : p.src_replica) == 1;
    EXPECT_EQ(p.tier, remote ? "same-host" : "same-rank");
    EXPECT_EQ(p.transport.rfind(remote ? "ob1/" : "in-memory", 0), 0u) << p.transport;
  }
  EXPECT_EQ(rec.messages.size(), 20u);
  for (const auto& m : rec.messages) EXPECT_EQ(m.edge == 0 ? m.dst_replica : m.src_replica, 1);
  EXPECT_EQ(rec.handoffs.size(), 20u);
}

// An emulated 100 kB/s link with 10 kB items, 8 in flight: 10 items/s at most per direction.
// Before, each message was held on its own (latency + bytes / bandwidth from its send), so
// messages in flight overlapped and 39.75 items/s went through, 4x what the link allows.
TEST(Edges, AnEmulatedLinkCarriesItsBandwidth) {
  if (world.size() < 2) GTEST_SKIP() << "needs 2 ranks";
  auto spec = spec_of(
      "name: link\nsource: Main\nitems: 40\ninflight: 8\ndefaults: {kernel: sleep, "
      "payload_bytes: 10000}\nstages:\n  - {name: Main, work_ms: 0}\n  - {name: A, work_ms: "
      "1}\nedges:\n  - Main -> A\n  - A -> Main\n");
  const auto r = run(spec, "spread", mpipe::parse_emulated_link("bandwidth=800kbit/s"));
  if (world.rank() != 0) return;
  EXPECT_NEAR(r.bound_items_per_s, 10.0, 0.01) << r.bound_text;
  EXPECT_NE(r.bound_text.find("link rank"), std::string::npos) << r.bound_text;
  // Wire bytes are the payload plus the archive's header: a little under 10 items/s.
  EXPECT_LE(r.throughput_items_per_s, 10.0 * 1.05);
  EXPECT_GE(r.throughput_items_per_s, 10.0 * 0.90);
  double bytes = 0.0;
  for (const auto& m : r.record.messages)
    if (m.edge == 0) bytes += static_cast<double>(m.bytes);
  EXPECT_GT(bytes, 40 * 10000.0);
}

// Rows cross in pieces of at most chunk bytes, here 7 B pieces of 24 B rows, rank by rank.
TEST(Gather, RowsArriveWholeInChunks) {
  struct row {
    std::int64_t rank, index, check;
  };
  std::vector<row> mine;
  for (int i = 0; i < 5 + 3 * world.rank(); ++i)
    mine.push_back({world.rank(), i, world.rank() * 1000 + i});
  const auto all = mpipe::gather_rows(world, mine, 7);
  if (world.rank() != 0) {
    EXPECT_TRUE(all.empty());
    return;
  }
  std::size_t at = 0;
  for (int r = 0; r < world.size(); ++r)
    for (int i = 0; i < 5 + 3 * r; ++i, ++at) {
      ASSERT_LT(at, all.size());
      EXPECT_EQ(all[at].rank, r);
      EXPECT_EQ(all[at].index, i);
      EXPECT_EQ(all[at].check, r * 1000 + i);
    }
  EXPECT_EQ(at, all.size());
}

// More than 2^31 - 1 bytes in all, what one MPI_Gatherv's int displacements could not address
// (about 38 M event rows). Needs ~4.5 GiB and ~10 s: only with MPIPE_LIMITS_FULL=1.
TEST(Gather, MoreThanTwoGiBReachRankZero) {
  if (std::getenv("MPIPE_LIMITS_FULL") == nullptr) GTEST_SKIP() << "MPIPE_LIMITS_FULL=1 runs it";
  if (world.size() != 2) GTEST_SKIP() << "runs at 2 ranks";
  const std::size_t n = (std::size_t{1} << 31) / sizeof(std::uint64_t) + 4096;
  std::vector<std::uint64_t> mine(world.rank() == 1 ? n : 3);
  for (std::size_t i = 0; i < mine.size(); i += 4096) mine[i] = i * 2 + world.rank();
  mine.back() = 77 + world.rank();
  const auto all = mpipe::gather_rows(world, mine);
  if (world.rank() != 0) return;
  ASSERT_EQ(all.size(), 3 + n);
  EXPECT_EQ(all[2], 77u);
  for (std::size_t i = 0; i + 1 < n; i += 4096) ASSERT_EQ(all[3 + i], i * 2 + 1) << i;
  EXPECT_EQ(all.back(), 78u);
}

}  // namespace
