// What one stage instance does with one item, whatever its kernel: a synthetic kernel followed
// by a synthetic payload, the user's C++ function on the user's objects, or a request to its exec
// worker. The runtime around it only moves values; this is the one place that knows kernels.
#pragma once

#include <boost/container/small_vector.hpp>
#include <cstdint>
#include <memory>
#include <vector>

#include "bindings.hpp"
#include "exec_worker.hpp"
#include "mpipe/graph.hpp"
#include "transport.hpp"

namespace mpipe {

// An item's data on one edge: bytes (synthetic, a file's contents, an exec reply, or a user
// object that crossed ranks before it is decoded) or a user object, shared with every consumer
// of the producing stage and moved into the last one.
struct value {
  payload_ptr bytes;
  std::shared_ptr<void> object;
};

// A stage's inputs for one item, by input slot. Most stages have one or two in-edges, so they are
// kept inline: a std::vector cost an allocation and a free per in-memory hand-off.
using value_list = boost::container::small_vector<value, 2>;

// Real bytes, different per item and producer, so nothing measured could be a cached buffer.
payload_ptr make_payload(std::uint64_t bytes, std::uint64_t item, int stage);

// The bytes a value stands for on an edge whose producer sends `type` (null: bytes already).
payload_ptr bytes_of(const value& v, const detail::type_ops* type, serialization_kind how);

class stage_work {
 public:
  // Starts the exec worker of an exec stage (throws spec_error naming the stage when it cannot).
  stage_work(const pipeline_spec& spec, const graph& g, const bindings& b, int stage, int replica,
             int rank);

  // A stage's item: its inputs by slot (consumed), its result for every out-edge. finished_ns:
  // when the work itself ended (before a synthetic payload is filled: that is hand-over work).
  value run(std::uint64_t item, value_list& inputs, std::int64_t& finished_ns);
  // A synthetic stage's output without its kernel: for a sleep stage whose sleep the engine
  // keeps as a deadline (runtime.cpp).
  value synthetic_output(std::uint64_t item) const;
  // The source's item: a file's bytes or a synthetic payload, through the source's kernel.
  value emit(std::uint64_t item, std::int64_t& finished_ns);
  // exec: ends a call blocked on the worker (stall watchdog, abort); from any thread.
  void kill() noexcept;
  // exec: waits (at most 10 s) until the worker waits for its first request, so its start-up
  // is not charged to the first item.
  void wait_ready() const;
  // exec: the pipes' own cost per item (pipe_round_trip_us at this instance's mean request and
  // reply sizes); NaN for other kernels or when no item went through.
  double pipe_cost_us() const;

 private:
  value call_worker(value_list& inputs, const std::vector<int>& edges, std::int64_t& finished_ns);
  value call_function(value_list& inputs, std::int64_t& finished_ns);

  const pipeline_spec& spec_;
  const bindings& b_;
  const stage_spec& st_;
  int stage_;
  std::vector<int> in_edges_;  // in slot order
  std::unique_ptr<exec_worker> worker_;
  std::uint64_t calls_ = 0, request_bytes_ = 0, reply_bytes_ = 0;  // exec
};

// Median round trip, in us, of `calls` requests of one `bytes`-long frame to an echo worker
// (/bin/cat: it sends the frame back, a valid reply): what the pipes cost without any work.
double pipe_round_trip_us(std::uint64_t bytes, int calls);

}  // namespace mpipe
