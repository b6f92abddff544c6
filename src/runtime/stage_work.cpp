#include "stage_work.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "../io/item_files.hpp"
#include "clock.hpp"
#include "mpipe/error.hpp"
#include "mpipe/graph.hpp"
#include "mpipe/kernels.hpp"

namespace mpipe {

payload_ptr make_payload(std::uint64_t bytes, std::uint64_t item, int stage) {
  auto p = std::make_shared<byte_buffer>(bytes);
  std::uint64_t x = (item + 1) * 0x9E3779B97F4A7C15ull ^ (static_cast<std::uint64_t>(stage) << 32);
  std::size_t i = 0;
  for (; i + 8 <= bytes; i += 8) {
    x += 0x9E3779B97F4A7C15ull;  // splitmix64
    std::uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    std::memcpy(p->data() + i, &z, 8);
  }
  for (; i < bytes; ++i) (*p)[i] = static_cast<unsigned char>(x >> (8 * (i % 8)));
  return p;
}

payload_ptr bytes_of(const value& v, const detail::type_ops* type, serialization_kind how) {
  if (v.bytes || !v.object) return v.bytes;
  auto out = std::make_shared<byte_buffer>();
  type->to_bytes(v.object.get(), how, *out);
  return out;
}

namespace {

std::string instance_label(const stage_spec& st, int replica, int rank) {
  return st.name + (st.replicas > 1 ? "#" + std::to_string(replica) : "") + " rank " +
         std::to_string(rank);
}

std::unique_ptr<exec_worker> start_worker(const pipeline_spec& spec, const stage_spec& st,
                                          int replica, int rank, std::size_t inputs) {
  exec_command c;
  c.argv = st.command;
  c.cwd = spec.dir;
  c.label = instance_label(st, replica, rank);
  c.env = {{"MPIPE_STAGE", st.name},
           {"MPIPE_REPLICA", std::to_string(replica)},
           {"MPIPE_RANK", std::to_string(rank)},
           {"MPIPE_INPUTS", std::to_string(inputs)}};
  try {
    return std::make_unique<exec_worker>(std::move(c));
  } catch (const error& e) {
    throw spec_error(spec.file, st.line, "stages (" + st.name + ").command", e.what());
  }
}

payload_ptr as_payload(blob data) {
  return std::make_shared<const byte_buffer>(data.begin(), data.end());
}

}  // namespace

stage_work::stage_work(const pipeline_spec& spec, const graph& g, const bindings& b, int stage,
                       int replica, int rank)
    : spec_(spec), b_(b), st_(spec.stages[static_cast<std::size_t>(stage)]), stage_(stage) {
  in_edges_ = g.inputs(stage);
  const bool source = stage == g.source();
  if (st_.kernel == kernel_kind::exec)
    worker_ = start_worker(spec, st_, replica, rank, source ? 1 : in_edges_.size());
}

void stage_work::wait_ready() const {
  if (worker_) worker_->wait_ready(10.0);
}

double pipe_round_trip_us(std::uint64_t bytes, int calls) {
  exec_command c;
  c.argv = {"cat"};
  c.label = "pipe calibration (cat)";
  exec_worker echo(std::move(c));
  byte_buffer frame(bytes), reply;
  std::fill(frame.begin(), frame.end(), static_cast<unsigned char>(0x5a));
  const std::vector<const byte_buffer*> frames{&frame};
  echo.call(frames, reply);  // warm: the process is up, the pages are mapped
  std::vector<double> us;
  for (int i = 0; i < calls; ++i) {
    const std::int64_t start = now_ns();
    echo.call(frames, reply);
    us.push_back(static_cast<double>(now_ns() - start) / 1e3);
  }
  std::nth_element(us.begin(), us.begin() + static_cast<long>(us.size() / 2), us.end());
  return us[us.size() / 2];
}

double stage_work::pipe_cost_us() const {
  if (!worker_ || calls_ == 0) return std::nan("");
  const std::uint64_t in = request_bytes_ / calls_, out = reply_bytes_ / calls_;
  // Each echo moves its frame both ways: half of each round trip is one direction's cost.
  const auto calls_for = [](std::uint64_t b) { return b > (std::uint64_t{16} << 20) ? 3 : 25; };
  return (pipe_round_trip_us(in > 8 ? in - 8 : 0, calls_for(in)) +
          pipe_round_trip_us(out > 8 ? out - 8 : 0, calls_for(out))) /
         2.0;
}

void stage_work::kill() noexcept {
  if (worker_) worker_->kill();
}

value stage_work::run(std::uint64_t item, value_list& inputs, std::int64_t& finished_ns) {
  switch (st_.kernel) {
    case kernel_kind::user:
      return call_function(inputs, finished_ns);
    case kernel_kind::exec:
      return call_worker(inputs, in_edges_, finished_ns);
    default:
      run_kernel(st_.kernel, st_.work_ms, st_.threads);
      finished_ns = now_ns();
      inputs.clear();  // consumed: free them before the output is made
      return {make_payload(st_.payload_bytes, item, stage_), nullptr};
  }
}

value stage_work::synthetic_output(std::uint64_t item) const {
  return {make_payload(st_.payload_bytes, item, stage_), nullptr};
}

value stage_work::call_function(value_list& inputs, std::int64_t& finished_ns) {
  const stage_function& f = *b_.functions[static_cast<std::size_t>(stage_)];
  std::vector<std::shared_ptr<void>> args(inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].object) {
      args[i] = std::move(inputs[i].object);
    } else {  // bytes into a byte string (bindings checked that the function takes one)
      const byte_buffer& in = *inputs[i].bytes;
      args[i] = f.inputs[i]->from_bytes(in.data(), in.size(), serialization_kind::raw);
    }
  }
  inputs.clear();
  omp_set_num_threads(st_.threads);
  value out{nullptr, f.call(args)};
  args.clear();  // freeing the inputs is the stage's work, not the next hop's
  finished_ns = now_ns();
  return out;
}

