// add-loss: turns a classifier into something to train. Output 0 becomes the mean softmax
// cross-entropy of the logits (the classifier's output, or the input of its final softmax)
// against a new `labels` input (i64, the logits' shape without the class axis); the logits stay
// as output 1. The layers that train differently switch to training mode:
// - dropout reads a new `step` input (i64 scalar), so each training step draws new masks (keyed
//   by PassContext::dropoutSeed when set);
// - batch_norm normalises with the batch's statistics (mean and biased variance over every axis
//   but the channels): it becomes batch_norm_train, which also returns those statistics (its
//   gradient is batch_norm_train_grad: two passes over x and dy instead of some fifteen table
//   ops' worth), and its running mean and variance become graph updates (momentum * running + (1 - momentum)
//   * batch statistic, the variance unbiased as in PyTorch). Those parameters are then state, not
//   weights: autodiff and the optimizer leave them alone; each must belong to its batch norm alone.
// A graph whose output 0 is already a float scalar is taken as its own loss (only the
// training-mode changes apply).
#include "ir/ops/Ops.h"
#include "passes/Passes.h"
#include "passes/Rewrite.h"

namespace sinter {

namespace {

// Replaces batch_norm `bn` by its training form (see the header comment).
Error batchNormForTraining(Graph& g, Node* bn) {
  Value* x = bn->input(0);
  const TensorType& xt = x->type();
  const int64_t channels = xt.shape[1];
  const int64_t count = channels ? xt.numel() / channels : 0;
  if (count < 2)
    return makeError("{}: training needs more than one value per channel for the batch statistics (input {}): use a "
                     "batch of at least 2",
                     g.describe(bn), xt.str());
  // The running statistics must be parameters of this batch norm alone: updated as statistics,
  // a parameter read elsewhere (a weight merged with them by an ONNX tool, or another batch norm's
  // statistics) would silently stop training or lose updates.
  for (size_t i : {size_t{3}, size_t{4}}) {
    const Value* running = bn->input(i);
    const char* what = i == 3 ? "mean" : "variance";
    if (!running->isParam())
      return makeError("{}: its running {} {} is not a parameter, so training could not update it (evaluation and "
                       "checkpoints would use stale statistics)",
                       g.describe(bn), what, g.displayName(running));
    for (const Value::Use& u : running->uses())
      if (u.node != bn || u.operand != i)
        return makeError("{}: its running {} {} is also read by {}: a batch norm's running statistics must be "
                         "parameters of their own to train (export the model without merging initializers)",
                         g.describe(bn), what, g.displayName(running), g.describe(u.node));
  }
  const double eps = bn->attrs().getFloat("epsilon"), momentum = bn->attrs().getFloat("momentum");
  std::string base = bn->output()->name().empty() ? g.uniqueName("bn") : bn->output()->name();
  Error err = Error::success();
  auto emit = [&](const OpDef& op, std::vector<Value*> in, Attrs a = {}, std::string name = {}) -> Value* {
    if (err)
      return nullptr;
    std::vector<std::string> names;
    if (!name.empty())
      names.push_back(g.uniqueName(name));
    auto n = g.addNode(op, std::move(in), std::move(a), std::move(names), bn);
    if (!n) {
      err = n.error();
      return nullptr;
    }
    return (*n)->output();
  };
  auto scalar = [&](double v) {
    const double one[] = {v};
    return emit(ops::Constant, {}, {{"value", Tensor::fromDoubles({xt.dtype, {}}, one)}});
  };
  // One batch_norm_train: y with this batch's statistics, which it also returns for the updates.
  auto train = g.addNode(ops::BatchNormTrain, {x, bn->input(1), bn->input(2)}, {{"epsilon", eps}},
                         {"", g.uniqueName(base + ".batch_mean"), g.uniqueName(base + ".batch_var")}, bn); // y takes bn's name
  if (!train)
    return train.error();
  Value* y = (*train)->output(0);
  Value* mean = (*train)->output(1);
  Value* var = (*train)->output(2);
  // Running statistics, updated after each step (the variance unbiased, as PyTorch does).
  const double unbias = static_cast<double>(count) / static_cast<double>(count - 1);
  for (auto [i, stat, factor] : {std::tuple{size_t{3}, mean, 1.0}, std::tuple{size_t{4}, var, unbias}}) {
    Value* running = bn->input(i);
    Value* batch = stat;
    Value* next = emit(ops::Add, {emit(ops::Mul, {running, scalar(momentum)}), emit(ops::Mul, {batch, scalar((1 - momentum) * factor)})},
                       {}, running->name() + ".next");
    if (err)
      return err;
    g.addUpdate(running, next);
  }
  if (err)
    return err;
  rewrite::replaceNode(g, bn, y);
  return Error::success();
}

} // namespace

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
  // Batch norm: batch statistics, running statistics as updates.
  std::vector<Node*> norms;
  for (const auto& n : g.nodes())
    if (n->is(ops::BatchNorm))
      norms.push_back(n.get());
  for (Node* bn : norms)
    if (Error e = batchNormForTraining(g, bn))
      return e.context("add-loss");
  changed = changed || !norms.empty();
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
