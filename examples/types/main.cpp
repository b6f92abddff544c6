// What crossing a rank costs depends on the data structure, not only on its size (the article's
// "pickle vs protobuf" point). One pipeline, Main -> A -> B -> C -> Main, carries the same
// numbers in three shapes:
//   Main -> A  Record:  strings, a vector of strings, a vector<double>, a map (Boost.Serialization)
//   A -> B     Flat:    the same numbers in fixed arrays, trivially copyable   (raw bytes; or
//   boost) B -> C     Summary: fixed arrays, an MPI datatype         (MPI_Pack; or boost, or raw
//   bytes) C -> Main  a text digest (std::string), written by `outputs:` and checked
// Run packed (every stage on rank 0: hand-offs move the object, nothing is serialized) and spread
// (every edge crosses ranks), with the serialization overrides each type allows, and print per
// type and serialization: bytes on the wire, serialize / wire / deserialize us, and the same-rank
// hand-off beside it. Every run's outputs must equal a serial reference computed here.
//   mpirun -np 2 ./types [--items N] [--wait auto|block|yield|spin] [--summary]
// Exit 0: every run matched the reference; 1: one did not; 2: bad arguments or an mpipe error.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/mpi/collectives.hpp>
#include <boost/mpi/communicator.hpp>
#include <boost/mpi/datatype.hpp>
#include <boost/mpi/environment.hpp>
#include <boost/serialization/map.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <map>
#include <mpipe/mpipe.hpp>
#include <mpipe/stages.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace types {

constexpr std::size_t kWords = 4000;  // words per item: every item has the same shape

std::atomic<long> record_serializations{0};  // Record::serialize calls on this rank

// The article's "rich" object: what a program naturally holds.
struct Record {
  std::string name;                          // where the words come from
  std::vector<std::string> words;            // the text, one string per word
  std::vector<double> values;                // one number per word
  std::map<std::string, std::string> attrs;  // each distinct word -> the word after it
  template <class A>
  void serialize(A& a, unsigned) {
    ++record_serializations;
    a& name& words& values& attrs;
  }
};

// The same numbers in fixed arrays: trivially copyable, so raw bytes by default. Its
// serialize() makes Boost.Serialization legal too (an edge's `serialization: boost`).
struct Flat {
  char name[64] = {};
  std::uint32_t count = 0;      // values used
  std::uint32_t distinct = 0;   // Record::attrs.size()
  std::uint64_t text_hash = 0;  // of Record's words and attrs: they crossed intact
  double values[kWords] = {};
  template <class A>
  void serialize(A& a, unsigned) {
    a& name& count& distinct& text_hash& values;
  }
};

// Fixed arrays again, declared an MPI datatype (BOOST_IS_MPI_DATATYPE below): MPI_Pack by
// default; boost (its serialize()) and raw (trivially copyable) are legal too.
struct Summary {
  std::int64_t count = 0;
  std::int64_t distinct = 0;
  std::uint64_t text_hash = 0;
  double sum = 0, min = 0, max = 0;
  double running[kWords] = {};  // running sum of the values
  template <class A>
  void serialize(A& a, unsigned) {
    a& count& distinct& text_hash& sum& min& max& running;
  }
};

}  // namespace types

BOOST_IS_MPI_DATATYPE(types::Summary)
BOOST_CLASS_IMPLEMENTATION(types::Summary, object_serializable)
BOOST_CLASS_TRACKING(types::Summary, track_never)

namespace types {

// Real text: every word of /usr/share/common-licenses (Debian's license texts), in file order.
// Elsewhere a deterministic stand-in, so the example still runs.
std::vector<std::string> load_corpus() {
  std::vector<std::string> words;
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/usr/share/common-licenses", ec))
    if (entry.is_regular_file() && !entry.is_symlink()) files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    std::ifstream in(f);
    for (std::string w; in >> w;) words.push_back(w);
  }
  if (words.size() < kWords) {
    words.clear();
    std::uint64_t x = 88172645463325252ull;
    for (std::size_t i = 0; i < 4 * kWords; ++i) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      words.push_back("w" + std::to_string(x % 5000));
    }
  }
  return words;
}

