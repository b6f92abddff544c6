// The user's own data in and out of a pipeline: `inputs:` gives the source one item per file
// (a glob or a directory, sorted by name, the payload being the file's bytes) and `outputs:`
// writes what reaches the source back as one file per item, so results can be checked.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace mpipe {

// The files `pattern` names, sorted by path in byte order (not the locale's, so every rank and
// every machine agrees on which file is item i). The pattern is resolved against base_dir when
// relative (base_dir "" = the current directory) and the paths returned are absolute, spelled
// as resolved: base_dir's absolute form joined with the pattern, with no symlink or ".."
// resolution.
// - A directory: its regular files (or symlinks to them), not recursive: subdirectories and
//   hidden files (names starting with '.') are skipped.
// - Otherwise a glob(3) pattern (*, ?, [...], \ escapes; no braces, no ~); metacharacters in
//   base_dir or the current directory are taken literally. Hidden files match only a pattern
//   whose name part starts with '.', as in the shell.
// Throws spec_error(spec_file, line, "inputs", ...) when nothing matches, or a match is a
// directory (glob only), is not a regular file (a FIFO would hang its reader, a device never
// end), cannot be stat'ed (a dangling symlink) or is larger than max_bytes. Nothing is opened.
std::vector<std::string> list_input_files(const std::string& pattern, const std::string& base_dir,
                                          const std::string& spec_file, int line,
                                          std::uint64_t max_bytes = std::uint64_t{1} << 30);

// The whole file. Opened without blocking and refused unless regular (a FIFO put in its place
// after the listing does not hang the run); throws io_error naming the file and errno's text.
std::vector<unsigned char> read_item_file(const std::string& path);

// One file per item in a directory that holds nothing of a previous run: the directory is made
// (with parents) when missing; a file that would be overwritten is refused before the run
// starts, and each file is written under a temporary name (.mpipe-tmp-PID-ITEM, in the same
// directory) and renamed into place without replacing anything, so a reader or a killed run
// never sees half a file. No fsync: after a power loss a result may be empty or missing.
// write() may be called from several threads at once, for different items.
class output_files {
 public:
  output_files() = default;  // disabled: no `outputs:`
  // names[i]: the file item i is written to, a plain name inside dir (no '/'), all distinct.
  // Throws io_error when dir exists and is not a directory, cannot be made or written into, a
  // name is empty, "." / ".." or holds '/', two items share a name, or any of the files already
  // exists (naming the first, in item order, and how many more).
  output_files(std::string dir, std::vector<std::string> names);
  const std::string& dir() const { return dir_; }
  bool enabled() const { return !dir_.empty(); }
  std::size_t size() const { return names_.size(); }
  // dir/names[item], for messages; throws io_error for an item out of range.
  std::string path_of(std::uint64_t item) const;
  // Writes item's file; throws io_error naming the path and errno's text, also when the file
  // exists already (an item written twice, or a file made by someone else since the check).
  void write(std::uint64_t item, const unsigned char* data, std::size_t size) const;

 private:
  void check_names() const;
  void check_nothing_overwritten() const;
  std::string temp_path_of(std::uint64_t item) const;

  std::string dir_;
  std::vector<std::string> names_;
};

// Output names. With input files: each one's base name, and then items must equal
// input_files.size() (one item per file; the spec layer makes it so, and io_error says so
// otherwise). Without: item-000042.out, zero-padded to the width of the last item's number
// (items - 1), at least 6. Two inputs from different directories may share a base name:
// output_files refuses that, naming both items.
std::vector<std::string> output_names(const std::vector<std::string>& input_files,
                                      std::uint64_t items);

}  // namespace mpipe
