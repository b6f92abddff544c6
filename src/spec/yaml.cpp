// The one YAML reader of spec.cpp, model/platform.cpp and experiment/grid.cpp: see yaml.hpp for the
// wording.
#include "yaml.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/depthguard.h>  // YAML::DeepRecursion, which yaml.h leaves out

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <string_view>
#include <unordered_map>

#include "mpipe/error.hpp"

namespace mpipe::yaml_in {

namespace {

// Edits to turn a into b, a swap of neighbours counting as one: "Mian" is one slip from "Main".
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

// "16 MiB (16777216 bytes)", or just the bytes for a limit of no whole MiB.
std::string bytes_limit(std::size_t limit) {
  const std::string bytes = std::to_string(limit) + " bytes";
  if (limit == 0 || limit % (std::size_t{1} << 20) != 0) return bytes;
  return std::to_string(limit >> 20) + " MiB (" + bytes + ")";
}

// Why a file of this kind is refused before it is read, or "" for a regular file. A directory
// opens and fails on read (EISDIR); a FIFO or a character device (/dev/zero) would block or
// never end.
std::string refused_kind(const struct stat& st) {
  const std::string kind = special_file_kind(st.st_mode);
  if (kind.empty()) return "";
  if (S_ISDIR(st.st_mode)) return std::strerror(EISDIR);
  return "not a regular file (" + kind + ")";
}

}  // namespace

std::string special_file_kind(unsigned mode) {
  if (S_ISREG(mode)) return "";
  return S_ISDIR(mode)    ? "a directory"
         : S_ISFIFO(mode) ? "a FIFO"
         : S_ISCHR(mode)  ? "a character device"
         : S_ISBLK(mode)  ? "a block device"
         : S_ISSOCK(mode) ? "a socket"
                          : "not a file";
}

std::string read_text_file(const std::string& path, const std::string& what, std::size_t limit) {
  const auto fail = [&](const std::string& why) {
    throw io_error(path + ": cannot read " + what + ": " + why);
  };
  const auto too_big = [&](const std::string& size) {
    fail(size + ", over the " + bytes_limit(limit) + " limit for a " + what +
         " file; is this the right file?");
  };
  // stat first: opening a FIFO blocks until a writer comes, and opening a device may do more.
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) fail(std::strerror(errno));
  if (const auto why = refused_kind(st); !why.empty()) fail(why);
  if (static_cast<std::uintmax_t>(st.st_size) > limit) {
    too_big(std::to_string(st.st_size) + " bytes");
  }
  // The path may have changed since the stat: open without blocking and check what was opened.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) fail(std::strerror(errno));
  struct closer {
    int fd;
    ~closer() { ::close(fd); }
  } const close_on_exit{fd};
  if (::fstat(fd, &st) != 0) fail(std::strerror(errno));
  if (const auto why = refused_kind(st); !why.empty()) fail(why);

  std::string text;
  text.reserve(std::min(static_cast<std::size_t>(st.st_size), limit) + 1);
  char buffer[65536];
  while (text.size() <= limit) {
    const std::size_t want = std::min(sizeof buffer, limit + 1 - text.size());
    const ssize_t got = ::read(fd, buffer, want);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) fail(std::strerror(errno));
    if (got == 0) break;
    text.append(buffer, static_cast<std::size_t>(got));
  }
  if (text.size() > limit) too_big("more than " + std::to_string(limit) + " bytes (it grew)");
  return text;
}

int line_of(const YAML::Node& node) {
  if (!node.IsDefined()) return 0;
  const int line = node.Mark().line;
  return line >= 0 ? line + 1 : 0;
}

bool present(const YAML::Node& node) { return node.IsDefined() && !node.IsNull(); }

std::string join(const std::vector<std::string>& items, const char* separator) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += separator;
    out += item;
  }
  return out;
}

std::string quoted(const std::string& text) {
  constexpr std::size_t shown = 60;
  if (text.size() <= shown) return "'" + text + "'";
  return "'" + text.substr(0, shown) + "...' (" + std::to_string(text.size()) + " characters)";
}

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Null:
      return "nothing";
    case YAML::NodeType::Scalar:
      return quoted(node.Scalar());
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

// Typos are the commonest mistake in a hand-written file; naming the likely intended word saves
// a trip to the docs. Short words get no suggestion: every one-letter stage name is one edit
// from every other.
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
  const std::size_t allowed = word.size() <= 2 ? 0 : word.size() <= 5 ? 1 : 2;
  std::size_t best = allowed + 1;
  std::string best_word;
  for (const auto& candidate : candidates) {
    // Cheap bound first: a pasted paragraph must not cost a table per stage.
    const std::size_t length_gap = word.size() > candidate.size() ? word.size() - candidate.size()
                                                                  : candidate.size() - word.size();
    if (length_gap > allowed) continue;
    const std::size_t d = edit_distance(word, candidate);
    if (d < best) {
      best = d;
      best_word = candidate;
    }
  }
  return best_word.empty() ? std::string() : "; did you mean '" + best_word + "'?";
}

std::string format_number(double value) {
  std::ostringstream out;
  out.precision(15);
  out << value;
  return out.str();
}

