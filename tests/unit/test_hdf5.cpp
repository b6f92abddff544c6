// Results files: round trip of every column and attribute type, the append-only promise (earlier
// runs stay identical, failures leave the file as it was, nothing left behind), refusal of files
// that are not mpipe's, and appends racing from several processes and threads.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <hdf5.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "../../src/io/h5.hpp"
#include "mpipe/error.hpp"
#include "mpipe/hdf5_output.hpp"
#include "mpipe/records.hpp"

namespace fs = std::filesystem;
using namespace mpipe;

namespace {

// Members as tuples, so rows compare (and print) field by field without adding operators to
// mpipe's own types.
auto fields(const event_row& r) {
  return std::tie(r.item, r.stage, r.replica, r.rank, r.received_ns, r.started_ns, r.finished_ns,
                  r.sent_ns);
}
auto fields(const message_row& r) {
  return std::tie(r.item, r.edge, r.src_rank, r.dst_rank, r.bytes, r.send_start_ns, r.serialize_ns,
                  r.posted_ns, r.received_ns, r.deserialize_ns, r.transfer_ns, r.clock_error_ns,
                  r.below_clock_error, r.src_replica, r.dst_replica, r.available_ns,
                  r.credit_wait_ns);
}
auto fields(const handoff_row& r) {
  return std::tie(r.item, r.edge, r.rank, r.src_replica, r.dst_replica, r.available_ns,
                  r.credit_wait_ns);
}
auto fields(const edge_instance_row& r) {
  return std::tie(r.edge, r.src_replica, r.dst_replica, r.from_rank, r.to_rank, r.tier, r.transport,
                  r.items);
}
auto fields(const item_row& r) {
  return std::tie(r.item, r.emitted_ns, r.completed_ns, r.latency_ns);
}
auto fields(const rank_row& r) {
  return std::tie(r.rank, r.host, r.pid, r.omp_max_threads, r.hardware_threads, r.usable_cores,
                  r.cpus, r.omp_places, r.clock_offset_ns, r.clock_offset_end_ns, r.clock_drift_ppm,
                  r.clock_error_ns, r.clock_rtt_ns, r.stages);
}
auto fields(const stage_row& r) {
  return std::tie(r.id, r.name, r.kernel, r.work_ms, r.threads, r.payload_bytes, r.rank, r.replicas,
                  r.dispatch, r.ordered, r.ranks, r.function);
  // pipe_us (NaN when not exec) is checked apart: NaN != NaN.
}
auto fields(const edge_row& r) {
  return std::tie(r.id, r.from, r.to, r.from_name, r.to_name, r.from_rank, r.to_rank, r.tier,
                  r.transport, r.serialization, r.payload_bytes, r.tier_split, r.data_type);
}
// NaN marks "does not apply" in bench rows and must survive the trip; NaN != NaN, so compare
// doubles by their bits.
auto fields(const bench_row& r) {
  const auto bits = [](double v) { return std::bit_cast<std::uint64_t>(v); };
  return std::make_tuple(r.tier, r.method, r.size_bytes, r.reps, bits(r.latency_us),
                         bits(r.latency_p95_us), bits(r.bandwidth_mb_s), bits(r.latency_ratio),
                         bits(r.bandwidth_ratio), bits(r.serialize_us), bits(r.deserialize_us));
}

auto fields(const calibration_row& r) {
  const auto bits = [](double v) { return std::bit_cast<std::uint64_t>(v); };
  return std::make_tuple(r.tier, r.method, r.points, bits(r.alpha_us), bits(r.ns_per_byte),
                         bits(r.bandwidth_mb_s), bits(r.r2), bits(r.serialize_us),
                         bits(r.serialize_ns_per_byte), bits(r.deserialize_us),
                         bits(r.deserialize_ns_per_byte));
}

template <class Row>
void expect_rows(const std::vector<Row>& expected, const std::vector<Row>& actual,
                 const char* table) {
  ASSERT_EQ(expected.size(), actual.size()) << table;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(fields(expected[i]), fields(actual[i])) << table << " row " << i;
  }
}

