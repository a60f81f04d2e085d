// Built-in AlexNet variants: the paper network, torchvision's, and a narrow one for tests.
#pragma once

#include "ir/Error.h"
#include "ir/Graph.h"

#include <memory>
#include <span>
#include <string_view>

namespace sinter {

enum class AlexNetVariant {
  Paper,       ///< Krizhevsky et al. 2012: 96/256/384/384/256, LRN, grouped convs, 227x227
  Torchvision, ///< torchvision.models.alexnet: 64/192/384/256/256, no LRN, 224x224, logits
  Narrow,      ///< the paper structure at 1/16 width (6/16/24/24/16, FC 256), 67x67: for tests
};

/// Initial weights: the paper's N(0, 0.01) with some biases 1, or He et al.'s N(0, 2/fan_in)
/// with zero biases, which trains the deep narrow variant from the first step (with the paper's
/// scheme the signal shrinks ~10x per layer and SGD sits at chance for a long time).
enum class AlexNetInit : uint8_t { Paper, He };

struct AlexNetOptions {
  AlexNetVariant variant = AlexNetVariant::Paper;
  int64_t batch = 1;
  int64_t classes = 0;   ///< 0: 1000 (paper, torchvision) or 10 (narrow)
  int64_t channels = 3;  ///< input channels
  int64_t inputSize = 0; ///< square input side; 0: 227 (paper), 224 (torchvision), 67 (narrow)
  uint64_t seed = 0;     ///< weight initialisation seed
  AlexNetInit init = AlexNetInit::Paper;
  bool weights = true;   ///< false: params carry types only (for dump; much faster)
};

/// Builds the network with weights drawn as in the paper: N(0, 0.01) for every weight, biases 1
/// in conv2, conv4, conv5 and the hidden FC layers, 0 elsewhere (Philox, so any machine gives the
/// same numbers for a seed). Errors when the options give an impossible network (input too small).
Expected<std::unique_ptr<Graph>> buildAlexNet(const AlexNetOptions& options);

/// A built-in model by name: "alexnet" (paper), "alexnet-torchvision", "alexnet-narrow".
/// `options.variant` is ignored. Errors name the known models.
Expected<std::unique_ptr<Graph>> buildBuiltinModel(std::string_view name, AlexNetOptions options);

/// Names accepted by buildBuiltinModel.
std::span<const std::string_view> builtinModelNames();

} // namespace sinter
