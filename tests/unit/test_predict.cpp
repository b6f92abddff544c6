// The performance model with communication: platform files, predicted item latency per placement,
// the per-edge compute/communication verdict and the article's Amdahl arithmetic, on
// hand-computed cases and on the article's own worked numbers
// (../shared/seed/parallel-vs-distributed.md).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "mpipe/error.hpp"
#include "mpipe/model.hpp"
#include "mpipe/placement.hpp"
#include "mpipe/platform.hpp"
#include "mpipe/spec.hpp"

using namespace mpipe;

namespace {

const std::string platforms_dir = std::string(MPIPE_TEST_DATA) + "/../../jobs/platforms/";

// The article's LAN without bandwidth: exactly 5 ms per hop between ranks, so its sums are exact.
platform five_ms_lan() {
  return parse_platform(
      "name: lan\n"
      "tiers:\n"
      "  same-host: {alpha_us: 5000}\n"
      "  cross-host: {alpha_us: 5000}\n",
      "<test>");
}

double predicted(const pipeline_spec& spec, const std::string& where, int ranks,
                 const platform& plat, int hosts = 1, const emulated_link& emu = {}) {
  return predict_latency(spec, resolve_placement(spec, where, ranks), plat,
                         block_hosts(ranks, hosts), emu)
      .item_ms;
}

const edge_prediction& edge(const latency_prediction& p, const std::string& from,
                            const std::string& to) {
  for (const auto& e : p.edges)
    if (e.from == from && e.to == to) return e;
  throw error("no edge " + from + "->" + to);
}

// The article's placements on the seed spec. Scenario 3 (section "Scenario 3: Your Actual
// Distribution"): Main and A on Windows; B, C, C1, C3, D on Linux; C2 and C4 remote. Scenario 2
// ("All Services on Different Machines") counts network on A->B, B->C, C->Cx and "C->D" but not on
// Main->A or D->Main: Main, A and D share a machine, every other service has its own.
const char* scenario3 = "Main=0,A=0,B=1,C=1,C1=1,C3=1,D=1,C2=2,C4=2";
const char* scenario2 = "Main=0,A=0,D=0,B=1,C=2,C1=3,C2=4,C3=5,C4=6";

}  // namespace

// --- Amdahl ------------------------------------------------------------------------------------

TEST(PredictAmdahl, ArticleWorkedNumbers) {
  // "If 90% can be parallelized with 10 processors: 1 / [0.1 + 0.09] = 5.26x"
  EXPECT_NEAR(amdahl_speedup(0.9, 10), 5.263, 5e-4);
  // "5ms overhead (on 100ms task): C = 0.05 ... 1 / [0.1 + 0.09 + 0.05x10] = 1 / 0.69 = 1.45x"
  EXPECT_NEAR(amdahl_speedup(0.9, 10, 0.05), 1.0 / 0.69, 1e-12);
  EXPECT_NEAR(amdahl_speedup(0.9, 10, 0.05), 1.45, 5e-3);
}

TEST(PredictAmdahl, EdgesAndPerMessageVariant) {
  EXPECT_DOUBLE_EQ(amdahl_speedup(0.9, 1), 1.0);
  EXPECT_DOUBLE_EQ(amdahl_speedup(0.0, 64), 1.0);
  EXPECT_DOUBLE_EQ(amdahl_speedup(1.0, 8), 8.0);
  // 100 ms task, P 0.9, N 10, 5 ms per message beyond the first machine:
  // 100 / (10 + 9 + 9 x 5) = 100 / 64.
  EXPECT_NEAR(amdahl_message_speedup(0.9, 10, 100, 5), 100.0 / 64.0, 1e-12);
  EXPECT_DOUBLE_EQ(amdahl_message_speedup(0.9, 1, 100, 5), 1.0);  // nothing crosses at N = 1
  EXPECT_THROW(amdahl_speedup(1.5, 2), error);
  EXPECT_THROW(amdahl_speedup(0.5, 0.5), error);
  EXPECT_THROW(amdahl_message_speedup(0.5, 2, 0, 1), error);
}

