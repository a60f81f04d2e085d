// add-loss: turns a classifier into something to train. Output 0 becomes the mean softmax
// cross-entropy of the logits (the classifier's output, or the input of its final softmax)
// against a new `labels` input (i64, the logits' shape without the class axis); the logits stay
// as output 1. Dropout switches to training mode and reads a new `step` input (i64 scalar), so
// each training step draws new masks (keyed by PassContext::dropoutSeed when set). A graph whose output 0 is already a float scalar is
// taken as its own loss (only the dropout change applies).
#include "ir/ops/Ops.h"
#include "passes/Passes.h"

namespace sinter {

Expected<bool> addLoss(Graph& g, const PassContext& ctx) {
  if (g.outputs().empty())
    return makeError("add-loss: the graph has no outputs");
  bool changed = false;
  // Dropout: training mode, per-step masks.
  std::vector<Node*> drops;
  for (const auto& n : g.nodes())
    if (n->is(ops::Dropout) && n->numInputs() == 1)
      drops.push_back(n.get());
  if (!drops.empty()) {
    Value* step = g.findValue("step");
    if (!step || !step->isInput())
      step = g.addInput(g.uniqueName("step"), {DType::I64, {}});
    for (Node* d : drops) {
      Attrs a = d->attrs();
      a.set("training", int64_t{1});
      if (ctx.dropoutSeed)
        a.set("seed", static_cast<int64_t>(*ctx.dropoutSeed));
      auto n = g.addNode(ops::Dropout, {d->input(0), step}, a, {}, d);
      if (!n)
        return n.error().context("add-loss");
      g.replaceAllUses(d->output(), (*n)->output());
      std::string name = d->output()->name();
      g.eraseNode(d);
      if (!name.empty())
        g.rename((*n)->output(), name);
    }
    changed = true;
  }
  Value* out = g.outputs()[0];
  if (isFloat(out->type().dtype) && out->type().numel() == 1)
    return changed;
  Value* logits = out;
  if (Node* p = out->producer(); p && p->is(ops::Softmax)) {
    int64_t axis = p->attrs().getInt("axis");
    if (axis < 0)
      axis += out->type().rank();
    if (axis == 1) // a softmax over the classes: its input is the logits
      logits = p->input(0);
  }
  const TensorType& lt = logits->type();
  if (!isFloat(lt.dtype) || lt.rank() < 2)
    return makeError("add-loss: output 0 ({}) is not class scores [N, C, ...]", lt.str());
  Shape labelShape = lt.shape;
  labelShape.erase(labelShape.begin() + 1);
  Value* labels = g.addInput(g.uniqueName("labels"), {DType::I64, labelShape});
  auto loss = g.addNode(ops::SoftmaxCrossEntropy, {logits, labels}, {}, {g.uniqueName("loss")});
  if (!loss)
    return loss.error().context("add-loss");
  std::vector<Value*> outs{(*loss)->output(), logits};
  g.setOutputs(std::move(outs));
  return true;
}

} // namespace sinter
