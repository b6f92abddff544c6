// The library form: a program of its own that registers the image stages and runs image.yaml
// through mpipe::run_pipeline, as `mpipe run` would with the plugin.
//   mpirun -np 2 ./image_pipeline --spec image.yaml [--placement pack|spread] [--outputs DIR]
//                                 [--inputs DIR]
// Exit 0: every image came back (and was written to --outputs); 1: not; 2: an error.
#include <boost/mpi/communicator.hpp>
#include <boost/mpi/environment.hpp>
#include <cstdint>
#include <exception>
#include <iostream>
#include <map>
#include <mpipe/mpipe.hpp>
#include <string>

#include "register.hpp"

namespace {

// --name value pairs; false (after a usage line) on anything else.
bool parse_args(int argc, char** argv, std::map<std::string, std::string>& args) {
  for (int i = 1; i < argc; i += 2) {
    const std::string key = argv[i];
    if (i + 1 >= argc ||
        (key != "--spec" && key != "--placement" && key != "--outputs" && key != "--inputs"))
      return false;
    args[key] = argv[i + 1];
  }
  return args.count("--spec") == 1;
}

std::uint64_t completed(const mpipe::run_result& result) {
  std::uint64_t n = 0;
  for (const mpipe::item_row& item : result.record.items)
    if (item.completed_ns > 0) ++n;
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  const auto env = mpipe::start_funneled_mpi(argc, argv);  // as mpipe itself starts MPI
  if (!env) return 2;
  boost::mpi::communicator world;
  std::map<std::string, std::string> args;
  if (!parse_args(argc, argv, args)) {
    if (world.rank() == 0)
      std::cerr << "usage: image_pipeline --spec image.yaml [--placement pack|spread|A=0,...]"
                   " [--outputs DIR] [--inputs DIR]\n";
    return 2;
  }
  try {
    image::register_stages(mpipe::stages());
    mpipe::run_options options;
    options.placement = args["--placement"];
    options.progress = false;
    if (args.count("--outputs")) options.outputs = args["--outputs"];
    if (args.count("--inputs")) options.inputs = args["--inputs"];
    const mpipe::run_result result =
        mpipe::run_pipeline(world, mpipe::load_spec(args["--spec"]), options);
    if (world.rank() != 0) return 0;
    mpipe::print_summary(std::cout, result);
    const std::uint64_t done = completed(result);
    std::cout << "image_pipeline: " << done << " of " << result.spec.items << " images on "
              << world.size() << " ranks\n";
    return done == result.spec.items ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "image_pipeline: rank " << world.rank() << ": " << e.what() << "\n";
    return 2;
  }
}