TEST(PredictAmdahl, PipelineInputs) {
  // Seed: T1 = 200+150+150+200+300+100+50 = 1150 ms, critical path 700, P = 450/1150.
  // One cross-host message on the 5 ms LAN: C = 5 / 1150.
  const auto in = pipeline_amdahl(seed_spec(), five_ms_lan());
  EXPECT_DOUBLE_EQ(in.t1_ms, 1150.0);
  EXPECT_DOUBLE_EQ(in.critical_ms, 700.0);
  EXPECT_NEAR(in.p, 450.0 / 1150.0, 1e-12);
  EXPECT_EQ(in.bytes, 1024u);
  EXPECT_DOUBLE_EQ(in.message_ms, 5.0);
  EXPECT_NEAR(in.c, 5.0 / 1150.0, 1e-15);
  const auto rows = amdahl_table(in, {1, 2, 4, 8, 16, 32});
  ASSERT_EQ(rows.size(), 6u);
  EXPECT_DOUBLE_EQ(rows[0].plain, 1.0);
  EXPECT_DOUBLE_EQ(rows[0].per_message, 1.0);
  EXPECT_NEAR(rows[3].with_c, 1.0 / (700.0 / 1150 + 450.0 / 1150 / 8 + 8 * 5.0 / 1150), 1e-12);
  // Unlimited processors, free communication: t1 / critical path.
  EXPECT_NEAR(amdahl_speedup(in.p, 1e12), 1150.0 / 700.0, 1e-9);
  // An emulated link longer than the platform's hop sets the message cost.
  emulated_link emu;
  emu.latency_ms = 20;
  EXPECT_DOUBLE_EQ(pipeline_amdahl(seed_spec(), five_ms_lan(), emu).message_ms, 20.0);
}

// --- Verdict, hosts
// -------------------------------------------------------------------------------

TEST(PredictVerdict, ArticleRuleOfThumb) {
  EXPECT_STREQ(ratio_verdict(40), "distribution helps");
  EXPECT_STREQ(ratio_verdict(10.01), "distribution helps");
  EXPECT_STREQ(ratio_verdict(10), "marginal");
  EXPECT_STREQ(ratio_verdict(5), "marginal");
  EXPECT_STREQ(ratio_verdict(4.99), "communication hurts");
  EXPECT_STREQ(ratio_verdict(0), "communication hurts");
}

TEST(PredictHosts, EvenBlocks) {
  EXPECT_EQ(block_hosts(4, 2), (std::vector<std::string>{"host0", "host0", "host1", "host1"}));
  EXPECT_EQ(block_hosts(3, 3), (std::vector<std::string>{"host0", "host1", "host2"}));
  EXPECT_EQ(block_hosts(5, 2),
            (std::vector<std::string>{"host0", "host0", "host0", "host1", "host1"}));
  EXPECT_EQ(block_hosts(2, 1), (std::vector<std::string>{"host0", "host0"}));
  EXPECT_THROW(block_hosts(2, 3), error);
  EXPECT_THROW(block_hosts(0, 1), error);
}

// --- Item latency: the article's scenarios
// --------------------------------------------------------

TEST(PredictLatency, ArticleScenarios) {
  const auto seed = seed_spec();
  const auto lan = five_ms_lan();
  // Scenario 1, all local: the article prints ~750, its own sum is 700.
  EXPECT_DOUBLE_EQ(predicted(seed, "pack", 1, lan), 700.0);
  // Scenario 2: 205 + 155 + 305 + 55 = 720.
  EXPECT_DOUBLE_EQ(predicted(seed, scenario2, 7, lan), 720.0);
  // Scenario 3: 200 + 155 + max(150, 205, 300, 105) + 50 + 5 = 710, on one host or three.
  EXPECT_DOUBLE_EQ(predicted(seed, scenario3, 3, lan), 710.0);
  EXPECT_DOUBLE_EQ(predicted(seed, scenario3, 3, lan, 3), 710.0);
  // Every stage on its own rank: all six hops of the path are network calls, 700 + 6 x 5.
  EXPECT_DOUBLE_EQ(predicted(seed, "spread", 9, lan), 730.0);
}

