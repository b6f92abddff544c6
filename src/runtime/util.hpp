// Small helpers shared by the pipeline runtime and the benchmark (internal, not installed).
#pragma once

#include <mpi.h>

#include <boost/mpi/communicator.hpp>
#include <string>

namespace mpipe {

// Wall-clock now in UTC, ISO-8601 with microseconds: "2026-11-24T01:35:12.123456Z".
std::string utc_now_iso();

// MPI_Get_processor_name: what decides whether two ranks share a host.
std::string host_name();

// A barrier that sleeps while it waits. Ranks with nothing to do (all of them but rank 0 under
// `pack`, those outside the measured pair in `mpipe bench`) would otherwise busy-poll inside
// MPI_Barrier and take cores from the ranks still working.
void polite_barrier(const boost::mpi::communicator& comm);

// Completes `request` the same way: polls briefly, then sleeps between polls. For a rank that
// may wait long while others need the cores (its turn in the clock sync, the end of a run).
void wait_politely(MPI_Request& request);

// Asks Linux to wake this thread's sleeps on time: timer slack 1 ns (the least; 0 would mean
// "the default") instead of 50 us. With the default, a 0.1 ms sleep stage takes ~0.15 ms and
// every idle slice of the communication thread is late by as much. Slack is per thread and
// inherited by threads and processes started later, so call it before starting them.
// Does nothing where prctl(PR_SET_TIMERSLACK) does not exist.
void use_exact_timers();

// Throws mpi_error with the call, the place and MPI's own text when rc is not MPI_SUCCESS (the
// error handler is set to return codes, so this is where failures surface).
void mpi_check(int rc, const char* call, const char* file, int line);
#define MPIPE_MPI_CHECK(call) ::mpipe::mpi_check((call), #call, __FILE__, __LINE__)

}  // namespace mpipe
