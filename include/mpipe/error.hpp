// Errors carry enough context to act on: a spec error names file, line and field, because a user
// staring at "invalid spec" on a 64-rank job has no other way to find the typo.
#pragma once

#include <stdexcept>
#include <string>

namespace mpipe {

// Base of every error mpipe throws on purpose; main() prints what() once and exits non-zero.
class error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Bad pipeline spec or placement. line is 1-based, 0 when unknown (e.g. a command-line map).
class spec_error : public error {
 public:
  spec_error(std::string file, int line, std::string field, const std::string& message);
  const std::string& file() const { return file_; }
  int line() const { return line_; }
  const std::string& field() const { return field_; }
  const std::string& message() const { return message_; }

 private:
  std::string file_;
  int line_;
  std::string field_;
  std::string message_;
};

// Files: unreadable spec, unwritable results, HDF5 failures (with HDF5's own error stack).
class io_error : public error {
 public:
  using error::error;
};

// An MPI call returned an error code (the error handler is set to return, not abort).
class mpi_error : public error {
 public:
  using error::error;
};

}  // namespace mpipe