YAML::Node load(const std::string& text, const std::string& file) {
  try {
    return YAML::Load(text);
  } catch (const YAML::DeepRecursion& e) {
    // yaml-cpp's own message for this is "bad file" (found by fuzzing: "[[[[..." 2000 deep).
    throw spec_error(file, e.mark.line >= 0 ? e.mark.line + 1 : 0, "yaml",
                     "not valid YAML here: lists or maps nested " + std::to_string(e.depth()) +
                         " levels deep, beyond yaml-cpp's limit");
  } catch (const YAML::ParserException& e) {
    const int line = e.mark.line >= 0 ? e.mark.line + 1 : 0;
    // A binary file given as --spec (a results .h5, the mpipe binary) failed with
    // "unknown escape character: <raw byte>" (found by fuzzing): YAML allows no control
    // bytes but tab, LF and CR, so name the first one instead.
    const auto bad = std::find_if(text.begin(), text.end(), [](char c) {
      const auto u = static_cast<unsigned char>(c);
      return (u < 0x20 && c != '\t' && c != '\n' && c != '\r') || u == 0x7f;
    });
    if (bad != text.end()) {
      const auto at = static_cast<int>(std::count(text.begin(), bad, '\n')) + 1;
      char code[8];
      std::snprintf(code, sizeof code, "0x%02x", static_cast<unsigned char>(*bad));
      throw spec_error(file, at, "yaml",
                       std::string("not valid YAML: control byte ") + code +
                           " (YAML text allows tab, LF and CR only; is this a binary file?)");
    }
    throw spec_error(file, line, "yaml", "not valid YAML: " + e.msg);
  }
}

void reader::fail(const YAML::Node& at, const std::string& field,
                  const std::string& message) const {
  throw spec_error(file_, line_of(at), field, message);
}

void reader::rethrow(const YAML::Exception& e) const {
  throw spec_error(file_, e.mark.line >= 0 ? e.mark.line + 1 : 0, "yaml", e.msg);
}

YAML::Node reader::load_map(const std::string& text, const std::string& empty,
                            const std::vector<std::string>& keys) const {
  const YAML::Node root = load(text, file_);
  if (!present(root)) throw spec_error(file_, 0, "", empty);
  if (!root.IsMap()) {
    fail(root, "",
         "the top level must be a map with keys " + join(keys) + ", not " + describe(root));
  }
  return root;
}

void reader::check_keys(const YAML::Node& map, const std::string& prefix,
                        const std::vector<std::string>& allowed, const std::string& what) const {
  std::unordered_map<std::string, int> seen;
  for (const auto& entry : map) {
    const YAML::Node& key = entry.first;
    if (!key.IsScalar()) {
      fail(key, prefix.empty() ? "(top level)" : prefix,
           "keys must be plain words, not " + describe(key) + " (allowed: " + join(allowed) + ")");
    }
    const std::string& word = key.Scalar();
    const std::string field = prefix.empty() ? word : prefix + "." + word;
    if (std::find(allowed.begin(), allowed.end(), word) == allowed.end()) {
      fail(key, field,
           "unknown " + what + " " + quoted(word) + " (allowed: " + join(allowed) + ")" +
               did_you_mean(word, allowed));
    }
    // yaml-cpp keeps both copies of a repeated key and lookups see only the first, so the
    // second would be silently ignored.
    if (const auto [it, fresh] = seen.emplace(word, line_of(key)); !fresh) {
      fail(key, field,
           what + " '" + word + "' appears twice (first on line " + std::to_string(it->second) +
               ")");
    }
  }
}

void reader::map(const YAML::Node& node, const std::string& field, const std::string& what) const {
  if (!node.IsMap()) fail(node, field, "expected " + what + ", got " + describe(node));
}

void reader::list(const YAML::Node& node, const std::string& field, const std::string& what,
                  const std::string& empty_why) const {
  if (!node.IsSequence()) fail(node, field, "expected " + what + ", got " + describe(node));
  if (node.size() == 0 && !empty_why.empty()) fail(node, field, "the list is empty; " + empty_why);
}

std::string reader::string(const YAML::Node& node, const std::string& field,
                           const std::string& what) const {
  if (!node.IsScalar()) fail(node, field, "expected " + what + ", got " + describe(node));
  return node.Scalar();
}

bool reader::boolean(const YAML::Node& node, const std::string& field) const {
  bool value = false;
  if (!node.IsScalar() || !YAML::convert<bool>::decode(node, value)) {
    fail(node, field, "expected true or false, got " + describe(node));
  }
  return value;
}

double reader::number(const YAML::Node& node, const std::string& field, double low, double high,
                      const std::string& limit, const std::string& note) const {
  return checked_number(node, field, low, high, false, limit, note);
}

std::int64_t reader::integer(const YAML::Node& node, const std::string& field, double low,
                             double high, const std::string& limit) const {
  return static_cast<std::int64_t>(checked_number(node, field, low, high, true, limit, ""));
}

// All numbers go through double so that one routine rejects NaN, inf, fractions and range
// errors alike; every integer limit is far below 2^53, so nothing is lost on the way back.
double reader::checked_number(const YAML::Node& node, const std::string& field, double low,
                              double high, bool whole, const std::string& limit,
                              const std::string& note) const {
  const std::string what = whole ? "a whole number" : "a number";
  if (!node.IsScalar()) fail(node, field, "expected " + what + ", got " + describe(node));
  double value = 0.0;
  if (!YAML::convert<double>::decode(node, value)) {
    fail(node, field,
         "expected " + what + ", got " + quoted(node.Scalar()) +
             (note.empty() ? "" : " (" + note + ")"));
  }
  if (!std::isfinite(value)) {
    fail(node, field, "must be a finite number, got " + quoted(node.Scalar()));
  }
  if (whole && std::floor(value) != value) {
    fail(node, field, "must be a whole number, got " + quoted(node.Scalar()));
  }
  if (value < low || value > high) {
    const std::string bounds =
        limit.empty() ? "between " + format_number(low) + " and " + format_number(high) : limit;
    fail(node, field, "must be " + bounds + ", got " + format_number(value));
  }
  return value;
}

}  // namespace mpipe::yaml_in
