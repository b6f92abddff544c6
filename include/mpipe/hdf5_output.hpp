// Results files: one HDF5 file holds many runs, each a group /runs/<run-id>. A file only ever
// gains runs: appending writes a copy next to the file and renames it over the original, so a
// crash or a kill at any moment leaves either the old file or the new one, never a damaged one,
// and earlier runs are never rewritten in place.
#pragma once

#include <string>
#include <vector>

#include "mpipe/records.hpp"

namespace mpipe {

// Throws io_error (with the reason) if `path` cannot be created or appended to: called before a
// run starts so that a typo in --out costs seconds, not a whole allocation.
void check_writable(const std::string& path);

// Appends the run and returns its id: UTC start time, sortable, made unique within the file
// (e.g. "20261124T013512.123Z", then "-2", "-3" ... on a clash). Creates the file and parent
// directories as needed. Holds an exclusive lock (<file>.lock, where <file> is `path` made absolute
// with symlinks and ".." resolved, so every spelling of one file takes the same lock) while
// appending so two jobs writing the same file both keep their runs; the lock file is removed
// afterwards. Through a symlink the file it points to is replaced, the link kept. Throws io_error
// with HDF5's error text.
std::string append_run(const std::string& path, run_record run);

// How long append_run waits for another writer's lock: MPIPE_LOCK_WAIT_S if set to a number
// >= 0, else 300 s.
double lock_wait_s();

// Reading back (tests, `mpipe` subcommands); notebooks use h5py instead.
std::vector<std::string> list_runs(const std::string& path);
// attributes: only the run's attributes, no dataset rows -- enough to find a run by its kind
// without reading the rows of every run on the way.
enum class run_part { all, attributes };
run_record read_run(const std::string& path, const std::string& run_id,
                    run_part part = run_part::all);

}  // namespace mpipe
