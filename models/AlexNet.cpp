// AlexNet builders (paper, torchvision, narrow) with the paper's initialisation.
#include "models/AlexNet.h"

#include "frontend/GraphBuilder.h"
#include "ir/Philox.h"

#include <array>
#include <cmath>
#include <thread>

namespace sinter {

namespace {

struct Layer {
  const char* name;
  int64_t out, kernel, stride, pad, group;
  bool lrn, pool;
};

// Draws N(0, std^2) weights (or a constant bias) with a per-tensor Philox stream.
Tensor initTensor(const TensorType& type, uint64_t seed, uint64_t tensorIndex, bool normal, float fill, double stddev) {
  Tensor t(type);
  auto data = t.as<float>();
  if (!normal) {
    std::fill(data.begin(), data.end(), fill);
    return t;
  }
  uint64_t key = seed * 0x9E3779B97F4A7C15ull + tensorIndex;
  size_t n = data.size();
  // Split big tensors over two threads; the values depend only on (key, index).
  auto fillRange = [&](size_t lo, size_t hi) {
    for (size_t i = lo; i < hi; ++i)
      data[i] = static_cast<float>(stddev * philoxNormal(key, i));
  };
  if (n < (1u << 20)) {
    fillRange(0, n);
  } else {
    std::thread other(fillRange, n / 2, n);
    fillRange(0, n / 2);
    other.join();
  }
  return t;
}

} // namespace

Expected<std::unique_ptr<Graph>> buildAlexNet(const AlexNetOptions& o) {
  const bool paper = o.variant == AlexNetVariant::Paper;
  const bool narrow = o.variant == AlexNetVariant::Narrow;
  const bool tv = o.variant == AlexNetVariant::Torchvision;
  const char* graphName = paper ? "alexnet" : tv ? "alexnet-torchvision" : "alexnet-narrow";
  int64_t classes = o.classes ? o.classes : (narrow ? 10 : 1000);
  int64_t size = o.inputSize ? o.inputSize : (paper ? 227 : tv ? 224 : 67);
  if (o.batch < 1 || classes < 1 || o.channels < 1 || size < 1)
    return makeError("{}: batch, classes, channels and input size must be positive", graphName);
  if (o.batch > (1 << 20) || classes > (1 << 24) || o.channels > (1 << 16) || size > (1 << 16))
    return makeError("{}: batch, classes, channels or input size is unreasonably large", graphName);

  // name, out channels, kernel, stride, pad, group, LRN after, max-pool after
  std::array<Layer, 5> convs;
  int64_t hidden;
  if (tv) {
    convs = {{{"conv1", 64, 11, 4, 2, 1, false, true},
              {"conv2", 192, 5, 1, 2, 1, false, true},
              {"conv3", 384, 3, 1, 1, 1, false, false},
              {"conv4", 256, 3, 1, 1, 1, false, false},
              {"conv5", 256, 3, 1, 1, 1, false, true}}};
    hidden = 4096;
  } else {
    int64_t div = narrow ? 16 : 1;
    convs = {{{"conv1", 96 / div, 11, 4, 0, 1, true, true},
              {"conv2", 256 / div, 5, 1, 2, 2, true, true},
              {"conv3", 384 / div, 3, 1, 1, 1, false, false},
              {"conv4", 384 / div, 3, 1, 1, 2, false, false},
              {"conv5", 256 / div, 3, 1, 1, 2, false, true}}};
    hidden = 4096 / div;
  }

  GraphBuilder b(graphName);
  uint64_t tensorIndex = 0;
  auto param = [&](const std::string& name, Shape shape, bool normal, float fill) {
    TensorType t{DType::F32, std::move(shape)};
    std::optional<Tensor> data;
    if (o.weights && t.numel() >= 0) {
      // Paper: N(0, 0.01). He: N(0, 2 / fan_in) for weights, zero biases.
      int64_t fanIn = 1;
      for (size_t d = 1; d < t.shape.size(); ++d)
        fanIn *= t.shape[d];
      bool he = o.init == AlexNetInit::He;
      data = initTensor(t, o.seed, tensorIndex, normal, he ? 0.0f : fill,
                        he ? std::sqrt(2.0 / static_cast<double>(std::max<int64_t>(fanIn, 1))) : 0.01);
    }
    ++tensorIndex;
    return b.param(name, t, std::move(data));
  };
  // The paper initialises these biases to 1 (to give ReLUs positive inputs early on).
  auto biasOne = [](std::string_view layer) {
    return layer == "conv2" || layer == "conv4" || layer == "conv5" || layer == "fc6" || layer == "fc7";
  };

  Value* x = b.input("data", {DType::F32, {o.batch, o.channels, size, size}});
  int64_t cin = o.channels;
  int index = 1;
  for (const Layer& l : convs) {
    std::string n = l.name;
    Value* w = param(n + ".w", {l.out, cin / l.group, l.kernel, l.kernel}, true, 0);
    Value* bias = param(n + ".b", {l.out}, false, biasOne(n) ? 1.0f : 0.0f);
    x = b.conv2d(x, w, bias, {l.stride, l.stride}, {l.pad, l.pad, l.pad, l.pad}, l.group, n);
    x = b.relu(x, fmt::format("relu{}", index));
    if (l.lrn) // LRN(5, 1e-4, 0.75, k=2) as in the paper
      x = b.lrn(x, 5, 1e-4, 0.75, 2.0, fmt::format("norm{}", index));
    if (l.pool)
      x = b.maxPool2d(x, {3, 3}, {2, 2}, fmt::format("pool{}", index));
    cin = l.out;
    ++index;
  }
  if (b.failed())
    return b.finish({}).error().context(fmt::format("{} at input {}x{}", graphName, size, size));

  if (tv) { // torchvision's AdaptiveAvgPool2d((6, 6)): exact when the map divides evenly
    int64_t s = x->type().shape[2];
    if (s != 6) {
      if (s % 6 != 0)
        return makeError("{}: input {}x{} gives a {}x{} feature map; adaptive pooling to 6x6 needs "
                         "a multiple of 6 (use input size 224)", graphName, size, size, s, s);
      x = b.avgPool2d(x, {s / 6, s / 6}, {s / 6, s / 6}, "avgpool");
    }
  }
  x = b.flatten(x, 1, "flatten");
  int64_t features = x->type().shape[1];
  struct Fc {
    const char* name;
    int64_t out;
  };
  std::array<Fc, 3> fcs{{{"fc6", hidden}, {"fc7", hidden}, {"fc8", classes}}};
  int64_t in = features;
  for (size_t i = 0; i < fcs.size(); ++i) {
    std::string n = fcs[i].name;
    bool last = i + 1 == fcs.size();
    if (tv && !last) // torchvision: Dropout -> Linear -> ReLU
      x = b.dropout(x, 0.5, fmt::format("drop{}", i + 6));
    Value* w = param(n + ".w", {fcs[i].out, in}, true, 0);
    Value* bias = param(n + ".b", {fcs[i].out}, false, biasOne(n) ? 1.0f : 0.0f);
    x = b.linear(x, w, bias, n);
    if (!last) {
      x = b.relu(x, fmt::format("relu{}", i + 6));
      if (!tv) // paper: Linear -> ReLU -> Dropout
        x = b.dropout(x, 0.5, fmt::format("drop{}", i + 6));
    }
    in = fcs[i].out;
  }
  if (!tv)
    x = b.softmax(x, 1, "prob");
  return b.finish({x});
}

namespace {
constexpr std::array<std::string_view, 3> kBuiltins{"alexnet", "alexnet-torchvision", "alexnet-narrow"};
}

std::span<const std::string_view> builtinModelNames() { return kBuiltins; }

Expected<std::unique_ptr<Graph>> buildBuiltinModel(std::string_view name, AlexNetOptions options) {
  if (name == "alexnet")
    options.variant = AlexNetVariant::Paper;
  else if (name == "alexnet-torchvision")
    options.variant = AlexNetVariant::Torchvision;
  else if (name == "alexnet-narrow")
    options.variant = AlexNetVariant::Narrow;
  else
    return makeError("unknown built-in model '{}' (built-ins: {})", name, fmt::join(kBuiltins, ", "));
  return buildAlexNet(options);
}

} // namespace sinter