const std::vector<std::string>& corpus() {
  static const std::vector<std::string> words = load_corpus();
  return words;
}

std::uint64_t fnv(std::uint64_t h, const std::string& s) {
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return (h ^ 0xff) * 1099511628211ull;  // a separator, so "ab","c" != "a","bc"
}

// Main: item i is kWords words of the corpus from word i * 997 on (wrapping).
Record make_record(const mpipe::source_item& in) {
  const auto& text = corpus();
  const std::size_t first = static_cast<std::size_t>(in.index * 997 % text.size());
  Record r;
  r.name = "common-licenses words " + std::to_string(first) + "+" + std::to_string(kWords);
  r.words.reserve(kWords);
  r.values.reserve(kWords);
  for (std::size_t i = 0; i < kWords; ++i) {
    const std::string& w = text[(first + i) % text.size()];
    const std::string& next = text[(first + i + 1) % text.size()];
    r.words.push_back(w);
    double letters = 0;
    for (unsigned char c : w) letters += c;
    r.values.push_back(letters / static_cast<double>(w.size()) + static_cast<double>(i) * 1e-3);
    r.attrs.emplace(w, next);  // the first following word only
  }
  return r;
}

// A: the numbers into fixed arrays (and a hash of the strings, so they are checked too). By
// value: the Record is moved in (A is its only consumer) and freed inside A's own time. (Taken
// by const&, mpipe frees it after stamping A finished, so the ~25 us of freeing 5000 strings
// would show up as A -> B's hand-off.)
Flat to_flat(Record r) {
  Flat f;
  std::snprintf(f.name, sizeof f.name, "%s", r.name.c_str());
  f.count = static_cast<std::uint32_t>(std::min(r.values.size(), kWords));
  std::copy_n(r.values.begin(), f.count, f.values);
  f.distinct = static_cast<std::uint32_t>(r.attrs.size());
  std::uint64_t h = 14695981039346656037ull;
  for (const auto& w : r.words) h = fnv(h, w);
  for (const auto& [k, v] : r.attrs) h = fnv(fnv(h, k), v);
  f.text_hash = h;
  return f;
}

// B: running sums and range.
Summary summarize(const Flat& f) {
  Summary s;
  s.count = f.count;
  s.distinct = f.distinct;
  s.text_hash = f.text_hash;
  s.min = f.count ? f.values[0] : 0.0;
  s.max = s.min;
  for (std::uint32_t i = 0; i < f.count; ++i) {
    s.sum += f.values[i];
    s.running[i] = s.sum;
    s.min = std::min(s.min, f.values[i]);
    s.max = std::max(s.max, f.values[i]);
  }
  return s;
}

// C: one line of text, exact (%a: every bit of the doubles).
std::string digest(const Summary& s) {
  std::uint64_t h = 14695981039346656037ull;
  for (std::int64_t i = 0; i < s.count; ++i) {
    std::uint64_t bits = 0;
    std::memcpy(&bits, &s.running[i], sizeof bits);
    h = (h ^ bits) * 1099511628211ull;
  }
  char line[256];
  std::snprintf(line, sizeof line,
                "count %lld distinct %lld text %016llx sum %a min %a max %a "
                "running %016llx\n",
                static_cast<long long>(s.count), static_cast<long long>(s.distinct),
                static_cast<unsigned long long>(s.text_hash), s.sum, s.min, s.max,
                static_cast<unsigned long long>(h));
  return line;
}

std::string reference(std::uint64_t item) {
  mpipe::source_item in;
  in.index = item;
  return digest(summarize(to_flat(make_record(in))));
}

