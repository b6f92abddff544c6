// The work a stage does for one item. Three kinds because they stress a placement differently:
// sleep needs no core (an I/O-bound service), spin needs work_ms of CPU on each thread, and
// compute does real arithmetic whose speed depends on what else runs on the core.
#pragma once

#include "mpipe/spec.hpp"

namespace mpipe {

// Measures how many compute iterations one core does per ms (about 50 ms, once per process).
// Called at start-up so the first item is not slowed down by it; safe to call again.
double calibrate_compute();
double compute_iterations_per_ms();

// Runs the kernel for work_ms on `threads` OpenMP threads. Returns a value derived from the work
// (compute: the arithmetic's result) so the compiler cannot drop it.
double run_kernel(kernel_kind kind, double work_ms, int threads);

}  // namespace mpipe
