#include "ompi_internals.h"

#include <string.h>

#ifdef MPIPE_HAVE_OMPI_INTERNALS
#include "ompi_config.h"
/* after ompi_config.h */
#include "ompi/communicator/communicator.h"
#include "ompi/mca/bml/bml.h"
#include "ompi/mca/pml/base/base.h"
#include "ompi/proc/proc.h"
#include "opal/runtime/opal_progress.h"
#include "opal/threads/thread_usage.h"

const char* mpipe_ompi_pml(void) {
  return mca_pml_base_selected_component.pmlm_version.mca_component_name;
}

int mpipe_ompi_peer_btl(MPI_Comm comm, int peer, char* out, int capacity) {
  if (capacity <= 0 || strcmp(mpipe_ompi_pml(), "ob1") != 0) return -1;
  if (peer < 0 || peer >= ompi_comm_size((ompi_communicator_t*)comm)) return -1;
  ompi_proc_t* proc = ompi_comm_peer_lookup((ompi_communicator_t*)comm, peer);
  if (proc == NULL) return -1;
  mca_bml_base_endpoint_t* ep =
      (mca_bml_base_endpoint_t*)proc->proc_endpoints[OMPI_PROC_ENDPOINT_TAG_BML];
  if (ep == NULL) return -1;
  out[0] = '\0';
  const size_t n = mca_bml_base_btl_array_get_size(&ep->btl_eager);
  for (size_t i = 0; i < n; ++i) {
    const mca_bml_base_btl_t* b = mca_bml_base_btl_array_get_index(&ep->btl_eager, i);
    const char* name = b->btl->btl_component->btl_version.mca_component_name;
    if (strstr(out, name) != NULL) continue; /* two modules of one BTL (e.g. two NICs) */
    if (out[0] != '\0') strncat(out, "+", (size_t)capacity - strlen(out) - 1);
    strncat(out, name, (size_t)capacity - strlen(out) - 1);
  }
  return out[0] != '\0' ? 0 : -1;
}

int mpipe_ompi_set_yield_when_idle(int yield) {
  return opal_progress_set_yield_when_idle(yield != 0) ? 1 : 0;
}

int mpipe_ompi_set_thread_locks(int on) {
  const int was = opal_using_threads() ? 1 : 0;
  opal_set_using_threads(on != 0);
  return was;
}

int mpipe_ompi_thread_locks(void) { return opal_using_threads() ? 1 : 0; }

#else

int mpipe_ompi_set_thread_locks(int on) {
  (void)on;
  return -1;
}

int mpipe_ompi_thread_locks(void) { return -1; }

const char* mpipe_ompi_pml(void) { return ""; }

int mpipe_ompi_peer_btl(MPI_Comm comm, int peer, char* out, int capacity) {
  (void)comm;
  (void)peer;
  (void)out;
  (void)capacity;
  return -1;
}

int mpipe_ompi_set_yield_when_idle(int yield) {
  (void)yield;
  return -1;
}

#endif
