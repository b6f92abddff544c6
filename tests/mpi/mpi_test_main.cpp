// Shared main for MPI GoogleTests: every rank runs every test (they are collective), only rank 0
// prints, and the exit code is the same on all ranks so mpirun reports any rank's failure.
#include <gtest/gtest.h>
#include <mpi.h>

#include <boost/mpi/environment.hpp>
#include <cstdio>

#include "mpipe/runtime.hpp"

namespace {

// Ranks other than 0 print nothing but their failures, each line marked with the rank, so a
// failure on rank 3 says what failed instead of only turning the exit code red.
class failures_only : public ::testing::EmptyTestEventListener {
 public:
  explicit failures_only(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& r) override {
    if (!r.failed()) return;
    std::fprintf(stderr, "[rank %d] %s:%d: Failure\n%s\n", rank_,
                 r.file_name() ? r.file_name() : "?", r.line_number(), r.message());
  }

 private:
  int rank_;
};

}  // namespace

int main(int argc, char** argv) {
  // As mpipe itself starts MPI (Open MPI's thread locks off), so the tests run what users run.
  const auto env = mpipe::start_funneled_mpi(argc, argv);
  if (!env) return 2;
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
  ::testing::InitGoogleTest(&argc, argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new failures_only(rank));
  }
  int failed = RUN_ALL_TESTS() != 0 ? 1 : 0;
  int any = 0;
  MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  return any;
}
