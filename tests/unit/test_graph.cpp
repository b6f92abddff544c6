// graph: wiring, topological order and the critical path, checked against sums done by hand.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "mpipe/error.hpp"
#include "mpipe/graph.hpp"
#include "mpipe/spec.hpp"

namespace {

using mpipe::graph;
using mpipe::pipeline_spec;

std::vector<std::string> names(const pipeline_spec& spec, const std::vector<int>& stages) {
  std::vector<std::string> out;
  for (int s : stages) out.push_back(spec.stages[s].name);
  return out;
}

// A stage by hand: designated fields, so new stage_spec members keep their defaults.
mpipe::stage_spec stage(const std::string& name, double work_ms) {
  mpipe::stage_spec s;
  s.name = name;
  s.work_ms = work_ms;
  return s;
}

// "s" + i, built in place: GCC 12 at -O3 misreads `"s" + std::to_string(i)` (-Wrestrict).
std::string numbered(int i) {
  std::string name = std::to_string(i);
  name.insert(name.begin(), 's');
  return name;
}

// Every stage after all of its producers, return edges aside, and each stage exactly once.
void expect_topological(const pipeline_spec& spec, const graph& g) {
  const auto& order = g.topo_order();
  ASSERT_EQ(order.size(), spec.stages.size());
  ASSERT_FALSE(order.empty());
  EXPECT_EQ(order.front(), g.source());
  std::vector<int> position(spec.stages.size(), -1);
  for (std::size_t i = 0; i < order.size(); ++i) {
    ASSERT_EQ(position[order[i]], -1) << "stage listed twice";
    position[order[i]] = static_cast<int>(i);
  }
  for (const auto& e : spec.edges) {
    const int from = spec.stage_index(e.from);
    const int to = spec.stage_index(e.to);
    if (to == g.source()) continue;
    EXPECT_LT(position[from], position[to]) << e.from << " -> " << e.to;
  }
}

TEST(Graph, SeedWiring) {
  const auto spec = mpipe::seed_spec();
  const graph g(spec);
  EXPECT_EQ(g.stage_count(), 9);
  EXPECT_EQ(g.source(), 0);
  const int c = spec.stage_index("C");
  const int d = spec.stage_index("D");
  // Edge indices into spec.edges: Main->A is 0, D->Main is the last.
  EXPECT_EQ(g.outputs(0), std::vector<int>{0});
  EXPECT_EQ(g.inputs(0), std::vector<int>{11});
  EXPECT_EQ(g.outputs(c), (std::vector<int>{3, 4, 5, 6}));
  EXPECT_EQ(g.inputs(d), (std::vector<int>{7, 8, 9, 10}));
  EXPECT_EQ(g.outputs(d), std::vector<int>{11});
  for (int s = 0; s < g.stage_count(); ++s) {
    for (int e : g.inputs(s)) EXPECT_EQ(spec.edges[e].to, spec.stages[s].name);
    for (int e : g.outputs(s)) EXPECT_EQ(spec.edges[e].from, spec.stages[s].name);
  }
}

TEST(Graph, SeedOrderFollowsTheSpecWhereEdgesAllowIt) {
  const auto spec = mpipe::seed_spec();
  const graph g(spec);
  expect_topological(spec, g);
  EXPECT_EQ(names(spec, g.topo_order()),
            (std::vector<std::string>{"Main", "A", "B", "C", "C1", "C2", "C3", "C4", "D"}));
}

// The article prints ~750 ms; its own formula, 200 + 150 + max(150, 200, 300, 100) + 50, is 700.
TEST(Graph, SeedCriticalPathIs700ms) {
  const auto spec = mpipe::seed_spec();
  const graph g(spec);
  EXPECT_DOUBLE_EQ(g.critical_path_ms(), 700.0);
  EXPECT_EQ(names(spec, g.critical_path()),
            (std::vector<std::string>{"Main", "A", "B", "C", "C3", "D"}));
}

TEST(Graph, DiamondCriticalPathIs45ms) {
  const auto spec = mpipe::load_spec(std::string(MPIPE_TEST_DATA) + "/small.yaml");
  const graph g(spec);
  expect_topological(spec, g);
  // Main 0 + X 10 + max(Y 20, Z 30) + W 5.
  EXPECT_DOUBLE_EQ(g.critical_path_ms(), 45.0);
  EXPECT_EQ(names(spec, g.critical_path()), (std::vector<std::string>{"Main", "X", "Z", "W"}));
  EXPECT_EQ(names(spec, g.topo_order()), (std::vector<std::string>{"Main", "X", "Y", "Z", "W"}));
}

TEST(Graph, SourceWorkCountsOnce) {
  const auto spec = mpipe::parse_spec(
      "source: Main\n"
      "stages:\n"
      "  - {name: Main, work_ms: 7}\n"
      "  - {name: A, work_ms: 10}\n"
      "  - {name: B, work_ms: 20}\n"
      "edges: [Main -> A, A -> B, B -> Main]\n",
      "t.yaml");
  const graph g(spec);
  EXPECT_DOUBLE_EQ(g.critical_path_ms(), 37.0);  // 7 + 10 + 20, not 7 + 10 + 20 + 7
  EXPECT_EQ(names(spec, g.critical_path()), (std::vector<std::string>{"Main", "A", "B"}));
}

TEST(Graph, HeaviestOfSeveralReturnPaths) {
  // Two branches return separately; the item waits for both, so the slower one bounds it.
  const auto spec = mpipe::parse_spec(
      "source: S\n"
      "stages:\n"
      "  - {name: S, work_ms: 1}\n"
      "  - {name: Fast, work_ms: 5}\n"
      "  - {name: Slow1, work_ms: 4}\n"
      "  - {name: Slow2, work_ms: 4}\n"
      "edges:\n"
      "  - {from: S, to: [Fast, Slow1]}\n"
      "  - Slow1 -> Slow2\n"
      "  - {from: [Fast, Slow2], to: S}\n",
      "t.yaml");
  const graph g(spec);
  expect_topological(spec, g);
  EXPECT_DOUBLE_EQ(g.critical_path_ms(), 9.0);  // 1 + 4 + 4 beats 1 + 5
  EXPECT_EQ(names(spec, g.critical_path()), (std::vector<std::string>{"S", "Slow1", "Slow2"}));
  EXPECT_EQ(g.inputs(0).size(), 2u);
}

TEST(Graph, SkipEdgeDoesNotShortenThePath) {
  // A -> C directly and A -> B -> C: the longer route counts.
  const auto spec = mpipe::parse_spec(
      "source: M\n"
      "stages:\n"
      "  - M\n"
      "  - {name: A, work_ms: 1}\n"
      "  - {name: B, work_ms: 100}\n"
      "  - {name: C, work_ms: 1}\n"
      "edges: [M -> A, A -> C, A -> B, B -> C, C -> M]\n",
      "t.yaml");
  const graph g(spec);
  expect_topological(spec, g);
  EXPECT_DOUBLE_EQ(g.critical_path_ms(), 102.0);
  EXPECT_EQ(names(spec, g.critical_path()), (std::vector<std::string>{"M", "A", "B", "C"}));
}

TEST(Graph, OrderWhenSpecListsConsumersFirst) {
  const auto spec = mpipe::parse_spec(
      "source: Main\nstages: [D, C, Main, B]\nedges: [Main -> B, B -> C, C -> D, D -> Main]\n",
      "t.yaml");
  const graph g(spec);
  EXPECT_EQ(g.source(), 2);
  expect_topological(spec, g);
  EXPECT_EQ(names(spec, g.topo_order()), (std::vector<std::string>{"Main", "B", "C", "D"}));
  EXPECT_EQ(names(spec, g.critical_path()), (std::vector<std::string>{"Main", "B", "C", "D"}));
}

TEST(Graph, LongChainNeedsNoRecursion) {
  pipeline_spec spec;
  spec.source = "s0";
  for (int i = 0; i < 10000; ++i) {
    spec.stages.push_back(stage(numbered(i), 1.0));
  }
  for (int i = 0; i < 10000; ++i) {
    spec.edges.push_back(
        {numbered(i), numbered((i + 1) % 10000), mpipe::serialization_kind::boost, 0});
  }
  const graph g(spec);
  EXPECT_DOUBLE_EQ(g.critical_path_ms(), 10000.0);
  EXPECT_EQ(g.critical_path().size(), 10000u);
  EXPECT_EQ(g.topo_order().back(), 9999);
}

TEST(Graph, HandBuiltSpecWithUnknownNamesThrows) {
  pipeline_spec spec;
  spec.source = "Nope";
  spec.stages.push_back(stage("A", 1.0));
  EXPECT_THROW(graph{spec}, mpipe::spec_error);
  spec.source = "A";
  spec.edges.push_back({"A", "Ghost", mpipe::serialization_kind::boost, 3});
  EXPECT_THROW(graph{spec}, mpipe::spec_error);
}

}  // namespace
