// Measured stage times into the model (stage_times.hpp): the mean per stage leaving out item 0,
// work_ms set by name (compute times its threads), the names a run lacks, and reading a run back
// from a results file -- the newest pipeline run, a named one, and the errors naming file and run.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "mpipe/error.hpp"
#include "mpipe/hdf5_output.hpp"
#include "mpipe/records.hpp"
#include "mpipe/spec.hpp"
#include "mpipe/stage_times.hpp"

namespace fs = std::filesystem;
using namespace mpipe;

namespace {

stage_row stage(std::int32_t id, const std::string& name, const std::string& kernel = "spin") {
  stage_row s;
  s.id = id;
  s.name = name;
  s.kernel = kernel;
  return s;
}

event_row event(std::uint64_t item, std::int32_t stage, double ms, std::int32_t replica = 0) {
  event_row e;
  e.item = item;
  e.stage = stage;
  e.replica = replica;
  e.started_ns = 1'000'000'000 + static_cast<std::int64_t>(item) * 100'000'000;
  e.finished_ns = e.started_ns + static_cast<std::int64_t>(ms * 1e6);
  return e;
}

// Main -> Blur -> Edges -> Main, 4 items; item 0 of Blur pays a 50 ms start-up.
run_record sample_run() {
  run_record r;
  r.stages = {stage(0, "Main", "sleep"), stage(1, "Blur", "blur"), stage(2, "Edges", "exec")};
  const double blur[] = {50.0, 9.0, 10.0, 11.0};
  for (std::uint64_t i = 0; i < 4; ++i) {
    r.events.push_back(event(i, 0, 0.01));
    r.events.push_back(event(i, 1, blur[i]));
    r.events.push_back(event(i, 2, 1.0));
  }
  return r;
}

const char* spec_text = R"(
name: times
source: Main
items: 4
stages:
  - {name: Main, kernel: sleep, work_ms: 0}
  - {name: Blur, kernel: spin, work_ms: 0}
  - {name: Edges, kernel: compute, work_ms: 0, threads: 2}
  - {name: Save, kernel: sleep, work_ms: 3}
edges:
  - Main -> Blur
  - Blur -> Edges
  - Edges -> Save
  - Save -> Main
)";

}  // namespace

TEST(StageTimes, MeanLeavesOutItemZeroWhenMoreThanTwoItems) {
  const auto t = measured_stage_ms(sample_run());
  ASSERT_EQ(t.size(), 3U);
  EXPECT_NEAR(t.at("Blur"), 10.0, 1e-9);  // (9 + 10 + 11) / 3, the 50 ms start-up left out
  EXPECT_NEAR(t.at("Edges"), 1.0, 1e-9);
  EXPECT_NEAR(t.at("Main"), 0.01, 1e-9);
}

TEST(StageTimes, TwoItemsKeepItemZero) {
  run_record r;
  r.stages = {stage(0, "A")};
  r.events = {event(0, 0, 30.0), event(1, 0, 10.0)};
  EXPECT_NEAR(measured_stage_ms(r).at("A"), 20.0, 1e-9);
}

TEST(StageTimes, ReplicasPoolTheirRows) {
  run_record r;
  r.stages = {stage(0, "A")};
  for (std::uint64_t i = 0; i < 5; ++i) r.events.push_back(event(i, 0, i % 2 ? 4.0 : 8.0, i % 2));
  // Items 1..4: 4, 8, 4, 8.
  EXPECT_NEAR(measured_stage_ms(r).at("A"), 6.0, 1e-9);
}

TEST(StageTimes, StagesWithoutRowsOrNamesAreAbsent) {
  run_record r;
  r.stages = {stage(0, "A"), stage(1, "B")};
  r.events = {event(0, 0, 1.0), event(0, 7, 1.0)};  // stage 7 is not in the run's stages
  const auto t = measured_stage_ms(r);
  EXPECT_EQ(t.size(), 1U);
  EXPECT_EQ(t.count("B"), 0U);
}

TEST(StageTimes, ApplySetsWorkByNameAndListsTheMissing) {
  auto spec = parse_spec(spec_text, "times.yaml");
  const auto missing = apply_stage_times(spec, measured_stage_ms(sample_run()));
  EXPECT_EQ(missing, std::vector<std::string>{"Save"});
  EXPECT_NEAR(spec.stages[static_cast<std::size_t>(spec.stage_index("Blur"))].work_ms, 10.0, 1e-9);
  // compute: the model divides work_ms by threads, so the measured wall time is doubled.
  EXPECT_NEAR(spec.stages[static_cast<std::size_t>(spec.stage_index("Edges"))].work_ms, 2.0, 1e-9);
  EXPECT_DOUBLE_EQ(spec.stages[static_cast<std::size_t>(spec.stage_index("Save"))].work_ms, 3.0);
}

class StageTimesFile : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("mpipe_test_stage_times_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string file() const { return (dir_ / "results.h5").string(); }
  fs::path dir_;
};

TEST_F(StageTimesFile, NewestPipelineRunOrANamedOne) {
  auto older = sample_run();
  for (auto& e : older.events)
    if (e.stage == 2) e.finished_ns = e.started_ns + 5'000'000;  // Edges 5 ms
  const std::string first = append_run(file(), older);
  const std::string second = append_run(file(), sample_run());
  run_record bench;
  bench.set("kind", std::string("bench"));
  append_run(file(), bench);  // the newest run, but not a pipeline run

  const auto newest = load_stage_times(file());
  EXPECT_EQ(newest.run_id, second);
  EXPECT_EQ(newest.file, file());
  EXPECT_EQ(newest.items, 4U);
  EXPECT_TRUE(newest.first_item_left_out);
  EXPECT_NEAR(newest.ms.at("Edges"), 1.0, 1e-9);
  EXPECT_EQ(newest.order, (std::vector<std::string>{"Main", "Blur", "Edges"}));
  EXPECT_EQ(describe(newest), "stage times from " + file() + " run " + second +
                                  " (4 items, item 0 left out, mean): Main 0.010 ms, Blur 10.0 "
                                  "ms, Edges 1.00 ms");

  const auto named = load_stage_times(file() + ":" + first);
  EXPECT_EQ(named.run_id, first);
  EXPECT_NEAR(named.ms.at("Edges"), 5.0, 1e-9);
}

TEST_F(StageTimesFile, ErrorsNameFileAndRun) {
  const auto message = [](const std::string& arg) {
    try {
      load_stage_times(arg);
    } catch (const io_error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message(file()).find(file() + ": cannot read stage times: no such file"),
            std::string::npos);
  run_record empty;  // a pipeline run without event rows
  const std::string id = append_run(file(), empty);
  EXPECT_NE(message(file()).find(file() + " run " + id +
                                 ": cannot read stage times: the run has "
                                 "no event rows"),
            std::string::npos);
  EXPECT_NE(message(file() + ":20991231T000000.000Z")
                .find(file() + ": cannot read stage times: no run '20991231T000000.000Z'"),
            std::string::npos);
  run_record bench;
  bench.set("kind", std::string("bench"));
  const std::string bench_id = append_run(file(), bench);
  EXPECT_NE(message(file() + ":" + bench_id).find("a 'bench' run, not a pipeline run"),
            std::string::npos);
  const std::string only_bench = (dir_ / "bench.h5").string();
  append_run(only_bench, bench);
  EXPECT_NE(message(only_bench).find("no pipeline run among its 1 run(s)"), std::string::npos);
}
