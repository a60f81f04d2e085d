// Elementwise op entries: each is a scalar expression any kernel can inline.
#include "ir/GradBuilder.h"
#include "ir/ops/Ops.h"
#include "ir/ops/ShapeRules.h"

namespace sinter::ops {

using namespace rules;

namespace {
// Gradient rules shared by several entries. `dy` is the result's gradient; operands get
// unbroadcast gradients.
Value* one(GradBuilder& gb, const Node& n, double v) { return gb.scalar(v, n.output()->type().dtype); }
} // namespace

// Unary ops on any numeric type.
constexpr OpDef Relu{.name = "relu", .family = OpFamily::Elementwise, .onnx = {"Relu"},
                     .inputs = {"x"}, .shape = elementwise, .lower = Scalar{"max($0, 0)"},
                     .grad = [](GradBuilder& gb, const Node& n) -> Error {
      if (gb.wants(0))
        gb.give(0, gb.emit(ReluGrad, {n.output(), gb.dy()})); // y > 0 exactly where x > 0
      return gb.error();
    },
    .differentiable = true, .summary = "max(x, 0)"};
constexpr OpDef Neg{.name = "neg", .family = OpFamily::Elementwise, .onnx = {"Neg"},
                    .inputs = {"x"}, .shape = elementwise, .lower = Scalar{"-$0"},
                    .grad = [](GradBuilder& gb, const Node& n) -> Error {
      gb.giveUnbroadcast(0, n, gb.neg(gb.dy()));
      return gb.error();
    },
    .differentiable = true, .summary = "-x"};
constexpr OpDef Abs{.name = "abs", .family = OpFamily::Elementwise, .onnx = {"Abs"},
                    .inputs = {"x"}, .shape = elementwise, .lower = Scalar{"abs($0)"},
                    .grad = [](GradBuilder& gb, const Node& n) -> Error {
      if (gb.wants(0))
        gb.give(0, gb.emit(AbsGrad, {n.input(0), gb.dy()}));
      return gb.error();
    },
    .differentiable = true, .summary = "|x|"};

// Unary ops on floats.
constexpr OpDef Sqrt{.name = "sqrt", .family = OpFamily::Elementwise, .onnx = {"Sqrt"},
                     .inputs = {"x"}, .shape = elementwiseFloat, .lower = Scalar{"sqrt($0)"},
                     .grad = [](GradBuilder& gb, const Node& n) -> Error {
      gb.giveUnbroadcast(0, n, gb.div(gb.dy(), gb.mul(n.output(), one(gb, n, 2))));
      return gb.error();
    },
    .differentiable = true, .summary = "square root"};
constexpr OpDef Exp{.name = "exp", .family = OpFamily::Elementwise, .onnx = {"Exp"},
                    .inputs = {"x"}, .shape = elementwiseFloat, .lower = Scalar{"exp($0)"},
                    .grad = [](GradBuilder& gb, const Node& n) -> Error {
      gb.giveUnbroadcast(0, n, gb.mul(gb.dy(), n.output()));
      return gb.error();
    },
    .differentiable = true, .summary = "e^x"};
constexpr OpDef Log{.name = "log", .family = OpFamily::Elementwise, .onnx = {"Log"},
                    .inputs = {"x"}, .shape = elementwiseFloat, .lower = Scalar{"log($0)"},
                    .grad = [](GradBuilder& gb, const Node& n) -> Error {
      gb.giveUnbroadcast(0, n, gb.div(gb.dy(), n.input(0)));
      return gb.error();
    },
    .differentiable = true, .summary = "natural logarithm"};
constexpr OpDef Sigmoid{.name = "sigmoid", .family = OpFamily::Elementwise, .onnx = {"Sigmoid"},
                        .inputs = {"x"}, .shape = elementwiseFloat,
                        .lower = Scalar{"1 / (1 + exp(-$0))"}, .grad = [](GradBuilder& gb, const Node& n) -> Error {
      Value* y = n.output();
      gb.giveUnbroadcast(0, n, gb.mul(gb.dy(), gb.mul(y, gb.sub(one(gb, n, 1), y))));
      return gb.error();
    },
    .differentiable = true,
                        .summary = "1 / (1 + e^-x)"};
constexpr OpDef Tanh{.name = "tanh", .family = OpFamily::Elementwise, .onnx = {"Tanh"},
                     .inputs = {"x"}, .shape = elementwiseFloat, .lower = Scalar{"tanh($0)"},
                     .grad = [](GradBuilder& gb, const Node& n) -> Error {
      Value* y = n.output();
      gb.giveUnbroadcast(0, n, gb.mul(gb.dy(), gb.sub(one(gb, n, 1), gb.mul(y, y))));
      return gb.error();
    },
    .differentiable = true, .summary = "hyperbolic tangent"};

// Binary ops with numpy broadcasting; operands share a dtype.
constexpr OpDef Add{.name = "add", .family = OpFamily::Elementwise, .onnx = {"Add"},
                    .inputs = {"a", "b"}, .shape = elementwise, .lower = Scalar{"$0 + $1"},
                    .grad = [](GradBuilder& gb, const Node& n) -> Error {
      gb.giveUnbroadcast(0, n, gb.dy());
      gb.giveUnbroadcast(1, n, gb.dy());
      return gb.error();
    },
    .differentiable = true, .summary = "a + b (broadcasting)"};
constexpr OpDef Sub{.name = "sub", .family = OpFamily::Elementwise, .onnx = {"Sub"},
                    .inputs = {"a", "b"}, .shape = elementwise, .lower = Scalar{"$0 - $1"},
                    .grad = [](GradBuilder& gb, const Node& n) -> Error {
      gb.giveUnbroadcast(0, n, gb.dy());
      // Negated after the reduction to b's shape: a broadcast b (a batch norm's mean) then
      // negates a few values instead of the whole gradient.
      if (gb.wants(1))
        gb.give(1, gb.neg(gb.unbroadcast(gb.dy(), n.input(1)->type().shape)));
      return gb.error();
    },
    .differentiable = true, .summary = "a - b (broadcasting)"};
constexpr OpDef Mul{.name = "mul", .family = OpFamily::Elementwise, .onnx = {"Mul"},
                    .inputs = {"a", "b"}, .shape = elementwise, .lower = Scalar{"$0 * $1"},
                    .grad = [](GradBuilder& gb, const Node& n) -> Error {
      if (gb.wants(0))
        gb.giveUnbroadcast(0, n, gb.mul(gb.dy(), n.input(1)));
      if (gb.wants(1))
        gb.giveUnbroadcast(1, n, gb.mul(gb.dy(), n.input(0)));
      return gb.error();
    },
    .differentiable = true, .summary = "a * b (broadcasting)"};
constexpr OpDef Div{.name = "div", .family = OpFamily::Elementwise, .onnx = {"Div"},
                    .inputs = {"a", "b"}, .shape = elementwise, .lower = Scalar{"$0 / $1"},
                    .grad = [](GradBuilder& gb, const Node& n) -> Error {
      if (gb.wants(0))
        gb.giveUnbroadcast(0, n, gb.div(gb.dy(), n.input(1)));
      if (gb.wants(1)) // -dy * a / b^2 = -dy * y / b
        gb.giveUnbroadcast(1, n, gb.neg(gb.div(gb.mul(gb.dy(), n.output()), n.input(1))));
      return gb.error();
    },
    .differentiable = true, .summary = "a / b (broadcasting)"};
constexpr OpDef Pow{.name = "pow", .family = OpFamily::Elementwise, .onnx = {"Pow"},
                    .inputs = {"a", "b"}, .shape = elementwiseFloat, .lower = Scalar{"pow($0, $1)"},
                    .grad = [](GradBuilder& gb, const Node& n) -> Error {
      Value* a = n.input(0);
      Value* b = n.input(1);
      if (gb.wants(0)) // dy * b * a^(b-1)
        gb.giveUnbroadcast(0, n, gb.mul(gb.dy(), gb.mul(b, gb.emit(Pow, {a, gb.sub(b, one(gb, n, 1))}))));
      if (gb.wants(1)) // dy * y * log(a)
        gb.giveUnbroadcast(1, n, gb.mul(gb.dy(), gb.mul(n.output(), gb.emit(Log, {a}))));
      return gb.error();
    },
    .differentiable = true, .summary = "a ^ b (broadcasting)"};
constexpr OpDef Max{.name = "max", .family = OpFamily::Elementwise, .onnx = {"Max"},
                    .inputs = {"a", "b"}, .shape = elementwise, .lower = Scalar{"max($0, $1)"},
                    .grad = [](GradBuilder& gb, const Node& n) -> Error {
      if (gb.wants(0))
        gb.giveUnbroadcast(0, n, gb.emit(MaxGrad, {n.input(0), n.input(1), gb.dy()}));
      if (gb.wants(1))
        gb.giveUnbroadcast(1, n, gb.emit(MaxGrad, {n.input(1), n.input(0), gb.dy()}));
      return gb.error();
    },
    .differentiable = true, .summary = "larger of a and b (broadcasting)"};
constexpr OpDef Min{.name = "min", .family = OpFamily::Elementwise, .onnx = {"Min"},
                    .inputs = {"a", "b"}, .shape = elementwise, .lower = Scalar{"min($0, $1)"},
                    .grad = [](GradBuilder& gb, const Node& n) -> Error {
      if (gb.wants(0))
        gb.giveUnbroadcast(0, n, gb.emit(MinGrad, {n.input(0), n.input(1), gb.dy()}));
      if (gb.wants(1))
        gb.giveUnbroadcast(1, n, gb.emit(MinGrad, {n.input(1), n.input(0), gb.dy()}));
      return gb.error();
    },
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
    .lower = Scalar{"$0"}, .grad = [](GradBuilder& gb, const Node& n) -> Error {
      DType from = n.input(0)->type().dtype;
      if (gb.wants(0) && isFloat(from))
        gb.give(0, gb.emit(Cast, {gb.dy()}, {{"to", std::string(dtypeName(from))}}));
      return gb.error();
    },
    .differentiable = true, .summary = "convert to another dtype"};

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
    .lower = Scalar{"select($0, $1, $2)"}, .grad = [](GradBuilder& gb, const Node& n) -> Error {
      Value* zero = one(gb, n, 0);
      if (gb.wants(1))
        gb.giveUnbroadcast(1, n, gb.emit(Where, {n.input(0), gb.dy(), zero}));
      if (gb.wants(2))
        gb.giveUnbroadcast(2, n, gb.emit(Where, {n.input(0), zero, gb.dy()}));
      return gb.error();
    },
    .differentiable = true,
    .summary = "a where cond else b (broadcasting)"};

