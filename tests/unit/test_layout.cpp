// Where a placed pipeline lands (src/runtime/layout.hpp): the instance pairs of every edge, the
// labels derived from them (an edge into a farm whose replicas sit on two tiers is "mixed", with
// the items each tier carried), the wait policy `--wait auto` picks, every replica counted, and
// the ranks whose CPU-bound stage threads exceed the cores their affinity mask allows.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "layout.hpp"
#include "mpipe/placement.hpp"
#include "mpipe/spec.hpp"

namespace {

// Main -> W -> Main, W a farm of two spinning replicas.
mpipe::pipeline_spec spin_farm() {
  return mpipe::parse_spec(
      "name: farm\nsource: Main\nitems: 4\ndefaults: {kernel: spin, payload_bytes: 64}\n"
      "stages:\n  - {name: Main, work_ms: 0}\n  - {name: W, work_ms: 5, replicas: 2}\n"
      "edges:\n  - Main -> W\n  - W -> Main\n",
      "<farm>");
}

TEST(Layout, EveryReplicaPairIsAnInstance) {
  const auto spec = spin_farm();
  const auto where = mpipe::resolve_placement(spec, "Main=0,W#0=0,W#1=1", 2);
  const auto pairs = mpipe::instance_pairs(spec, where, 0);  // Main -> W
  ASSERT_EQ(pairs.size(), 2u);
  EXPECT_EQ(pairs[0].dst_replica, 0);
  EXPECT_EQ(pairs[0].to_rank, 0);
  EXPECT_EQ(pairs[1].dst_replica, 1);
  EXPECT_EQ(pairs[1].to_rank, 1);
  EXPECT_EQ(mpipe::instance_name(spec, "W", 1), "W#1");
  EXPECT_EQ(mpipe::instance_name(spec, "Main", 0), "Main");
}

// The defect: the edge was labelled by W#0 alone, "same-rank", though half its items crossed.
TEST(Layout, AnEdgeOverTwoTiersIsMixedWithItsSplit) {
  const auto spec = spin_farm();
  const auto where = mpipe::resolve_placement(spec, "Main=0,W#0=0,W#1=1", 2);
  const std::vector<std::string> hosts{"h", "h"};
  const mpipe::pair_transports transports{{{0, 0, 0}, "in-memory"},
                                          {{0, 0, 1}, "ob1/vader"},
                                          {{1, 0, 0}, "in-memory"},
                                          {{1, 1, 0}, "ob1/vader"}};
  const auto counts = mpipe::split_pair_counts(spec, where, {10, 10, 10, 10});
  const auto instances = mpipe::edge_instance_rows(spec, where, hosts, transports, counts);
  ASSERT_EQ(instances.size(), 4u);
  EXPECT_EQ(instances[1].tier, "same-host");
  EXPECT_EQ(instances[1].transport, "ob1/vader");
  EXPECT_EQ(instances[1].items, 10u);
  const auto edges = mpipe::edge_rows(spec, instances);
  ASSERT_EQ(edges.size(), 2u);
  for (const auto& e : edges) {
    EXPECT_EQ(e.tier, "mixed") << e.from_name << "->" << e.to_name;
    EXPECT_EQ(e.transport, "mixed");
    EXPECT_EQ(e.tier_split, "same-rank 10 items, same-host 10 items");
  }
  // Packed, every pair is in memory: one tier, named as such.
  const auto packed = mpipe::resolve_placement(spec, "pack", 2);
  const auto one = mpipe::edge_rows(
      spec, mpipe::edge_instance_rows(spec, packed, hosts, {},
                                      mpipe::split_pair_counts(spec, packed, {3, 1, 2, 2})));
  EXPECT_EQ(one[0].tier, "same-rank");
  EXPECT_EQ(one[0].tier_split, "same-rank 4 items");
}

// The defect: --wait auto counted a farm's spin threads once, on its first replica's host, and
// so picked spin where the host was oversubscribed. 2 ranks on one 5-core host: 2 x 2 for the
// ranks + 1 per replica = 6 busy threads > 5 cores (counting one replica gave 5, "spin").
TEST(Layout, WaitAutoCountsEveryReplica) {
  const auto spec = spin_farm();
  const auto where = mpipe::resolve_placement(spec, "Main=0,W#0=0,W#1=1", 2);
  const auto [policy, why] =
      mpipe::resolve_wait(mpipe::wait_policy::automatic, spec, where, {"h", "h"}, {5, 5});
  EXPECT_EQ(policy, mpipe::wait_policy::block) << why;
  EXPECT_NE(why.find("needs 6 busy threads on 5 cores"), std::string::npos) << why;
  // Replicas on two hosts count where each runs: 3 busy threads on each 3-core host fit.
  const auto [split, why2] =
      mpipe::resolve_wait(mpipe::wait_policy::automatic, spec, where, {"a", "b"}, {3, 3});
  EXPECT_EQ(split, mpipe::wait_policy::spin) << why2;
}

// Issue 18: 4 ranks of sleep stages on 2 cores block-waited, and each same-host hop paid an idle
// vCPU's wake-up (~50 us measured) although no stage needed the cores. With nothing computing
// there they yield; one computing stage (or user code, whose cost is unknown) makes it block.
TEST(Layout, WaitAutoYieldsWhereNothingComputes) {
  const auto chain = [](const std::string& kernel, double ms) {
    return mpipe::parse_spec("name: c\nsource: Main\nitems: 4\ndefaults: {kernel: " + kernel +
                                 ", payload_bytes: 64}\nstages:\n  - {name: Main, work_ms: 0}\n"
                                 "  - {name: A, work_ms: " +
                                 std::to_string(ms) + "}\nedges: [Main -> A, A -> Main]\n",
                             "<chain>");
  };
  const std::vector<std::string> one_host{"h", "h"};
  const auto sleeps = chain("sleep", 2);
  const auto where = mpipe::resolve_placement(sleeps, "spread", 2);
  const auto [policy, why] =
      mpipe::resolve_wait(mpipe::wait_policy::automatic, sleeps, where, one_host, {2, 2});
  EXPECT_EQ(policy, mpipe::wait_policy::yield) << why;
  EXPECT_NE(why.find("h needs 4 threads on 2 cores, but no stage there computes"),
            std::string::npos)
      << why;
  const auto spins = chain("spin", 2);
  EXPECT_EQ(
      mpipe::resolve_wait(mpipe::wait_policy::automatic, spins, where, one_host, {2, 2}).first,
      mpipe::wait_policy::block);
  // Enough cores: spin, whatever the stages do.
  EXPECT_EQ(
      mpipe::resolve_wait(mpipe::wait_policy::automatic, sleeps, where, one_host, {4, 4}).first,
      mpipe::wait_policy::spin);
  // Asked for: as asked.
  EXPECT_EQ(mpipe::resolve_wait(mpipe::wait_policy::block, sleeps, where, one_host, {2, 2}).first,
            mpipe::wait_policy::block);
}

// Main -> {L, R} -> M -> Main, L and R of `kernel` for 40 ms, `threads` each (issue 17: packed on
// rank 0 of mpirun -np 2, bound to one core, they ran one after the other).
mpipe::pipeline_spec diamond(const std::string& kernel, int threads = 1) {
  return mpipe::parse_spec("name: diamond\nsource: Main\nitems: 1\ndefaults: {kernel: " + kernel +
                               ", payload_bytes: 64}\nstages:\n  - {name: Main, work_ms: 0}\n"
                               "  - {name: L, work_ms: 40, threads: " +
                               std::to_string(threads) +
                               "}\n  - {name: R, work_ms: 40}\n  - {name: M, work_ms: 0}\n"
                               "edges: [Main -> L, Main -> R, L -> M, R -> M, M -> Main]\n",
                           "<diamond>");
}

std::vector<mpipe::rank_cpus> cpus(std::vector<mpipe::rank_cpus> ranks) { return ranks; }

TEST(Layout, CpuListsAreCompact) {
  EXPECT_EQ(mpipe::cpu_list({0, 1}), "0-1");
  EXPECT_EQ(mpipe::cpu_list({3, 0, 2}), "0,2-3");
  EXPECT_EQ(mpipe::cpu_list({5}), "5");
  EXPECT_EQ(mpipe::cpu_list({}), "");
  const auto me = mpipe::my_cpus();
  EXPECT_GE(me.usable, 1);
  EXPECT_FALSE(me.cpus.empty());
}

TEST(Layout, TwoComputeStagesOnOneCoreWarnNamingBoth) {
  const auto spec = diamond("compute");
  const auto where = mpipe::resolve_placement(spec, "pack", 2);
  const auto w = mpipe::core_warnings(spec, where, cpus({{1, "0", 0, 2}, {1, "1", 0, 2}}));
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0],
            "rank 0 may use CPUs 0 (1 core) but runs 2 CPU-bound stage threads (L, R): they "
            "take turns on it instead of running at once; launch with `mpirun --bind-to none` "
            "or `--map-by slot:PE=2`, or put fewer stages on the rank");
  // Two usable cores: they fit.
  EXPECT_TRUE(
      mpipe::core_warnings(spec, where, cpus({{2, "0-1", 0, 2}, {2, "0-1", 0, 2}})).empty());
  // Spread over the two ranks, one each: they fit too.
  const auto spread = mpipe::resolve_placement(spec, "Main=0,L=0,R=1,M=0", 2);
  EXPECT_TRUE(mpipe::core_warnings(spec, spread, cpus({{1, "0", 0, 2}, {1, "1", 0, 2}})).empty());
}

