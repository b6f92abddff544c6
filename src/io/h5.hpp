// A thin RAII layer over the HDF5 C API, in the manner of BlueBrain/HighFive (which this stack
// lacks): every hid_t is owned by a handle that releases it, and every failing call throws
// io_error carrying HDF5's own error stack, so a failure deep inside an append reaches the user
// as one readable message instead of a page of HDF5 diagnostics on stderr.
#pragma once

#include <hdf5.h>

#include <string>
#include <utility>

#include "mpipe/error.hpp"

namespace mpipe::h5 {

// HDF5's error stack as text, innermost cause last, then cleared. Must run right after the
// failing call: the next HDF5 API call clears the stack.
std::string error_stack();

// Throws io_error("<what>: <HDF5 error stack>").
[[noreturn]] void raise(const std::string& what);

inline hid_t check_id(hid_t id, const std::string& what) {
  if (id < 0) raise(what);
  return id;
}

inline void check(herr_t status, const std::string& what) {
  if (status < 0) raise(what);
}

// For the htri_t queries (H5Lexists, H5Aexists, ...): negative is an error, not "false".
inline bool check_tri(htri_t answer, const std::string& what) {
  if (answer < 0) raise(what);
  return answer > 0;
}

// Silences HDF5's automatic stderr report for the lifetime of the scope and restores whatever was
// there before. Per scope rather than once per process because in a thread-safe HDF5 build (as
// Debian's is) the setting is per thread, and because other code in the process may want it.
class quiet_errors {
 public:
  quiet_errors() {
    H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  ~quiet_errors() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }
  quiet_errors(const quiet_errors&) = delete;
  quiet_errors& operator=(const quiet_errors&) = delete;

 private:
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

// Owns one identifier of any kind. H5Idec_ref closes files, groups, datasets, types, spaces,
// attributes and property lists alike; files that were written are closed with close_file()
// instead, because that is where HDF5 reports a failed final flush.
class handle {
 public:
  handle() = default;
  handle(hid_t id, const std::string& what) : id_(check_id(id, what)) {}
  handle(handle&& other) noexcept : id_(std::exchange(other.id_, H5I_INVALID_HID)) {}
  handle& operator=(handle&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = std::exchange(other.id_, H5I_INVALID_HID);
    }
    return *this;
  }
  handle(const handle&) = delete;
  handle& operator=(const handle&) = delete;
  ~handle() { reset(); }

  operator hid_t() const { return id_; }  // NOLINT: reads like the C API at call sites
  hid_t release() { return std::exchange(id_, H5I_INVALID_HID); }
  void reset() {
    if (id_ >= 0) H5Idec_ref(id_);
    id_ = H5I_INVALID_HID;
  }

 private:
  hid_t id_ = H5I_INVALID_HID;
};

inline void close_file(handle& file, const std::string& what) {
  check(H5Fclose(file.release()), what);
}

// Variable-length UTF-8 string: what h5py reads as str (attributes) or bytes (compound fields).
inline handle utf8_string_type() {
  handle type(H5Tcopy(H5T_C_S1), "copy string type");
  check(H5Tset_size(type, H5T_VARIABLE), "make string type variable-length");
  check(H5Tset_cset(type, H5T_CSET_UTF8), "set string type to UTF-8");
  return type;
}

// h5py's boolean: an enum over int8 with FALSE=0, TRUE=1, which h5py maps to numpy.bool_.
inline handle bool_type() {
  handle type(H5Tenum_create(H5T_NATIVE_INT8), "create boolean enum type");
  const signed char no = 0;
  const signed char yes = 1;
  check(H5Tenum_insert(type, "FALSE", &no), "insert FALSE into boolean enum");
  check(H5Tenum_insert(type, "TRUE", &yes), "insert TRUE into boolean enum");
  return type;
}

inline handle scalar_space() { return handle(H5Screate(H5S_SCALAR), "create scalar dataspace"); }

// Frees the strings HDF5 allocated while reading variable-length data into `buffer`.
inline void reclaim(hid_t mem_type, hid_t space, void* buffer) {
#if H5_VERSION_GE(1, 12, 0)
  H5Treclaim(mem_type, space, H5P_DEFAULT, buffer);
#else
  H5Dvlen_reclaim(mem_type, space, H5P_DEFAULT, buffer);
#endif
}

}  // namespace mpipe::h5
