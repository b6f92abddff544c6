// Items from files and results to files (item_files.hpp).
#include "item_files.hpp"

#include <fcntl.h>
#include <glob.h>
#include <stdio.h>  // renameat2
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../spec/yaml.hpp"
#include "mpipe/error.hpp"

namespace mpipe {

namespace fs = std::filesystem;

namespace {

std::string errno_text(int e = errno) { return std::strerror(e); }

// "1 GiB (1073741824 bytes)", or just the bytes when not a whole MiB.
std::string bytes_text(std::uint64_t n) {
  const std::string bytes = std::to_string(n) + " bytes";
  constexpr std::uint64_t mib = std::uint64_t{1} << 20;
  if (n == 0 || n % mib != 0) return bytes;
  if (n % (mib << 10) == 0) return std::to_string(n >> 30) + " GiB (" + bytes + ")";
  return std::to_string(n >> 20) + " MiB (" + bytes + ")";
}

// Why a file of this kind cannot be an item, or "" for a regular file.
std::string refused_kind(const struct stat& st) {
  const std::string kind = yaml_in::special_file_kind(st.st_mode);
  if (kind.empty() || S_ISDIR(st.st_mode)) return kind;
  return "not a regular file (" + kind + ")";
}

// What list_input_files works from: the pattern as the user wrote it, where relative paths
// start, and the spec position its errors point to.
struct input_query {
  const std::string& pattern;
  fs::path base;  // absolute
  const std::string& spec_file;
  int line;
  std::uint64_t max_bytes;

  [[noreturn]] void fail(const std::string& message) const {
    throw spec_error(spec_file, line, "inputs", "'" + pattern + "' " + message);
  }
  fs::path literal() const { return base / pattern; }  // base ignored when pattern is absolute
};

fs::path absolute_base(const std::string& base_dir) {
  std::error_code ec;
  fs::path base = base_dir.empty() ? fs::current_path(ec) : fs::absolute(base_dir, ec);
  if (ec) throw io_error("inputs: cannot find the current directory: " + ec.message());
  return base;
}

// Refuses `path` (a match of q) unless it is a regular file of at most q.max_bytes.
void check_input(const input_query& q, const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    q.fail("matches " + path + ", which cannot be read (" + errno_text() +
           "): remove it or narrow the pattern");
  }
  if (const auto why = refused_kind(st); !why.empty()) {
    q.fail("matches " + path + ", " + why + ": each input must be a file, read whole as one " +
           "item; remove it or narrow the pattern");
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size > q.max_bytes) {
    q.fail("matches " + path + ", " + bytes_text(size) + ", over the limit of " +
           bytes_text(q.max_bytes) + " for one item: split it or leave it out of the pattern");
  }
}

[[noreturn]] void fail_no_match(const input_query& q, const fs::path& looked_in) {
  std::string message = "matches no file (looked in " + looked_in.string() + ")";
  if (fs::path(q.pattern).is_relative()) {
    message += ": check the pattern; a relative one is taken from " + q.base.string();
  } else {
    message += ": check the pattern";
  }
  q.fail(message);
}

// The regular files directly in `dir`, hidden files and subdirectories left out.
std::vector<std::string> list_directory(const input_query& q, const fs::path& dir) {
  std::vector<std::string> files;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.empty() || name[0] == '.') continue;
    std::error_code type_ec;
    if (it->is_directory(type_ec)) continue;  // follows symlinks, as stat does
    files.push_back(it->path().string());
    check_input(q, files.back());
  }
  if (ec) q.fail("is a directory that cannot be read (" + ec.message() + "): check its rights");
  if (files.empty()) fail_no_match(q, dir);
  std::sort(files.begin(), files.end());
  return files;
}