constexpr OpDef Identity{.name = "identity", .family = OpFamily::Elementwise, .onnx = {"Identity"},
                         .inputs = {"x"}, .shape = elementwise, .lower = Alias{},
                         .grad = [](GradBuilder& gb, const Node& n) -> Error {
      gb.giveUnbroadcast(0, n, gb.dy());
      return gb.error();
    },
    .differentiable = true, .summary = "x"};

// Dropout: identity unless training=1; then y = x * mask / (1 - ratio) with mask drawn from
// Philox4x32-10 keyed by `seed`, counter = (element index, step) (ir/Philox.h), identical on all
// backends. The optional `step` (an integer scalar, the training step) gives each step new masks.
constexpr OpDef Dropout{
    .name = "dropout", .family = OpFamily::Elementwise, .onnx = {"Dropout"}, .inputs = {"x", "step"},
    .minInputs = 1,
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
      if (c.has(1) && (c.in(1).numel() != 1 || (c.in(1).dtype != DType::I64 && c.in(1).dtype != DType::I32)))
        return makeError("step must be an integer scalar, got {}", c.in(1).str());
      return c.result(c.in(0));
    },
    .lower = Kernel{"dropout"}, .grad = [](GradBuilder& gb, const Node& n) -> Error {
      // The same mask (same seed, same element counters) scales the gradient.
      std::vector<Value*> in{gb.dy()};
      if (n.numInputs() > 1)
        in.push_back(n.input(1));
      if (gb.wants(0))
        gb.give(0, n.attrs().getInt("training") ? gb.emit(Dropout, in, n.attrs()) : gb.dy());
      return gb.error();
    },
    .differentiable = true,
    .summary = "random zeroing with rescale when training"};

