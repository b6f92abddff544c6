#include "util.hpp"

#include <mpi.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <chrono>
#include <cstdio>
#include <ctime>
#include <thread>

#include "mpipe/error.hpp"

namespace mpipe {

std::string utc_now_iso() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t secs = std::chrono::system_clock::to_time_t(now);
  const auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() %
      1'000'000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[96];
  std::snprintf(out, sizeof out, "%s.%06ldZ", buf, static_cast<long>(micros));
  return out;
}

std::string host_name() {
  char buf[256] = {};
  int len = 0;
  MPI_Get_processor_name(buf, &len);
  return std::string(buf, static_cast<std::size_t>(len));
}

void polite_barrier(const boost::mpi::communicator& comm) {
  MPI_Request request;
  MPIPE_MPI_CHECK(MPI_Ibarrier(comm, &request));
  wait_politely(request);
}

void wait_politely(MPI_Request& request) {
  int done = 0;
  for (int spins = 0;; ++spins) {
    MPIPE_MPI_CHECK(MPI_Test(&request, &done, MPI_STATUS_IGNORE));
    if (done) return;
    if (spins > 100)
      std::this_thread::sleep_for(std::chrono::microseconds(spins > 1000 ? 500 : 50));
  }
}

void use_exact_timers() {
#ifdef PR_SET_TIMERSLACK
  prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);  // best effort: a late sleep is not an error
#endif
}

void mpi_check(int rc, const char* call, const char* file, int line) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw mpi_error(std::string(call) + " failed at " + file + ":" + std::to_string(line) + ": " +
                  std::string(text, static_cast<std::size_t>(len)));
}

}  // namespace mpipe
