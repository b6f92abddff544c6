// The stage DAG derived from a spec. The source stage both emits items and collects them, so the
// edges into it ("return edges") close an item instead of forming a cycle; every other cycle is
// an error. Latency bounds come from here, so the program, not the article, does the arithmetic.
#pragma once

#include <vector>

#include "mpipe/spec.hpp"

namespace mpipe {

class graph {
 public:
  // Assumes a spec that parse_spec accepted (names resolved, no cycles).
  explicit graph(const pipeline_spec& spec);

  int source() const { return source_; }
  int stage_count() const { return static_cast<int>(inputs_.size()); }
  // Edge indices (into spec.edges) entering / leaving a stage. For the source, inputs are the
  // return edges and outputs the edges that start an item.
  const std::vector<int>& inputs(int stage) const { return inputs_[stage]; }
  const std::vector<int>& outputs(int stage) const { return outputs_[stage]; }
  // Stages in an order where every stage comes after all its producers; the source first.
  const std::vector<int>& topo_order() const { return order_; }

  // Lower bound on one item's latency with free communication and enough cores: the heaviest
  // source-to-source path, summing work_ms of the stages on it (the source's own work once).
  double critical_path_ms() const { return critical_ms_; }
  // The stages on that path, source first, not repeated at the end.
  const std::vector<int>& critical_path() const { return critical_path_; }

 private:
  int source_ = 0;
  std::vector<std::vector<int>> inputs_, outputs_;
  std::vector<int> order_;
  double critical_ms_ = 0.0;
  std::vector<int> critical_path_;
};

}  // namespace mpipe
