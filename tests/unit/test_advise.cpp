// The placement advisor on small cases with a known optimum: packing a chain when every hop
// costs the article's 5 ms, spreading parallel compute branches over 1-core hosts for throughput,
// the heuristic agreeing with the exhaustive search, and no placement listed twice up to the
// ranks' and hosts' symmetries.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "mpipe/advise.hpp"
#include "mpipe/error.hpp"
#include "mpipe/model.hpp"
#include "mpipe/placement.hpp"
#include "mpipe/platform.hpp"
#include "mpipe/spec.hpp"

using namespace mpipe;

namespace {

const std::string platforms_dir = std::string(MPIPE_TEST_DATA) + "/../../jobs/platforms/";

pipeline_spec chain() {
  return parse_spec(
      "name: chain\nsource: Main\nstages:\n"
      "  - {name: Main, work_ms: 0}\n  - {name: A, work_ms: 100}\n"
      "  - {name: B, work_ms: 50}\n  - {name: C, work_ms: 20}\n"
      "edges:\n  - Main -> A\n  - A -> B\n  - B -> C\n  - C -> Main\n",
      "<chain>");
}

// Two 100 ms compute branches beside each other, 8 items in flight.
pipeline_spec branches() {
  return parse_spec(
      "name: branches\nsource: Main\ninflight: 8\n"
      "defaults: {kernel: compute, threads: 1}\nstages:\n"
      "  - {name: Main, work_ms: 0}\n  - {name: B1, work_ms: 100}\n"
      "  - {name: B2, work_ms: 100}\n  - {name: J, work_ms: 1}\n"
      "edges:\n  - Main -> B1\n  - Main -> B2\n  - {from: [B1, B2], to: J}\n  - J -> Main\n",
      "<branches>");
}

platform free_platform() {
  return parse_platform(
      "name: free\ntiers:\n  same-host: {alpha_us: 0}\n  cross-host: {alpha_us: 0}\n", "<test>");
}

std::vector<int> cores(int ranks, int c) {
  return std::vector<int>(static_cast<std::size_t>(ranks), c);
}

// A class key independent of the advisor's rule: rank 0's stages, the other ranks' stage sets of
// rank 0's host as a multiset, then the other hosts (all alike here) as a multiset of multisets.
using block = std::vector<int>;
std::vector<std::vector<std::vector<block>>> class_key(const std::vector<int>& rank_of,
                                                       const std::vector<std::string>& hosts) {
  const int ranks = static_cast<int>(hosts.size());
  std::vector<block> by_rank(static_cast<std::size_t>(ranks));
  for (std::size_t s = 0; s < rank_of.size(); ++s)
    by_rank[static_cast<std::size_t>(rank_of[s])].push_back(static_cast<int>(s));
  std::vector<block> host0_others;
  std::vector<std::vector<block>> others;
  std::vector<std::string> names;
  for (int r = 0; r < ranks; ++r)
    if (std::find(names.begin(), names.end(), hosts[static_cast<std::size_t>(r)]) == names.end())
      names.push_back(hosts[static_cast<std::size_t>(r)]);
  for (std::size_t h = 0; h < names.size(); ++h) {
    std::vector<block> blocks;
    for (int r = 1; r < ranks; ++r)
      if (hosts[static_cast<std::size_t>(r)] == names[h])
        blocks.push_back(by_rank[static_cast<std::size_t>(r)]);
    std::sort(blocks.begin(), blocks.end());
    if (h == 0) {
      host0_others = blocks;
    } else {
      others.push_back(blocks);
    }
  }
  std::sort(others.begin(), others.end());
  return {{{by_rank[0]}}, {host0_others}, others};
}

}  // namespace

TEST(Advise, ChainOnArticleLanPacksForLatency) {
  const auto spec = chain();
  const auto plat = load_platform(platforms_dir + "article-lan.yaml");
  advise_stats st;
  const auto best = advise_placements(spec, plat, block_hosts(3, 1), cores(3, 2),
                                      objective::latency, {}, 5, search_mode::automatic, &st);
  ASSERT_FALSE(best.empty());
  EXPECT_TRUE(st.exhaustive);
  EXPECT_DOUBLE_EQ(st.space, 27.0);
  EXPECT_EQ(best[0].where.mode, "map");
  EXPECT_EQ(best[0].where.to_string(spec), "Main=0,A=0,B=0,C=0");
  EXPECT_DOUBLE_EQ(best[0].item_ms, 170.0);
  EXPECT_DOUBLE_EQ(best[0].score, 170.0);
  EXPECT_EQ(best[0].ranks_used, 1);
  EXPECT_NE(best[0].why.find("critical path all in memory"), std::string::npos) << best[0].why;
  // The next best leaves the chain once: two 5 ms calls (there and back), + 1 KiB at 1000 MB/s.
  ASSERT_GE(best.size(), 2u);
  EXPECT_NEAR(best[1].item_ms, 180.0, 0.01);
  EXPECT_NE(best[1].why.find("critical path crosses ranks at"), std::string::npos) << best[1].why;
  for (std::size_t i = 1; i < best.size(); ++i)
    EXPECT_FALSE(better(best[i], best[i - 1], objective::latency));
}

