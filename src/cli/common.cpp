// Shared command-line helpers (common.hpp).
#include "common.hpp"

#include <unistd.h>

#include <algorithm>
#include <boost/mpi/collectives.hpp>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <ostream>
#include <sstream>
#include <variant>

#include "mpipe/calibrate.hpp"
#include "mpipe/error.hpp"
#include "mpipe/hdf5_output.hpp"
#include "mpipe/spec.hpp"
#include "spec/yaml.hpp"

#ifndef MPIPE_ANALYSIS_DIR
#define MPIPE_ANALYSIS_DIR ""
#endif

namespace mpipe::cli {

// Our rank before MPI_Init, from the launcher's environment: only rank 0 prints help and
// command-line errors, so `mpirun -np 16 mpipe --help` prints once.
int launcher_rank() {
  for (const char* var : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"})
    if (const char* v = std::getenv(var)) return std::atoi(v);
  return 0;
}

kernel_kind parse_kernel(const std::string& k) {
  if (k == "sleep") return kernel_kind::sleep;
  if (k == "spin") return kernel_kind::spin;
  return kernel_kind::compute;
}

wait_policy parse_wait(const std::string& w) {
  if (w == "auto") return wait_policy::automatic;
  if (w == "spin") return wait_policy::spin;
  if (w == "yield") return wait_policy::yield;
  return wait_policy::block;
}

std::string joined(int argc, char** argv) {
  std::string s;
  for (int i = 0; i < argc; ++i) {
    if (i) s += ' ';
    s += argv[i];
  }
  return s;
}

// The file's bytes, or an io_error naming the file and the reason (a directory, a FIFO or device,
// a file over 16 MiB: yaml.hpp's bounded read_text_file).
std::string read_text(const std::string& path, const std::string& what) {
  return yaml_in::read_text_file(path, what);
}

// Only rank 0 reads the file (a cluster without a shared file system still works, and an
// unreadable file is reported once); every rank parses the same text, so a bad spec fails
// identically everywhere and all ranks leave together, without a hang. A scenario is built in:
// every rank has its text already.
namespace {

// --plugin, given to any subcommand that takes a spec: added to the spec's own plugins, so that
// every command that runs the spec (run, sweep, advise --verify) loads them the one way it
// loads `plugins:`.
std::vector<std::string>& cli_plugins() {
  static std::vector<std::string> paths;
  return paths;
}

pipeline_spec with_cli_plugins(pipeline_spec spec, const std::string& file) {
  if (!file.empty()) spec.dir = std::filesystem::absolute(file).parent_path().string();
  for (const auto& p : cli_plugins()) spec.plugins.push_back(std::filesystem::absolute(p).string());
  return spec;
}

}  // namespace

pipeline_spec load_on_all(const boost::mpi::communicator& world, const std::string& file,
                          const std::string& scenario) {
  if (!scenario.empty()) return with_cli_plugins(scenario_spec(scenario), "");
  std::string text, problem;
  if (world.rank() == 0) {
    try {
      text = file.empty() ? seed_spec_text() : read_text(file);
    } catch (const std::exception& e) {
      problem = e.what();
    }
  }
  boost::mpi::broadcast(world, problem, 0);
  if (!problem.empty()) throw io_error(problem);
  boost::mpi::broadcast(world, text, 0);
  return with_cli_plugins(parse_spec(text, file.empty() ? "<builtin seed>" : file), file);
}

// Rank 0 checks the results path (the only rank that writes it) and every rank learns the
// verdict, so a bad --out stops the whole job before any work, with one message.
void check_writable_on_all(const boost::mpi::communicator& world, const std::string& path) {
  std::string problem;
  if (world.rank() == 0) {
    try {
      check_writable(path);
    } catch (const std::exception& e) {
      problem = e.what();
    }
  }
  boost::mpi::broadcast(world, problem, 0);
  if (!problem.empty()) throw io_error(problem);
}

// The platform measured by the newest `mpipe calibrate` run in `path` (of its last 50 runs),
// or nothing when there is none or the file cannot be read: the run then predicts nothing.
std::optional<platform> newest_calibration(const std::string& path) {
  try {
    if (!std::ifstream(path).good()) return std::nullopt;
    const auto ids = list_runs(path);
    for (std::size_t n = 0; n < ids.size() && n < 50; ++n) {
      const std::string& id = ids[ids.size() - 1 - n];
      const auto head = read_run(path, id, run_part::attributes);
      const auto* kind = head.get("kind");
      if (kind == nullptr || !std::holds_alternative<std::string>(*kind) ||
          std::get<std::string>(*kind) != "calibration")
        continue;
      auto rec = read_run(path, id);  // rows only of the one run used
      return parse_platform(platform_yaml(rec, "calibration " + id), path + " run " + id);
    }
  } catch (const error&) {
  }
  return std::nullopt;
}

std::optional<platform> model_platform(const std::string& given, const std::string& out,
                                       const char* argv0, std::string& note) {
  if (!given.empty()) {
    auto p = load_platform(given);
    note = p.name + " (" + given + ")";
    return p;
  }
  if (auto cal = newest_calibration(out)) {
    note = cal->name + " (" + cal->file + ", the newest calibration in --out)";
    return cal;
  }
  namespace fs = std::filesystem;
  const fs::path exe = fs::path(argv0 ? argv0 : "").parent_path();
  for (const fs::path& p :
       {fs::path("jobs/platforms/laptop-shm.yaml"), exe / "../jobs/platforms/laptop-shm.yaml"}) {
    std::error_code ec;
    if (!fs::exists(p, ec)) continue;
    auto plat = load_platform(p.string());
    note = plat.name + " (" + p.string() + ", the fallback: no calibration in " + out + ")";
    return plat;
  }
  note = "none";
  return std::nullopt;
}

// The spec validate, predict and advise work on (no MPI: read here, not broadcast): --spec,
// --scenario or the built-in seed, then --inflight and --replicas.
pipeline_spec model_spec(const std::string& file, const std::string& scenario,
                         std::uint64_t inflight, const std::string& replicas) {
  auto spec = with_cli_plugins(!scenario.empty() ? scenario_spec(scenario)
                               : file.empty()    ? seed_spec()
                                                 : load_spec(file),
                               file);
  if (inflight) spec.inflight = inflight;
  apply_replicas(spec, replicas);
  return spec;
}

std::string stand_in_warning(const platform& plat, const pipeline_spec& spec,
                             const placement& where, const std::vector<std::string>& hosts,
                             const std::string& whose) {
  std::string out;
  for (const tier t : {tier::cross_host, tier::same_host}) {
    const std::string what = stand_in_text(plat, t);
    if (what.empty()) continue;
    std::vector<std::string> edges;
    for (const auto& e : spec.edges) {
      const auto& from = where.replica_ranks[static_cast<std::size_t>(spec.stage_index(e.from))];
      const auto& to = where.replica_ranks[static_cast<std::size_t>(spec.stage_index(e.to))];
      bool in_tier = false;
      for (const int a : from)
        for (const int b : to) {
          if (a == b || a < 0 || b < 0) continue;
          const auto ua = static_cast<std::size_t>(a), ub = static_cast<std::size_t>(b);
          if (ua >= hosts.size() || ub >= hosts.size()) continue;
          in_tier |= (hosts[ua] != hosts[ub]) == (t == tier::cross_host);
        }
      if (in_tier) edges.push_back(e.from + "->" + e.to);
    }
    if (edges.empty()) continue;
    std::string list;
    for (const auto& e : edges) list += (list.empty() ? "" : ", ") + e;
    const bool cross = t == tier::cross_host;
    out +=
        std::string(out.empty() ? "" : "\n") + "mpipe: warning: platform '" + plat.name +
        "' has no measured " + to_string(t) + " numbers (" + what + "), but " +
        std::to_string(edges.size()) + " edge(s) of " + whose + " " +
        (cross ? "cross hosts" : "stay on one host") + ": " + list + "; their predicted " +
        to_string(t) + " costs are stand-ins, not measurements" +
        (cross ? " (calibrate on ranks of two hosts, e.g. a 2-node Slurm job, for real ones)" : "");
  }
  return out;
}

std::string fixed(double v, int digits) {
  std::ostringstream o;
  if (std::isinf(v)) return "inf";
  o << std::fixed << std::setprecision(digits) << v;
  return o.str();
}

void add_spec_options(CLI::App& sub, std::string& spec_file, std::string& scenario,
                      const std::string& spec_default) {
  auto* spec =
      sub.add_option("--spec", spec_file, "Pipeline spec (YAML); default: " + spec_default);
  sub.add_option("--scenario", scenario,
                 "A built-in pipeline by name: seed, render-farm, api-calls (`mpipe scenarios` "
                 "lists them); instead of --spec")
      ->excludes(spec);
  sub.add_option("--plugin", cli_plugins(),
                 "A shared library of stage functions (MPIPE_PLUGIN, docs/stages.md), loaded on "
                 "every rank besides the spec's plugins:; repeatable");
}

// The environment variable's value, or `fallback` when it is unset or empty.
std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

namespace {

// "a, b or c" and "python3-a python3-b python3-c": the words of the messages below.
std::string or_list(const std::vector<std::string>& names) {
  std::string s;
  for (std::size_t i = 0; i < names.size(); ++i)
    s += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
  return s;
}

std::string debian_packages(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "python3-" : " python3-") + n;
  return s;
}

// One interpreter: it checks the packages the module needs where it imports them anyway
// (saying plainly what is missing instead of a traceback), then runs the module as -m would.
std::string bootstrap(const std::string& module, const std::vector<std::string>& imports) {
  std::string joined_imports;
  for (const auto& n : imports) joined_imports += (joined_imports.empty() ? "" : ", ") + n;
  return "import sys\n"
         "try:\n"
         "    import " +
         joined_imports +
         "\n"
         "except ImportError as e:\n"
         "    sys.stderr.write('mpipe: error: ' + sys.executable + ' cannot import " +
         or_list(imports) + " (' + str(e) + '): apt-get install " + debian_packages(imports) +
         " (or run scripts/setup.sh)\\n')\n"
         "    sys.exit(2)\n"
         "import runpy\n"
         "runpy.run_module('" +
         module + "', run_name='__main__', alter_sys=True)\n";
}

}  // namespace

int run_python(const std::string& module, const std::vector<std::string>& args,
               const std::vector<std::string>& imports) {
  const std::string python = env_or("MPIPE_PYTHON", "/usr/bin/python3");
  const std::string dir = env_or("MPIPE_ANALYSIS_DIR", MPIPE_ANALYSIS_DIR);
  if (::access(python.c_str(), X_OK) != 0) {
    std::cerr << "mpipe: error: " << python
              << " not found or not executable: the analysis needs Debian's python3 with "
              << debian_packages(imports) << " (apt-get install python3 "
              << debian_packages(imports)
              << ", or scripts/setup.sh); MPIPE_PYTHON names another interpreter\n";
    return 2;
  }
  if (dir.empty() ||
      !std::filesystem::exists(std::filesystem::path(dir) / "mpipe_analysis" / "__init__.py")) {
    std::cerr << "mpipe: error: the analysis package (mpipe_analysis) is not in '" << dir
              << "': set MPIPE_ANALYSIS_DIR to the folder that holds mpipe_analysis/ (the "
                 "source tree's analysis/)\n";
    return 2;
  }
  const std::string old = env_or("PYTHONPATH", "");
  const std::string path = old.empty() ? dir : dir + ":" + old;
  ::setenv("PYTHONPATH", path.c_str(), 1);
  ::setenv("MPLBACKEND", "Agg", 1);
  std::vector<std::string> argv_s{python, "-c", bootstrap(module, imports)};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : argv_s) argv.push_back(s.data());
  argv.push_back(nullptr);
  ::execv(python.c_str(), argv.data());
  std::cerr << "mpipe: error: cannot run " << python << ": " << std::strerror(errno) << "\n";
  return 2;
}

}  // namespace mpipe::cli
