// Placement: the settings a user types and the rank each stage lands on.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "mpipe/error.hpp"
#include "mpipe/placement.hpp"
#include "mpipe/spec.hpp"

namespace {

using mpipe::parse_placement_map;
using mpipe::resolve_placement;
using mpipe::spec_error;

spec_error placement_error(const mpipe::pipeline_spec& spec, const std::string& setting,
                           int world_size) {
  try {
    resolve_placement(spec, setting, world_size);
  } catch (const spec_error& e) {
    return e;
  }
  ADD_FAILURE() << "accepted placement '" << setting << "' on " << world_size << " ranks";
  return spec_error("", 0, "", "");
}

TEST(PlacementMap, Parses) {
  EXPECT_EQ(parse_placement_map("A=0,B=1"), (std::map<std::string, int>{{"A", 0}, {"B", 1}}));
  EXPECT_EQ(parse_placement_map("  A = 0 ,\tB=12  "),
            (std::map<std::string, int>{{"A", 0}, {"B", 12}}));
  EXPECT_EQ(parse_placement_map("C3=1000000"), (std::map<std::string, int>{{"C3", 1000000}}));
  EXPECT_TRUE(parse_placement_map("").empty());
  EXPECT_TRUE(parse_placement_map("  ").empty());
}

TEST(PlacementMap, SyntaxErrorsNameTheCommandLine) {
  for (const std::string bad :
       {"A", "A=", "=1", "A=x", "A=-1", "A=1.5", "A=0,,B=1", "A=0,", ",A=0", "A=0,A=1", "A=1000001",
        "A=99999999999999999999", "A=0;B=1", "A==1"}) {
    try {
      parse_placement_map(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const spec_error& e) {
      EXPECT_EQ(e.file(), "<command line>") << bad;
      EXPECT_EQ(e.line(), 0) << bad;
      EXPECT_EQ(e.field(), "placement") << bad;
      EXPECT_NE(e.message().find("'" + bad + "'"), std::string::npos) << e.what();
    }
  }
}

TEST(Placement, PackPutsEverythingOnRankZero) {
  const auto spec = mpipe::seed_spec();
  const auto p = resolve_placement(spec, "pack", 4);
  EXPECT_EQ(p.mode, "pack");
  EXPECT_EQ(p.rank_of, std::vector<int>(9, 0));
  EXPECT_EQ(p.stages_on(0).size(), 9u);
  EXPECT_TRUE(p.stages_on(1).empty());
  EXPECT_EQ(p.to_string(spec), "Main=0,A=0,B=0,C=0,C1=0,C2=0,C3=0,C4=0,D=0");
}

TEST(Placement, SpreadIsRoundRobinInSpecOrder) {
  const auto spec = mpipe::seed_spec();
  const auto p = resolve_placement(spec, "spread", 4);
  EXPECT_EQ(p.mode, "spread");
  EXPECT_EQ(p.rank_of, (std::vector<int>{0, 1, 2, 3, 0, 1, 2, 3, 0}));
  EXPECT_EQ(p.stages_on(0), (std::vector<int>{0, 4, 8}));
  EXPECT_EQ(p.stages_on(3), (std::vector<int>{3, 7}));
  EXPECT_EQ(p.to_string(spec), "Main=0,A=1,B=2,C=3,C1=0,C2=1,C3=2,C4=3,D=0");
}

TEST(Placement, SpreadWithEnoughRanksIsOneStagePerRank) {
  const auto spec = mpipe::seed_spec();
  const auto p = resolve_placement(spec, "spread", 16);
  EXPECT_EQ(p.rank_of, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_TRUE(p.stages_on(9).empty());
  EXPECT_EQ(resolve_placement(spec, "spread", 1).rank_of, std::vector<int>(9, 0));
}

TEST(Placement, DefaultIsSpreadWithoutASpecMap) {
  const auto spec = mpipe::seed_spec();
  const auto p = resolve_placement(spec, "", 2);
  EXPECT_EQ(p.mode, "spread");
  EXPECT_EQ(p.rank_of, (std::vector<int>{0, 1, 0, 1, 0, 1, 0, 1, 0}));
}

const std::string ring_with_map =
    "source: Main\n"
    "stages: [Main, A, B, C]\n"
    "edges: [Main -> A, A -> B, B -> C, C -> Main]\n"
    "placement:\n"
    "  A: 1\n"
    "  C: 2\n";

TEST(Placement, DefaultUsesTheSpecMapAndUnnamedStagesGoToRankZero) {
  const auto spec = mpipe::parse_spec(ring_with_map, "ring.yaml");
  const auto p = resolve_placement(spec, "", 3);
  EXPECT_EQ(p.mode, "map");
  EXPECT_EQ(p.rank_of, (std::vector<int>{0, 1, 0, 2}));
  EXPECT_EQ(p.to_string(spec), "Main=0,A=1,B=0,C=2");
  // A named mode overrides the spec's map.
  EXPECT_EQ(resolve_placement(spec, "pack", 3).rank_of, (std::vector<int>{0, 0, 0, 0}));
  EXPECT_EQ(resolve_placement(spec, "spread", 3).rank_of, (std::vector<int>{0, 1, 2, 0}));
}

TEST(Placement, CommandLineMapOverridesTheSpecMap) {
  const auto spec = mpipe::parse_spec(ring_with_map, "ring.yaml");
  const auto p = resolve_placement(spec, " B=1, Main=1 ", 2);
  EXPECT_EQ(p.mode, "map");
  EXPECT_EQ(p.rank_of, (std::vector<int>{1, 0, 1, 0}));
  EXPECT_EQ(p.stages_on(1), (std::vector<int>{0, 2}));
}

TEST(Placement, RankBeyondTheJobPointsAtTheSpec) {
  const auto spec = mpipe::parse_spec(ring_with_map, "ring.yaml");
  const auto e = placement_error(spec, "", 2);
  EXPECT_EQ(e.file(), "ring.yaml");
  EXPECT_EQ(e.line(), 4);
  EXPECT_EQ(e.field(), "placement");
  EXPECT_EQ(e.message(), "stage 'C' is placed on rank 2 but the job has 2 ranks (mpirun -np 2)");
}

TEST(Placement, RankBeyondTheJobOnTheCommandLine) {
  const auto spec = mpipe::seed_spec();
  const auto e = placement_error(spec, "Main=0,C3=5", 4);
  EXPECT_EQ(e.file(), "<command line>");
  EXPECT_EQ(e.line(), 0);
  EXPECT_NE(std::string(e.what()).find("rank 5 but the job has 4 ranks (mpirun -np 4)"),
            std::string::npos)
      << e.what();
  EXPECT_NE(std::string(placement_error(spec, "A=1", 1).what())
                .find("rank 1 but the job has 1 rank (mpirun -np 1)"),
            std::string::npos);
}

TEST(Placement, UnknownStageOrMode) {
  const auto spec = mpipe::seed_spec();
  const auto e = placement_error(spec, "Main=0,Q=1", 4);
  EXPECT_EQ(e.file(), "<command line>");
  EXPECT_NE(e.message().find("unknown stage 'Q' (stages: Main, A, B, C, C1, C2, C3, C4, D)"),
            std::string::npos)
      << e.what();
  const auto mode = placement_error(spec, "packed", 4);
  EXPECT_NE(mode.message().find("unknown placement 'packed'"), std::string::npos) << mode.what();
  EXPECT_NE(mode.message().find("pack, spread"), std::string::npos) << mode.what();
}

// --- replicas: instances placed like stages --------------------------------------------------

mpipe::pipeline_spec farm_spec() {
  return mpipe::parse_spec(
      "source: Main\nstages: [Main, {name: A, replicas: 3}, B, {name: C3, replicas: 2}]\n"
      "edges: [Main -> A, A -> B, B -> C3, C3 -> Main]\n",
      "farm.yaml");
}

using ranks = std::vector<std::vector<int>>;

TEST(Replicas, PackAndSpreadPlaceInstances) {
  const auto spec = farm_spec();
  const auto pack = resolve_placement(spec, "pack", 4);
  EXPECT_EQ(pack.replica_ranks, (ranks{{0}, {0, 0, 0}, {0}, {0, 0}}));
  EXPECT_EQ(pack.instances_on(0).size(), 7u);
  // Instances in order Main, A#0, A#1, A#2, B, C3#0, C3#1 on ranks 0, 1, 2, 3, 0, 1, 2.
  const auto spread = resolve_placement(spec, "spread", 4);
  EXPECT_EQ(spread.replica_ranks, (ranks{{0}, {1, 2, 3}, {0}, {1, 2}}));
  EXPECT_EQ(spread.rank_of, (std::vector<int>{0, 1, 0, 1}));
  EXPECT_EQ(spread.stages_on(1), (std::vector<int>{1, 3}));
  const auto on2 = spread.instances_on(2);
  ASSERT_EQ(on2.size(), 2u);
  EXPECT_EQ(on2[0].stage, 1);
  EXPECT_EQ(on2[0].replica, 1);
  EXPECT_EQ(on2[1].stage, 3);
  EXPECT_EQ(on2[1].replica, 1);
  EXPECT_EQ(spread.to_string(spec), "Main=0,A#0=1,A#1=2,A#2=3,B=0,C3#0=1,C3#1=2");
}

TEST(Replicas, MapPlacesAStageOrOneReplica) {
  const auto spec = farm_spec();
  // A stage name moves every replica; "#k" one of them, whatever the order of the entries;
  // replicas not named go where their stage is named, else rank 0.
  auto p = resolve_placement(spec, "A#2=3,A=1,C3#1=2", 4);
  EXPECT_EQ(p.mode, "map");
  EXPECT_EQ(p.replica_ranks, (ranks{{0}, {1, 1, 3}, {0}, {0, 2}}));
  EXPECT_EQ(p.rank_of, (std::vector<int>{0, 1, 0, 0}));
  EXPECT_EQ(p.to_string(spec), "Main=0,A#0=1,A#1=1,A#2=3,B=0,C3#0=0,C3#1=2");
  // The stored string replays exactly.
  EXPECT_EQ(resolve_placement(spec, p.to_string(spec), 4).replica_ranks, p.replica_ranks);
  EXPECT_EQ(resolve_placement(spec, "C3=3", 4).replica_ranks, (ranks{{0}, {0, 0, 0}, {0}, {3, 3}}));
  // "#0" of a one-replica stage is the stage.
  EXPECT_EQ(resolve_placement(spec, "B#0=2", 4).rank_of, (std::vector<int>{0, 0, 2, 0}));
}

TEST(Replicas, SpecMapPlacesReplicas) {
  const auto spec = mpipe::parse_spec(
      "source: Main\nstages: [Main, {name: A, replicas: 2}]\n"
      "edges: [Main -> A, A -> Main]\nplacement: {A: 1, A#1: 2}\n",
      "f.yaml");
  const auto p = resolve_placement(spec, "", 3);
  EXPECT_EQ(p.replica_ranks, (ranks{{0}, {1, 2}}));
  EXPECT_EQ(p.to_string(spec), "Main=0,A#0=1,A#1=2");
  // Checked against the world for every replica, pointing at the spec's placement line.
  const auto e = placement_error(spec, "", 2);
  EXPECT_EQ(e.file(), "f.yaml");
  EXPECT_EQ(e.line(), 4);
  EXPECT_EQ(e.message(), "'A#1' is placed on rank 2 but the job has 2 ranks (mpirun -np 2)");
}

TEST(Replicas, MapErrors) {
  const auto spec = farm_spec();
  const auto has = [](const mpipe::spec_error& e, const std::string& needle) {
    EXPECT_EQ(e.file(), "<command line>") << e.what();
    EXPECT_EQ(e.field(), "placement") << e.what();
    EXPECT_NE(e.message().find(needle), std::string::npos) << e.what();
  };
  has(placement_error(spec, "A#3=1", 4),
      "stage 'A' has 3 replicas (A#0..A#2), so 'A#3' names none");
  has(placement_error(spec, "B#1=1", 4), "stage 'B' has 1 replica (B#0), so 'B#1' names none");
  has(placement_error(spec, "A#x=1", 4), "'A#x': expected STAGE#REPLICA");
  has(placement_error(spec, "A#=1", 4), "'A#': expected STAGE#REPLICA");
  has(placement_error(spec, "A#-1=1", 4), "expected STAGE#REPLICA");
  has(placement_error(spec, "A#1=1,A#01=2", 4), "'A#1' is placed twice");
  has(placement_error(spec, "Q#1=1", 4), "unknown stage 'Q'");
  has(placement_error(spec, "A#1=4", 4), "'A#1' is placed on rank 4 but the job has 4 ranks");
  has(placement_error(spec, "A=4", 4), "stage 'A' is placed on rank 4 but the job has 4 ranks");
  // Fewer replicas than the spec's map names, after --replicas lowered them.
  auto fewer = mpipe::parse_spec(
      "source: Main\nstages: [Main, {name: A, replicas: 3}]\n"
      "edges: [Main -> A, A -> Main]\nplacement: {A#2: 1}\n",
      "f.yaml");
  mpipe::apply_replicas(fewer, "A=2");
  const auto e = placement_error(fewer, "", 2);
  EXPECT_EQ(e.file(), "f.yaml");
  EXPECT_NE(e.message().find("stage 'A' has 2 replicas (A#0..A#1), so 'A#2' names none"),
            std::string::npos)
      << e.what();
}

TEST(Replicas, OneReplicaStagesPrintPlainNames) {
  const auto spec = mpipe::seed_spec();
  EXPECT_EQ(resolve_placement(spec, "C3#0=1", 2).to_string(spec),
            "Main=0,A=0,B=0,C=0,C1=0,C2=0,C3=1,C4=0,D=0");
}

TEST(Placement, WorldSizeMustBePositive) {
  EXPECT_THROW(resolve_placement(mpipe::seed_spec(), "pack", 0), mpipe::error);
}

}  // namespace
