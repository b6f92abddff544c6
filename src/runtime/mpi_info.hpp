// What MPI library and transport a run used, so results say "ob1 over vader" rather than
// leaving the reader to guess whether shared memory or TCP carried the messages.
#pragma once

#include <mpi.h>

#include <string>
#include <utility>
#include <vector>

#include "mpipe/records.hpp"

namespace mpipe {

std::string mpi_library_version();   // MPI_Get_library_version, first line
std::string mpi_standard_version();  // "3.1"
// "pml=ob1 btl=self,vader,tcp (requested pml='^ucx' btl='^uct,openib,ofi')": the selected PML
// when the library exposes it, and the MCA selections from MPI_T control variables.
std::string mpi_transport();
// What carries messages from this rank to `peer` of `comm`, as Open MPI itself chose it:
// "ob1/vader", "ob1/tcp", "ob1/self" (the BTL of the peer's endpoint), "ucx" or "cm" (those PMLs
// pick transports inside their own library), or "unknown" where the library does not say.
std::string peer_transport(MPI_Comm comm, int peer);

// Rank 0's peers for a benchmark, from every rank's host (in rank order): the first other rank
// on its host and the first on another host, -1 where there is none.
std::pair<int, int> bench_peers(const std::vector<std::string>& hosts);

// What every stored run says about where it came from, pipeline or bench alike: command line,
// mpipe version and commit, MPI library, transport and thread locks, world size, distinct hosts in
// rank order, UTC start and end.
void set_provenance(run_record& rec, const std::string& command_line, int world_size,
                    const std::vector<std::string>& hosts, const std::string& utc_start,
                    const std::string& utc_end);

}  // namespace mpipe