TEST(PredictLatency, ArticleScenario3Breakdown) {
  const auto seed = seed_spec();
  const auto p = predict_latency(seed, resolve_placement(seed, scenario3, 3), five_ms_lan(),
                                 block_hosts(3, 3));
  EXPECT_DOUBLE_EQ(p.free_ms, 700.0);
  std::vector<std::string> path;
  for (int s : p.path) path.push_back(seed.stages[static_cast<std::size_t>(s)].name);
  EXPECT_EQ(path, (std::vector<std::string>{"Main", "A", "B", "C", "C3", "D"}));
  const auto& ab = edge(p, "A", "B");
  EXPECT_EQ(ab.where, tier::cross_host);
  EXPECT_DOUBLE_EQ(ab.cost_ms, 5.0);
  EXPECT_DOUBLE_EQ(ab.work_ms, 150.0);  // the service called: B
  EXPECT_DOUBLE_EQ(ab.ratio, 30.0);
  EXPECT_EQ(ab.verdict, "distribution helps");
  EXPECT_TRUE(ab.on_critical_path);
  const auto& cc2 = edge(p, "C", "C2");
  EXPECT_DOUBLE_EQ(cc2.ratio, 40.0);
  EXPECT_FALSE(cc2.on_critical_path);
  const auto& back = edge(p, "D", "Main");  // a return edge: the producer's work counts
  EXPECT_DOUBLE_EQ(back.work_ms, 50.0);
  EXPECT_DOUBLE_EQ(back.ratio, 10.0);
  EXPECT_EQ(back.verdict, "marginal");
  EXPECT_TRUE(back.on_critical_path);
  const auto& cc3 = edge(p, "C", "C3");
  EXPECT_EQ(cc3.where, tier::same_rank);
  EXPECT_DOUBLE_EQ(cc3.cost_ms, 0.0);
  EXPECT_TRUE(std::isinf(cc3.ratio));
  EXPECT_EQ(cc3.verdict, "in memory");
}

TEST(PredictLatency, ShippedArticlePlatform) {
  // article-lan adds 1 KiB / 1000 MB/s = 1.024 us per hop to the 5 ms.
  const auto lan = load_platform(platforms_dir + "article-lan.yaml");
  const auto seed = seed_spec();
  EXPECT_NEAR(predicted(seed, scenario3, 3, lan), 710.0 + 2 * 1.024e-3, 1e-9);
  EXPECT_NEAR(predicted(seed, scenario2, 7, lan), 720.0 + 4 * 1.024e-3, 1e-9);
  EXPECT_DOUBLE_EQ(predicted(seed, "pack", 1, lan), 700.0);
  for (const char* f : {"laptop-shm.yaml", "tcp-loopback.yaml", "infiniband-100g.yaml"}) {
    const auto plat = load_platform(platforms_dir + f);
    const double ms = predicted(seed, "spread", 9, plat);
    EXPECT_GT(ms, 700.0) << f;
    EXPECT_LT(ms, 701.0) << f;  // microseconds per hop against 700 ms of work
  }
}

TEST(PredictLatency, EmulatedLinkAsTheRuntimeHoldsIt) {
  const auto seed = seed_spec();
  const auto shm = load_platform(platforms_dir + "laptop-shm.yaml");
  emulated_link emu;
  emu.latency_ms = 5;
  // spread on 4 ranks: 5 cross-rank hops on the critical path (docs/running.md: measured 727.8 ms).
  // The path's sixth hop, D->Main, is on rank 0: laptop-shm's 2.8 us in-memory hand-off.
  EXPECT_NEAR(predicted(seed, "spread", 4, shm, 1, emu), 725.0 + 0.0028, 1e-9);
  // Scenario 3 with the runtime's --emulate-link latency=5ms on laptop shm: the article's 710.
  // Its other four path hops (Main->A, B->C, C->C3, C3->D) are in memory: 4 x 2.8 us.
  EXPECT_NEAR(predicted(seed, scenario3, 3, shm, 1, emu), 710.0 + 4 * 0.0028, 1e-9);
  // scope=cross-host: on one host nothing is held.
  emu.cross_host_only = true;
  EXPECT_LT(predicted(seed, scenario3, 3, shm, 1, emu), 700.1);
  EXPECT_NEAR(predicted(seed, scenario3, 3, shm, 3, emu), 710.0 + 4 * 0.0028, 1e-9);
}