TEST(Advise, FreeCommunicationSpreadsBranchesForThroughput) {
  const auto spec = branches();
  const auto hosts = block_hosts(2, 2);  // two 1-core hosts, one rank each
  const auto best =
      advise_placements(spec, free_platform(), hosts, cores(2, 1), objective::throughput, {}, 3);
  ASSERT_FALSE(best.empty());
  const auto& w = best[0].where;
  const int b1 = spec.stage_index("B1"), b2 = spec.stage_index("B2");
  EXPECT_NE(w.rank_of[static_cast<std::size_t>(b1)], w.rank_of[static_cast<std::size_t>(b2)])
      << w.to_string(spec);
  // Each host then needs 100 (+1 for J on one of them) core-ms per item: 1000 / 101 items/s;
  // packed, one core needs 201 core-ms per item.
  EXPECT_NEAR(best[0].items_per_s, 1000.0 / 101.0, 1e-9);
  EXPECT_DOUBLE_EQ(best[0].score, best[0].items_per_s);
  EXPECT_NE(best[0].why.find("throughput limited by the cores of"), std::string::npos)
      << best[0].why;
  const auto pack = evaluate_placement(spec, resolve_placement(spec, "pack", 2), free_platform(),
                                       hosts, cores(2, 1), objective::throughput, {});
  EXPECT_NEAR(pack.items_per_s, 1000.0 / 201.0, 1e-9);
  EXPECT_TRUE(better(best[0], pack, objective::throughput));
}

TEST(Advise, HeuristicAgreesWithExhaustiveOnSmallCases) {
  const auto lan = load_platform(platforms_dir + "article-lan.yaml");
  const auto seed = seed_spec();
  for (const auto goal : {objective::latency, objective::throughput}) {
    advise_stats ex_st, heur_st;
    const auto ex = advise_placements(seed, lan, block_hosts(3, 1), cores(3, 2), goal, {}, 1,
                                      search_mode::exhaustive, &ex_st);
    const auto heur = advise_placements(seed, lan, block_hosts(3, 1), cores(3, 2), goal, {}, 1,
                                        search_mode::heuristic, &heur_st);
    ASSERT_EQ(ex.size(), 1u);
    ASSERT_EQ(heur.size(), 1u);
    EXPECT_TRUE(ex_st.exhaustive);
    EXPECT_FALSE(heur_st.exhaustive);
    EXPECT_NEAR(ex[0].item_ms, heur[0].item_ms, 1e-9) << to_string(goal);
    EXPECT_NEAR(ex[0].items_per_s, heur[0].items_per_s, 1e-9) << to_string(goal);
    EXPECT_FALSE(better(ex[0], heur[0], goal)) << to_string(goal);
  }
  const auto spec = branches();
  const auto ex = advise_placements(spec, free_platform(), block_hosts(4, 2), cores(4, 1),
                                    objective::throughput, {}, 1, search_mode::exhaustive);
  const auto heur = advise_placements(spec, free_platform(), block_hosts(4, 2), cores(4, 1),
                                      objective::throughput, {}, 1, search_mode::heuristic);
  ASSERT_EQ(ex.size(), 1u);
  ASSERT_EQ(heur.size(), 1u);
  EXPECT_NEAR(ex[0].items_per_s, heur[0].items_per_s, 1e-9);
}

TEST(Advise, SymmetricDuplicatesAreListedOnce) {
  const auto spec = chain();
  const auto plat = free_platform();
  // 6 ranks on 3 hosts of 2: ranks within a host and hosts 1 and 2 are interchangeable.
  for (const int hosts_n : {1, 3}) {
    const auto hosts = block_hosts(6, hosts_n);
    advise_stats st;
    const auto all = advise_placements(spec, plat, hosts, cores(6, 2), objective::latency, {},
                                       1'000'000, search_mode::automatic, &st);
    std::set<decltype(class_key({}, hosts))> listed;
    for (const auto& a : all)
      EXPECT_TRUE(listed.insert(class_key(a.where.rank_of, hosts)).second)
          << "listed twice: " << a.where.to_string(spec);
    // Every class once: as many as brute force over all 6^3 assignments finds.
    std::set<decltype(class_key({}, hosts))> classes;
    for (int a = 0; a < 6; ++a)
      for (int b = 0; b < 6; ++b)
        for (int c = 0; c < 6; ++c) classes.insert(class_key({0, a, b, c}, hosts));
    EXPECT_EQ(all.size(), classes.size()) << hosts_n << " host(s)";
    EXPECT_EQ(st.evaluated, classes.size());
    EXPECT_LT(st.evaluated, static_cast<std::uint64_t>(st.space));
  }
}