void expect_same(const run_record& expected, const run_record& actual) {
  EXPECT_EQ(expected.run_id, actual.run_id);
  EXPECT_EQ(expected.attributes, actual.attributes);
  expect_rows(expected.events, actual.events, "events");
  expect_rows(expected.messages, actual.messages, "messages");
  expect_rows(expected.items, actual.items, "items");
  expect_rows(expected.ranks, actual.ranks, "ranks");
  expect_rows(expected.stages, actual.stages, "stages");
  expect_rows(expected.edges, actual.edges, "edges");
  expect_rows(expected.edge_instances, actual.edge_instances, "edge_instances");
  expect_rows(expected.handoffs, actual.handoffs, "handoffs");
  expect_rows(expected.bench, actual.bench, "bench");
  expect_rows(expected.calibration, actual.calibration, "calibration");
}

constexpr auto i64_min = std::numeric_limits<std::int64_t>::min();
constexpr auto i64_max = std::numeric_limits<std::int64_t>::max();
constexpr auto i32_min = std::numeric_limits<std::int32_t>::min();
constexpr auto i32_max = std::numeric_limits<std::int32_t>::max();
constexpr auto u64_max = std::numeric_limits<std::uint64_t>::max();

// A record exercising every column with extreme and unicode values.
run_record full_record(const std::string& utc_start = "2026-11-24T01:35:12.123456Z") {
  run_record run;
  std::string spec_text;
  for (int i = 0; i < 5000; ++i)
    spec_text += "stage_" + std::to_string(i) + ": {kernel: sleep} # ✓\n";
  run.set("utc_start", utc_start);
  run.set("spec_name", std::string("diamond — Ünïcødé 名前"));
  run.set("spec_text", spec_text);  // far past the 64 KiB of a compact attribute
  run.set("empty", std::string());
  run.set("world_size", std::int64_t{4});
  run.set("min", i64_min);
  run.set("max", i64_max);
  run.set("time_scale", 0.1);
  run.set("tiny", 5e-324);
  run.set("negative_zero", -0.0);
  run.set("complete", true);
  run.set("partial", false);
  run.set("ключ", std::string("значение"));

  run.events = {{0, 0, 0, 0, 0, 0, 0, 0},
                {1, 3, 1, 2, 10, 20, 30, 40},
                {u64_max, i32_max, i32_min, i32_min, i64_min, -1, i64_max, 7}};
  run.messages = {{0, 1, 0, 1, 4096, 100, 5, 105, 300, 7, 195, 40, 0, 1, 2, 310, 3},
                  {u64_max, i32_min, i32_max, -1, u64_max, i64_min, i64_max, -5, 0, 1, -2, i64_max,
                   1, i32_min, i32_max, i64_min, i64_max}};
  run.items = {{0, 10, 1000, 990}, {u64_max, i64_min, i64_max, -1}};
  run.ranks = {
      {0, "nœud-01.example.org", 4242, 8, 16, 2, "0,2-3", 0, 0, 0, 0.0, 0, 0, "Main,X"},
      {1, "", i64_max, 1, 2, i32_max, "", i32_min, -123456789, i64_min, -0.25, 17, 987654321, ""}};
  run.stages = {{0, "Main", "source", 0.0, 1, 0, 0, 1, "on-demand", 0, "0", ""},
                {1, "X — 変換", "user", 12.5, 4, u64_max, 1, 3, "round-robin", 1, "1,2,3",
                 "blur (Image -> 変換)"},
                {2, "", "", -1e300, i32_max, 1, i32_min, i32_max, "", i32_min, "", ""}};
  run.edges = {{0, 0, 1, "Main", "X — 変換", 0, 1, "mixed", "mixed", "boost", 1024,
                "same-rank 10 items, same-host 10 items", "bytes"},
               {1, 1, 0, "X — 変換", "Main", 1, 0, "cross-host", "ob1/tcp", "", u64_max, "",
                "std::map<std::string, int>"},
               {2, i32_min, i32_max, "", "", -1, -2, "same-rank", "", "raw", 0, "変換", ""}};
  run.edge_instances = {{0, 0, 0, 0, 0, "same-rank", "in-memory", 10},
                        {0, 0, 1, 0, 1, "same-host", "ob1/vader", u64_max},
                        {i32_max, i32_min, i32_max, -1, -2, "", "", 0}};
  run.handoffs = {{0, 0, 0, 0, 0, 12345, 0},
                  {u64_max, i32_min, i32_max, i32_min, i32_max, i64_min, i64_max}};
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  constexpr double inf = std::numeric_limits<double>::infinity();
  run.bench = {{"same-rank", "in-memory", 0, 10000, 0.25, 0.5, 0.0, nan, nan, nan, nan},
               {"same-host", "boost", 1048576, 10, 480.5, 520.25, 2190.5, 5.5, 0.03, 3458.7, 38.0},
               {"cross-host — ü", "", u64_max, i32_min, -0.0, 5e-324, inf, -inf, 1e300, -1.0, 0.0}};
  run.calibration = {
      {"same-host", "raw-mpi", 8, 0.46, 0.08, 12500.0, 0.99, nan, nan, nan, nan},
      {"cross-host — ü", "", i32_min, -0.0, 5e-324, inf, -inf, 1e300, -1.0, 0.0, nan}};
  return run;
}

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::set<std::string> names_in(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.insert(entry.path().filename());
  return names;
}

