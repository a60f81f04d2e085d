// The fused op: an ordinary node that holds the sub-graph it computes (made by the fuse pass).
#include "ir/Verifier.h"
#include "ir/ops/Ops.h"
#include "ir/ops/ShapeRules.h"

namespace sinter::ops {

// Operands map 1:1 to the body's inputs, results to its outputs. `kind` names what was fused
// ("conv2d+relu") for reports and kernel names; backends generate one kernel per fused node.
constexpr OpDef Fused{
    .name = "fused", .family = OpFamily::Misc, .inputs = {"x"}, .minInputs = 0, .variadic = true,
    .outputs = {"y"}, .variadicOutputs = true,
    .attrs = {attr::Required("kind", AttrKind::String, "what was fused, e.g. conv2d+relu"),
              attr::Required("body", AttrKind::Graph, "the computation, as a graph")},
    .shape = [](ShapeCtx& c) -> Error {
      const Graph& body = c.attrs().getGraph("body");
      if (body.inputs().size() != c.numInputs())
        return makeError("the body takes {} operands, the node has {}", body.inputs().size(), c.numInputs());
      if (!body.params().empty())
        return makeError("the body has parameters; fused operands must be body inputs");
      for (size_t i = 0; i < c.numInputs(); ++i)
        if (body.inputs()[i]->type() != c.in(i))
          return makeError("operand {} is {} but the body's input {} is {}", i, c.in(i).str(),
                           body.displayName(body.inputs()[i]), body.inputs()[i]->type().str());
      if (Error e = verifyGraph(body))
        return e.context("body");
      for (const Value* v : body.outputs())
        c.outputs.push_back(v->type());
      return Error::success();
    },
    .lower = Kernel{"fused"},
    .cost = [](const Node& n) -> int64_t {
      int64_t total = 0;
      for (const auto& inner : n.attrs().getGraph("body").nodes())
        total += opFlops(*inner);
      return total;
    },
    .summary = "a fused kernel: the sub-graph it computes"};

} // namespace sinter::ops
