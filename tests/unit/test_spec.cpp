// parse_spec / load_spec: the format, its defaults and every validation error, with the line a
// user would be sent to.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "mpipe/error.hpp"
#include "mpipe/placement.hpp"
#include "mpipe/spec.hpp"

namespace {

using mpipe::kernel_kind;
using mpipe::parse_spec;
using mpipe::serialization_kind;
using mpipe::spec_error;

const std::string data_dir = MPIPE_TEST_DATA;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Parses text that must fail and returns the error, so each test can check what matters to it.
spec_error parse_error(const std::string& yaml) {
  try {
    parse_spec(yaml, "t.yaml");
  } catch (const spec_error& e) {
    return e;
  }
  ADD_FAILURE() << "parse_spec accepted:\n" << yaml;
  return spec_error("", 0, "", "");
}

void expect_error(const std::string& yaml, int line, const std::string& field,
                  const std::string& needle) {
  const spec_error e = parse_error(yaml);
  EXPECT_EQ(e.file(), "t.yaml");
  EXPECT_EQ(e.line(), line) << e.what();
  EXPECT_EQ(e.field(), field) << e.what();
  EXPECT_NE(e.message().find(needle), std::string::npos)
      << "message: " << e.message() << "\nexpected to contain: " << needle;
}

// A valid three-stage ring; tests splice their mistake into it. Lines: 1 source, 2 stages,
// 3-5 stage entries, 6 edges, 7-9 edge entries.
const std::string ring_stages =
    "stages:\n"
    "  - {name: Main, work_ms: 0}\n"
    "  - {name: A, work_ms: 10}\n"
    "  - {name: B, work_ms: 20}\n";
const std::string ring_edges =
    "edges:\n"
    "  - Main -> A\n"
    "  - A -> B\n"
    "  - B -> Main\n";
const std::string ring = "source: Main\n" + ring_stages + ring_edges;

// --- good specs ------------------------------------------------------------------------------

TEST(SeedSpec, TextIsSeedYamlByteForByte) {
  const std::string file = read_file(data_dir + "/../../jobs/pipelines/seed.yaml");
  ASSERT_FALSE(file.empty());
  EXPECT_EQ(mpipe::seed_spec_text(), file);
}

TEST(SeedSpec, IsTheArticlePipeline) {
  const auto spec = mpipe::seed_spec();
  EXPECT_EQ(spec.name, "seed");
  EXPECT_EQ(spec.source, "Main");
  EXPECT_EQ(spec.items, 3u);
  EXPECT_EQ(spec.text, mpipe::seed_spec_text());
  EXPECT_TRUE(spec.placement.empty());
  const std::vector<std::pair<std::string, double>> expected = {
      {"Main", 0}, {"A", 200},  {"B", 150},  {"C", 0}, {"C1", 150},
      {"C2", 200}, {"C3", 300}, {"C4", 100}, {"D", 50}};
  ASSERT_EQ(spec.stages.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(spec.stages[i].name, expected[i].first);
    EXPECT_EQ(spec.stages[i].work_ms, expected[i].second) << expected[i].first;
    EXPECT_EQ(spec.stages[i].kernel, kernel_kind::sleep);
    EXPECT_EQ(spec.stages[i].threads, 1);
    EXPECT_EQ(spec.stages[i].payload_bytes, 1024u);
  }
  std::vector<std::string> edges;
  for (const auto& e : spec.edges) {
    edges.push_back(e.from + "->" + e.to);
    EXPECT_EQ(e.serialization, serialization_kind::boost);
  }
  EXPECT_EQ(edges,
            (std::vector<std::string>{"Main->A", "A->B", "B->C", "C->C1", "C->C2", "C->C3", "C->C4",
                                      "C1->D", "C2->D", "C3->D", "C4->D", "D->Main"}));
}

TEST(SeedSpec, LoadingTheFileGivesTheSameSpec) {
  const std::string path = data_dir + "/../../jobs/pipelines/seed.yaml";
  const auto loaded = mpipe::load_spec(path);
  const auto builtin = mpipe::seed_spec();
  EXPECT_EQ(loaded.file, path);
  EXPECT_EQ(builtin.file, "<builtin>");
  EXPECT_EQ(loaded.text, builtin.text);
  EXPECT_EQ(loaded.stages.size(), builtin.stages.size());
  EXPECT_EQ(loaded.edges.size(), builtin.edges.size());
}

TEST(SmallSpec, IsTheDiamond) {
  const std::string path = data_dir + "/small.yaml";
  const auto spec = mpipe::load_spec(path);
  EXPECT_EQ(spec.file, path);
  EXPECT_EQ(spec.text, read_file(path));
  EXPECT_EQ(spec.name, "small");
  EXPECT_EQ(spec.source, "Main");
  EXPECT_EQ(spec.items, 2u);
  ASSERT_EQ(spec.stages.size(), 5u);
  const std::vector<std::string> names = {"Main", "X", "Y", "Z", "W"};
  const std::vector<double> work = {0, 10, 20, 30, 5};
  for (std::size_t i = 0; i < names.size(); ++i) {
    EXPECT_EQ(spec.stages[i].name, names[i]);
    EXPECT_EQ(spec.stages[i].work_ms, work[i]);
    EXPECT_EQ(spec.stages[i].kernel, kernel_kind::sleep);
  }
  ASSERT_EQ(spec.edges.size(), 6u);
  EXPECT_EQ(spec.edges[1].from, "X");
  EXPECT_EQ(spec.edges[1].to, "Y");
  EXPECT_EQ(spec.edges[2].to, "Z");
  EXPECT_EQ(spec.edges[3].from, "Y");
  EXPECT_EQ(spec.edges[4].from, "Z");
  EXPECT_EQ(spec.edges[4].to, "W");
}

TEST(Format, ShorthandEdgesTolerateSpacing) {
  const auto spec = parse_spec(
      "source: Main\nstages: [Main, A, B]\nedges:\n  - Main->A\n  - '  A   ->   B  '\n"
      "  - B ->Main\n",
      "t.yaml");
  ASSERT_EQ(spec.edges.size(), 3u);
  EXPECT_EQ(spec.edges[0].from, "Main");
  EXPECT_EQ(spec.edges[0].to, "A");
  EXPECT_EQ(spec.edges[1].from, "A");
  EXPECT_EQ(spec.edges[1].to, "B");
  EXPECT_EQ(spec.edges[2].to, "Main");
  EXPECT_EQ(spec.edges[1].line, 5);
}

TEST(Format, ListsExpandToAllPairsInOrder) {
  const auto spec = parse_spec(
      "source: S\n"
      "stages: [S, A, B, C, D, T]\n"
      "edges:\n"
      "  - {from: S, to: [A, B]}\n"
      "  - {from: [A, B], to: [C, D], serialization: raw}\n"
      "  - {from: [C, D], to: T}\n"
      "  - T -> S\n",
      "t.yaml");
  std::vector<std::string> edges;
  for (const auto& e : spec.edges) edges.push_back(e.from + "->" + e.to);
  EXPECT_EQ(edges, (std::vector<std::string>{"S->A", "S->B", "A->C", "A->D", "B->C", "B->D", "C->T",
                                             "D->T", "T->S"}));
  for (int i = 2; i < 6; ++i) {
    EXPECT_EQ(spec.edges[i].serialization, serialization_kind::raw);
    EXPECT_EQ(spec.edges[i].line, 5);
  }
  EXPECT_EQ(spec.edges[0].serialization, serialization_kind::boost);
}

TEST(Format, DefaultsApplyUnlessOverridden) {
  const auto spec = parse_spec(
      "name: d\n"
      "source: Main\n"
      "items: 7\n"
      "defaults:\n"
      "  kernel: spin\n"
      "  threads: 4\n"
      "  payload_bytes: 512\n"
      "  serialization: datatype\n"
      "  work_ms: 2.5\n"
      "stages:\n"
      "  - Main\n"
      "  - {name: A, kernel: compute, threads: 2, payload_bytes: 0, work_ms: 100}\n"
      "  - {name: B}\n"
      "edges:\n"
      "  - Main -> A\n"
      "  - {from: A, to: B, serialization: boost}\n"
      "  - B -> Main\n",
      "t.yaml");
  EXPECT_EQ(spec.name, "d");
  EXPECT_EQ(spec.items, 7u);
  const auto& main = spec.stages[0];
  EXPECT_EQ(main.kernel, kernel_kind::spin);
  EXPECT_EQ(main.threads, 4);
  EXPECT_EQ(main.payload_bytes, 512u);
  EXPECT_EQ(main.work_ms, 2.5);
  EXPECT_EQ(main.line, 11);
  const auto& a = spec.stages[1];
  EXPECT_EQ(a.kernel, kernel_kind::compute);
  EXPECT_EQ(a.threads, 2);
  EXPECT_EQ(a.payload_bytes, 0u);
  EXPECT_EQ(a.work_ms, 100.0);
  EXPECT_EQ(a.line, 12);
  EXPECT_EQ(spec.stages[2].kernel, kernel_kind::spin);
  EXPECT_EQ(spec.edges[0].serialization, serialization_kind::datatype);
  EXPECT_EQ(spec.edges[1].serialization, serialization_kind::boost);
  EXPECT_EQ(spec.edges[2].serialization, serialization_kind::datatype);
}

TEST(Format, BuiltInDefaultsWithoutADefaultsSection) {
  const auto spec = parse_spec(ring, "t.yaml");
  EXPECT_EQ(spec.name, "pipeline");
  EXPECT_EQ(spec.items, 1u);
  EXPECT_EQ(spec.file, "t.yaml");
  EXPECT_EQ(spec.text, ring);
  for (const auto& s : spec.stages) {
    EXPECT_EQ(s.kernel, kernel_kind::sleep);
    EXPECT_EQ(s.threads, 1);
    EXPECT_EQ(s.payload_bytes, 0u);
  }
  EXPECT_EQ(spec.edges[0].serialization, serialization_kind::boost);
}

TEST(Format, EmptyOptionalSectionsAreAbsent) {
  const auto spec = parse_spec("defaults:\nplacement:\n" + ring, "t.yaml");
  EXPECT_TRUE(spec.placement.empty());
  EXPECT_EQ(spec.placement_line, 0);
}

TEST(Format, PlacementMapAndItsLine) {
  const auto spec = parse_spec(ring + "placement:\n  Main: 0\n  B: 3\n", "t.yaml");
  EXPECT_EQ(spec.placement, (std::map<std::string, int>{{"Main", 0}, {"B", 3}}));
  EXPECT_EQ(spec.placement_line, 10);
}

TEST(Format, LimitsAreInclusive) {
  const auto spec = parse_spec(
      "source: Main\nitems: 10000000\nstages:\n"
      "  - {name: Main, work_ms: 1e7, threads: 1024, payload_bytes: 1073741824}\n"
      "  - {name: " +
          std::string(64, 'a') + ", work_ms: 0}\n" + "edges: [Main -> " + std::string(64, 'a') +
          ", " + std::string(64, 'a') + " -> Main]\nplacement: {Main: 1000000}\n",
      "t.yaml");
  EXPECT_EQ(spec.items, 10000000u);
  EXPECT_EQ(spec.stages[0].work_ms, 1e7);
  EXPECT_EQ(spec.stages[0].threads, 1024);
  EXPECT_EQ(spec.stages[0].payload_bytes, 1073741824u);
  EXPECT_EQ(spec.placement.at("Main"), 1000000);
}

TEST(Format, NamesMayUseDotsDashesUnderscores) {
  const auto spec = parse_spec(
      "source: _in\nstages: [_in, a.b-c_1]\nedges: [_in -> a.b-c_1, a.b-c_1 -> _in]\n", "t.yaml");
  EXPECT_EQ(spec.stage_index("a.b-c_1"), 1);
  EXPECT_EQ(spec.stage_index("_in"), 0);
  EXPECT_EQ(spec.stage_index("nope"), -1);
}

TEST(Format, TenThousandStageChainIsAccepted) {
  std::string yaml = "source: s0\nstages:\n";
  for (int i = 0; i < 10000; ++i) yaml += "  - s" + std::to_string(i) + "\n";
  yaml += "edges:\n";
  for (int i = 0; i + 1 < 10000; ++i) {
    yaml += "  - s" + std::to_string(i) + " -> s" + std::to_string(i + 1) + "\n";
  }
  yaml += "  - s9999 -> s0\n";
  const auto spec = parse_spec(yaml, "t.yaml");
  EXPECT_EQ(spec.stages.size(), 10000u);
  EXPECT_EQ(spec.edges.size(), 10000u);
}

TEST(Format, EnumNames) {
  EXPECT_STREQ(mpipe::to_string(kernel_kind::sleep), "sleep");
  EXPECT_STREQ(mpipe::to_string(kernel_kind::spin), "spin");
  EXPECT_STREQ(mpipe::to_string(kernel_kind::compute), "compute");
  EXPECT_STREQ(mpipe::to_string(serialization_kind::boost), "boost");
  EXPECT_STREQ(mpipe::to_string(serialization_kind::datatype), "datatype");
  EXPECT_STREQ(mpipe::to_string(serialization_kind::raw), "raw");
}

// --- errors ----------------------------------------------------------------------------------

TEST(SpecError, FormatsFileLineField) {
  const spec_error e("p.yaml", 12, "stages[1].work_ms", "bad");
  EXPECT_STREQ(e.what(), "p.yaml:12: field 'stages[1].work_ms': bad");
  EXPECT_EQ(e.file(), "p.yaml");
  EXPECT_EQ(e.line(), 12);
  EXPECT_EQ(e.field(), "stages[1].work_ms");
  EXPECT_EQ(e.message(), "bad");
  EXPECT_STREQ(spec_error("<command line>", 0, "placement", "x").what(),
               "<command line>: field 'placement': x");
}

TEST(LoadSpec, MissingFileIsAnIoErrorNamingPathAndReason) {
  try {
    mpipe::load_spec("/nonexistent/dir/p.yaml");
    FAIL() << "no error";
  } catch (const mpipe::io_error& e) {
    EXPECT_STREQ(e.what(), "/nonexistent/dir/p.yaml: cannot read spec: No such file or directory");
  }
}

TEST(LoadSpec, DirectoryIsAnIoError) {
  try {
    mpipe::load_spec(data_dir);
    FAIL() << "no error";
  } catch (const mpipe::io_error& e) {
    EXPECT_NE(std::string(e.what()).find("Is a directory"), std::string::npos) << e.what();
  }
}

TEST(Validation, MalformedYaml) {
  expect_error("source: Main\nstages: [Main, A\nedges: []\n", 3, "yaml", "not valid YAML");
  expect_error("a: b: c\n", 1, "yaml", "not valid YAML");
}

TEST(Validation, EmptyDocument) {
  expect_error("", 0, "", "empty");
  expect_error("# only a comment\n", 0, "", "empty");
}

TEST(Validation, TopLevelNotAMap) {
  expect_error("- Main -> A\n", 1, "", "top level must be a map");
  expect_error("just text\n", 1, "", "top level must be a map");
}

TEST(Validation, UnknownKeys) {
  expect_error("stagse: []\n" + ring, 1, "stagse",
               "unknown key 'stagse' (allowed: name, source, items, inflight, defaults, stages, "
               "edges, placement, plugins, inputs, outputs); did you mean 'stages'?");
  expect_error("defaults: {kernal: spin}\n" + ring, 1, "defaults.kernal",
               "unknown key 'kernal' (allowed: kernel, threads, payload_bytes, serialization, "
               "work_ms); did you mean 'kernel'?");
  expect_error("source: Main\nstages:\n  - {name: Main, colour: red}\n" + ring_edges, 3,
               "stages[0].colour",
               "unknown key 'colour' (allowed: name, work_ms, kernel, threads, payload_bytes, "
               "replicas, dispatch, ordered, command)");
  expect_error("source: Main\n" + ring_stages + "edges:\n  - {from: Main, to: A, via: B}\n", 7,
               "edges[0].via", "unknown key 'via' (allowed: from, to, serialization)");
}

TEST(Validation, DuplicateKey) {
  expect_error(ring + "source: A\n", 10, "source", "key 'source' appears twice (first on line 1)");
  expect_error("source: Main\nstages:\n  - {name: Main, work_ms: 1, work_ms: 2}\n" + ring_edges, 3,
               "stages[0].work_ms", "appears twice");
}

TEST(Validation, MissingRequiredFields) {
  expect_error(ring_stages + ring_edges, 0, "source", "missing");
  expect_error("source: Main\n" + ring_edges, 0, "stages", "missing");
  expect_error("source: Main\n" + ring_stages, 0, "edges", "missing");
  expect_error("source:\n" + ring_stages + ring_edges, 0, "source", "missing");
  expect_error("source: Main\nstages: []\n" + ring_edges, 2, "stages", "the list is empty");
  expect_error("source: Main\n" + ring_stages + "edges: []\n", 6, "edges", "the list is empty");
  expect_error("source: Main\nstages:\n  - {work_ms: 3}\n" + ring_edges, 3, "stages[0].name",
               "missing");
  expect_error("source: Main\n" + ring_stages + "edges:\n  - {from: Main}\n", 7, "edges[0].to",
               "missing");
  expect_error("source: Main\n" + ring_stages + "edges:\n  - {to: A}\n", 7, "edges[0].from",
               "missing");
}

TEST(Validation, WrongShapes) {
  expect_error("source: Main\nstages: {Main: 0}\n" + ring_edges, 2, "stages",
               "expected a list of stages");
  expect_error("source: Main\n" + ring_stages + "edges: Main -> A\n", 6, "edges",
               "expected a list of edges");
  expect_error("source: [Main]\n" + ring_stages + ring_edges, 1, "source",
               "expected a stage name, got a list");
  expect_error("source: Main\nstages:\n  - [Main]\n" + ring_edges, 3, "stages[0]",
               "expected a stage");
  expect_error("defaults: 3\n" + ring, 1, "defaults", "expected a map");
  expect_error(ring + "placement: [Main]\n", 10, "placement", "expected a map of stage: rank");
}

TEST(Validation, DuplicateStageName) {
  expect_error("source: Main\nstages:\n  - Main\n  - A\n  - {name: A}\n" + ring_edges, 5,
               "stages[2].name", "duplicate stage name 'A' (first defined on line 4)");
}

TEST(Validation, StageNamePatternAndLength) {
  for (const std::string bad : {"1A", "A B", "A/B", "-A", ".A", "A:B", "''"}) {
    const spec_error e =
        parse_error("source: Main\nstages:\n  - Main\n  - {name: " + bad + "}\n" + ring_edges);
    EXPECT_EQ(e.line(), 4) << bad;
    EXPECT_EQ(e.field(), "stages[1].name") << bad;
    EXPECT_NE(e.message().find("[A-Za-z_][A-Za-z0-9_.-]*"), std::string::npos) << e.what();
  }
  expect_error("source: Main\nstages:\n  - Main\n  - " + std::string(65, 'x') + "\n" + ring_edges,
               4, "stages[1].name", "65 characters long; the limit is 64");
  expect_error("name: my pipeline\n" + ring, 1, "name", "invalid name 'my pipeline'");
}

TEST(Validation, UnknownStageNames) {
  expect_error("source: Mian\n" + ring_stages + ring_edges, 1, "source",
               "unknown stage 'Mian' (stages: Main, A, B); did you mean 'Main'?");
  expect_error("source: Main\n" + ring_stages + "edges:\n  - Main -> A\n  - A -> Q\n", 8,
               "edges[1]", "unknown stage 'Q'");
  expect_error("source: Main\n" + ring_stages + "edges:\n  - {from: Main, to: [A, Q]}\n", 7,
               "edges[0].to[1]", "unknown stage 'Q'");
  expect_error(ring + "placement:\n  Main: 0\n  Q: 1\n", 12, "placement", "unknown stage 'Q'");
}

TEST(Validation, LongUserTextIsCutInMessages) {
  const std::string blob(5000, 'x');
  const spec_error e =
      parse_error("source: Main\n" + ring_stages + "edges: [Main -> " + blob + "]\n");
  EXPECT_LT(e.message().size(), 300u) << e.what();
  EXPECT_NE(e.message().find("(5000 characters)"), std::string::npos) << e.what();
}

TEST(Validation, UnknownStageListIsCapped) {
  std::string yaml = "source: s0\nstages:\n";
  for (int i = 0; i < 100; ++i) yaml += "  - s" + std::to_string(i) + "\n";
  yaml += "edges: [s0 -> zz]\n";
  const spec_error e = parse_error(yaml);
  EXPECT_NE(e.message().find("... (100 in all)"), std::string::npos) << e.what();
  EXPECT_EQ(e.message().find("s50"), std::string::npos) << e.what();
}

TEST(Validation, DuplicateAndSelfEdges) {
  expect_error("source: Main\n" + ring_stages + ring_edges + "  - {from: Main, to: [B, A]}\n", 10,
               "edges[3]", "duplicate edge 'Main -> A' (first on line 7)");
  expect_error("source: Main\n" + ring_stages + "edges:\n  - {from: Main, to: [A, A]}\n", 7,
               "edges[0]", "duplicate edge 'Main -> A'");
  expect_error("source: Main\n" + ring_stages + "edges:\n  - Main -> A\n  - A -> A\n", 8,
               "edges[1]", "self-edge 'A -> A'");
  expect_error("source: Main\n" + ring_stages + "edges:\n  - {from: [Main, A], to: A}\n", 7,
               "edges[0]", "self-edge 'A -> A'");
}

TEST(Validation, BadEdgeShorthand) {
  for (const std::string bad : {"Main A", "Main => A", "Main -> A -> B", "-> A", "Main ->"}) {
    const spec_error e = parse_error("source: Main\n" + ring_stages + "edges:\n  - " + bad + "\n");
    EXPECT_EQ(e.line(), 7) << bad;
    EXPECT_EQ(e.field(), "edges[0]") << bad;
    EXPECT_NE(e.message().find("FROM -> TO"), std::string::npos) << e.what();
  }
}

TEST(Validation, WrongTypesAndNonsenseNumbers) {
  const auto stage = [](const std::string& fields) {
    return "source: Main\nstages:\n  - {name: Main, " + fields + "}\n  - A\n  - B\n" + ring_edges;
  };
  expect_error(stage("work_ms: fast"), 3, "stages[0].work_ms", "expected a number, got 'fast'");
  expect_error(stage("work_ms: [1]"), 3, "stages[0].work_ms", "expected a number, got a list");
  expect_error(stage("work_ms: -1"), 3, "stages[0].work_ms", "limit 1e7 ms");
  expect_error(stage("work_ms: 10000001"), 3, "stages[0].work_ms", "got 10000001");
  expect_error(stage("work_ms: .nan"), 3, "stages[0].work_ms", "must be a finite number");
  expect_error(stage("work_ms: .inf"), 3, "stages[0].work_ms", "must be a finite number");
  expect_error(stage("work_ms: -.inf"), 3, "stages[0].work_ms", "must be a finite number");
  expect_error(stage("work_ms: 0x10"), 3, "stages[0].work_ms", "expected a number");
  expect_error(stage("threads: 0"), 3, "stages[0].threads", "between 1 and 1024");
  expect_error(stage("threads: 1025"), 3, "stages[0].threads", "between 1 and 1024");
  expect_error(stage("threads: 2.5"), 3, "stages[0].threads", "must be a whole number");
  expect_error(stage("threads: many"), 3, "stages[0].threads", "expected a whole number");
  expect_error(stage("payload_bytes: -1"), 3, "stages[0].payload_bytes", "1 GiB");
  expect_error(stage("payload_bytes: 1073741825"), 3, "stages[0].payload_bytes", "1 GiB");
  expect_error(stage("payload_bytes: 1e300"), 3, "stages[0].payload_bytes", "1 GiB");
  expect_error("items: 0\n" + ring, 1, "items", "at least 1 and at most 10000000");
  expect_error("items: 10000001\n" + ring, 1, "items", "at least 1 and at most 10000000");
  expect_error("items: 1.5\n" + ring, 1, "items", "whole number");
  expect_error("items: -3\n" + ring, 1, "items", "at least 1");
  expect_error(ring + "placement: {A: -1}\n", 10, "placement.A", "between 0 and 1000000");
  expect_error(ring + "placement: {A: 1000001}\n", 10, "placement.A", "between 0 and 1000000");
  expect_error(ring + "placement: {A: one}\n", 10, "placement.A", "expected a whole number");
  expect_error("defaults: {threads: 0}\n" + ring, 1, "defaults.threads", "between 1 and 1024");
}

TEST(Validation, TooManyStages) {
  std::string yaml = "source: s0\nstages:\n";
  for (int i = 0; i <= 10000; ++i) yaml += "  - s" + std::to_string(i) + "\n";
  yaml += "edges: [s0 -> s1, s1 -> s0]\n";
  expect_error(yaml, 3, "stages", "has 10001 stages; the limit is 10000");
}

TEST(Validation, TooManyEdgesAfterExpansion) {
  // 400 x 400 = 160000 pairs from one line: refused before any memory is spent on them.
  std::string list;
  for (int i = 0; i < 400; ++i) list += (i ? ", s" : "s") + std::to_string(i);
  const std::string yaml = "source: s0\nstages: [" + list + "]\nedges:\n  - {from: [" + list +
                           "], to: [" + list + "]}\n";
  expect_error(yaml, 4, "edges[0]", "too many edges after expanding lists; the limit is 100000");
}

TEST(Validation, UnknownKernelAndSerialization) {
  expect_error("defaults: {kernel: gpu}\n" + ring, 1, "defaults.kernel",
               "unknown kernel 'gpu' (allowed: sleep, spin, compute)");
  // A stage's kernel that is not a built-in one names a function (stages.hpp), resolved when
  // the run starts, where "slep" gets its "did you mean 'sleep'?" (test_typed_mpi).
  const auto user = mpipe::parse_spec(
      "source: Main\nstages:\n  - {name: Main, kernel: slep}\n  - A\n  - B\n" + ring_edges, "t");
  EXPECT_EQ(user.stages[0].kernel, mpipe::kernel_kind::user);
  EXPECT_EQ(user.stages[0].function, "slep");
  expect_error(
      "source: Main\nstages:\n  - {name: Main, kernel: 'no such'}\n  - A\n  - B\n" + ring_edges, 3,
      "stages[0].kernel", "is neither a kernel (sleep, spin, compute, exec)");
  expect_error("defaults: {serialization: json}\n" + ring, 1, "defaults.serialization",
               "unknown serialization 'json' (allowed: boost, datatype, raw)");
  expect_error("source: Main\n" + ring_stages +
                   "edges:\n  - Main -> A\n  - {from: A, to: B, serialization: mpi}\n"
                   "  - B -> Main\n",
               8, "edges[1].serialization", "unknown serialization 'mpi'");
}

TEST(Validation, CycleNotThroughSourceListsItsStages) {
  expect_error(
      "source: Main\nstages: [Main, A, B, C, D]\nedges:\n"
      "  - Main -> A\n  - A -> B\n  - B -> C\n  - C -> D\n  - D -> Main\n  - D -> B\n",
      9, "edges", "cycle B -> C -> D -> B does not pass through source 'Main'");
  // Two stages feeding each other.
  expect_error(
      "source: Main\nstages: [Main, A, B]\nedges:\n"
      "  - Main -> A\n  - A -> B\n  - B -> A\n  - B -> Main\n",
      6, "edges", "cycle A -> B -> A");
}

TEST(Validation, ReturnEdgesAreNotCycles) {
  // Several stages returning to the source, and the source feeding several: all legal.
  const auto spec = parse_spec(
      "source: Main\nstages: [Main, A, B]\nedges:\n"
      "  - {from: Main, to: [A, B]}\n  - {from: [A, B], to: Main}\n  - A -> B\n",
      "t.yaml");
  EXPECT_EQ(spec.edges.size(), 5u);
}

TEST(Validation, Reachability) {
  expect_error(
      "source: Main\nstages: [Main, A, Lost]\nedges:\n  - Main -> A\n  - A -> Main\n"
      "  - Lost -> Main\n",
      2, "stages", "stage 'Lost' is unreachable from source 'Main'");
  expect_error(
      "source: Main\nstages:\n  - Main\n  - A\n  - Sink\nedges:\n  - Main -> A\n  - A -> Main\n"
      "  - A -> Sink\n",
      5, "stages", "stage 'Sink' has no path back to source 'Main'");
  expect_error("source: Main\nstages: [Main, A]\nedges: [A -> Main]\n", 1, "source",
               "source 'Main' has no outgoing edges");
  expect_error("source: Main\nstages: [Main, A]\nedges: [Main -> A]\n", 1, "source",
               "items would never complete");
}

// --- streams and farms: inflight, replicas, dispatch, ordered --------------------------------

TEST(Farm, DefaultsKeepTheSingleRequestMeaning) {
  const auto spec = parse_spec(ring, "t.yaml");
  EXPECT_EQ(spec.inflight, 1u);
  for (const auto& s : spec.stages) {
    EXPECT_EQ(s.replicas, 1);
    EXPECT_EQ(s.dispatch, mpipe::dispatch_kind::on_demand);
    EXPECT_FALSE(s.ordered);
  }
}

TEST(Farm, FieldsParse) {
  const auto spec = parse_spec(
      "source: Main\ninflight: 64\nstages:\n"
      "  - Main\n"
      "  - {name: A, work_ms: 10, replicas: 4}\n"
      "  - {name: B, replicas: 3, dispatch: round-robin}\n"
      "  - {name: C, ordered: true, dispatch: on-demand}\n"
      "edges: [Main -> A, Main -> B, A -> B, B -> C, C -> Main]\n",
      "t.yaml");
  EXPECT_EQ(spec.inflight, 64u);
  EXPECT_EQ(spec.stages[1].replicas, 4);
  EXPECT_EQ(spec.stages[1].dispatch, mpipe::dispatch_kind::on_demand);
  EXPECT_EQ(spec.stages[2].replicas, 3);
  EXPECT_EQ(spec.stages[2].dispatch, mpipe::dispatch_kind::round_robin);
  EXPECT_TRUE(spec.stages[3].ordered);
  EXPECT_FALSE(spec.stages[2].ordered);
  EXPECT_STREQ(mpipe::to_string(mpipe::dispatch_kind::on_demand), "on-demand");
  EXPECT_STREQ(mpipe::to_string(mpipe::dispatch_kind::round_robin), "round-robin");
}

TEST(Farm, LimitsAreInclusive) {
  const auto spec = parse_spec(
      "source: Main\ninflight: 1000000\nstages:\n  - Main\n  - {name: A, replicas: 256}\n"
      "edges: [Main -> A, A -> Main]\n",
      "t.yaml");
  EXPECT_EQ(spec.inflight, 1000000u);
  EXPECT_EQ(spec.stages[1].replicas, 256);
}

TEST(Farm, BadValues) {
  const auto stage = [](const std::string& fields) {
    return "source: Main\nstages:\n  - Main\n  - {name: A, " + fields + "}\n  - B\n" + ring_edges;
  };
  expect_error("inflight: 0\n" + ring, 1, "inflight", "at least 1 and at most 1000000");
  expect_error("inflight: 1000001\n" + ring, 1, "inflight", "got 1000001");
  expect_error("inflight: 2.5\n" + ring, 1, "inflight", "must be a whole number");
  expect_error("inflight: lots\n" + ring, 1, "inflight", "expected a whole number");
  expect_error(stage("replicas: 0"), 4, "stages[1].replicas", "between 1 and 256");
  expect_error(stage("replicas: 257"), 4, "stages[1].replicas", "between 1 and 256");
  expect_error(stage("replicas: 1.5"), 4, "stages[1].replicas", "must be a whole number");
  expect_error(stage("dispatch: round_robin"), 4, "stages[1].dispatch",
               "unknown dispatch 'round_robin' (allowed: on-demand, round-robin); did you mean "
               "'round-robin'?");
  expect_error(stage("dispatch: [on-demand]"), 4, "stages[1].dispatch", "got a list");
  expect_error(stage("ordered: maybe"), 4, "stages[1].ordered",
               "expected true or false, got 'maybe'");
  expect_error(stage("ordered: {}"), 4, "stages[1].ordered", "expected true or false, got a map");
  expect_error(stage("copies: 2"), 4, "stages[1].copies", "allowed: name, work_ms");
}

TEST(Farm, SourceCannotBeReplicatedOrOrdered) {
  expect_error(
      "source: Main\nstages:\n  - {name: Main,\n     replicas: 2}\n  - A\n  - B\n" + ring_edges, 4,
      "stages[0].replicas", "the source 'Main' cannot be replicated (replicas: 2)");
  expect_error(
      "source: Main\nstages:\n  - {name: Main, ordered: true}\n  - A\n  - B\n" + ring_edges, 3,
      "stages[0].ordered", "the source 'Main' cannot be 'ordered'");
  // One replica, ordered: false: the same as saying nothing.
  EXPECT_NO_THROW(parse_spec(
      "source: Main\nstages:\n  - {name: Main, replicas: 1, ordered: false}\n  - A\n  - B\n" +
          ring_edges,
      "t.yaml"));
}

TEST(Farm, ReplicatedJoinNeedsRoundRobin) {
  const std::string head = "source: Main\nstages:\n  - Main\n  - A\n  - B\n";
  const std::string edges = "edges: [Main -> A, Main -> B, {from: [A, B], to: J}, J -> Main]\n";
  // Blamed where it was made a farm (line 6), or where on-demand was asked for (line 7).
  expect_error(head + "  - {name: J,\n     replicas: 2}\n" + edges, 7, "stages[3].dispatch",
               "stage 'J' has 2 replicas and 2 input edges (from A, B), so it needs 'dispatch: "
               "round-robin': every producer must send an item's inputs to the same replica");
  expect_error(head + "  - {name: J, replicas: 2,\n     dispatch: on-demand}\n" + edges, 7,
               "stages[3].dispatch", "needs 'dispatch: round-robin'");
  const auto spec =
      parse_spec(head + "  - {name: J, replicas: 2, dispatch: round-robin}\n" + edges, "t.yaml");
  EXPECT_EQ(spec.stages[3].replicas, 2);
  // One input: on demand is fine, and a join with one replica needs nothing.
  EXPECT_NO_THROW(parse_spec(head + "  - J\n" + edges, "t.yaml"));
  EXPECT_NO_THROW(parse_spec(
      "source: Main\nstages: [Main, {name: A, replicas: 8}]\nedges: [Main -> A, A -> Main]\n",
      "t.yaml"));
}

TEST(Farm, OrderedStageCannotBeReplicated) {
  expect_error(
      "source: Main\nstages:\n  - Main\n  - {name: A, replicas: 2,\n     ordered: true}\n"
      "  - B\n" +
          ring_edges,
      5, "stages[1].ordered",
      "stage 'A' has 2 replicas and 'ordered: true': each replica sees only its share");
}

TEST(Farm, PlacementNamesReplicas) {
  const std::string farm =
      "source: Main\nstages: [Main, {name: A, replicas: 3}, B]\n"
      "edges: [Main -> A, A -> B, B -> Main]\n";
  const auto spec = parse_spec(farm + "placement: {A: 1, A#2: 2, 'A#01': 3, B: 1}\n", "t.yaml");
  EXPECT_EQ(spec.placement,
            (std::map<std::string, int>{{"A", 1}, {"A#2", 2}, {"A#1", 3}, {"B", 1}}));
  expect_error(farm + "placement: {A#3: 1}\n", 4, "placement.A#3",
               "stage 'A' has 3 replicas (A#0..A#2), so 'A#3' names none");
  expect_error(farm + "placement: {B#1: 1}\n", 4, "placement.B#1",
               "stage 'B' has 1 replica (B#0), so 'B#1' names none");
  expect_error(farm + "placement: {A#x: 1}\n", 4, "placement.A#x",
               "expected STAGE#REPLICA with a replica number (0-255) after '#'");
  expect_error(farm + "placement: {A#: 1}\n", 4, "placement.A#", "after '#'");
  expect_error(farm + "placement: {A#1: 1, 'A#001': 2}\n", 4, "placement.A#1",
               "'A#1' is placed twice");
  expect_error(farm + "placement: {Nope#1: 1}\n", 4, "placement", "unknown stage 'Nope'");
  expect_error(farm + "placement: {A#1: -1}\n", 4, "placement.A#1", "between 0 and 1000000");
}

// --replicas: the same rules as the spec, reported against the command line.
spec_error replicas_error(mpipe::pipeline_spec spec, const std::string& text) {
  try {
    mpipe::apply_replicas(spec, text);
  } catch (const spec_error& e) {
    EXPECT_EQ(e.file(), "<command line>") << e.what();
    EXPECT_EQ(e.line(), 0) << e.what();
    EXPECT_EQ(e.field(), "--replicas") << e.what();
    return e;
  }
  ADD_FAILURE() << "apply_replicas accepted '" << text << "'";
  return spec_error("", 0, "", "");
}

TEST(ApplyReplicas, SetsStages) {
  auto spec = mpipe::seed_spec();
  mpipe::apply_replicas(spec, " C3 = 3 ,A=2");
  EXPECT_EQ(spec.stages[static_cast<std::size_t>(spec.stage_index("C3"))].replicas, 3);
  EXPECT_EQ(spec.stages[static_cast<std::size_t>(spec.stage_index("A"))].replicas, 2);
  EXPECT_EQ(spec.stages[static_cast<std::size_t>(spec.stage_index("B"))].replicas, 1);
  mpipe::apply_replicas(spec, "C3=1");  // back to one
  EXPECT_EQ(spec.stages[static_cast<std::size_t>(spec.stage_index("C3"))].replicas, 1);
  mpipe::apply_replicas(spec, "");  // nothing asked
  mpipe::apply_replicas(spec, "B=256");
  EXPECT_EQ(spec.stages[static_cast<std::size_t>(spec.stage_index("B"))].replicas, 256);
  // D joins C1..C4: fine once the spec asks for round-robin.
  EXPECT_THROW(mpipe::apply_replicas(spec, "D=2"), spec_error);
}

TEST(ApplyReplicas, Errors) {
  const auto seed = mpipe::seed_spec();
  const auto has = [](const spec_error& e, const std::string& needle) {
    EXPECT_NE(e.message().find(needle), std::string::npos) << e.what();
  };
  has(replicas_error(seed, "C3"), "entry 'C3' has no '='");
  has(replicas_error(seed, "C3=2,"), "empty entry in 'C3=2,'; expected STAGE=REPLICAS");
  has(replicas_error(seed, "=2"), "has no stage name");
  has(replicas_error(seed, "C5=2"), "unknown stage 'C5' (stages: Main, A, B, C, C1");
  has(replicas_error(seed, "Mian=2"), "did you mean 'Main'?");
  has(replicas_error(seed, "C3=0"), "replicas of 'C3' must be a whole number between 1 and 256");
  has(replicas_error(seed, "C3=257"), "got '257'");
  has(replicas_error(seed, "C3=two"), "got 'two'");
  has(replicas_error(seed, "C3=1.5"), "got '1.5'");
  has(replicas_error(seed, "C3=-1"), "got '-1'");
  has(replicas_error(seed, "C3=2,C3=3"), "stage 'C3' is named twice");
  has(replicas_error(seed, "Main=2"), "the source 'Main' cannot be replicated");
  has(replicas_error(seed, "D=2"),
      "stage 'D' has 2 replicas and 4 input edges (from C1, C2, C3, C4), so it needs 'dispatch: "
      "round-robin'");
  has(replicas_error(seed, "D=2"), "(set it on stage 'D' in the spec)");
  const auto ordered = parse_spec(
      "source: Main\nstages: [Main, {name: A, ordered: true}]\nedges: [Main -> A, A -> Main]\n",
      "t.yaml");
  has(replicas_error(ordered, "A=2"), "'ordered: true'");
}

// --- named scenarios -------------------------------------------------------------------------

TEST(Scenarios, EveryShippedFileIsAScenarioAndParses) {
  std::vector<std::string> files;
  for (const auto& entry :
       std::filesystem::directory_iterator(data_dir + "/../../jobs/pipelines")) {
    if (entry.path().extension() == ".yaml") files.push_back(entry.path().stem().string());
  }
  std::sort(files.begin(), files.end());
  std::vector<std::string> names;
  for (const auto& s : mpipe::scenarios()) {
    names.push_back(s.name);
    EXPECT_EQ(s.file, "jobs/pipelines/" + s.name + ".yaml");
    EXPECT_FALSE(s.summary.empty());
    // Embedded byte for byte, and the file itself parses to the same pipeline.
    const std::string path = data_dir + "/../../" + s.file;
    EXPECT_EQ(s.text, read_file(path)) << s.name;
    const auto built_in = mpipe::scenario_spec(s.name);
    const auto loaded = mpipe::load_spec(path);
    EXPECT_EQ(built_in.name, s.name);
    EXPECT_EQ(built_in.file, "<scenario " + s.name + ">");
    EXPECT_EQ(built_in.text, loaded.text);
    EXPECT_EQ(built_in.stages.size(), loaded.stages.size());
    EXPECT_EQ(built_in.items, loaded.items);
    EXPECT_EQ(built_in.inflight, loaded.inflight);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"seed", "render-farm", "api-calls"}));
  std::sort(names.begin(), names.end());
  EXPECT_EQ(files, names) << "a file in jobs/pipelines/ is not listed in scenarios()";
  EXPECT_EQ(mpipe::scenarios().front().text, mpipe::seed_spec_text());
}

