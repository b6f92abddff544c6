// Typed stages (stages.hpp) on real ranks: user functions over user types, a join that gets
// both of its inputs in the spec's order, each edge serialized by its type when it crosses ranks
// (Boost.Serialization, an MPI datatype, raw bytes) and moved, never serialized, when it does
// not. The results written by `outputs:` must equal a serial reference, bit for bit.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/mpi/collectives.hpp>
#include <boost/mpi/communicator.hpp>
#include <boost/serialization/map.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "mpipe/runtime.hpp"
#include "mpipe/spec.hpp"
#include "mpipe/stages.hpp"

namespace {

boost::mpi::communicator world;
std::atomic<int> rich_copies{0}, rich_serialized{0};

// Strings, a vector and a map: Boost.Serialization. Counts its copies and serializations.
struct Rich {
  std::string name;
  std::vector<std::uint64_t> values;
  std::map<std::string, int> tags;
  Rich() = default;
  Rich(const Rich& o) : name(o.name), values(o.values), tags(o.tags) { ++rich_copies; }
  Rich(Rich&&) = default;
  Rich& operator=(const Rich&) = default;
  Rich& operator=(Rich&&) = default;
  template <class A>
  void serialize(A& a, unsigned) {
    ++rich_serialized;
    a& name& values& tags;
  }
};

struct Flat {  // trivially copyable: raw bytes
  double x = 0;
  std::uint64_t n = 0;
};

struct Point {  // an MPI datatype (and Boost-serializable)
  double a = 0;
  std::int64_t b = 0;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& a& b;
  }
};

}  // namespace

BOOST_IS_MPI_DATATYPE(Point)

namespace {

Rich make_rich(const mpipe::source_item& in) {
  Rich r;
  r.name = "item-" + std::to_string(in.index);
  for (std::uint64_t i = 0; i <= in.index % 7; ++i) r.values.push_back(in.index * 31 + i);
  r.tags["len"] = static_cast<int>(r.values.size());
  return r;
}
Flat to_flat(const Rich& r) {
  double sum = 0;
  for (auto v : r.values) sum += static_cast<double>(v);
  return {sum, r.values.size()};
}
Point to_point(Rich r) {
  return {static_cast<double>(r.tags["len"]), static_cast<std::int64_t>(r.name.size())};
}
std::string join(const Flat& f, const Point& p) {
  std::ostringstream s;
  s << f.x << " " << f.n << " " << p.a << " " << p.b << "\n";
  return s.str();
}
std::string reference(std::uint64_t item) {
  mpipe::source_item in;
  in.index = item;
  const Rich r = make_rich(in);
  return join(to_flat(r), to_point(r));
}

void register_once() {
  static bool done = false;
  if (done) return;
  done = true;
  mpipe::stages()
      .add("make_rich", make_rich)
      .add("to_flat", to_flat)
      .add("to_point", to_point)
      .add("join", join);
}

// Main -> R; R -> F; R -> P; {F, P} -> J -> Main.
const char* spec_text = R"(
name: typed
source: Main
items: 12
inflight: 3
stages:
  - {name: Main, kernel: make_rich}
  - {name: F, kernel: to_flat}
  - {name: P, kernel: to_point}
  - {name: J, kernel: join}
edges:
  - Main -> F
  - Main -> P
  - {from: F, to: J}
  - {from: P, to: J, serialization: SER}
  - J -> Main
)";

std::string scratch_dir(const std::string& name) {
  std::string dir;
  if (world.rank() == 0) {
    dir = "/tmp/mpipe-typed-" + std::to_string(::getpid()) + "-" + name;
    std::filesystem::remove_all(dir);
  }
  boost::mpi::broadcast(world, dir, 0);
  return dir;
}

mpipe::run_result run(const std::string& placement, const std::string& ser,
                      const std::string& out) {
  register_once();
  std::string text = spec_text;
  text.replace(text.find("SER"), 3, ser);
  mpipe::run_options opt;
  opt.placement = placement;
  opt.progress = false;
  opt.outputs = out;
  return mpipe::run_pipeline(world, mpipe::parse_spec(text, "typed.yaml"), opt);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void expect_reference(const mpipe::run_result& r, const std::string& out) {
  if (world.rank() != 0) return;
  for (std::uint64_t i = 0; i < 12; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "item-%06llu.out", static_cast<unsigned long long>(i));
    EXPECT_EQ(read_file(out + "/" + name), reference(i)) << "item " << i;
  }
  std::map<std::string, std::string> ser;
  for (const auto& e : r.record.edges) ser[e.from_name + "->" + e.to_name] = e.serialization;
  EXPECT_EQ(ser["Main->F"], "boost");  // Rich: strings, vector, map
  EXPECT_EQ(ser["F->J"], "raw");       // trivially copyable
  EXPECT_EQ(ser["J->Main"], "raw");    // std::string: its contents
}

TEST(Typed, PackedHandOffsMoveAndNeverSerialize) {
  const std::string out = scratch_dir("pack");
  rich_copies = 0;
  rich_serialized = 0;
  const auto r = run("pack", "datatype", out);
  // Main's Rich goes to F (const&) and P (by value): P gets it moved when F is done with it,
  // copied when F still holds it, so at most one copy per item and never a serialization.
  // (Counted before the serial reference, which makes copies of its own.)
  EXPECT_LE(rich_copies.load(), 12);
  EXPECT_EQ(rich_serialized.load(), 0);
  expect_reference(r, out);
  if (world.rank() != 0) return;
  for (const auto& e : r.record.edges) {
    if (e.from_name == "P") {
      EXPECT_EQ(e.serialization, "datatype");
    }
  }
}

TEST(Typed, SpreadSerializesByType) {
  const std::string out = scratch_dir("spread");
  const auto r = run("spread", "boost", out);
  expect_reference(r, out);
  if (world.rank() != 0) return;
  for (const auto& m : r.record.messages) {
    EXPECT_GT(m.bytes, 0u);
    EXPECT_GE(m.serialize_ns, 0);
  }
}

// The spec (SER filled in, then `edit` applied) must be refused on every rank, before any
// work, with a spec_error holding each of `needles`.
void expect_refused(const std::string& ser, const std::string& from, const std::string& to,
                    const std::vector<std::string>& needles) {
  register_once();
  std::string text = spec_text;
  text.replace(text.find("SER"), 3, ser);
  text.replace(text.find(from), from.size(), to);
  mpipe::run_options opt;
  opt.progress = false;
  try {
    mpipe::run_pipeline(world, mpipe::parse_spec(text, "typed.yaml"), opt);
    ADD_FAILURE() << "not refused: " << to;
  } catch (const mpipe::spec_error& e) {
    for (const auto& n : needles)
      EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what();
  }
}

TEST(Typed, AnIllegalSerializationIsRefusedOnEveryRank) {
  // A Flat without serialize() cannot go by boost.
  expect_refused("raw", "- {from: F, to: J}", "- {from: F, to: J, serialization: boost}",
                 {"not legal for", "Flat"});
}

TEST(Typed, AMissingFunctionIsRefusedNamingTheStage) {
  // The registered ones are listed, and the near miss suggested.
  expect_refused("boost", "kernel: join", "kernel: jion",
                 {"jion", "(J)", "join", "did you mean 'join'"});
}

}  // namespace
