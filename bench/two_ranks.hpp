// The start of bench/'s MPI-only tools (split_message, probe_or_post): MPI up, exactly two
// ranks, or one clear error and every rank gone.
#pragma once

#include <mpi.h>

#include <cstdio>

// This process's rank (0 or 1).
inline int start_two_ranks(int& argc, char**& argv, const char* tool) {
  MPI_Init(&argc, &argv);
  int rank = 0, ranks = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  if (ranks != 2) {
    if (rank == 0) std::fprintf(stderr, "%s: run it on 2 ranks (mpirun -np 2)\n", tool);
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  return rank;
}
