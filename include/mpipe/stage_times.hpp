// Measured stage times for the model. A stage that runs the user's own code (`kernel: NAME`, a
// registered function, or `kernel: exec`, a worker process) has only an estimated work_ms
// (default 0), so `mpipe predict` and `mpipe advise` know nothing of it until they are told what
// a previous run measured: `--stage-times FILE[:RUN]` reads that run's event rows and puts each
// stage's measured service time into the spec's work_ms. No MPI.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "mpipe/records.hpp"
#include "mpipe/spec.hpp"

namespace mpipe {

// Each stage's measured service time in ms, by stage name: the mean of finished_ns - started_ns
// over its event rows (every replica), leaving out item 0 -- which pays for worker start-up,
// first touches and cold caches -- when the stage has rows for more than 2 items. A wall time,
// with the stage's threads as they ran. Stages without event rows are absent.
std::map<std::string, double> measured_stage_ms(const run_record& run);

// Sets work_ms of every stage of `spec` named in `times`, so that the model's service time is the
// measured one: work_ms = the time, except compute, whose model divides work_ms by its threads
// (work_ms = time x threads). Every kernel, synthetic or not. Returns the names of spec's stages
// not in `times`, in spec order; they keep their work_ms.
std::vector<std::string> apply_stage_times(pipeline_spec& spec,
                                           const std::map<std::string, double>& times);

// A previous run's stage times, as `--stage-times` reads them.
struct stage_times {
  std::string file;
  std::string run_id;
  std::uint64_t items = 0;           // items measured (the most of any stage), item 0 included
  bool first_item_left_out = false;  // some stage's mean leaves item 0 out
  std::map<std::string, double> ms;  // measured_stage_ms
  std::vector<std::string> order;    // the stages in the run's order, for printing
};

// "FILE" (the newest pipeline run, `kind` absent or "run") or "FILE:RUN" (that run; a FILE that
// exists as given is taken whole, colons and all). Throws io_error naming the file (and the run)
// when the file cannot be read, has no such run, the run is not a pipeline run, or it has no
// event rows.
stage_times load_stage_times(const std::string& file_and_run);

// One line, no newline: "stage times from F run ID (7 items, item 0 left out): A 9.4 ms, ...".
std::string describe(const stage_times& t);

// What `--stage-times FILE[:RUN]` does to a spec: load_stage_times, apply_stage_times, and the
// text to print: describe's line, then (if any) a note naming the spec's stages the run lacks.
std::string use_stage_times(pipeline_spec& spec, const std::string& file_and_run);

}  // namespace mpipe