TEST(Scenarios, HaveTheArticlesNumbers) {
  const auto farm = mpipe::scenario_spec("render-farm");
  EXPECT_EQ(farm.items, 1000u);
  EXPECT_EQ(farm.inflight, 64u);
  const auto& render = farm.stages[static_cast<std::size_t>(farm.stage_index("Render"))];
  EXPECT_EQ(render.work_ms, 10000.0);
  EXPECT_EQ(render.kernel, kernel_kind::compute);
  EXPECT_EQ(render.replicas, 1);
  EXPECT_EQ(render.payload_bytes, 65536u);
  const auto api = mpipe::scenario_spec("api-calls");
  EXPECT_EQ(api.items, 100u);
  EXPECT_EQ(api.inflight, 10u);
  const auto& call = api.stages[static_cast<std::size_t>(api.stage_index("Call"))];
  EXPECT_EQ(call.work_ms, 50.0);
  EXPECT_EQ(call.kernel, kernel_kind::sleep);
  EXPECT_EQ(call.replicas, 10);
}

TEST(Scenarios, UnknownNameListsTheKnownOnes) {
  try {
    mpipe::scenario_spec("render");
    ADD_FAILURE() << "accepted 'render'";
  } catch (const spec_error& e) {
    EXPECT_EQ(e.field(), "--scenario");
    EXPECT_NE(e.message().find("unknown scenario 'render' (known: seed, render-farm, api-calls"),
              std::string::npos)
        << e.what();
  }
}

// Every file in tests/data/bad must fail with a message matching its "# expect:" line, exactly as
// `mpipe run --spec FILE` on one rank would see it (parse, then resolve the placement).
TEST(BadCorpus, EveryFileFailsWithItsExpectedMessage) {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(data_dir + "/bad")) {
    if (entry.path().extension() != ".yaml") continue;
    ++count;
    const std::string path = entry.path().string();
    const std::string text = read_file(path);
    const std::string prefix = "# expect: ";
    ASSERT_EQ(text.rfind(prefix, 0), 0u) << path << " lacks a '# expect:' first line";
    const std::string pattern = text.substr(prefix.size(), text.find('\n') - prefix.size());
    const std::regex expect(pattern, std::regex::extended);
    try {
      const auto spec = mpipe::load_spec(path);
      mpipe::resolve_placement(spec, "", 1);
      ADD_FAILURE() << path << " was accepted";
    } catch (const spec_error& e) {
      EXPECT_EQ(e.file(), path);
      EXPECT_TRUE(std::regex_search(e.what(), expect))
          << path << "\n  message: " << e.what() << "\n  expected: " << pattern;
    }
  }
  EXPECT_GE(count, 40);
}

}  // namespace
