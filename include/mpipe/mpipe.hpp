// mpipe in one include: everything a program that runs, measures, predicts or stores pipelines
// needs. Each header below is short and says why it exists; include one of them alone to depend
// on less.
//
//   #include <mpipe/mpipe.hpp>
//   boost::mpi::environment env(argc, argv, boost::mpi::threading::funneled);
//   boost::mpi::communicator world;
//   mpipe::run_result r = mpipe::run_pipeline(world, mpipe::seed_spec(), {});
//   if (world.rank() == 0) mpipe::print_summary(std::cout, r);
#pragma once

#include "mpipe/advise.hpp"       // placements searched by the model, and why
#include "mpipe/bench.hpp"        // what one hop costs per tier and serialization
#include "mpipe/calibrate.hpp"    // bench rows -> a platform the model can use
#include "mpipe/error.hpp"        // the errors every part throws
#include "mpipe/faults.hpp"       // signals, injected faults, the stall watchdog
#include "mpipe/graph.hpp"        // the DAG and its critical path
#include "mpipe/hdf5_output.hpp"  // results files that only ever gain runs
#include "mpipe/kernels.hpp"      // the sleep / spin / compute stage kernels
#include "mpipe/model.hpp"        // throughput bound, latency model, the rule of thumb
#include "mpipe/placement.hpp"    // stages (and replicas) onto ranks
#include "mpipe/platform.hpp"     // what a machine's hops cost, from a file or a calibration
#include "mpipe/records.hpp"      // one struct per dataset row of a run
#include "mpipe/runtime.hpp"      // run a placed pipeline on MPI ranks
#include "mpipe/spec.hpp"         // pipelines from YAML
#include "mpipe/stage_times.hpp"  // measured stage times into the model
#include "mpipe/stages.hpp"       // your own code as stages: typed functions, plugins
#include "mpipe/stats.hpp"        // quantiles, bootstrap CIs, break-even
#include "mpipe/sweep.hpp"        // grids of runs in shuffled rounds
