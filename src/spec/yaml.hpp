// The one YAML reader under the pipeline spec (spec.cpp), platform files (model/platform.cpp)
// and sweep grid files (experiment/grid.cpp), so that the three word every mistake alike: each
// error is a spec_error naming file, line and field, and
//   malformed YAML    "not valid YAML: <yaml-cpp's reason>"  (field 'yaml')
//   an unknown key    "unknown key 'x' (allowed: a, b, c); did you mean 'a'?"
//   a repeated key    "key 'x' appears twice (first on line N)"
//   a wrong type      "expected <what>, got <what it is>"   ('5ms', a list, a map, nothing)
//   a value too big   "must be <limit>, got <value>"
// Internal to mpipe_spec (no MPI); not installed.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace mpipe::yaml_in {

// 1-based line of a node, 0 when it has none (a missing key, a node made in code).
int line_of(const YAML::Node& node);
// An explicit null ("defaults:" with nothing after it) counts as absent, like a missing key.
bool present(const YAML::Node& node);
std::string join(const std::vector<std::string>& items, const char* separator = ", ");
// User text echoed into a message, cut short: a pasted blob must not become a megabyte error.
std::string quoted(const std::string& text);
// What a node is, for "expected X, got <this>": 'text', a list, a map, nothing.
std::string describe(const YAML::Node& node);
// "; did you mean 'stages'?" when one candidate is a likely typo of word, else "".
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);
// A number as a message shows it: up to 15 digits, no trailing zeros.
std::string format_number(double value);

// The largest spec, platform or sweep grid file read: 16 MiB, far above any real one (a
// 10 000-stage, 100 000-edge spec is a few MiB), so that a wrong path cannot exhaust memory.
constexpr std::size_t max_file_bytes = std::size_t{16} << 20;

// What a file that is not a regular one is, for refusing it by name: "a directory", "a FIFO",
// "a character device", "a block device", "a socket", "not a file"; "" for a regular file.
// Reading a FIFO or a device (/dev/zero) would block or never end.
std::string special_file_kind(unsigned mode);

// The bytes of the regular file at path, read with a bounded read (never more than limit + 1
// bytes, so a file that grows or lies about its size cannot hang or exhaust memory). Anything
// else fails with io_error "<path>: cannot read <what>: <reason>": a missing or unreadable file
// (strerror's reason), a directory ("Is a directory"), a FIFO, socket or device ("not a regular
// file (a FIFO)", opened without blocking and never read), or a file over limit ("... bytes, over
// the 16 MiB limit ..."). what names the file's role: "spec", "platform file", "sweep grid file".
std::string read_text_file(const std::string& path, const std::string& what,
                           std::size_t limit = max_file_bytes);

// Parses text as YAML. Malformed text throws spec_error(file, line, "yaml", "not valid YAML:
// ..."), with a clearer reason than yaml-cpp's for control bytes (a binary file) and for nesting
// beyond yaml-cpp's depth limit.
YAML::Node load(const std::string& text, const std::string& file);

// Reads nodes of one file: every error names that file.
class reader {
 public:
  explicit reader(std::string file) : file_(std::move(file)) {}
  const std::string& file() const { return file_; }

  [[noreturn]] void fail(const YAML::Node& at, const std::string& field,
                         const std::string& message) const;
  // A YAML::Exception that escaped a parser (a safety net: shapes are checked before use) as
  // the spec_error callers expect.
  [[noreturn]] void rethrow(const YAML::Exception& e) const;

  // load() whose result must be a map: an empty file fails with `empty` (no line), anything else
  // with "the top level must be a map with keys <keys>, not <what it is>".
  YAML::Node load_map(const std::string& text, const std::string& empty,
                      const std::vector<std::string>& keys) const;

  // Every key of map is a plain word among allowed and given once. Fields are prefix.key; what
  // names the keys in the message ("key", or e.g. "dimension").
  void check_keys(const YAML::Node& map, const std::string& prefix,
                  const std::vector<std::string>& allowed, const std::string& what = "key") const;

  // Typed getters: a wrong type reads "expected <what>, got <describe(node)>".
  void map(const YAML::Node& node, const std::string& field, const std::string& what) const;
  // A sequence; empty_why, when given, makes an empty one "the list is empty; <empty_why>".
  void list(const YAML::Node& node, const std::string& field, const std::string& what,
            const std::string& empty_why = "") const;
  std::string string(const YAML::Node& node, const std::string& field,
                     const std::string& what = "text") const;
  bool boolean(const YAML::Node& node, const std::string& field) const;
  // A finite number within [low, high]; out of range reads "must be <limit>, got <value>", limit
  // by default "between <low> and <high>". note follows "expected a number, got 'x'" (e.g. "no
  // units: the unit is in the key's name").
  double number(const YAML::Node& node, const std::string& field,
                double low = -std::numeric_limits<double>::max(),
                double high = std::numeric_limits<double>::max(), const std::string& limit = "",
                const std::string& note = "") const;
  // A whole number within [low, high] (both below 2^53), as number() words it.
  std::int64_t integer(const YAML::Node& node, const std::string& field, double low, double high,
                       const std::string& limit = "") const;

 private:
  double checked_number(const YAML::Node& node, const std::string& field, double low, double high,
                        bool whole, const std::string& limit, const std::string& note) const;
  std::string file_;
};

}  // namespace mpipe::yaml_in
