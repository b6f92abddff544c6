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

TEST(Placement, WorldSizeMustBePositive) {
  EXPECT_THROW(resolve_placement(mpipe::seed_spec(), "pack", 0), mpipe::error);
}

}  // namespace