// --- Item latency: hand-computed cost arithmetic
// --------------------------------------------------

TEST(PredictLatency, HandComputedAlphaBetaSerialization) {
  // Main -> X (10 ms, sends 1e6 B raw) -> Y (20 ms, sends 0 B) -> Main; X and Y on two hosts.
  const auto spec = parse_spec(
      "source: Main\n"
      "stages:\n"
      "  - {name: Main, work_ms: 0}\n"
      "  - {name: X, work_ms: 10, payload_bytes: 1000000}\n"
      "  - {name: Y, work_ms: 20}\n"
      "edges:\n"
      "  - Main -> X\n"
      "  - {from: X, to: Y, serialization: raw}\n"
      "  - Y -> Main\n",
      "<test>");
  const auto plat = parse_platform(
      "tiers:\n"
      "  same-rank: {alpha_us: 3}\n"
      "  same-host: {alpha_us: 1, bandwidth_mb_s: 10000}\n"
      "  cross-host: {alpha_us: 100, ns_per_byte: 2}\n"
      "serialization:\n"
      "  raw: {serialize_us: 10, serialize_ns_per_byte: 0.5, deserialize_us: 20}\n"
      "  boost: {serialize_us: 7}\n",
      "<test>");
  // Main, X on rank 0 (host0), Y on rank 1 (host1).
  const auto p =
      predict_latency(spec, resolve_placement(spec, "Main=0,X=0,Y=1", 2), plat, block_hosts(2, 2));
  // Main->X same-rank: 3 us, no serialization.
  EXPECT_NEAR(edge(p, "Main", "X").cost_ms, 0.003, 1e-12);
  // X->Y cross-host raw: 100 us + 1e6 x 2 ns + 10 us + 1e6 x 0.5 ns + 20 us = 2.63 ms.
  EXPECT_NEAR(edge(p, "X", "Y").cost_ms, 0.1 + 2.0 + 0.01 + 0.5 + 0.02, 1e-12);
  // Y->Main cross-host boost, 0 B: 100 + 7 us.
  EXPECT_NEAR(edge(p, "Y", "Main").cost_ms, 0.107, 1e-12);
  EXPECT_NEAR(p.item_ms, 0.003 + 10 + 2.63 + 20 + 0.107, 1e-9);
  EXPECT_DOUBLE_EQ(p.free_ms, 30.0);
  // Same ranks on one host: same-host tier, 1 us + 1e6 B / 10 GB/s = 0.101 ms + raw 2.53 ms.
  const auto q =
      predict_latency(spec, resolve_placement(spec, "Main=0,X=0,Y=1", 2), plat, block_hosts(2, 1));
  EXPECT_EQ(edge(q, "X", "Y").where, tier::same_host);
  EXPECT_NEAR(edge(q, "X", "Y").cost_ms, 0.001 + 0.1 + 0.53, 1e-12);
}

