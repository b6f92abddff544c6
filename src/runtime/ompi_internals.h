/* What only Open MPI's own data structures answer or set, asked through its internal headers.
 *
 * Which transport really reaches a peer. Why: the tier (same-host, cross-host) says what a hop
 * *should* use; a run that meant to use InfiniBand but fell back to TCP looks the same from
 * outside. Open MPI's MPI_T offers no per-peer BTL variable, so this asks the ob1 PML's BML
 * endpoint for the peer directly. It is C because Open MPI's internal headers are C, and optional:
 * without them (another MPI, or a build that did not find the headers) the functions answer "" / -1
 * and mpipe says "unknown".
 *
 * Whether idle progress yields the CPU. Why: mpirun --oversubscribe turns on
 * mpi_yield_when_idle, and then every empty poll is a sched_yield(); a clock ping-pong between
 * two ranks that have a core each measured 11 us round trips instead of 0.8 us, and the clock
 * offsets came out 2-4 us off instead of < 0.05 us. The clock sync turns it off while it runs.
 *
 * Whether Open MPI takes its thread locks. Why: it takes them at any thread level above
 * MPI_THREAD_SINGLE, FUNNELED too, where no two threads can be in MPI at once (start_funneled_mpi
 * in mpi_start.cpp turns them off). */
#ifndef MPIPE_OMPI_INTERNALS_H
#define MPIPE_OMPI_INTERNALS_H

#include <mpi.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Name of the selected PML ("ob1", "ucx", "cm"); "" if unknown. */
const char* mpipe_ompi_pml(void);

/* Writes the BTLs ob1 uses for eager sends to `peer` of `comm` ("vader", "tcp", "self", or
 * several joined by '+') into out; returns 0 on success, -1 if not known (not ob1, no endpoint
 * yet, or built without Open MPI's internal headers). */
int mpipe_ompi_peer_btl(MPI_Comm comm, int peer, char* out, int capacity);

/* Sets whether opal_progress() yields when idle; returns the previous setting (0 or 1), or -1
 * (and changes nothing) where that cannot be done. */
int mpipe_ompi_set_yield_when_idle(int yield);

/* Turns Open MPI's internal thread locks on or off; returns the previous setting (0 or 1), or -1
 * (and changes nothing) where that cannot be done. See start_funneled_mpi() for why. */
int mpipe_ompi_set_thread_locks(int on);
/* 1 where they are on, 0 off, -1 unknown. */
int mpipe_ompi_thread_locks(void);

#ifdef __cplusplus
}
#endif

#endif
