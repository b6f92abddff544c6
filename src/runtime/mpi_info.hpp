// What MPI library and transport a run used, so results say "ob1 over vader" rather than
// leaving the reader to guess whether shared memory or TCP carried the messages.
#pragma once

#include <mpi.h>

#include <string>

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

}  // namespace mpipe