TEST(PredictLatency, CriticalPathMovesWithCommunication) {
  // Two branches: S -> F (10 ms, far) -> J and S -> N (12 ms, near) -> J. Free: 12 via N; with
  // 5 ms hops around F, 20 via F.
  const auto spec = parse_spec(
      "source: S\n"
      "stages: [{name: S}, {name: F, work_ms: 10}, {name: N, work_ms: 12}, {name: J}]\n"
      "edges: [S -> F, S -> N, F -> J, N -> J, J -> S]\n",
      "<test>");
  const auto p =
      predict_latency(spec, resolve_placement(spec, "F=1", 2), five_ms_lan(), block_hosts(2, 1));
  EXPECT_DOUBLE_EQ(p.free_ms, 12.0);
  EXPECT_DOUBLE_EQ(p.item_ms, 20.0);
  EXPECT_TRUE(edge(p, "S", "F").on_critical_path);
  EXPECT_FALSE(edge(p, "S", "N").on_critical_path);
  EXPECT_DOUBLE_EQ(edge(p, "S", "F").ratio, 2.0);  // F's 10 ms against a 5 ms hop
  EXPECT_EQ(edge(p, "S", "F").verdict, "communication hurts");
}

TEST(PredictLatency, ReplicasTakeTheCostliestPair) {
  auto seed = seed_spec();
  apply_replicas(seed, "C3=2");
  // C3#0 with C on rank 1, C3#1 on rank 2: C->C3 is mixed, costed as the network hop.
  const auto where = resolve_placement(seed, "B=1,C=1,D=1,C3#0=1,C3#1=2", 3);
  const auto p = predict_latency(seed, where, five_ms_lan(), block_hosts(3, 1));
  const auto& cc3 = edge(p, "C", "C3");
  EXPECT_TRUE(cc3.mixed);
  EXPECT_EQ(cc3.where, tier::same_host);
  EXPECT_DOUBLE_EQ(cc3.cost_ms, 5.0);
  // Path: Main->A 0, A->B 5, B->C 0, C->C3 5, C3->D 5, D->Main 5, + 700.
  EXPECT_DOUBLE_EQ(p.item_ms, 720.0);
  // A rank beyond the hosts given is an error, not a crash.
  EXPECT_THROW(predict_latency(seed, where, five_ms_lan(), block_hosts(2, 1)), error);
}

TEST(PredictLatency, ComputeThreadsShortenService) {
  const auto spec = parse_spec(
      "source: S\n"
      "stages: [{name: S}, {name: W, work_ms: 100, kernel: compute, threads: 4}]\n"
      "edges: [S -> W, W -> S]\n",
      "<test>");
  EXPECT_DOUBLE_EQ(predicted(spec, "pack", 1, five_ms_lan()), 25.0);
  EXPECT_DOUBLE_EQ(predicted(spec, "spread", 2, five_ms_lan()), 35.0);
}

// --- Platform files
// ---------------------------------------------------------------------------------

TEST(PlatformParse, FullFile) {
  const auto p = parse_platform(
      "name: x\n"
      "description: a test\n"
      "tiers:\n"
      "  same-host: {alpha_us: 0.5, bandwidth_mb_s: 12000}\n"
      "  cross-host: {alpha_us: 1.5, ns_per_byte: 0.08}\n"
      "serialization:\n"
      "  boost: {serialize_us: 1, serialize_ns_per_byte: 0.3, deserialize_us: 0.2,"
      " deserialize_ns_per_byte: 0.02}\n"
      "compute_rate: 1000\n",
      "x.yaml");
  EXPECT_EQ(p.name, "x");
  EXPECT_EQ(p.file, "x.yaml");
  EXPECT_FALSE(p.link(tier::same_rank).given);
  EXPECT_DOUBLE_EQ(p.link(tier::same_rank).ms(1 << 20), 0.0);
  EXPECT_NEAR(p.link(tier::same_host).ns_per_byte, 1000.0 / 12000.0, 1e-15);
  EXPECT_NEAR(p.link(tier::cross_host).ms(1000000), 0.0015 + 0.08, 1e-12);
  EXPECT_NEAR(p.codec(serialization_kind::boost).ms(1000), 0.0012 + 0.32e-3, 1e-12);
  EXPECT_DOUBLE_EQ(p.codec(serialization_kind::raw).ms(1000), 0.0);
  ASSERT_TRUE(p.compute_rate.has_value());
  EXPECT_DOUBLE_EQ(*p.compute_rate, 1000.0);
  // Same-rank hops never serialize.
  EXPECT_DOUBLE_EQ(p.message_ms(tier::same_rank, serialization_kind::boost, 1000), 0.0);
}

