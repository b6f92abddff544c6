// The DAG view of a spec. Return edges (into the source) are kept in inputs/outputs, because the
// runtime must wire them, but left out of ordering and path arithmetic, where they would close
// every item into a cycle.
#include "mpipe/graph.hpp"

#include <algorithm>
#include <functional>
#include <limits>
#include <queue>
#include <string>
#include <unordered_map>
#include <vector>

#include "mpipe/error.hpp"

namespace mpipe {

graph::graph(const pipeline_spec& spec) {
  const std::size_t n = spec.stages.size();
  std::unordered_map<std::string, int> index;
  for (std::size_t i = 0; i < n; ++i) index.emplace(spec.stages[i].name, static_cast<int>(i));
  const auto find = [&](const std::string& name, const char* field, int line) {
    const auto it = index.find(name);
    // parse_spec rules this out; a hand-built spec in a test or tool could still get it wrong,
    // and indexing with -1 would be silent memory corruption.
    if (it == index.end()) throw spec_error(spec.file, line, field, "unknown stage '" + name + "'");
    return it->second;
  };
  source_ = find(spec.source, "source", 0);

  inputs_.assign(n, {});
  outputs_.assign(n, {});
  std::vector<int> pending(n, 0);  // producers not yet ordered, return edges left out
  for (std::size_t e = 0; e < spec.edges.size(); ++e) {
    const int from = find(spec.edges[e].from, "edges", spec.edges[e].line);
    const int to = find(spec.edges[e].to, "edges", spec.edges[e].line);
    inputs_[to].push_back(static_cast<int>(e));
    outputs_[from].push_back(static_cast<int>(e));
    if (to != source_) ++pending[to];
  }

  // Kahn's algorithm, lowest stage index first among the ready ones, so the order is the spec's
  // wherever the edges leave a choice: reports and records then list stages as the user wrote
  // them.
  std::priority_queue<int, std::vector<int>, std::greater<>> ready;
  for (std::size_t v = 0; v < n; ++v) {
    if (static_cast<int>(v) != source_ && pending[v] == 0) ready.push(static_cast<int>(v));
  }
  std::vector<char> placed(n, 0);
  const auto take = [&](int v) {
    order_.push_back(v);
    placed[v] = 1;
    for (int e : outputs_[v]) {
      const int to = find(spec.edges[e].to, "edges", spec.edges[e].line);
      if (to != source_ && --pending[to] == 0) ready.push(to);
    }
  };
  // The source goes first even where an unreachable stage (rejected by parse_spec) has a lower
  // index: the runtime starts every item there.
  take(source_);
  while (!ready.empty()) {
    const int v = ready.top();
    ready.pop();
    if (!placed[v]) take(v);
  }
  // Only a cycle (rejected by parse_spec) leaves stages out; keep the order complete anyway so
  // that callers indexing by it never run short.
  for (std::size_t v = 0; v < n; ++v) {
    if (!placed[v]) order_.push_back(static_cast<int>(v));
  }

  // Longest path over the DAG in topological order, starting with the source's own work.
  constexpr double unreached = -std::numeric_limits<double>::infinity();
  std::vector<double> finish(n, unreached);  // heaviest path from the source through a stage
  std::vector<int> previous(n, -1);
  finish[source_] = spec.stages[source_].work_ms;
  double best = unreached;
  int last = -1;
  for (int v : order_) {
    if (finish[v] == unreached) continue;
    for (int e : outputs_[v]) {
      const int to = find(spec.edges[e].to, "edges", spec.edges[e].line);
      if (to == source_) {
        // A return edge: the item can complete once this path arrives.
        if (finish[v] > best) {
          best = finish[v];
          last = v;
        }
        continue;
      }
      const double through = finish[v] + spec.stages[to].work_ms;
      if (through > finish[to]) {
        finish[to] = through;
        previous[to] = v;
      }
    }
  }
  if (last < 0) {
    // No return edge: nothing closes an item, so the bound is the source alone.
    critical_ms_ = finish[source_];
    critical_path_ = {source_};
    return;
  }
  critical_ms_ = best;
  for (int v = last; v != -1; v = previous[v]) critical_path_.push_back(v);
  std::reverse(critical_path_.begin(), critical_path_.end());
}

}  // namespace mpipe
