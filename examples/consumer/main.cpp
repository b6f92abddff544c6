// Runs mpipe's built-in reference pipeline from a program of one's own, through the entry point
// `mpipe run` uses (run_pipeline), and checks on rank 0 that every item came back.
//   mpirun -np 2 ./consumer [--time-scale 0.01] [--placement spread]
// Exit 0: every item completed; 1: some did not; 2: bad arguments or an mpipe error.
#include <boost/mpi/communicator.hpp>
#include <boost/mpi/environment.hpp>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <mpipe/mpipe.hpp>
#include <mpipe/version.hpp>
#include <string>
#include <variant>

int main(int argc, char** argv) {
  const auto env = mpipe::start_funneled_mpi(argc, argv);  // as mpipe itself starts MPI
  if (!env) return 2;
  boost::mpi::communicator world;

  mpipe::run_options options;
  options.time_scale = 0.01;  // the seed's 700 ms critical path in about 7 ms per item
  options.placement = "spread";
  options.progress = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if ((arg == "--time-scale" || arg == "--placement") && i + 1 < argc) {
      const std::string value = argv[++i];
      if (arg == "--time-scale")
        options.time_scale = std::strtod(value.c_str(), nullptr);
      else
        options.placement = value;
    } else {
      if (world.rank() == 0)
        std::cerr << "usage: consumer [--time-scale X] [--placement pack|spread|A=0,...]\n";
      return 2;
    }
  }

  try {
    const mpipe::pipeline_spec spec = mpipe::seed_spec();
    const mpipe::run_result result = mpipe::run_pipeline(world, spec, options);
    if (world.rank() != 0) return 0;
    mpipe::print_summary(std::cout, result);

    // Every item the spec asked for has a row that says it came back to the source.
    std::uint64_t completed = 0;
    for (const mpipe::item_row& item : result.record.items)
      if (item.completed_ns > 0) ++completed;
    const mpipe::attribute_value* complete = result.record.get("complete");
    const bool whole =
        complete && std::holds_alternative<bool>(*complete) && std::get<bool>(*complete);
    std::cout << "consumer: " << completed << " of " << result.spec.items << " items completed on "
              << world.size() << " ranks (mpipe " << mpipe::version << ")\n";
    if (!whole || completed != result.spec.items) {
      std::cerr << "consumer: FAIL: the run did not complete every item\n";
      return 1;
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "consumer: rank " << world.rank() << ": " << e.what() << "\n";
    return 2;
  }
}
