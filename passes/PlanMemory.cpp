// plan-memory: liveness of every intermediate and an offset for each in one arena (best fit,
// coalescing free blocks, elementwise results in place over dying operands). Offsets are stored
// on the values and printed in the IR as "@OFFSET". Needs: the final node order (after fuse).
#include "passes/MemoryPlan.h"
#include "passes/Passes.h"
#include "passes/Rewrite.h"

#include <map>
#include <unordered_map>

namespace sinter {

namespace {
int64_t align(int64_t b) { return (b + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment; }

// Elementwise kernels read element i before writing element i, so they may overwrite an operand.
bool writesInPlace(const Node& n) {
  if (n.op().isElementwise())
    return true;
  if (!n.is(ops::Fused))
    return false;
  const Graph& body = n.attrs().getGraph("body");
  return std::all_of(body.nodes().begin(), body.nodes().end(),
                     [](const auto& m) { return m->op().isElementwise() || m->op().isAlias(); });
}
} // namespace

const Value* bufferOwner(const Value* v) {
  while (v->producer() && v->producer()->op().isAlias())
    v = v->producer()->input(0);
  if (!v->producer() || v->producer()->is(ops::Constant))
    return nullptr;
  return v;
}

std::vector<Buffer> analyzeBuffers(const Graph& g) {
  std::vector<Buffer> buffers;
  std::unordered_map<const Value*, size_t> index;
  std::vector<const Node*> order;
  for (const auto& n : g.nodes())
    order.push_back(n.get());
  // Optimizer results written straight into their parameters take no arena space.
  const auto inPlace = g.inPlaceUpdates();
  auto owner = [&](const Value* v) -> const Value* {
    const Value* o = bufferOwner(v);
    return o && inPlace.count(o) ? nullptr : o;
  };
  for (size_t i = 0; i < order.size(); ++i) {
    const Node* n = order[i];
    if (n->op().isAlias() || n->is(ops::Constant))
      continue;
    for (const Value* r : n->outputs()) {
      if (inPlace.count(r))
        continue;
      index[r] = buffers.size();
      buffers.push_back({r, align(r->type().bytes()), i, i, nullptr});
    }
  }
  for (size_t i = 0; i < order.size(); ++i)
    for (const Value* v : order[i]->inputs())
      if (const Value* o = owner(v))
        buffers[index.at(o)].last = std::max(buffers[index.at(o)].last, i);
  std::vector<bool> outputOwner(buffers.size(), false);
  std::vector<const Value*> liveOut(g.outputs().begin(), g.outputs().end());
  for (const auto& u : g.updates())
    liveOut.push_back(u.second);
  for (const Value* v : liveOut)
    if (const Value* o = owner(v)) {
      buffers[index.at(o)].last = order.size();
      outputOwner[index.at(o)] = true;
    }
  // In place: a dying operand of the same size, used once by this node, not already taken over.
  std::vector<bool> taken(buffers.size(), false);
  for (size_t i = 0; i < order.size(); ++i) {
    const Node* n = order[i];
    if (!writesInPlace(*n) || n->outputs().size() != 1 || !index.count(n->output()))
      continue;
    Buffer& out = buffers[index.at(n->output())];
    for (const Value* v : n->inputs()) {
      const Value* o = owner(v);
      if (!o)
        continue;
      size_t k = index.at(o);
      size_t usesHere = std::count(n->inputs().begin(), n->inputs().end(), v);
      // Same type, not just the same aligned size: a broadcast operand is read at other indices.
      if (buffers[k].last == i && !outputOwner[k] && !taken[k] && usesHere == 1 && v->type() == n->output()->type() &&
          o->type().bytes() == n->output()->type().bytes()) {
        out.reuses = &buffers[k];
        taken[k] = true;
        break;
      }
    }
  }
  return buffers;
}

MemoryStats memoryStats(const Graph& g) {
  MemoryStats s;
  std::vector<Buffer> buffers = analyzeBuffers(g);
  s.buffers = buffers.size();
  size_t end = g.numNodes() + 1;
  std::vector<int64_t> live(end + 1, 0);
  for (const Buffer& b : buffers) {
    s.naiveBytes += b.bytes;
    s.inPlace += b.reuses != nullptr;
    if (b.value->offset() >= 0)
      s.arenaBytes = std::max(s.arenaBytes, b.value->offset() + b.bytes);
    // An operand overwritten in place shares its last node with the new buffer: count it once.
    size_t last = b.last;
    for (const Buffer& other : buffers)
      if (other.reuses == &b)
        last = other.first - 1;
    for (size_t t = b.first; t <= last && t < live.size(); ++t)
      live[t] += b.bytes;
  }
  for (int64_t l : live)
    s.lowerBound = std::max(s.lowerBound, l);
  return s;
}

Expected<bool> planMemory(Graph& g, const PassContext&) {
  std::vector<Buffer> buffers = analyzeBuffers(g);
  // Free blocks by offset; the arena grows at `top`.
  std::map<int64_t, int64_t> freeBlocks;
  int64_t top = 0;
  auto release = [&](int64_t off, int64_t bytes) {
    auto it = freeBlocks.emplace(off, bytes).first;
    auto next = std::next(it);
    if (next != freeBlocks.end() && it->first + it->second == next->first) {
      it->second += next->second;
      freeBlocks.erase(next);
    }
    if (it != freeBlocks.begin()) {
      auto prev = std::prev(it);
      if (prev->first + prev->second == it->first) {
        prev->second += it->second;
        freeBlocks.erase(it);
        it = prev;
      }
    }
    if (it->first + it->second == top) { // the last block returns to the top
      top = it->first;
      freeBlocks.erase(it);
    }
  };
  auto allocate = [&](int64_t bytes) {
    auto best = freeBlocks.end();
    for (auto it = freeBlocks.begin(); it != freeBlocks.end(); ++it)
      if (it->second >= bytes && (best == freeBlocks.end() || it->second < best->second))
        best = it;
    if (best == freeBlocks.end()) {
      int64_t off = top;
      top += bytes;
      return off;
    }
    int64_t off = best->first, left = best->second - bytes;
    freeBlocks.erase(best);
    if (left > 0)
      freeBlocks.emplace(off + bytes, left);
    return off;
  };
  std::unordered_map<const Buffer*, int64_t> offsetOf;
  std::multimap<size_t, const Buffer*> dying; // by last use
  std::unordered_map<const Buffer*, bool> handedOver;
  size_t nodes = g.numNodes();
  size_t next = 0;
  for (size_t t = 0; t <= nodes && next <= buffers.size(); ++t) {
    // Buffers last read before node t are free for node t's results.
    for (auto it = dying.begin(); it != dying.end() && it->first < t;) {
      if (!handedOver[it->second])
        release(offsetOf[it->second], it->second->bytes);
      it = dying.erase(it);
    }
    for (; next < buffers.size() && buffers[next].first == t; ++next) {
      const Buffer& b = buffers[next];
      int64_t off;
      if (b.reuses) {
        off = offsetOf.at(b.reuses);
        handedOver[b.reuses] = true;
      } else {
        off = allocate(b.bytes);
      }
      offsetOf[&b] = off;
      dying.emplace(b.last, &b);
    }
  }
  bool changed = false;
  auto set = [&](const Value* cv, int64_t off) {
    Value* v = const_cast<Value*>(cv);
    changed = changed || v->offset() != off;
    v->setOffset(off);
  };
  for (const Buffer& b : buffers)
    set(b.value, offsetOf.at(&b));
  for (const auto& n : g.nodes()) // aliases show the offset of the buffer they view
    if (n->op().isAlias() || n->is(ops::Constant))
      for (const Value* r : n->outputs()) {
        const Value* o = bufferOwner(r);
        set(r, o ? o->offset() : -1);
      }
  return changed;
}

} // namespace sinter
