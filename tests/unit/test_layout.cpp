// Where a placed pipeline lands (src/runtime/layout.hpp): the instance pairs of every edge, the
// labels derived from them (an edge into a farm whose replicas sit on two tiers is "mixed", with
// the items each tier carried), and the wait policy `--wait auto` picks, every replica counted.
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

}  // namespace
