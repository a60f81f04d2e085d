// Gradient checks: every op with a gradient rule, and the narrow AlexNet end to end, against
// float64 central differences on the reference interpreter (which runs in float64 throughout
// for these checks, so the differences measure the rules, not rounding).
#include "frontend/GraphBuilder.h"
#include "ir/OpTable.h"
#include "ir/Philox.h"
#include "ir/Verifier.h"
#include "models/AlexNet.h"
#include "passes/Autodiff.h"
#include "passes/PassManager.h"
#include "runtime/reference/Interpreter.h"
#include "ir/ops/Ops.h"
#include "tests/support/Numerics.h"
#include "tests/support/OpSamples.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <set>

namespace sinter {
namespace {

Tensor widen(const Tensor& t) { return Tensor::fromDoubles({DType::F64, t.shape()}, t.toDoubles()); }

struct Probe {
  size_t which;  ///< index into the wrt list
  int64_t index; ///< element
};

// Compares the analytic gradients (outputs 1.. of `g`, whose output 0 is the scalar loss) with
// central differences of output 0 at the probed elements. `values` are the f64 values of the wrt
// list: graph inputs first (`numInputs` of them, in graph order), then parameter overrides.
void expectGradientsMatch(const Graph& g, const std::vector<Value*>& wrt, std::vector<Tensor> values,
                          size_t numInputs, const std::vector<Probe>& probes, double rtol = 1e-5,
                          double atol = 1e-7) {
  auto run = [&](const std::vector<Tensor>& vals) {
    ReferenceOptions o;
    o.float64 = true;
    std::vector<Tensor> ins(vals.begin(), vals.begin() + static_cast<std::ptrdiff_t>(numInputs));
    for (size_t i = numInputs; i < vals.size(); ++i)
      o.overrides.emplace_back(wrt[i], vals[i]);
    return runReference(g, ins, o);
  };
  auto analytic = run(values);
  ASSERT_TRUE(analytic) << analytic.error().message();
  ASSERT_EQ(analytic->size(), wrt.size() + 1);
  for (const Probe& p : probes) {
    Tensor& t = values[p.which];
    double x = t.get(p.index);
    double h = 1e-5 * std::max(1.0, std::abs(x));
    t.set(p.index, x + h);
    auto up = run(values);
    t.set(p.index, x - h);
    auto down = run(values);
    t.set(p.index, x);
    ASSERT_TRUE(up && down);
    double numeric = ((*up)[0].get(0) - (*down)[0].get(0)) / (2 * h);
    double got = (*analytic)[1 + p.which].get(p.index);
    EXPECT_NEAR(got, numeric, atol + rtol * std::abs(numeric))
        << "d loss / d " << g.displayName(wrt[p.which]) << "[" << p.index << "]";
  }
}

// Up to `count` element indices of a tensor of n elements (all when n <= count).
std::vector<int64_t> pick(int64_t n, int64_t count, uint64_t seed) {
  std::vector<int64_t> out;
  if (n <= count) {
    for (int64_t i = 0; i < n; ++i)
      out.push_back(i);
    return out;
  }
  for (int64_t i = 0; i < count; ++i)
    out.push_back(static_cast<int64_t>(philoxBits(seed, static_cast<uint64_t>(i)) % static_cast<uint64_t>(n)));
  return out;
}

class EveryGradient : public testing::TestWithParam<const OpDef*> {};

// loss = sum(y * R) for the op's first result y and a fixed random R, differentiated with
// respect to every float operand the rule differentiates. Operands it refuses by name (class
// weights of the losses: "no gradient with respect to operand K") are left out and reported.
TEST_P(EveryGradient, MatchesCentralDifferences) {
  const OpDef& op = *GetParam();
  test::OpSample s = test::sampleFor(op);
  ASSERT_TRUE(s.graph) << "no sample for " << op.name;
  if (!isFloat(s.graph->outputs()[0]->type().dtype))
    GTEST_SKIP() << op.name << "'s sample has a " << dtypeName(s.graph->outputs()[0]->type().dtype)
                 << " result (the dedicated tests cover it)";
  std::set<size_t> excluded; // graph input positions not differentiated
  for (int attempt = 0; attempt < 4; ++attempt) {
    std::unique_ptr<Graph> g = s.graph->clone();
    Value* y = g->outputs()[0];
    auto rc = g->addNode(ops::Constant, {}, {{"value", test::randomTensor(y->type(), 99)}});
    ASSERT_TRUE(rc);
    auto prod = g->addNode(ops::Mul, {y, (*rc)->output()});
    ASSERT_TRUE(prod);
    auto loss = g->addNode(ops::ReduceSum, {(*prod)->output()}, {{"keepdims", int64_t{0}}});
    ASSERT_TRUE(loss) << loss.error().message();
    // Every graph input is listed (the checker passes them in order); differentiated ones are
    // widened to f64 and probed.
    std::vector<Value*> all(g->inputs().begin(), g->inputs().end()), wrt;
    std::vector<Tensor> values;
    std::vector<Probe> probes;
    for (size_t i = 0; i < all.size(); ++i) {
      bool f = isFloat(all[i]->type().dtype) && !excluded.count(i);
      values.push_back(f ? widen(s.inputs[i]) : s.inputs[i]);
      if (!f)
        continue;
      wrt.push_back(all[i]);
      for (int64_t e : pick(all[i]->type().numel(), 24, 7 + i))
        probes.push_back({i, e});
    }
    ASSERT_FALSE(wrt.empty()) << op.name << ": no float operand to differentiate";
    auto grads = differentiate(*g, (*loss)->output(), wrt);
    if (!grads && grads.error().isUnsupported() &&
        grads.error().message().find("no gradient with respect to operand") == std::string::npos)
      GTEST_SKIP() << "the sample uses a case the rule does not implement: " << grads.error().message();
    if (!grads) {
      const std::string& m = grads.error().message();
      size_t at = m.find("no gradient with respect to operand ");
      ASSERT_NE(at, std::string::npos) << m;
      size_t k = std::stoul(m.substr(at + 36));
      const Value* operand = s.graph->nodes().front()->input(k);
      size_t pos = static_cast<size_t>(std::find(s.graph->inputs().begin(), s.graph->inputs().end(), operand) -
                                       s.graph->inputs().begin());
      ASSERT_LT(pos, all.size()) << m;
      excluded.insert(pos);
      std::cout << "  (" << op.name << " is not differentiated with respect to operand " << k << ": " << m << ")\n";
      continue;
    }
    // Outputs aligned with `all`: the loss, then each input's gradient (the loss itself stands in
    // for inputs not differentiated; those are never probed).
    std::vector<Value*> outs{(*loss)->output()};
    size_t k = 0;
    for (size_t i = 0; i < all.size(); ++i)
      outs.push_back(isFloat(all[i]->type().dtype) && !excluded.count(i) ? (*grads)[k++] : (*loss)->output());
    g->setOutputs(outs);
    Error bad = verifyGraph(*g);
    ASSERT_FALSE(bad) << bad.message();
    expectGradientsMatch(*g, all, values, all.size(), probes);
    return;
  }
  FAIL() << op.name << ": too many operands refused";
}

std::vector<const OpDef*> differentiableOps() {
  std::vector<const OpDef*> out;
  for (const OpDef* op : allOps())
    if (op->grad)
      out.push_back(op);
  return out;
}

INSTANTIATE_TEST_SUITE_P(Table, EveryGradient, testing::ValuesIn(differentiableOps()),
                         [](const testing::TestParamInfo<const OpDef*>& p) { return std::string(p.param->name); });

// Cases the table-wide sweep skips: cast between floats, constant padding (positive and
// negative pads), and the errors for what has no rule.
TEST(Autodiff, CastPadAndRefusals) {
  for (int which = 0; which < 2; ++which) {
    GraphBuilder b("case");
    Value* x = b.input("x", {DType::F32, {2, 3}});
    Value* y = which == 0 ? b.op(ops::Cast, {x}, {{"to", std::string("f64")}}, "y")
                          : b.op(ops::Pad, {x}, {{"pads", std::vector<int64_t>{1, -1, 0, 2}}}, "y");
    Value* w = b.op(ops::Constant, {}, {{"value", test::randomTensor(y->type(), 4)}}, "w");
    Value* loss = b.op(ops::ReduceSum, {b.op(ops::Mul, {y, w}, {}, "p")}, {{"keepdims", int64_t{0}}}, "loss");
    auto g = b.finish({loss});
    ASSERT_TRUE(g) << g.error().message();
    std::vector<Value*> wrt{(*g)->inputs()[0]};
    auto grads = differentiate(**g, (*g)->outputs()[0], wrt);
    ASSERT_TRUE(grads) << grads.error().message();
    (*g)->setOutputs({(*g)->outputs()[0], (*grads)[0]});
    std::vector<Probe> probes;
    for (int64_t e = 0; e < 6; ++e)
      probes.push_back({0, e});
    expectGradientsMatch(**g, wrt, {widen(test::randomTensor({DType::F32, {2, 3}}, 8))}, 1, probes);
  }
  // gather has no rule; edge padding and strided slices are refused by their rules.
  GraphBuilder b("refused");
  Value* x = b.input("x", {DType::F32, {4, 3}});
  Value* idx = b.input("i", {DType::I64, {2}});
  Value* y = b.op(ops::Gather, {x, idx}, {}, "y");
  Value* loss = b.op(ops::ReduceSum, {y}, {{"keepdims", int64_t{0}}}, "loss");
  auto g = b.finish({loss});
  ASSERT_TRUE(g);
  std::vector<Value*> wrt{(*g)->inputs()[0]};
  auto r = differentiate(**g, (*g)->outputs()[0], wrt);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "autodiff: node %y (gather) has no gradient rule");
}

TEST(Autodiff, TableMarksMatchRules) {
  for (const OpDef* op : allOps())
    EXPECT_EQ(op->differentiable, op->grad != nullptr) << op->name;
}

// The narrow AlexNet (paper structure, 1/16 width): softmax cross-entropy of its logits,
// differentiated with respect to every parameter; a few elements of each checked.
TEST(Autodiff, NarrowAlexNetEndToEnd) {
  AlexNetOptions o;
  o.variant = AlexNetVariant::Narrow;
  o.batch = 2;
  o.seed = 3;
  auto built = buildAlexNet(o);
  ASSERT_TRUE(built) << built.error().message();
  Graph& g = **built;
  Value* prob = g.outputs()[0];
  ASSERT_TRUE(prob->producer() && prob->producer()->is(ops::Softmax));
  Value* logits = prob->producer()->input(0);
  Value* labels = g.addInput("labels", {DType::I64, {2}});
  auto loss = g.addNode(ops::SoftmaxCrossEntropy, {logits, labels});
  ASSERT_TRUE(loss) << loss.error().message();
  std::vector<Value*> wrt(g.params().begin(), g.params().end());
  auto grads = differentiate(g, (*loss)->output(), wrt);
  ASSERT_TRUE(grads) << grads.error().message();
  std::vector<Value*> outs{(*loss)->output()};
  outs.insert(outs.end(), grads->begin(), grads->end());
  g.setOutputs(outs);
  Error bad = verifyGraph(g);
  ASSERT_FALSE(bad) << bad.message();
  // The paper's N(0, 0.01) weights make the logits tiny and the gradients of deep layers
  // vanishingly small; scale every weight up so each layer matters.
  std::vector<Tensor> values{widen(test::randomTensor(g.inputs()[0]->type(), 5)),
                             Tensor::fromDoubles({DType::I64, {2}}, std::vector<double>{3, 7})};
  std::vector<Value*> all{g.inputs()[0], g.inputs()[1]};
  std::vector<Probe> probes;
  for (size_t i = 0; i < wrt.size(); ++i) {
    Tensor w = widen(*g.weights().find(wrt[i]->name()));
    bool bias = wrt[i]->type().rank() == 1;
    for (int64_t e = 0; e < w.numel(); ++e)
      w.set(e, bias ? 0.1 * philoxUniform(11 + i, e) : (philoxUniform(17 + i, e) - 0.5) * 0.6);
    values.push_back(std::move(w));
    all.push_back(wrt[i]);
    for (int64_t e : pick(wrt[i]->type().numel(), 4, 23 + i))
      probes.push_back({all.size() - 1, e});
  }
  // Outputs aligned with `all`: loss, then d/d input (the data input has none here: stand-ins).
  std::vector<Value*> aligned{(*loss)->output(), (*loss)->output(), (*loss)->output()};
  aligned.insert(aligned.end(), grads->begin(), grads->end());
  g.setOutputs(aligned);
  expectGradientsMatch(g, all, values, 2, probes, 1e-4, 1e-8);
}

// Batch norm in a training step: add-loss spells it out with batch statistics (per channel over
// N, H, W after a convolution; over N after a linear layer) and turns its running statistics into
// graph updates. The gradients of every weight match central differences (the batch statistics
// move with the inputs, so this checks the whole rewrite), the running statistics get none and
// take momentum * running + (1 - momentum) * batch statistic (the variance unbiased), and a batch
// of one, or a running statistic that is also a weight, is refused.
TEST(Autodiff, BatchNormTrainingStep) {
  auto build = [](int64_t batch, bool meanIsTheConvBias = false) {
    GraphBuilder b("bn");
    Value* x = b.input("x", {DType::F32, {batch, 2, 5, 5}});
    auto p = [&](const std::string& name, Shape s, uint64_t seed, double lo, double hi) {
      return b.param(name, {DType::F32, s}, test::randomTensor({DType::F32, s}, seed, lo, hi));
    };
    Value* cb = p("cb", {3}, 2, -0.1, 0.1);
    Value* c = b.conv2d(x, p("w", {3, 2, 3, 3}, 1, -0.5, 0.5), cb, {1, 1}, {1, 1, 1, 1}, 1, "c");
    Value* n1 = b.op(ops::BatchNorm, {c, p("s1", {3}, 3, 0.5, 1.5), p("b1", {3}, 4, -0.2, 0.2),
                                      meanIsTheConvBias ? cb : p("m1", {3}, 5, -0.1, 0.1), p("v1", {3}, 6, 0.5, 1.5)},
                     {{"epsilon", 1e-3}, {"momentum", 0.8}}, "n1");
    Value* f = b.op(ops::Flatten, {b.relu(n1, "r1")}, {{"axis", int64_t{1}}}, "f");
    Value* h = b.op(ops::Gemm, {f, p("fw", {4, 75}, 7, -0.2, 0.2), p("fb", {4}, 8, -0.1, 0.1)}, {{"trans_b", int64_t{1}}}, "h");
    Value* n2 = b.op(ops::BatchNorm, {h, p("s2", {4}, 9, 0.5, 1.5), p("b2", {4}, 10, -0.2, 0.2), p("m2", {4}, 11, -0.1, 0.1),
                                      p("v2", {4}, 12, 0.5, 1.5)},
                     {}, "n2");
    Value* logits = b.op(ops::Gemm, {b.relu(n2, "r2"), p("ow", {3, 4}, 13, -0.5, 0.5)}, {{"trans_b", int64_t{1}}}, "logits");
    return b.finish({logits});
  };
  auto one = build(1);
  ASSERT_TRUE(one) << one.error().message();
  auto refused = runPipeline(**one, {"add-loss"}, {}, {});
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message().find("more than one value per channel"), std::string::npos) << refused.error().message();
  auto tied = build(3, true);
  ASSERT_TRUE(tied) << tied.error().message();
  auto refusedTied = runPipeline(**tied, {"add-loss"}, {}, {});
  ASSERT_FALSE(refusedTied);
  EXPECT_NE(refusedTied.error().message().find("its running mean %cb is also read by"), std::string::npos)
      << refusedTied.error().message();