// One run: a placement and the serialization of the A -> B and B -> C edges ("" = natural).
struct config {
  std::string placement, flat, summary;
};

std::string spec_text(const config& c, std::uint64_t items) {
  const auto edge = [](const char* from, const char* to, const std::string& ser) {
    std::string e = std::string("  - {from: ") + from + ", to: " + to;
    if (!ser.empty()) e += ", serialization: " + ser;
    return e + "}\n";
  };
  return "name: types\nsource: Main\nitems: " + std::to_string(items) +
         "\ninflight: 1\n"
         "stages:\n"
         "  - {name: Main, kernel: make_record}\n"
         "  - {name: A, kernel: to_flat}\n"
         "  - {name: B, kernel: summarize}\n"
         "  - {name: C, kernel: digest}\n"
         "edges:\n" +
         edge("Main", "A", "") + edge("A", "B", c.flat) + edge("B", "C", c.summary) +
         edge("C", "Main", "");
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct samples {
  std::vector<double> v;
  void add(double x) { v.push_back(x); }
  double mean() const {
    double sum = 0;
    for (double x : v) sum += x;
    return v.empty() ? std::nan("") : sum / static_cast<double>(v.size());
  }
  double median() const {
    if (v.empty()) return std::nan("");
    std::vector<double> s = v;
    std::sort(s.begin(), s.end());
    const std::size_t n = s.size();
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  }
};

// Per (edge type, serialization): what crossing ranks cost, and what a same-rank hand-off did.
struct cost {
  samples bytes, ser, wire, deser, overhead, handoff;
};

const char* type_of_edge(const std::string& from) {
  if (from == "Main") return "Record";
  if (from == "A") return "Flat";
  if (from == "B") return "Summary";
  return "std::string";
}

// How far cross-rank times can be off: 0 on one host (its ranks share one kernel clock, and
// mpipe takes their offset as 0), else the clock sync's error bound.
std::string clock_note_of(const mpipe::run_record& rec) {
  std::int64_t error = 0;
  for (const auto& r : rec.ranks) error = std::max(error, r.clock_error_ns);
  return "cross-rank times within " + std::to_string(error / 1000) + " us of the clock sync";
}

// Items 1.. only: item 0 pays for first touches (allocator, MPI connection, caches).
void collect(const mpipe::run_record& rec, std::map<std::pair<std::string, std::string>, cost>& by,
             std::string& clock_note) {
  clock_note = clock_note_of(rec);
  std::map<std::pair<std::uint64_t, int>, const mpipe::event_row*> ev;
  for (const auto& e : rec.events) ev[{e.item, e.stage}] = &e;
  const auto key = [&](int edge) {
    const auto& ed = rec.edges[static_cast<std::size_t>(edge)];
    return std::make_pair(std::string(type_of_edge(ed.from_name)), ed.serialization);
  };
  const auto producer = [&](int edge, std::uint64_t item) -> const mpipe::event_row* {
    const auto it = ev.find({item, rec.edges[static_cast<std::size_t>(edge)].from});
    return it == ev.end() ? nullptr : it->second;
  };
  for (const auto& m : rec.messages) {
    if (m.item == 0) continue;
    cost& c = by[key(m.edge)];
    c.bytes.add(static_cast<double>(m.bytes));
    c.ser.add(static_cast<double>(m.serialize_ns) / 1e3);
    c.wire.add(static_cast<double>(m.received_ns - m.posted_ns) / 1e3);
    c.deser.add(static_cast<double>(m.deserialize_ns) / 1e3);
    if (const auto* p = producer(m.edge, m.item))
      c.overhead.add(static_cast<double>(m.available_ns - p->finished_ns - m.credit_wait_ns) / 1e3);
  }
  for (const auto& h : rec.handoffs) {
    if (h.item == 0) continue;
    if (const auto* p = producer(h.edge, h.item))
      by[key(h.edge)].handoff.add(
          static_cast<double>(h.available_ns - p->finished_ns - h.credit_wait_ns) / 1e3);
  }
}

std::string fmt(double v, int decimals) {
  if (std::isnan(v)) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

}  // namespace types

int main(int argc, char** argv) {
  const auto env = mpipe::start_funneled_mpi(argc, argv);  // as mpipe itself starts MPI
  if (!env) return 2;
  boost::mpi::communicator world;
  using namespace types;

  std::uint64_t items = 30;
  mpipe::wait_policy wait = mpipe::wait_policy::automatic;
  bool summary = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const std::string value = i + 1 < argc ? argv[i + 1] : "";
    if (arg == "--items" && !value.empty() && std::strtoull(value.c_str(), nullptr, 10) >= 2) {
      items = std::strtoull(value.c_str(), nullptr, 10);
      ++i;
    } else if (arg == "--wait" &&
               (value == "auto" || value == "block" || value == "yield" || value == "spin")) {
      wait = value == "block"   ? mpipe::wait_policy::block
             : value == "yield" ? mpipe::wait_policy::yield
             : value == "spin"  ? mpipe::wait_policy::spin
                                : mpipe::wait_policy::automatic;
      ++i;
    } else if (arg == "--summary") {
      summary = true;
    } else {
      if (world.rank() == 0)
        std::cerr << "usage: types [--items N>=2] [--wait auto|block|yield|spin] [--summary]\n";
      return 2;
    }
  }
  if (world.size() < 2) {
    if (world.rank() == 0) std::cerr << "types: run it on 2 ranks or more (mpirun -np 2)\n";
    return 2;
  }

  mpipe::stages()
      .add("make_record", make_record)
      .add("to_flat", to_flat)
      .add("summarize", summarize)
      .add("digest", digest);

  // pack: one rank, nothing serialized. Main=0,A=1,B=0,C=1: every edge crosses ranks (what
  // spread gives on 2 ranks, spelled out so it holds on more).
  const std::string cross = "Main=0,A=1,B=0,C=1";
  const std::vector<config> runs = {
      {"pack", "", ""},          {"pack", "boost", "boost"}, {cross, "", ""},
      {cross, "boost", "boost"}, {cross, "", "raw"},
  };

  std::string scratch;
  if (world.rank() == 0) {
    char dir[] = "/tmp/mpipe-types-XXXXXX";
    if (::mkdtemp(dir) == nullptr) {
      std::cerr << "types: cannot make a scratch directory in /tmp\n";
      scratch = "-";
    } else {
      scratch = dir;
    }
  }
  boost::mpi::broadcast(world, scratch, 0);
  if (scratch == "-") return 2;

  int failed = 0;
  std::map<std::pair<std::string, std::string>, cost> by;
  try {
    // An override the type does not allow is refused before anything runs, on every rank.
    try {
      mpipe::run_options opt;
      opt.progress = false;
      std::string text = spec_text({"pack", "", ""}, items);
      text.replace(text.find("{from: Main, to: A}"), 19, "{from: Main, to: A, serialization: raw}");
      mpipe::run_pipeline(world, mpipe::parse_spec(text, "types.yaml"), opt);
      if (world.rank() == 0) std::cerr << "types: FAIL: Record went by raw bytes\n";
      failed = 1;
    } catch (const mpipe::spec_error& e) {
      if (world.rank() == 0) std::cout << "refused, as it should be: " << e.what() << "\n";
    }

    for (std::size_t r = 0; r < runs.size(); ++r) {
      const config& c = runs[r];
      mpipe::run_options opt;
      opt.placement = c.placement;
      opt.progress = false;
      opt.wait = wait;
      opt.outputs = scratch + "/run" + std::to_string(r);
      record_serializations = 0;
      const mpipe::run_result result =
          mpipe::run_pipeline(world, mpipe::parse_spec(spec_text(c, items), "types.yaml"), opt);
      const long serialized =
          boost::mpi::all_reduce(world, record_serializations.load(), std::plus<long>());
      if (world.rank() != 0) continue;
      if (summary) mpipe::print_summary(std::cout, result);
      std::string clock_note;
      collect(result.record, by, clock_note);

      std::string what = c.placement + ", A->B " + (c.flat.empty() ? "natural" : c.flat) +
                         ", B->C " + (c.summary.empty() ? "natural" : c.summary);
      int bad = 0;
      for (std::uint64_t i = 0; i < items; ++i) {
        char name[32];
        std::snprintf(name, sizeof name, "item-%06llu.out", static_cast<unsigned long long>(i));
        if (read_file(*opt.outputs + "/" + name) != reference(i)) {
          if (bad == 0) std::cerr << "types: FAIL: " << what << ": item " << i << " differs\n";
          ++bad;
        }
      }
      const bool packed = c.placement == "pack";
      if (packed && (serialized != 0 || !result.record.messages.empty())) {
        std::cerr << "types: FAIL: " << what << ": " << serialized << " Record serializations, "
                  << result.record.messages.size() << " messages on one rank\n";
        ++bad;
      }
      if (!packed && serialized == 0) {
        std::cerr << "types: FAIL: " << what << ": Record crossed ranks unserialized?\n";
        ++bad;
      }
      std::cout << (bad ? "FAIL " : "ok   ") << what << ": " << items
                << " items equal the serial reference; Record serialize() calls: " << serialized
                << (packed ? "" : "; " + clock_note) << "\n";
      if (bad) failed = 1;
    }
  } catch (const std::exception& e) {
    std::cerr << "types: rank " << world.rank() << ": " << e.what() << "\n";
    failed = 2;
  }
  if (world.rank() == 0) std::filesystem::remove_all(scratch);
  failed = boost::mpi::all_reduce(world, failed, boost::mpi::maximum<int>());
  if (world.rank() != 0) return failed;

  // The same-rank hand-off of a type does not depend on the edge's serialization (it never
  // serializes): one number per type, from the packed runs.
  std::map<std::string, samples> handoff;
  for (const auto& [k, c] : by)
    for (double v : c.handoff.v) handoff[k.first].add(v);
  std::cout << "\nPer type and serialization, items 1.." << items - 1
            << " of each run (us; cross-rank: Main=0,A=1,B=0,C=1; same-rank: pack)\n";
  char line[256];
  const char* row = "%-12s %-9s %7s %10s %8s %12s %13s %8s %13s %8s\n";
  std::snprintf(line, sizeof line, row, "type", "by", "wire B", "serialize", "wire", "deserialize",
                "cross-rank", "(p50)", "same-rank", "(p50)");
  std::cout << line;
  const char* order[] = {"Record", "Flat", "Summary", "std::string"};
  for (const char* type : order)
    for (const auto& [k, c] : by) {
      if (k.first != type || c.bytes.v.empty()) continue;
      // The edge into the source is not decoded: nothing there takes an object.
      const bool into_source = k.first == "std::string";
      const samples& h = handoff[type];
      std::snprintf(line, sizeof line, row, type, k.second.c_str(), fmt(c.bytes.mean(), 0).c_str(),
                    fmt(c.ser.mean(), 1).c_str(), fmt(c.wire.mean(), 1).c_str(),
                    into_source ? "-" : fmt(c.deser.mean(), 1).c_str(),
                    fmt(c.overhead.mean(), 1).c_str(), fmt(c.overhead.median(), 1).c_str(),
                    fmt(h.mean(), 1).c_str(), fmt(h.median(), 1).c_str());
      std::cout << line;
    }
  std::cout << "serialize, wire, deserialize: means of the message rows; cross-rank: producer "
               "done -> input decoded at the consumer, mean and median; same-rank: producer done "
               "-> object at the consumer (moved, not serialized), mean and median\n";
  return failed;
}