value stage_work::call_worker(value_list& inputs, const std::vector<int>& edges,
                              std::int64_t& finished_ns) {
  std::vector<payload_ptr> held(inputs.size());
  std::vector<const byte_buffer*> frames(inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const auto e = static_cast<std::size_t>(edges.empty() ? 0 : edges[i]);
    held[i] = bytes_of(inputs[i], edges.empty() ? nullptr : b_.sends[e], serialization_kind::raw);
    frames[i] = held[i].get();
  }
  inputs.clear();
  auto reply = std::make_shared<byte_buffer>();
  worker_->call(frames, *reply);
  finished_ns = now_ns();
  ++calls_;
  for (const auto* f : frames) request_bytes_ += 8 + f->size();
  reply_bytes_ += 8 + reply->size();
  return {std::move(reply), nullptr};
}

value stage_work::emit(std::uint64_t item, std::int64_t& finished_ns) {
  blob data;
  std::string file;
  if (!b_.input_files.empty()) {
    file = b_.input_files[item];
    data = read_item_file(file);
  }
  if (st_.kernel == kernel_kind::user) {
    if (file.empty()) {
      const payload_ptr p = make_payload(st_.payload_bytes, item, stage_);
      data.assign(p->begin(), p->end());
    }
    auto in = std::make_shared<source_item>(source_item{item, std::move(file), std::move(data)});
    std::vector<std::shared_ptr<void>> args{std::move(in)};
    omp_set_num_threads(st_.threads);
    value out{nullptr, b_.functions[static_cast<std::size_t>(stage_)]->call(args)};
    finished_ns = now_ns();
    return out;
  }
  if (st_.kernel != kernel_kind::exec) {
    run_kernel(st_.kernel, st_.work_ms, st_.threads);
    finished_ns = now_ns();
    if (file.empty()) return {make_payload(st_.payload_bytes, item, stage_), nullptr};
    return {as_payload(std::move(data)), nullptr};
  }
  value_list inputs{
      {file.empty() ? make_payload(st_.payload_bytes, item, stage_) : as_payload(std::move(data)),
       nullptr}};
  return call_worker(inputs, {}, finished_ns);
}

}  // namespace mpipe