TEST(Layout, SleepStagesNeverWarn) {
  const auto spec = diamond("sleep", 4);
  const auto where = mpipe::resolve_placement(spec, "pack", 1);
  EXPECT_TRUE(mpipe::core_warnings(spec, where, cpus({{1, "0", 0, 2}})).empty());
}

TEST(Layout, EveryThreadOfAStageCounts) {
  const auto spec = diamond("spin", 2);  // L: 2 threads, R: 1
  const auto where = mpipe::resolve_placement(spec, "pack", 1);
  const auto w = mpipe::core_warnings(spec, where, cpus({{2, "0-1", 0, 4}}));
  ASSERT_EQ(w.size(), 1u) << "3 threads on 2 cores";
  EXPECT_NE(w[0].find("runs 3 CPU-bound stage threads (L (2 threads), R)"), std::string::npos)
      << w[0];
  EXPECT_NE(w[0].find("--map-by slot:PE=3"), std::string::npos) << w[0];
  EXPECT_TRUE(mpipe::core_warnings(spec, where, cpus({{3, "0-2", 0, 4}})).empty());
  // One kernel at a time (serial_stages): the widest stage's 2 threads fit 2 cores.
  EXPECT_TRUE(mpipe::core_warnings(spec, where, cpus({{2, "0-1", 0, 4}}), true).empty());
  // More threads than the host has: rebinding alone cannot help, and it says so.
  const auto host = mpipe::core_warnings(spec, where, cpus({{1, "0", 0, 2}}));
  ASSERT_EQ(host.size(), 1u);
  EXPECT_NE(host[0].find("its host has only 2 cores: put fewer CPU-bound stages on the rank "
                         "(`mpirun --bind-to none` gives it all 2)"),
            std::string::npos)
      << host[0];
}