// Gradient helpers of elementwise ops (the autodiff pass emits them).
constexpr OpDef ReluGrad{.name = "relu_grad", .family = OpFamily::Elementwise, .inputs = {"x", "dy"},
                         .outputs = {"dx"}, .shape = elementwise, .lower = Scalar{"select($0 > 0, $1, 0)"},
                         .summary = "dy where x > 0, else 0 (gradient of relu)"};
constexpr OpDef AbsGrad{.name = "abs_grad", .family = OpFamily::Elementwise, .inputs = {"x", "dy"},
                        .outputs = {"dx"}, .shape = elementwise,
                        .lower = Scalar{"select($0 > 0, $1, select($0 < 0, -$1, 0))"},
                        .summary = "dy * sign(x) (gradient of abs)"};
constexpr OpDef MaxGrad{.name = "max_grad", .family = OpFamily::Elementwise, .inputs = {"a", "b", "dy"},
                        .outputs = {"da"}, .shape = elementwise,
                        .lower = Scalar{"select($0 > $1, $2, select($0 == $1, 0.5 * $2, 0))"},
                        .summary = "dy where a > b, half of it on ties (gradient of max for a)"};
constexpr OpDef MinGrad{.name = "min_grad", .family = OpFamily::Elementwise, .inputs = {"a", "b", "dy"},
                        .outputs = {"da"}, .shape = elementwise,
                        .lower = Scalar{"select($0 < $1, $2, select($0 == $1, 0.5 * $2, 0))"},
                        .summary = "dy where a < b, half of it on ties (gradient of min for a)"};

} // namespace sinter::ops