// A tier whose numbers are not its own (mpipe calibrate on one host copies same-host's into
// cross-host) says so, and what stands in; the others are their own.
TEST(PlatformParse, StandInTiers) {
  const auto p = parse_platform(
      "tiers:\n"
      "  same-host: {alpha_us: 0.5, ns_per_byte: 0.09}\n"
      "  cross-host: {alpha_us: 0.5, ns_per_byte: 0.09, stand_in: same-host}\n",
      "x.yaml");
  EXPECT_EQ(p.link(tier::cross_host).stand_in, "same-host");
  EXPECT_EQ(mpipe::stand_in_text(p, tier::cross_host), "same-host's numbers stand in");
  EXPECT_EQ(mpipe::stand_in_text(p, tier::same_host), "");
  EXPECT_NEAR(p.link(tier::cross_host).ms(0), 0.0005, 1e-15);  // the numbers still count
  const auto q = parse_platform(
      "tiers:\n  same-host: {alpha_us: 0, stand_in: nothing measured}\n"
      "  cross-host: {alpha_us: 5, stand_in: a vendor's brochure}\n",
      "y.yaml");
  EXPECT_EQ(mpipe::stand_in_text(q, tier::same_host), "stand-in: nothing measured");
  EXPECT_EQ(mpipe::stand_in_text(q, tier::cross_host), "stand-in: a vendor's brochure");
}

struct bad_platform {
  const char* text;
  const char* expected;  // substring of what()
};

class PlatformErrors : public ::testing::TestWithParam<bad_platform> {};

TEST_P(PlatformErrors, NameFileLineAndField) {
  try {
    parse_platform(GetParam().text, "bad.yaml");
    FAIL() << "accepted:\n" << GetParam().text;
  } catch (const spec_error& e) {
    EXPECT_NE(std::string(e.what()).find(GetParam().expected), std::string::npos)
        << "got: " << e.what();
  }
}

