// A well-behaved plugin for tests/cli/user_code.sh: "double_it" (bytes -> the bytes twice) and a
// typed pair, "to_stats" (bytes -> Stats, carried across ranks by Boost.Serialization) and
// "from_stats" (Stats -> one text line). Links mpipe::plugin only.
#include <cstdint>
#include <mpipe/stages.hpp>
#include <string>

namespace good_plugin {

struct Stats {
  std::uint64_t size = 0;
  std::uint64_t sum = 0;  // of the bytes, as unsigned values
  std::string head;       // the first (up to) 4 bytes
  template <class A>
  void serialize(A& a, unsigned) {
    a& size& sum& head;
  }
};

mpipe::blob double_it(const mpipe::blob& in) {
  mpipe::blob out(in);
  out.insert(out.end(), in.begin(), in.end());
  return out;
}

Stats to_stats(const mpipe::blob& in) {
  Stats s;
  s.size = in.size();
  for (unsigned char c : in) s.sum += c;
  s.head.assign(in.begin(),
                in.begin() + static_cast<std::ptrdiff_t>(in.size() < 4 ? in.size() : 4));
  return s;
}

mpipe::blob from_stats(const Stats& s) {
  const std::string text =
      "size=" + std::to_string(s.size) + " sum=" + std::to_string(s.sum) + " head=" + s.head + "\n";
  return mpipe::blob(text.begin(), text.end());
}

}  // namespace good_plugin

MPIPE_PLUGIN(registry) {
  registry.add("double_it", good_plugin::double_it)
      .add("to_stats", good_plugin::to_stats)
      .add("from_stats", good_plugin::from_stats);
}
