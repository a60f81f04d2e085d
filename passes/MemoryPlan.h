// Memory planning: buffers, their lifetimes, and the arena statistics reports print.
#pragma once

#include "ir/Graph.h"

#include <vector>

namespace sinter {

/// Arena alignment of every buffer (bytes): enough for vector loads on CPUs and GPUs.
constexpr int64_t kArenaAlignment = 256;

/// One arena buffer: a node result that owns memory (aliases and constants do not).
struct Buffer {
  const Value* value = nullptr; ///< the result that owns it
  int64_t bytes = 0;            ///< aligned size
  size_t first = 0, last = 0;   ///< node indices: defined at `first`, last read at `last`
  const Buffer* reuses = nullptr; ///< in-place: the operand buffer this one overwrites
};

/// Liveness of every arena buffer, in node order. Alias results (reshape, flatten, identity)
/// extend their source's lifetime; graph outputs live to the end; graph inputs, parameters and
/// constants live outside the arena. An elementwise result may take over an operand's buffer
/// when that operand dies at the node and has the same size (in place).
std::vector<Buffer> analyzeBuffers(const Graph& g);

struct MemoryStats {
  int64_t arenaBytes = 0;  ///< max(offset + bytes) of the plan in the graph
  int64_t naiveBytes = 0;  ///< every buffer on its own
  int64_t lowerBound = 0;  ///< the most bytes live at one node (no plan can do better)
  size_t buffers = 0;
  size_t inPlace = 0;
};

/// Statistics of the plan recorded in the graph's value offsets (plan-memory).
MemoryStats memoryStats(const Graph& g);

/// The buffer of `v` after following aliases (the value whose offset `v` shares), or null for
/// values outside the arena.
const Value* bufferOwner(const Value* v);

} // namespace sinter