// An exec stage is one worker process: 1 core, whatever its work_ms or threads say. (Two items
// in flight: X and C then run at once.)
TEST(Layout, AnExecStageCountsOne) {
  const auto spec = mpipe::parse_spec(
      "name: ex\nsource: Main\nitems: 4\ninflight: 2\ndefaults: {payload_bytes: 64}\nstages:\n"
      "  - {name: Main, kernel: sleep, work_ms: 0}\n"
      "  - {name: X, kernel: exec, command: [cat], work_ms: 0}\n"
      "  - {name: C, kernel: compute, work_ms: 10}\n"
      "edges: [Main -> X, X -> C, C -> Main]\n",
      "<ex>");
  const auto where = mpipe::resolve_placement(spec, "pack", 1);
  const auto w = mpipe::core_warnings(spec, where, cpus({{1, "0", 0, 2}}));
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("runs 2 CPU-bound stage threads (X, C)"), std::string::npos) << w[0];
  EXPECT_TRUE(mpipe::core_warnings(spec, where, cpus({{2, "0-1", 0, 2}})).empty());
}

// One item in flight: stages a path orders never run at once, so a chain of compute stages
// fits one core and the diamond needs two (its L and R), however many stages it has.
TEST(Layout, OneItemInFlightCountsOnlyStagesThatRunAtOnce) {
  const std::string chain =
      "name: chain\nsource: Main\nitems: 4\nINFLIGHTstages:\n"
      "  - {name: Main, kernel: sleep, work_ms: 0}\n"
      "  - {name: A, kernel: compute, work_ms: 10}\n"
      "  - {name: B, kernel: compute, work_ms: 10}\n"
      "  - {name: C, kernel: compute, work_ms: 10}\n"
      "edges: [Main -> A, A -> B, B -> C, C -> Main]\n";
  auto text = chain;
  text.replace(text.find("INFLIGHT"), 8, "");
  auto spec = mpipe::parse_spec(text, "<chain>");
  const auto where = mpipe::resolve_placement(spec, "pack", 1);
  EXPECT_TRUE(mpipe::core_warnings(spec, where, cpus({{1, "0", 0, 2}})).empty());
  text = chain;
  text.replace(text.find("INFLIGHT"), 8, "inflight: 3\n");
  spec = mpipe::parse_spec(text, "<chain>");
  EXPECT_EQ(mpipe::core_warnings(spec, where, cpus({{1, "0", 0, 2}})).size(), 1u) << "a stream";
  const auto diamond4 = diamond("compute");
  const auto packed = mpipe::resolve_placement(diamond4, "pack", 1);
  EXPECT_TRUE(mpipe::core_warnings(diamond4, packed, cpus({{2, "0-1", 0, 2}})).empty());
}

}  // namespace