// `text` with glob(3)'s metacharacters escaped, so that it matches only itself.
std::string glob_escaped(const std::string& text) {
  std::string out;
  for (const char c : text) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

// glob(3)'s error callback has no user pointer: the first failure of this thread's glob call.
thread_local std::string glob_failed_path;
thread_local int glob_failed_errno = 0;

// Stops glob at a directory it cannot read (what GLOB_ERR does), except one that does not
// exist (GLOB_ERR would stop there too): nothing matches in it.
extern "C" int note_glob_error(const char* path, int e) {
  if (e == ENOENT || e == ENOTDIR) return 0;
  glob_failed_path = path;
  glob_failed_errno = e;
  return 1;
}

std::vector<std::string> run_glob(const input_query& q) {
  std::string full = q.pattern;
  if (fs::path(q.pattern).is_relative()) {
    std::string base = glob_escaped(q.base.string());
    if (base.empty() || base.back() != '/') base += '/';
    full = base + q.pattern;
  }
  glob_t g{};
  glob_failed_path.clear();
  const int rc = ::glob(full.c_str(), GLOB_MARK | GLOB_NOSORT, note_glob_error, &g);
  std::vector<std::string> found(g.gl_pathv, g.gl_pathv + (rc == 0 ? g.gl_pathc : 0));
  ::globfree(&g);
  if (rc == GLOB_ABORTED) {
    q.fail("cannot be searched: " + glob_failed_path + ": " + errno_text(glob_failed_errno) +
           ": check the directory's rights");
  }
  if (rc == GLOB_NOSPACE) throw io_error("inputs: '" + q.pattern + "': out of memory in glob");
  if (rc == GLOB_NOMATCH || found.empty()) fail_no_match(q, q.literal().parent_path());
  return found;
}

}  // namespace

std::vector<std::string> list_input_files(const std::string& pattern, const std::string& base_dir,
                                          const std::string& spec_file, int line,
                                          std::uint64_t max_bytes) {
  const input_query q{pattern, absolute_base(base_dir), spec_file, line, max_bytes};
  if (pattern.empty()) q.fail("is empty: give a directory or a pattern such as data/*.pgm");
  struct stat st {};
  if (::stat(q.literal().c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    return list_directory(q, q.literal());
  }
  std::vector<std::string> files = run_glob(q);
  for (const auto& path : files) {
    if (path.back() == '/') {
      q.fail("matches " + path + ", a directory: each input must be a file, read whole as " +
             "one item; narrow the pattern (e.g. dir/*.pgm)");
    }
    check_input(q, path);
  }
  std::sort(files.begin(), files.end());
  return files;
}

namespace {

struct fd_closer {
  int fd;
  ~fd_closer() {
    if (fd >= 0) ::close(fd);
  }
};

// Reads fd to its end into out, from out's current size on; false on a read error (errno set).
bool read_to_end(int fd, std::vector<unsigned char>& out, std::size_t expected) {
  std::size_t have = out.size();
  out.resize(std::max(expected, have) + 1);  // +1: sees the end without a second resize
  for (;;) {
    if (have == out.size()) out.resize(out.size() * 2);
    const ssize_t got = ::read(fd, out.data() + have, out.size() - have);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return false;
    if (got == 0) break;
    have += static_cast<std::size_t>(got);
  }
  out.resize(have);
  return true;
}

}  // namespace

std::vector<unsigned char> read_item_file(const std::string& path) {
  const auto fail = [&](const std::string& why) -> void {
    throw io_error("inputs: cannot read " + path + ": " + why);
  };
  const fd_closer file{::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC)};
  if (file.fd < 0) fail(errno_text() + "; was it removed or renamed since the run started?");
  struct stat st {};
  if (::fstat(file.fd, &st) != 0) fail(errno_text());
  if (const auto why = refused_kind(st); !why.empty()) fail(why + "; put a file there");
  std::vector<unsigned char> data;
  if (!read_to_end(file.fd, data, static_cast<std::size_t>(st.st_size))) fail(errno_text());
  return data;
}

output_files::output_files(std::string dir, std::vector<std::string> names)
    : dir_(std::move(dir)), names_(std::move(names)) {
  if (dir_.empty()) throw io_error("outputs: the directory name is empty: name a directory");
  check_names();
  std::error_code ec;
  const auto status = fs::status(dir_, ec);
  if (fs::exists(status) && !fs::is_directory(status)) {
    throw io_error("outputs: " + dir_ + " exists and is not a directory: choose a directory");
  }
  const bool made = fs::create_directories(dir_, ec);
  if (ec) throw io_error("outputs: cannot make directory " + dir_ + ": " + ec.message());
  if (::access(dir_.c_str(), W_OK | X_OK) != 0) {
    throw io_error("outputs: cannot write in " + dir_ + ": " + errno_text() +
                   ": choose a directory you can write to");
  }
  if (!made) check_nothing_overwritten();
}

