// MPI_Init for the processes that run pipelines (start_funneled_mpi, runtime.hpp).
#include <boost/mpi/communicator.hpp>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "mpipe/runtime.hpp"
#include "ompi_internals.h"

namespace mpipe {

std::unique_ptr<boost::mpi::environment> start_funneled_mpi(int argc, char** argv) {
  auto env =
      std::make_unique<boost::mpi::environment>(argc, argv, boost::mpi::threading::funneled, false);
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  if (env->thread_level() < boost::mpi::threading::funneled) {
    if (boost::mpi::communicator().rank() == 0)
      std::cerr << "mpipe: error: the MPI library does not provide MPI_THREAD_FUNNELED\n";
    return nullptr;
  }
  // Now, before any request exists: one started with the locks must also complete with them.
  const char* keep = std::getenv("MPIPE_MPI_THREAD_LOCKS");
  if (keep == nullptr || std::strcmp(keep, "1") != 0) mpipe_ompi_set_thread_locks(0);
  return env;
}

}  // namespace mpipe