TEST(Advise, RejectsBadInput) {
  const auto spec = chain();
  const auto plat = free_platform();
  EXPECT_THROW(advise_placements(spec, plat, {}, {}, objective::latency, {}, 5), error);
  EXPECT_THROW(
      advise_placements(spec, plat, block_hosts(2, 1), cores(3, 1), objective::latency, {}, 5),
      error);
  EXPECT_THROW(
      advise_placements(spec, plat, block_hosts(2, 1), cores(2, 1), objective::latency, {}, 0),
      error);
  EXPECT_THROW(parse_objective("speed"), error);
  EXPECT_EQ(parse_objective("throughput"), objective::throughput);
}

// A 100 ms one-core farm stage on four one-core hosts: the known optimum for throughput is four
// replicas, one per host (40 items/s: each host's core does a quarter of the items). Growth must
// find it, stop at the rank budget, and never grow a stage the farm rules forbid.
TEST(Advise, ReplicaGrowthFindsOneReplicaPerCoreForThroughput) {
  const auto spec = parse_spec(
      "name: farm\nsource: Main\ninflight: 8\n"
      "defaults: {kernel: compute, threads: 1}\nstages:\n"
      "  - {name: Main, work_ms: 0}\n  - {name: W, work_ms: 100}\n"
      "  - {name: Out, work_ms: 1, kernel: sleep, ordered: true}\n"
      "edges:\n  - Main -> W\n  - W -> Out\n  - Out -> Main\n",
      "<farm>");
  const auto plat = free_platform();
  const auto hosts = block_hosts(4, 4);
  const auto start =
      advise_placements(spec, plat, hosts, cores(4, 1), objective::throughput, {}, 10);
  ASSERT_FALSE(start.empty());
  EXPECT_NEAR(start.front().items_per_s, 10.0, 1e-9);  // one replica: 1000 / 100 ms
  advise_stats st;
  const auto grown =
      grow_replicas(spec, start, plat, hosts, cores(4, 1), objective::throughput, {}, 8, 3, &st);
  ASSERT_FALSE(grown.empty());
  const auto& best = grown.front();
  EXPECT_EQ(best.replicas, "W=4");  // the budget: one replica per rank, 8 asked
  EXPECT_NEAR(best.items_per_s, 40.0, 1e-9);
  ASSERT_EQ(best.where.replica_ranks[1].size(), 4u);
  EXPECT_EQ(std::set<int>(best.where.replica_ranks[1].begin(), best.where.replica_ranks[1].end()),
            (std::set<int>{0, 1, 2, 3}));
  EXPECT_GT(st.evaluated, 0u);
  for (const auto& a : grown) {
    EXPECT_EQ(a.replicas.find("Out"), std::string::npos) << "ordered stage grown: " << a.replicas;
    EXPECT_EQ(a.replicas.find("Main"), std::string::npos) << "source grown: " << a.replicas;
  }
  // On one 1-core host, a second replica gives nothing: cores limit, so nothing is added.
  const auto one = block_hosts(4, 1);
  const auto flat = grow_replicas(
      spec, advise_placements(spec, plat, one, cores(4, 1), objective::throughput, {}, 10), plat,
      one, cores(4, 1), objective::throughput, {}, 8, 3);
  ASSERT_FALSE(flat.empty());
  EXPECT_EQ(flat.front().replicas, "");
  EXPECT_NEAR(flat.front().items_per_s, 10.0, 1e-9);
}

// Issue 17: the reference pipeline on 4 hosts of 2 cores and the article's 5 ms LAN. Its compute
// stages C1..C4 packed on one host share 2 cores (825 ms), so the advice spreads them; as sleep
// stages they need no core, so the advice packs (every hop would add 5 ms).
TEST(Advise, SpreadsComputeWhenAHostIsShortOfCoresAndPacksSleep) {
  const auto plat = load_platform(platforms_dir + "article-lan.yaml");
  const auto hosts = block_hosts(4, 4);
  for (const auto kind : {kernel_kind::compute, kernel_kind::sleep}) {
    auto spec = seed_spec();
    for (auto& st : spec.stages) st.kernel = kind;
    const auto best = advise_placements(spec, plat, hosts, cores(4, 2), objective::latency, {}, 1,
                                        search_mode::automatic, nullptr);
    ASSERT_FALSE(best.empty());
    std::set<std::string> hosts_used;
    for (const int r : best[0].where.rank_of) hosts_used.insert(hosts[static_cast<std::size_t>(r)]);
    const auto pack = evaluate_placement(spec, resolve_placement(spec, "pack", 4), plat, hosts,
                                         cores(4, 2), objective::latency, {});
    if (kind == kernel_kind::compute) {
      EXPECT_NEAR(pack.item_ms, 825.0, 1.0);
      EXPECT_NEAR(best[0].item_ms, 700.0, 1.0);
      EXPECT_GT(hosts_used.size(), 1u);
    } else {
      EXPECT_NEAR(best[0].item_ms, 700.0, 1e-6);
      EXPECT_EQ(hosts_used.size(), 1u);
    }
  }
}