class Hdf5Output : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("mpipe_test_hdf5_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(dir_, ec);
  }
  std::string file(const std::string& name = "results.h5") const { return (dir_ / name).string(); }

  fs::path dir_;
};

// --- round trip --------------------------------------------------------------------------------

TEST_F(Hdf5Output, RoundTripsEveryColumnAndAttributeType) {
  run_record expected = full_record();
  const std::string id = append_run(file(), expected);
  EXPECT_EQ(id, "20261124T013512.123Z");
  expected.run_id = id;
  expected.set("run_id", id);
  expect_same(expected, read_run(file(), id));
}

// Finding a run by its attributes must not read every run's rows.
TEST_F(Hdf5Output, AttributesOnlyReadSkipsTheRows) {
  const run_record full = full_record();
  const std::string id = append_run(file(), full);
  const run_record head = read_run(file(), id, run_part::attributes);
  EXPECT_EQ(head.run_id, id);
  EXPECT_EQ(head.attributes, read_run(file(), id).attributes);
  EXPECT_TRUE(head.events.empty() && head.messages.empty() && head.items.empty() &&
              head.ranks.empty() && head.stages.empty() && head.edges.empty() &&
              head.bench.empty() && head.calibration.empty());
  ASSERT_FALSE(full.events.empty());
}