#define OK_HOST "  same-host: {alpha_us: 1}\n"
#define OK_CROSS "  cross-host: {alpha_us: 2}\n"
INSTANTIATE_TEST_SUITE_P(
    Cases, PlatformErrors,
    ::testing::Values(
        bad_platform{"", "bad.yaml: the platform file is empty"},
        bad_platform{"tiers: [\n", "bad.yaml:2: field 'yaml': not valid YAML"},
        bad_platform{"- 1\n", "bad.yaml:1: the top level must be a map"},
        bad_platform{"name: x\n", "bad.yaml: field 'tiers': missing"},
        bad_platform{"tierz: {}\n", "bad.yaml:1: field 'tierz': unknown key 'tierz'"},
        bad_platform{"tiers:\n" OK_HOST, "bad.yaml:2: field 'tiers.cross-host': missing"},
        bad_platform{"tiers:\n" OK_HOST OK_CROSS "  far-host: {alpha_us: 1}\n",
                     "bad.yaml:4: field 'tiers.far-host': unknown key"},
        bad_platform{"tiers:\n" OK_HOST "  cross-host: {alpha_us: -1}\n",
                     "bad.yaml:3: field 'tiers.cross-host.alpha_us': must be between 0 and"},
        bad_platform{"tiers:\n" OK_HOST "  cross-host: {alpha_us: 5ms}\n",
                     "bad.yaml:3: field 'tiers.cross-host.alpha_us': expected a number, got "
                     "'5ms' (no units"},
        bad_platform{"tiers:\n" OK_HOST "  cross-host: {alpha_us: .nan}\n",
                     "field 'tiers.cross-host.alpha_us': must be a finite number"},
        bad_platform{"tiers:\n" OK_HOST "  cross-host: {alpha_us: 1e12}\n",
                     "field 'tiers.cross-host.alpha_us': must be between 0 and 100000000, got "
                     "1000000000000"},
        bad_platform{"tiers:\n" OK_HOST "  cross-host: {bandwidth_mb_s: 100}\n",
                     "bad.yaml:3: field 'tiers.cross-host.alpha_us': missing"},
        bad_platform{"tiers:\n" OK_HOST "  cross-host:\n    alpha_us: 1\n    bandwidth_mb_s: 100\n"
                     "    ns_per_byte: 10\n",
                     "bad.yaml:6: field 'tiers.cross-host.ns_per_byte': give bandwidth_mb_s or "
                     "ns_per_byte"},
        bad_platform{"tiers:\n" OK_HOST "  cross-host: {alpha_us: 1, bandwidth_mb_s: 0}\n",
                     "field 'tiers.cross-host.bandwidth_mb_s': must be > 0"},
        bad_platform{"tiers:\n" OK_HOST "  cross-host: {alpha_us: 1, latency_us: 3}\n",
                     "field 'tiers.cross-host.latency_us': unknown key 'latency_us' (allowed: "
                     "alpha_us, bandwidth_mb_s, ns_per_byte, runtime_us, runtime_us_spread, "
                     "runtime_block_us, stand_in)"},
        bad_platform{"tiers:\n" OK_HOST "  cross-host: {alpha_us: 1, stand_in: ''}\n",
                     "bad.yaml:3: field 'tiers.cross-host.stand_in': give what stands in"},
        bad_platform{"tiers:\n" OK_HOST "  cross-host: {alpha_us: 1, stand_in: [a]}\n",
                     "field 'tiers.cross-host.stand_in': expected text"},
        bad_platform{"tiers:\n" OK_HOST "  cross-host: 5\n",
                     "bad.yaml:3: field 'tiers.cross-host': expected a map like {alpha_us: 0.5, "
                     "bandwidth_mb_s: 12000}, got '5'"},
        bad_platform{"tiers:\n" OK_HOST OK_CROSS "serialization:\n  pickle: {serialize_us: 1}\n",
                     "bad.yaml:5: field 'serialization.pickle': unknown key 'pickle'"},
        bad_platform{"tiers:\n" OK_HOST OK_CROSS
                     "serialization:\n  boost: {serialize_us: 1, serialise_us: 2}\n",
                     "field 'serialization.boost.serialise_us': unknown key"},
        bad_platform{"tiers:\n" OK_HOST OK_CROSS
                     "serialization:\n  raw: {deserialize_ns_per_byte: -0.1}\n",
                     "bad.yaml:5: field 'serialization.raw.deserialize_ns_per_byte': must be "
                     "between 0"},
        bad_platform{"tiers:\n" OK_HOST OK_CROSS "compute_rate: 0\n",
                     "bad.yaml:4: field 'compute_rate': must be > 0"},
        bad_platform{"tiers:\n" OK_HOST OK_CROSS OK_CROSS,
                     "bad.yaml:4: field 'tiers.cross-host': key 'cross-host' appears twice (first "
                     "on line 3)"}));

TEST(PlatformLoad, MissingFileIsAnIoError) {
  EXPECT_THROW(load_platform("/nonexistent/platform.yaml"), io_error);
  EXPECT_THROW(load_platform(std::string(MPIPE_TEST_DATA)), io_error);  // a directory
}

TEST(PlatformLoad, ShippedFilesParse) {
  for (const char* f :
       {"laptop-shm.yaml", "tcp-loopback.yaml", "article-lan.yaml", "infiniband-100g.yaml"}) {
    const auto p = load_platform(platforms_dir + f);
    EXPECT_FALSE(p.name.empty()) << f;
    EXPECT_TRUE(p.link(tier::cross_host).given) << f;
  }
  const auto lan = load_platform(platforms_dir + "article-lan.yaml");
  EXPECT_DOUBLE_EQ(lan.message_ms(tier::cross_host, serialization_kind::boost, 0), 5.0);
  EXPECT_DOUBLE_EQ(lan.message_ms(tier::same_host, serialization_kind::boost, 0), 5.0);
  const auto ib = load_platform(platforms_dir + "infiniband-100g.yaml");
  EXPECT_LT(ib.link(tier::cross_host).alpha_us, 2.0);
}