// Which stages the engine thread runs itself (issue 18): short or sleeping synthetic stages,
// not one that feeds an on-demand farm, not a sleep under serial_stages, nothing under faults.
TEST(Layout, ShortAndSleepingStagesRunOnTheEngine) {
  const auto spec = mpipe::parse_spec(
      "name: chain\nsource: Main\nitems: 4\ndefaults: {payload_bytes: 64}\n"
      "stages:\n  - {name: Main, work_ms: 0}\n  - {name: S, kernel: sleep, work_ms: 3}\n"
      "  - {name: Q, kernel: spin, work_ms: 0.01}\n  - {name: L, kernel: spin, work_ms: 1}\n"
      "  - {name: T, kernel: spin, work_ms: 0.01, threads: 2}\n"
      "edges:\n  - Main -> S\n  - S -> Q\n  - Q -> L\n  - L -> T\n  - T -> Main\n",
      "<chain>");
  const mpipe::run_options plain;
  const auto on = [&](const char* name, const mpipe::run_options& o) {
    return mpipe::runs_inline(spec, spec.stage_index(name), o);
  };
  EXPECT_TRUE(on("Main", plain));
  EXPECT_TRUE(on("S", plain));   // a timer, however long
  EXPECT_TRUE(on("Q", plain));   // 10 us of spin: less than a thread hand-off
  EXPECT_FALSE(on("L", plain));  // 1 ms of CPU: its own thread, to overlap with others
  EXPECT_FALSE(on("T", plain));  // OpenMP threads
  mpipe::run_options serial;
  serial.serial_stages = true;
  EXPECT_FALSE(on("S", serial));
  EXPECT_TRUE(on("Q", serial));
  mpipe::run_options faulty;
  faulty.faults.push_back({});
  EXPECT_FALSE(on("Q", faulty));
  // Into an on-demand farm: the producer may wait for a credit only the engine brings back.
  EXPECT_FALSE(mpipe::runs_inline(spin_farm(), 0, plain));
}
