// Small helpers shared by the pipeline runtime and the benchmark (internal, not installed).
#pragma once

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

}  // namespace mpipe