// Each name a plain, distinct file name.
void output_files::check_names() const {
  std::unordered_map<std::string_view, std::size_t> first_item;
  first_item.reserve(names_.size());
  for (std::size_t i = 0; i < names_.size(); ++i) {
    const std::string& name = names_[i];
    if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos) {
      throw io_error("outputs: item " + std::to_string(i) + " has no usable file name ('" + name +
                     "'): a name must be a plain file name, without '/'");
    }
    const auto [it, fresh] = first_item.emplace(name, i);
    if (!fresh) {
      throw io_error("outputs: items " + std::to_string(it->second) + " and " + std::to_string(i) +
                     " would both be written to " + path_of(i) +
                     ": their inputs share a base name; give inputs with distinct file names");
    }
  }
}

// One pass over the directory (not a stat per item: a million items on a network file system).
void output_files::check_nothing_overwritten() const {
  std::unordered_map<std::string_view, std::size_t> item_of;
  item_of.reserve(names_.size());
  for (std::size_t i = 0; i < names_.size(); ++i) item_of.emplace(names_[i], i);
  std::size_t first = names_.size();
  std::size_t count = 0;
  std::error_code ec;
  for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
    const auto found = item_of.find(it->path().filename().native());
    if (found == item_of.end()) continue;
    first = std::min(first, found->second);
    ++count;
  }
  if (ec) throw io_error("outputs: cannot read directory " + dir_ + ": " + ec.message());
  if (count == 0) return;
  const std::string more = count > 1 ? " (and " + std::to_string(count - 1) + " more)" : "";
  throw io_error("outputs: " + path_of(first) + " exists" + more +
                 ": mpipe never overwrites results; choose an empty directory or remove " +
                 (count > 1 ? "them" : "it"));
}

std::string output_files::path_of(std::uint64_t item) const {
  if (item >= names_.size()) {
    throw io_error("outputs: item " + std::to_string(item) + " has no output file (" +
                   std::to_string(names_.size()) + " items)");
  }
  return (fs::path(dir_) / names_[item]).string();
}

std::string output_files::temp_path_of(std::uint64_t item) const {
  const std::string name = ".mpipe-tmp-" + std::to_string(::getpid()) + "-" + std::to_string(item);
  return (fs::path(dir_) / name).string();
}

namespace {

bool write_all(int fd, const unsigned char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t put = ::write(fd, data, size);
    if (put < 0 && errno == EINTR) continue;
    if (put < 0) return false;
    data += put;
    size -= static_cast<std::size_t>(put);
  }
  return true;
}

// rename(2) that never replaces `to`: RENAME_NOREPLACE where the file system has it, else
// link + unlink (EEXIST when `to` exists); plain rename only where neither exists (e.g. FAT).
bool rename_no_replace(const std::string& from, const std::string& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) {
    return true;
  }
  if (errno != EINVAL && errno != ENOSYS) return false;
  if (::link(from.c_str(), to.c_str()) == 0) {
    ::unlink(from.c_str());  // a left-over temporary name is harmless; the result is in place
    return true;
  }
  if (errno != EPERM && errno != ENOTSUP) return false;
  return ::rename(from.c_str(), to.c_str()) == 0;
}

}  // namespace

void output_files::write(std::uint64_t item, const unsigned char* data, std::size_t size) const {
  const std::string path = path_of(item);
  const std::string temp = temp_path_of(item);
  const auto fail = [&](const std::string& what, int e) {
    ::unlink(temp.c_str());
    throw io_error("outputs: cannot " + what + ": " + errno_text(e));
  };
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) fail("create " + temp, errno);
  const bool written = write_all(fd, data, size);
  const int write_errno = errno;
  if (::close(fd) != 0 && written) fail("write " + temp, errno);
  if (!written) fail("write " + temp, write_errno);
  if (!rename_no_replace(temp, path)) {
    const int e = errno;
    fail("move " + temp + " to " + path + (e == EEXIST ? " (written twice?)" : ""), e);
  }
}

std::vector<std::string> output_names(const std::vector<std::string>& input_files,
                                      std::uint64_t items) {
  std::vector<std::string> names;
  if (!input_files.empty()) {
    if (items != input_files.size()) {
      throw io_error("outputs: " + std::to_string(items) + " items from " +
                     std::to_string(input_files.size()) + " input files: one item per file");
    }
    for (const auto& path : input_files) names.push_back(fs::path(path).filename().string());
    return names;
  }
  if (items == 0) return names;
  const std::size_t width = std::max<std::size_t>(6, std::to_string(items - 1).size());
  names.reserve(items);
  for (std::uint64_t i = 0; i < items; ++i) {
    const std::string digits = std::to_string(i);
    names.push_back("item-" + std::string(width - digits.size(), '0') + digits + ".out");
  }
  return names;
}

}  // namespace mpipe