  auto built = build(3);
  ASSERT_TRUE(built) << built.error().message();
  Graph& g = **built;
  Tensor x0 = test::randomTensor(g.inputs()[0]->type(), 21);
  Tensor labels0 = Tensor::fromDoubles({DType::I64, {3}}, std::vector<double>{2, 0, 1});
  auto r = runPipeline(g, {"add-loss", "autodiff"}, {}, {});
  ASSERT_TRUE(r) << r.error().message();
  for (const char* n : {"n1", "n2"})
    EXPECT_EQ(g.findValue(n)->producer()->is(ops::BatchNorm), false) << n << " is still a batch_norm";
  std::set<std::string> updated;
  for (const auto& [param, value] : g.updates())
    updated.insert(param->name());
  EXPECT_EQ(updated, (std::set<std::string>{"m1", "v1", "m2", "v2"}));
  std::vector<Value*> wrt;
  std::vector<Value*> grads;
  for (Value* prm : g.params()) {
    Value* grad = g.findValue(prm->name() + ".grad");
    if (updated.count(prm->name())) {
      EXPECT_EQ(grad, nullptr) << prm->name() << " is state, not a weight";
      continue;
    }
    ASSERT_NE(grad, nullptr) << prm->name();
    wrt.push_back(prm);
    grads.push_back(grad);
  }
  EXPECT_EQ(wrt.size(), 9u);
  Error bad = verifyGraph(g);
  ASSERT_FALSE(bad) << bad.message();
  {
    // The batch norms' inputs in the training step (the second one's depends on the first's batch
    // statistics), then per channel their mean and biased variance over every axis but 1.
    std::vector<Tensor> acts;
    {
      auto step = g.clone();
      step->setOutputs({step->findValue("c"), step->findValue("h")});
      auto r = runReference(*step, {x0, labels0});
      ASSERT_TRUE(r) << r.error().message();
      acts = std::move(*r);
    }
    auto stats = [](const Tensor& t, int64_t ch) {
      const Shape& s = t.shape();
      int64_t inner = 1;
      for (size_t d = 2; d < s.size(); ++d)
        inner *= s[d];
      double sum = 0, sq = 0;
      int64_t n = 0;
      for (int64_t i = 0; i < s[0]; ++i)
        for (int64_t k = 0; k < inner; ++k) {
          double v = t.get((i * s[1] + ch) * inner + k);
          sum += v;
          sq += v * v;
          ++n;
        }
      double mean = sum / static_cast<double>(n);
      return std::tuple{mean, sq / static_cast<double>(n) - mean * mean, n};
    };
    std::vector<Tensor> updates;
    ReferenceOptions ro;
    ro.updates = &updates;
    auto r = runReference(g, {x0, labels0}, ro);
    ASSERT_TRUE(r) << r.error().message();
    for (size_t u = 0; u < g.updates().size(); ++u) {
      const std::string& name = g.updates()[u].first->name();
      bool first = name[1] == '1'; // m1/v1: momentum 0.8 over c; m2/v2: 0.9 (the default) over h
      double momentum = first ? 0.8 : 0.9;
      const Tensor& act = acts[first ? 0 : 1];
      const Tensor& before = *g.weights().find(name);
      for (int64_t ch = 0; ch < before.numel(); ++ch) {
        auto [mean, var, n] = stats(act, ch);
        double batch = name[0] == 'm' ? mean : var * static_cast<double>(n) / static_cast<double>(n - 1);
        double want = momentum * before.get(ch) + (1 - momentum) * batch;
        EXPECT_NEAR(updates[u].get(ch), want, 1e-5 * std::max(1.0, std::abs(want))) << name << "[" << ch << "]";
      }
    }
  }
  std::vector<Tensor> values{widen(x0), labels0};
  std::vector<Value*> all{g.inputs()[0], g.inputs()[1]};
  std::vector<Probe> probes;
  for (size_t i = 0; i < wrt.size(); ++i) {
    values.push_back(widen(*g.weights().find(wrt[i]->name())));
    all.push_back(wrt[i]);
    for (int64_t e : pick(wrt[i]->type().numel(), 5, 31 + i))
      probes.push_back({all.size() - 1, e});
  }
  std::vector<Value*> aligned{g.outputs()[0], g.outputs()[0], g.outputs()[0]};
  aligned.insert(aligned.end(), grads.begin(), grads.end());
  g.setOutputs(aligned);
  // atol 1e-7: the biases right before a batch norm have a zero gradient, which the backward
  // graph reaches by cancellation through float32 constants (1 / count) even in float64 runs.
  expectGradientsMatch(g, all, values, 2, probes, 1e-4, 1e-7);
}

} // namespace
} // namespace sinter
