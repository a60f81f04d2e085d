// OpDef: the one record that holds every fact about an op (see ir/ops/*.cpp for the entries).
#pragma once

#include "ir/Attr.h"
#include "ir/Error.h"
#include "ir/Types.h"

#include <array>
#include <span>
#include <string_view>
#include <variant>

namespace sinter {

class Node;
class GradBuilder; // autodiff (passes/); gradient rules are filled in with training

enum class OpFamily : uint8_t { Elementwise, Conv, Pool, Norm, Linear, Reduce, Shape, Loss, Misc };
std::string_view familyName(OpFamily f);

/// Input and attribute view handed to an op's shape rule; the rule fills `outputs`.
class ShapeCtx {
public:
  ShapeCtx(std::span<const TensorType> inputs, const Attrs& attrs) : inputs_(inputs), attrs_(attrs) {}

  size_t numInputs() const { return inputs_.size(); }
  const TensorType& in(size_t i) const { return inputs_[i]; }
  bool has(size_t i) const { return i < inputs_.size(); }
  const Attrs& attrs() const { return attrs_; }
  int64_t i(std::string_view n) const { return attrs_.getInt(n); }
  double f(std::string_view n) const { return attrs_.getFloat(n); }
  const std::vector<int64_t>& ints(std::string_view n) const { return attrs_.getInts(n); }
  const std::string& s(std::string_view n) const { return attrs_.getString(n); }

  std::vector<TensorType> outputs;
  /// Convenience for single-result ops.
  Error result(TensorType t) {
    outputs.push_back(std::move(t));
    return Error::success();
  }

private:
  std::span<const TensorType> inputs_;
  const Attrs& attrs_;
};

using ShapeFn = Error (*)(ShapeCtx&);
using GradFn = Error (*)(GradBuilder&, const Node&);
/// Floating-point operations of one application (multiply-add = 2); null: see opFlops().
using CostFn = int64_t (*)(const Node&);

/// Lowering kinds. Every backend is generic over these:
/// - Scalar: an elementwise expression over inputs $0, $1, ... (numpy broadcasting) that any
///   kernel can inline (see ir/ScalarExpr.h for the grammar).
/// - Kernel: a named kernel template that each backend provides (reference, cpu, cuda).
/// - Alias: the output is the input's data under another type (reshape, flatten, identity).
struct Scalar {
  std::string_view expr;
};
struct Kernel {
  std::string_view name;
};
struct Alias {};
using Lowering = std::variant<Alias, Scalar, Kernel>;

constexpr size_t kMaxInputs = 6;
constexpr size_t kMaxOutputs = 3;
constexpr size_t kMaxAttrs = 8;
constexpr size_t kMaxOnnxNames = 3;

/// Everything about one op. Entries are constexpr and live in ir/ops/<Family>.cpp; the list of
/// all of them is ir/OpTable.cpp. Nothing outside the table switches on the op.
struct OpDef {
  std::string_view name;                                  ///< IR name, lower_snake
  OpFamily family = OpFamily::Misc;
  std::array<std::string_view, kMaxOnnxNames> onnx{};     ///< ONNX op types it imports from
  std::array<std::string_view, kMaxInputs> inputs{};      ///< operand names, in order
  int8_t minInputs = -1;                                  ///< -1: all listed inputs required
  bool variadic = false;                                  ///< the last operand repeats (>= 1)
  std::array<std::string_view, kMaxOutputs> outputs{"y"}; ///< result names
  bool variadicOutputs = false;                           ///< the shape rule decides the count
  std::array<AttrDef, kMaxAttrs> attrs{};                 ///< attribute schema with defaults
  ShapeFn shape = nullptr;                                ///< result types from operand types
  Lowering lower{};                                       ///< how backends implement it
  CostFn cost = nullptr;                                  ///< FLOPs (reports, roofline)
  GradFn grad = nullptr;                                  ///< reverse-mode rule (autodiff)
  bool differentiable = false;                            ///< has (or will have) a grad rule
  /// Each element of every output depends only on the same element of each operand shaped
  /// like it (optimizer steps): an output may overwrite such an operand in place.
  bool elementwiseOutputs = false;
  std::string_view summary{};                             ///< one line for --help and docs

  size_t numListedInputs() const;
  size_t requiredInputs() const { return minInputs < 0 ? numListedInputs() : size_t(minInputs); }
  size_t maxInputs() const { return variadic ? SIZE_MAX : numListedInputs(); }
  size_t numOutputs() const;
  std::span<const AttrDef> attrSchema() const;
  const AttrDef* findAttr(std::string_view n) const;
  bool isElementwise() const { return std::holds_alternative<Scalar>(lower); }
  const Scalar* scalar() const { return std::get_if<Scalar>(&lower); }
  const Kernel* kernel() const { return std::get_if<Kernel>(&lower); }
  bool isAlias() const { return std::holds_alternative<Alias>(lower); }
};

} // namespace sinter
