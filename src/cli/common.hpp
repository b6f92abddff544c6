// What every mpipe subcommand needs from the command line's side: reading the spec on all ranks,
// checking the results path before work starts, and small text helpers. Each subcommand that is
// large enough lives in its own file (src/cli/<command>.cpp) and registers itself with main.cpp
// through an add_<command>_command function; these helpers keep them consistent.
#pragma once

#include <CLI/CLI.hpp>
#include <boost/mpi/communicator.hpp>
#include <boost/mpi/environment.hpp>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mpipe/placement.hpp"
#include "mpipe/platform.hpp"
#include "mpipe/runtime.hpp"
#include "mpipe/spec.hpp"
#include "text/table.hpp"

namespace mpipe::cli {

// What main calls once CLI11 has parsed a subcommand that lives in its own file.
using command_action = std::function<int(int argc, char** argv)>;

// Our rank before MPI_Init, from the launcher's environment: only rank 0 prints help and
// command-line errors, so `mpirun -np 16 mpipe --help` prints once.
int launcher_rank();

// "sleep" | "spin" | "compute" (CLI11 has checked the set), "auto" | "spin" | "yield" | "block".
kernel_kind parse_kernel(const std::string& k);
wait_policy parse_wait(const std::string& w);

// argv joined by spaces: stored with every run, so a run says how it was made.
std::string joined(int argc, char** argv);

// The file's bytes, or an io_error "<path>: cannot read <what>: <reason>" (missing, a directory,
// a FIFO or device, over the 16 MiB limit): a bounded read that cannot hang on /dev/zero or a FIFO.
std::string read_text(const std::string& path, const std::string& what = "spec");

// Only rank 0 reads the file (a cluster without a shared file system still works, and an
// unreadable file is reported once); every rank parses the same text, so a bad spec fails
// identically everywhere and all ranks leave together, without a hang. A scenario is built in.
pipeline_spec load_on_all(const boost::mpi::communicator& world, const std::string& file,
                          const std::string& scenario);

// Rank 0 checks the results path (the only rank that writes it) and every rank learns the
// verdict, so a bad --out stops the whole job before any work, with one message (io_error).
void check_writable_on_all(const boost::mpi::communicator& world, const std::string& path);

// The platform measured by the newest `mpipe calibrate` run in `path` (of its last 50 runs),
// or nothing when there is none or the file cannot be read: the run then predicts nothing.
std::optional<platform> newest_calibration(const std::string& path);

// The platform a model predicts on, and a note saying which it is: `given` (a file) if set,
// else the newest calibration in `out`, else the shipped jobs/platforms/laptop-shm.yaml (beside
// the working directory or the binary, argv0), else nothing.
std::optional<platform> model_platform(const std::string& given, const std::string& out,
                                       const char* argv0, std::string& note);

// The spec validate, predict and advise work on (no MPI: read here, not broadcast): --spec,
// --scenario or the built-in seed, then --inflight (0: the spec's) and --replicas.
pipeline_spec model_spec(const std::string& file, const std::string& scenario,
                         std::uint64_t inflight, const std::string& replicas);

// --spec FILE and --scenario NAME on a subcommand, each excluding the other; `spec_default`
// says what an absent --spec means for it.
void add_spec_options(CLI::App& sub, std::string& spec_file, std::string& scenario,
                      const std::string& spec_default =
                          "the built-in reference pipeline "
                          "(jobs/pipelines/seed.yaml)");

// One warning line, or "" when there is nothing to warn about: a prediction on `plat` for this
// placement leans on numbers that are not the platform's own -- its cross-host (or same-host)
// tier is a stand-in (link_cost::stand_in: a calibration on one host copies same-host's numbers
// into cross-host) and edges of the placement cross hosts (sit on one host). Names the edges
// ("A->B"; any replica pair in that tier counts) and says what stands in. `whose` names the
// placement in the message ("this placement", "the first choice").
std::string stand_in_warning(const platform& plat, const pipeline_spec& spec,
                             const placement& where, const std::vector<std::string>& hosts,
                             const std::string& whose = "this placement");

// v with `digits` decimals; "inf" for infinity.
std::string fixed(double v, int digits);

// The one table printer (src/text/table.hpp).
using mpipe::text_table;

// MPI for a subcommand: mpipe::start_funneled_mpi (runtime.hpp); null: exit 2.
using mpipe::start_funneled_mpi;

// The environment variable's value, or `fallback` when it is unset or empty.
std::string env_or(const char* name, const std::string& fallback);

// For the subcommands whose work is the Python package analysis/mpipe_analysis (report, export,
// compare), so users need one command: runs `python -m module args...` in place of this process
// (execv: its exit status and output are the command's). The interpreter is /usr/bin/python3 or
// MPIPE_PYTHON; the package is at the source tree's analysis/ (compiled in) or MPIPE_ANALYSIS_DIR,
// put first on PYTHONPATH. `imports` are checked before the module runs, so a missing one is
// named with its Debian package rather than shown as a traceback. Returns only on failure:
// status 2, with a message saying what is missing and how to get it.
int run_python(const std::string& module, const std::vector<std::string>& args,
               const std::vector<std::string>& imports = {"matplotlib", "h5py", "pandas"});

}  // namespace mpipe::cli