TEST_F(Hdf5Output, EmptyRunRoundTripsWithEveryDatasetPresent) {
  run_record expected;
  const std::string id = append_run(file(), expected);
  expected.run_id = id;
  expected.set("run_id", id);
  expect_same(expected, read_run(file(), id));

  const h5::quiet_errors quiet;
  h5::handle f(H5Fopen(file().c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "open");
  for (const char* name :
       {"events", "messages", "items", "ranks", "stages", "edges", "bench", "calibration"}) {
    const std::string path = "/runs/" + id + "/" + name;
    const h5::handle dataset(H5Dopen2(f, path.c_str(), H5P_DEFAULT), path);
    const h5::handle space(H5Dget_space(dataset), "space");
    EXPECT_EQ(H5Sget_simple_extent_ndims(space), 1) << name;
    EXPECT_EQ(H5Sget_simple_extent_npoints(space), 0) << name;
  }
}

// Files written before `mpipe bench` existed have run groups without a bench dataset.
TEST_F(Hdf5Output, RunWithoutABenchDatasetReadsWithNoBenchRows) {
  run_record expected = full_record();
  const std::string id = append_run(file(), expected);
  {
    const h5::quiet_errors quiet;
    h5::handle f(H5Fopen(file().c_str(), H5F_ACC_RDWR, H5P_DEFAULT), "open");
    ASSERT_GE(H5Ldelete(f, ("/runs/" + id + "/bench").c_str(), H5P_DEFAULT), 0);
    h5::close_file(f, "close");
  }
  expected.run_id = id;
  expected.set("run_id", id);
  expected.bench.clear();
  expect_same(expected, read_run(file(), id));
}

TEST_F(Hdf5Output, RunIdAttributeReplacesAPlaceholder) {
  run_record run;
  run.set("run_id", std::string("placeholder"));
  run.set("complete", true);
  const std::string id = append_run(file(), run);
  const run_record back = read_run(file(), id);
  ASSERT_EQ(back.attributes.size(), 2u);
  EXPECT_EQ(back.attributes[0], (attribute{"run_id", id}));
  EXPECT_EQ(back.attributes[1], (attribute{"complete", true}));
}

// --- layout as h5py sees it -----------------------------------------------------------------

std::vector<std::string> member_names(hid_t compound) {
  std::vector<std::string> names;
  for (int i = 0; i < H5Tget_nmembers(compound); ++i) {
    char* name = H5Tget_member_name(compound, static_cast<unsigned>(i));
    names.emplace_back(name);
    H5free_memory(name);
  }
  return names;
}

bool is_utf8_vlen_string(hid_t type) {
  return H5Tget_class(type) == H5T_STRING && H5Tis_variable_str(type) > 0 &&
         H5Tget_cset(type) == H5T_CSET_UTF8;
}

TEST_F(Hdf5Output, LayoutUsesTheDocumentedTypes) {
  const std::string id = append_run(file(), full_record());
  const h5::quiet_errors quiet;
  h5::handle f(H5Fopen(file().c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "open");

  {
    const h5::handle attr(H5Aopen(f, "mpipe_schema_version", H5P_DEFAULT), "version");
    const h5::handle type(H5Aget_type(attr), "type");
    EXPECT_EQ(H5Tequal(type, H5T_STD_I64LE), 1);
    std::int64_t version = 0;
    ASSERT_GE(H5Aread(attr, H5T_NATIVE_INT64, &version), 0);
    EXPECT_EQ(version, 1);
  }

  const h5::handle group(H5Gopen2(f, ("/runs/" + id).c_str(), H5P_DEFAULT), "group");
  const auto attr_type = [&](const char* name) {
    const h5::handle attr(H5Aopen(group, name, H5P_DEFAULT), name);
    const h5::handle space(H5Aget_space(attr), "space");
    EXPECT_EQ(H5Sget_simple_extent_type(space), H5S_SCALAR) << name;
    return h5::handle(H5Aget_type(attr), "type");
  };
  EXPECT_TRUE(is_utf8_vlen_string(attr_type("spec_name")));
  EXPECT_TRUE(is_utf8_vlen_string(attr_type("run_id")));
  EXPECT_EQ(H5Tequal(attr_type("world_size"), H5T_STD_I64LE), 1);
  EXPECT_EQ(H5Tequal(attr_type("time_scale"), H5T_IEEE_F64LE), 1);
  {
    const h5::handle type = attr_type("complete");
    ASSERT_EQ(H5Tget_class(type), H5T_ENUM);
    const h5::handle base(H5Tget_super(type), "super");
    EXPECT_EQ(H5Tequal(base, H5T_NATIVE_INT8), 1);
    ASSERT_EQ(H5Tget_nmembers(type), 2);
    EXPECT_EQ(member_names(type), (std::vector<std::string>{"FALSE", "TRUE"}));
    signed char values[2] = {-1, -1};
    H5Tget_member_value(type, 0, &values[0]);
    H5Tget_member_value(type, 1, &values[1]);
    EXPECT_EQ(values[0], 0);
    EXPECT_EQ(values[1], 1);
  }

  const std::vector<std::pair<const char*, std::vector<std::string>>> tables = {
      {"events",
       {"item", "stage", "replica", "rank", "received_ns", "started_ns", "finished_ns", "sent_ns"}},
      {"messages",
       {"item", "edge", "src_rank", "dst_rank", "bytes", "send_start_ns", "serialize_ns",
        "posted_ns", "received_ns", "deserialize_ns", "transfer_ns", "clock_error_ns",
        "below_clock_error", "src_replica", "dst_replica", "available_ns", "credit_wait_ns"}},
      {"handoffs",
       {"item", "edge", "rank", "src_replica", "dst_replica", "available_ns", "credit_wait_ns"}},
      {"items", {"item", "emitted_ns", "completed_ns", "latency_ns"}},
      {"ranks",
       {"rank", "host", "pid", "omp_max_threads", "hardware_threads", "usable_cores", "cpus",
        "omp_places", "clock_offset_ns", "clock_offset_end_ns", "clock_drift_ppm", "clock_error_ns",
        "clock_rtt_ns", "stages"}},
      {"stages",
       {"id", "name", "kernel", "work_ms", "threads", "payload_bytes", "rank", "replicas",
        "dispatch", "ordered", "ranks", "function", "pipe_us"}},
      {"edges",
       {"id", "from", "to", "from_name", "to_name", "from_rank", "to_rank", "tier", "transport",
        "serialization", "payload_bytes", "tier_split", "data_type"}},
      {"edge_instances",
       {"edge", "src_replica", "dst_replica", "from_rank", "to_rank", "tier", "transport",
        "items"}},
      {"bench",
       {"tier", "method", "size_bytes", "reps", "latency_us", "latency_p95_us", "bandwidth_mb_s",
        "latency_ratio", "bandwidth_ratio", "serialize_us", "deserialize_us"}},
      {"calibration",
       {"tier", "method", "points", "alpha_us", "ns_per_byte", "bandwidth_mb_s", "r2",
        "serialize_us", "serialize_ns_per_byte", "deserialize_us", "deserialize_ns_per_byte"}},
  };
  for (const auto& [name, columns] : tables) {
    const h5::handle dataset(H5Dopen2(group, name, H5P_DEFAULT), name);
    const h5::handle type(H5Dget_type(dataset), "type");
    ASSERT_EQ(H5Tget_class(type), H5T_COMPOUND) << name;
    EXPECT_EQ(member_names(type), columns) << name;
    for (int i = 0; i < H5Tget_nmembers(type); ++i) {
      const h5::handle member(H5Tget_member_type(type, static_cast<unsigned>(i)), "member");
      if (H5Tget_class(member) == H5T_STRING) {
        EXPECT_TRUE(is_utf8_vlen_string(member)) << name << "." << columns[i];
      }
    }
  }
  const h5::handle stages(H5Dopen2(group, "stages", H5P_DEFAULT), "stages");
  const h5::handle stage_type(H5Dget_type(stages), "type");
  const auto member_type = [&](hid_t compound, const char* column) {
    return h5::handle(
        H5Tget_member_type(compound, static_cast<unsigned>(H5Tget_member_index(compound, column))),
        column);
  };
  EXPECT_EQ(H5Tequal(member_type(stage_type, "id"), H5T_STD_I32LE), 1);
  EXPECT_EQ(H5Tequal(member_type(stage_type, "work_ms"), H5T_IEEE_F64LE), 1);
  EXPECT_EQ(H5Tequal(member_type(stage_type, "payload_bytes"), H5T_STD_U64LE), 1);
  const h5::handle ranks(H5Dopen2(group, "ranks", H5P_DEFAULT), "ranks");
  const h5::handle rank_type(H5Dget_type(ranks), "type");
  EXPECT_EQ(H5Tequal(member_type(rank_type, "pid"), H5T_STD_I64LE), 1);
  const h5::handle bench(H5Dopen2(group, "bench", H5P_DEFAULT), "bench");
  const h5::handle bench_type(H5Dget_type(bench), "type");
  EXPECT_EQ(H5Tequal(member_type(bench_type, "size_bytes"), H5T_STD_U64LE), 1);
  EXPECT_EQ(H5Tequal(member_type(bench_type, "reps"), H5T_STD_I32LE), 1);
  EXPECT_EQ(H5Tequal(member_type(bench_type, "latency_us"), H5T_IEEE_F64LE), 1);
}

// --- appending -----------------------------------------------------------------------------

TEST_F(Hdf5Output, AppendingKeepsEarlierRunsIdentical) {
  std::vector<run_record> written;
  for (int i = 0; i < 3; ++i) {
    run_record run = full_record("2026-11-24T01:35:1" + std::to_string(i) + ".5Z");
    run.events[1].item = static_cast<std::uint64_t>(i);
    run.run_id = append_run(file(), run);
    run.set("run_id", run.run_id);
    written.push_back(run);
    for (const auto& earlier : written) expect_same(earlier, read_run(file(), earlier.run_id));
  }
  EXPECT_EQ(list_runs(file()),
            (std::vector<std::string>{"20261124T013510.500Z", "20261124T013511.500Z",
                                      "20261124T013512.500Z"}));
  EXPECT_EQ(names_in(dir_), (std::set<std::string>{"results.h5"}));
}

TEST_F(Hdf5Output, AppendKeepsTheFilesPermissions) {
  append_run(file(), run_record{});
  const auto shared = fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                      fs::perms::group_write | fs::perms::others_read;
  fs::permissions(file(), shared);
  append_run(file(), run_record{});
  EXPECT_EQ(fs::status(file()).permissions(), shared);
}

TEST_F(Hdf5Output, ClashingIdsGetNumericSuffixesAndSortNumerically) {
  run_record run;
  run.set("utc_start", std::string("2026-01-02T03:04:05Z"));
  std::vector<std::string> ids;
  for (int i = 0; i < 11; ++i) ids.push_back(append_run(file(), run));
  EXPECT_EQ(ids[0], "20260102T030405.000Z");
  EXPECT_EQ(ids[1], "20260102T030405.000Z-2");
  EXPECT_EQ(ids[2], "20260102T030405.000Z-3");
  EXPECT_EQ(ids[10], "20260102T030405.000Z-11");
  EXPECT_EQ(list_runs(file()), ids);
  const run_record back = read_run(file(), ids[2]);
  EXPECT_EQ(back.run_id, ids[2]);
  ASSERT_NE(back.get("run_id"), nullptr);
  EXPECT_EQ(*back.get("run_id"), attribute_value(ids[2]));
}

TEST_F(Hdf5Output, RunIdWithoutUsableUtcStartIsTheCurrentTime) {
  const std::regex shape(R"(\d{8}T\d{6}\.\d{3}Z)");
  run_record run;
  EXPECT_TRUE(std::regex_match(append_run(file(), run), shape));
  run.set("utc_start", std::string("yesterday"));
  EXPECT_TRUE(std::regex_match(append_run(file(), run), shape));
  run.set("utc_start", std::int64_t{5});
  EXPECT_TRUE(std::regex_match(append_run(file(), run), shape));
  run.set("utc_start", std::string("2026-11-24T01:35:12.1Z"));
  EXPECT_EQ(append_run(file(), run), "20261124T013512.100Z");
}

TEST_F(Hdf5Output, CreatesParentDirectories) {
  const std::string nested = (dir_ / "a" / "b" / "results.h5").string();
  const std::string id = append_run(nested, run_record{});
  EXPECT_EQ(list_runs(nested), std::vector<std::string>{id});
}

TEST_F(Hdf5Output, FailedAppendLeavesTheFileAsItWas) {
  append_run(file(), full_record());
  const std::string before = read_bytes(file());
  run_record bad = full_record();
  bad.attributes.emplace_back("complete", false);  // a duplicate name: HDF5 refuses it
  try {
    append_run(file(), bad);
    FAIL() << "expected io_error";
  } catch (const io_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(file()), std::string::npos) << what;
    EXPECT_NE(what.find("complete"), std::string::npos) << what;
    EXPECT_NE(what.find("HDF5: H5Acreate2()"), std::string::npos) << what;
  }
  EXPECT_EQ(read_bytes(file()), before);
  EXPECT_EQ(names_in(dir_), (std::set<std::string>{"results.h5"}));
  EXPECT_EQ(list_runs(file()).size(), 1u);
}

// --- refusing files that are not mpipe's ---------------------------------------------------

void expect_refused(const std::string& path, const std::string& reason) {
  const std::string before = read_bytes(path);
  try {
    append_run(path, full_record());
    ADD_FAILURE() << "append_run accepted " << path;
  } catch (const io_error& e) {
    EXPECT_NE(std::string(e.what()).find(reason), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  try {
    check_writable(path);
    ADD_FAILURE() << "check_writable accepted " << path;
  } catch (const io_error& e) {
    EXPECT_NE(std::string(e.what()).find(reason), std::string::npos) << e.what();
  }
  EXPECT_THROW(list_runs(path), io_error);
  EXPECT_EQ(read_bytes(path), before);
}

TEST_F(Hdf5Output, RefusesAPlainTextFile) {
  write_bytes(file(), "not hdf5 at all\n");
  expect_refused(file(), "not an HDF5 file");
  write_bytes(file(), "");
  expect_refused(file(), "not an HDF5 file");
  EXPECT_EQ(names_in(dir_), (std::set<std::string>{"results.h5"}));
}

TEST_F(Hdf5Output, RefusesAForeignHdf5File) {
  {
    const h5::quiet_errors quiet;
    h5::handle f(H5Fcreate(file().c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), "create");
    const hsize_t n = 3;
    const h5::handle space(H5Screate_simple(1, &n, nullptr), "space");
    const h5::handle data(
        H5Dcreate2(f, "data", H5T_STD_I32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
        "dataset");
    const int values[3] = {1, 2, 3};
    ASSERT_GE(H5Dwrite(data, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values), 0);
  }
  expect_refused(file(), "no /runs group");
  EXPECT_EQ(names_in(dir_), (std::set<std::string>{"results.h5"}));
}

TEST_F(Hdf5Output, RefusesAFileFromAnotherSchemaVersion) {
  append_run(file(), run_record{});
  {
    const h5::quiet_errors quiet;
    h5::handle f(H5Fopen(file().c_str(), H5F_ACC_RDWR, H5P_DEFAULT), "open");
    const h5::handle attr(H5Aopen(f, "mpipe_schema_version", H5P_DEFAULT), "attr");
    const std::int64_t version = 2;
    ASSERT_GE(H5Awrite(attr, H5T_NATIVE_INT64, &version), 0);
  }
  expect_refused(file(), "schema version");
}

// --- check_writable ------------------------------------------------------------------------

TEST_F(Hdf5Output, CheckWritableCreatesTheDirectoryButNoFile) {
  const fs::path nested = dir_ / "new" / "results.h5";
  EXPECT_NO_THROW(check_writable(nested.string()));
  EXPECT_TRUE(fs::is_directory(nested.parent_path()));
  EXPECT_TRUE(names_in(nested.parent_path()).empty());

  append_run(file(), run_record{});
  EXPECT_NO_THROW(check_writable(file()));
}

TEST_F(Hdf5Output, CheckWritableRefusesADirectoryUnderARegularFile) {
  write_bytes(dir_ / "plain", "x");
  EXPECT_THROW(check_writable((dir_ / "plain" / "x.h5").string()), io_error);
  EXPECT_THROW(check_writable((dir_ / "plain" / "sub" / "x.h5").string()), io_error);
  EXPECT_THROW(append_run((dir_ / "plain" / "x.h5").string(), run_record{}), io_error);
  EXPECT_THROW(check_writable(dir_.string()), io_error);  // the path is a directory
  EXPECT_THROW(check_writable(""), io_error);
  EXPECT_EQ(read_bytes(dir_ / "plain"), "x");
}

TEST_F(Hdf5Output, CheckWritableRefusesAReadOnlyDirectoryOrFile) {
  if (::geteuid() == 0) GTEST_SKIP() << "root ignores permission bits";
  const fs::path locked = dir_ / "locked";
  fs::create_directories(locked);
  append_run((locked / "results.h5").string(), run_record{});
  fs::permissions(locked, fs::perms::owner_read | fs::perms::owner_exec);
  EXPECT_THROW(check_writable((locked / "other.h5").string()), io_error);
  EXPECT_THROW(check_writable((locked / "results.h5").string()), io_error);
  fs::permissions(locked, fs::perms::owner_all);

  append_run(file(), run_record{});
  fs::permissions(file(), fs::perms::owner_read);
  const std::string before = read_bytes(file());
  EXPECT_THROW(check_writable(file()), io_error);
  EXPECT_THROW(append_run(file(), run_record{}), io_error);
  EXPECT_EQ(read_bytes(file()), before);
}

// --- reading -------------------------------------------------------------------------------

TEST_F(Hdf5Output, ReadingWhatIsNotThereThrows) {
  EXPECT_THROW(list_runs(file()), io_error);
  append_run(file(), run_record{});
  EXPECT_THROW(read_run(file(), "no-such-run"), io_error);
  EXPECT_THROW(read_run(file(), "../runs"), io_error);
  EXPECT_THROW(read_run(file(), ""), io_error);
}

// --- concurrency ---------------------------------------------------------------------------

// A symlink, dir/../x.h5: one file, one lock (the file's own), whatever the spelling.
TEST_F(Hdf5Output, EverySpellingOfAFileTakesItsLock) {
  append_run(file(), run_record{});
  fs::create_directories(dir_ / "sub");
  fs::create_symlink("results.h5", dir_ / "link.h5");
  const int fd = ::open((file() + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX), 0);
  ::setenv("MPIPE_LOCK_WAIT_S", "0.2", 1);
  for (const fs::path& spelling : {dir_ / "link.h5", dir_ / "sub" / ".." / "results.h5"}) {
    EXPECT_THROW(append_run(spelling.string(), run_record{}), io_error) << spelling;
  }
  ::unsetenv("MPIPE_LOCK_WAIT_S");
  ::close(fd);
  append_run((dir_ / "link.h5").string(), run_record{});
  EXPECT_TRUE(fs::is_symlink(dir_ / "link.h5"));
  EXPECT_EQ(list_runs(file()).size(), 2u);
}

TEST_F(Hdf5Output, ConcurrentAppendsFromProcessesAreAllKept) {
  constexpr int processes = 4;
  constexpr int runs_each = 3;
  std::vector<pid_t> children;
  for (int p = 0; p < processes; ++p) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int status = 0;
      try {
        for (int r = 0; r < runs_each; ++r) {
          run_record run = full_record();  // same utc_start everywhere: ids clash on purpose
          run.set("writer", std::int64_t{p});
          append_run(file(), run);
        }
      } catch (...) {
        status = 1;
      }
      ::_exit(status);  // no gtest or HDF5 teardown in the child
    }
    children.push_back(pid);
  }
  for (const pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  const auto ids = list_runs(file());
  ASSERT_EQ(ids.size(), static_cast<std::size_t>(processes * runs_each));
  std::vector<int> per_writer(processes);
  for (const auto& id : ids) {
    const run_record run = read_run(file(), id);
    const auto* writer = run.get("writer");
    ASSERT_NE(writer, nullptr);
    ++per_writer.at(static_cast<std::size_t>(std::get<std::int64_t>(*writer)));
  }
  EXPECT_EQ(per_writer, std::vector<int>(processes, runs_each));
  EXPECT_EQ(names_in(dir_), (std::set<std::string>{"results.h5"}));
}

// A copy left by a writer killed mid-append (.<name>.tmp.<pid>) goes with the next append.
TEST_F(Hdf5Output, AnAppendRemovesCopiesThatKilledWritersLeft) {
  append_run(file(), run_record{});
  write_bytes(dir_ / ".results.h5.tmp.999999", "half a copy");
  write_bytes(dir_ / ".results.h5.tmp.notapid", "not ours");
  write_bytes(dir_ / ".other.h5.tmp.999999", "another file's");
  append_run(file(), run_record{});
  EXPECT_FALSE(fs::exists(dir_ / ".results.h5.tmp.999999"));
  EXPECT_TRUE(fs::exists(dir_ / ".results.h5.tmp.notapid"));
  EXPECT_TRUE(fs::exists(dir_ / ".other.h5.tmp.999999"));
  EXPECT_EQ(list_runs(file()).size(), 2u);
}

// The holder unlinks the lock file when done; a writer that was waiting on the unlinked file must
// not append on its strength, but lock the file that now has the name (a third writer's).
TEST_F(Hdf5Output, AWriterWhoseLockFileWasReplacedLocksTheNewOne) {
  using namespace std::chrono_literals;
  append_run(file(), run_record{});
  const std::string lock = file() + ".lock";
  const int old_fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(old_fd, 0);
  ASSERT_EQ(::flock(old_fd, LOCK_EX), 0);
  std::atomic<bool> done{false};
  std::thread writer([&] {
    try {
      append_run(file(), run_record{});
    } catch (...) {
    }
    done = true;
  });
  std::this_thread::sleep_for(300ms);  // the writer has opened the old file and waits on it
  ASSERT_EQ(::unlink(lock.c_str()), 0);
  const int new_fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  ASSERT_GE(new_fd, 0);
  ASSERT_EQ(::flock(new_fd, LOCK_EX), 0);
  ::close(old_fd);
  std::this_thread::sleep_for(500ms);
  EXPECT_FALSE(done.load()) << "appended while another writer held the lock";
  ::close(new_fd);
  writer.join();
  EXPECT_EQ(list_runs(file()).size(), 2u);
  EXPECT_EQ(names_in(dir_), (std::set<std::string>{"results.h5"}));
}

TEST_F(Hdf5Output, ConcurrentAppendsFromThreadsAreAllKept) {
  std::vector<std::string> ids[2];
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      try {
        for (int r = 0; r < 3; ++r) ids[t].push_back(append_run(file(), full_record()));
      } catch (const std::exception& e) {
        ids[t].push_back(std::string("failed: ") + e.what());
      }
    });
  }
  for (auto& thread : threads) thread.join();
  std::vector<std::string> all = ids[0];
  all.insert(all.end(), ids[1].begin(), ids[1].end());
  std::sort(all.begin(), all.end());
  std::vector<std::string> listed = list_runs(file());
  std::sort(listed.begin(), listed.end());
  EXPECT_EQ(listed, all);
  EXPECT_EQ(std::set<std::string>(all.begin(), all.end()).size(), 6u);
  EXPECT_EQ(names_in(dir_), (std::set<std::string>{"results.h5"}));
}

}  // namespace
