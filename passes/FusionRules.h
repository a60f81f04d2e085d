// Fusion decisions, in one place: which node starts a fused kernel and what may join it.
#pragma once

#include "ir/Graph.h"

#include <span>
#include <string_view>
#include <vector>

namespace sinter {

/// A chain rule: `start` accepts the first node; `append` accepts the single consumer of the
/// chain's current result as the next member. Groups are linear chains whose intermediates have
/// no other use, so one kernel computes the chain and only the last result reaches memory.
struct FusionRule {
  std::string_view name;
  bool (*start)(const Node& n);
  bool (*append)(const std::vector<const Node*>& chain, const Node& next);
};

/// The rules, tried in order for every node not yet fused.
std::span<const FusionRule> fusionRules();

} // namespace sinter
