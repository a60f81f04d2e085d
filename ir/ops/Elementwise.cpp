// Elementwise op entries: each is a scalar expression any kernel can inline.
#include "ir/ops/Ops.h"
#include "ir/ops/ShapeRules.h"

namespace sinter::ops {

using namespace rules;

// Unary ops on any numeric type.
constexpr OpDef Relu{.name = "relu", .family = OpFamily::Elementwise, .onnx = {"Relu"},
                     .inputs = {"x"}, .shape = elementwise, .lower = Scalar{"max($0, 0)"},
                     .differentiable = true, .summary = "max(x, 0)"};
constexpr OpDef Neg{.name = "neg", .family = OpFamily::Elementwise, .onnx = {"Neg"},
                    .inputs = {"x"}, .shape = elementwise, .lower = Scalar{"-$0"},
                    .differentiable = true, .summary = "-x"};
constexpr OpDef Abs{.name = "abs", .family = OpFamily::Elementwise, .onnx = {"Abs"},
                    .inputs = {"x"}, .shape = elementwise, .lower = Scalar{"abs($0)"},
                    .differentiable = true, .summary = "|x|"};

// Unary ops on floats.
constexpr OpDef Sqrt{.name = "sqrt", .family = OpFamily::Elementwise, .onnx = {"Sqrt"},
                     .inputs = {"x"}, .shape = elementwiseFloat, .lower = Scalar{"sqrt($0)"},
                     .differentiable = true, .summary = "square root"};
constexpr OpDef Exp{.name = "exp", .family = OpFamily::Elementwise, .onnx = {"Exp"},
                    .inputs = {"x"}, .shape = elementwiseFloat, .lower = Scalar{"exp($0)"},
                    .differentiable = true, .summary = "e^x"};
constexpr OpDef Log{.name = "log", .family = OpFamily::Elementwise, .onnx = {"Log"},
                    .inputs = {"x"}, .shape = elementwiseFloat, .lower = Scalar{"log($0)"},
                    .differentiable = true, .summary = "natural logarithm"};
constexpr OpDef Sigmoid{.name = "sigmoid", .family = OpFamily::Elementwise, .onnx = {"Sigmoid"},
                        .inputs = {"x"}, .shape = elementwiseFloat,
                        .lower = Scalar{"1 / (1 + exp(-$0))"}, .differentiable = true,
                        .summary = "1 / (1 + e^-x)"};
constexpr OpDef Tanh{.name = "tanh", .family = OpFamily::Elementwise, .onnx = {"Tanh"},
                     .inputs = {"x"}, .shape = elementwiseFloat, .lower = Scalar{"tanh($0)"},
                     .differentiable = true, .summary = "hyperbolic tangent"};

// Binary ops with numpy broadcasting; operands share a dtype.
constexpr OpDef Add{.name = "add", .family = OpFamily::Elementwise, .onnx = {"Add"},
                    .inputs = {"a", "b"}, .shape = elementwise, .lower = Scalar{"$0 + $1"},
                    .differentiable = true, .summary = "a + b (broadcasting)"};
constexpr OpDef Sub{.name = "sub", .family = OpFamily::Elementwise, .onnx = {"Sub"},
                    .inputs = {"a", "b"}, .shape = elementwise, .lower = Scalar{"$0 - $1"},
                    .differentiable = true, .summary = "a - b (broadcasting)"};
constexpr OpDef Mul{.name = "mul", .family = OpFamily::Elementwise, .onnx = {"Mul"},
                    .inputs = {"a", "b"}, .shape = elementwise, .lower = Scalar{"$0 * $1"},
                    .differentiable = true, .summary = "a * b (broadcasting)"};
constexpr OpDef Div{.name = "div", .family = OpFamily::Elementwise, .onnx = {"Div"},
                    .inputs = {"a", "b"}, .shape = elementwise, .lower = Scalar{"$0 / $1"},
                    .differentiable = true, .summary = "a / b (broadcasting)"};
constexpr OpDef Pow{.name = "pow", .family = OpFamily::Elementwise, .onnx = {"Pow"},
                    .inputs = {"a", "b"}, .shape = elementwiseFloat, .lower = Scalar{"pow($0, $1)"},
                    .differentiable = true, .summary = "a ^ b (broadcasting)"};
constexpr OpDef Max{.name = "max", .family = OpFamily::Elementwise, .onnx = {"Max"},
                    .inputs = {"a", "b"}, .shape = elementwise, .lower = Scalar{"max($0, $1)"},
                    .differentiable = true, .summary = "larger of a and b (broadcasting)"};
constexpr OpDef Min{.name = "min", .family = OpFamily::Elementwise, .onnx = {"Min"},
                    .inputs = {"a", "b"}, .shape = elementwise, .lower = Scalar{"min($0, $1)"},
                    .differentiable = true, .summary = "smaller of a and b (broadcasting)"};

// Conversion to another dtype: float -> int truncates toward zero (saturating), nonzero -> true.
constexpr OpDef Cast{
    .name = "cast", .family = OpFamily::Elementwise, .onnx = {"Cast"}, .inputs = {"x"},
    .attrs = {attr::Required("to", AttrKind::String, "target dtype: f32, f64, f16, bf16, i64, ...")},
    .shape = [](ShapeCtx& c) -> Error {
      auto to = parseDType(c.s("to"));
      if (!to)
        return makeError("'{}' is not a dtype", c.s("to"));
      return c.result({*to, c.in(0).shape});
    },
    .lower = Scalar{"$0"}, .differentiable = true, .summary = "convert to another dtype"};

constexpr OpDef Equal{
    .name = "equal", .family = OpFamily::Elementwise, .onnx = {"Equal"}, .inputs = {"a", "b"},
    .shape = [](ShapeCtx& c) -> Error {
      SINTER_CHECK(elementwise(c));
      c.outputs[0].dtype = DType::Bool;
      return Error::success();
    },
    .lower = Scalar{"$0 == $1"}, .summary = "a == b as bool (broadcasting)"};

constexpr OpDef Where{
    .name = "where", .family = OpFamily::Elementwise, .onnx = {"Where"}, .inputs = {"cond", "a", "b"},
    .shape = [](ShapeCtx& c) -> Error {
      if (c.in(0).dtype != DType::Bool)
        return makeError("cond must be bool, got {}", dtypeName(c.in(0).dtype));
      if (c.in(1).dtype != c.in(2).dtype)
        return makeError("a is {} but b is {}", dtypeName(c.in(1).dtype), dtypeName(c.in(2).dtype));
      auto s = broadcast(c.in(0).shape, c.in(1).shape);
      if (s)
        s = broadcast(*s, c.in(2).shape);
      if (!s)
        return s.error();
      return c.result({c.in(1).dtype, *s});
    },
    .lower = Scalar{"select($0, $1, $2)"}, .differentiable = true,
    .summary = "a where cond else b (broadcasting)"};

constexpr OpDef Identity{.name = "identity", .family = OpFamily::Elementwise, .onnx = {"Identity"},
                         .inputs = {"x"}, .shape = elementwise, .lower = Alias{},
                         .differentiable = true, .summary = "x"};

// Dropout: identity unless training=1; then y = x * mask / (1 - ratio) with mask drawn from
// Philox4x32-10 keyed by `seed`, counter = element index (ir/Philox.h), identical on all backends.
constexpr OpDef Dropout{
    .name = "dropout", .family = OpFamily::Elementwise, .onnx = {"Dropout"}, .inputs = {"x"},
    .attrs = {attr::Float("ratio", 0.5, "probability of dropping an element"),
              attr::Int("training", 0, "1: drop and rescale; 0: identity"),
              attr::Int("seed", 0, "Philox key for the mask")},
    .shape = [](ShapeCtx& c) -> Error {
      SINTER_CHECK(requireFloat(c, 0));
      double r = c.f("ratio");
      if (!(r >= 0.0 && r < 1.0))
        return makeError("ratio {} must be in [0, 1)", r);
      if (c.i("training") != 0 && c.i("training") != 1)
        return makeError("training must be 0 or 1, got {}", c.i("training"));
      return c.result(c.in(0));
    },
    .lower = Kernel{"dropout"}, .differentiable = true,
    .summary = "random zeroing with rescale when training"};

} // namespace sinter::ops
