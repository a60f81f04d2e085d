// `sinter train`: trains a classifier through the compiled training-step graph.
//
// The forward graph (a built-in AlexNet sized for the data, or an ONNX model whose output is the
// logits or their softmax) goes through the training pipeline (add-loss, autodiff, optimizer,
// fusion, memory planning) and is compiled once for the target; parameters and optimizer state
// stay with the executor (on the GPU for cuda) across steps. Batches are decoded on a background
// thread. After each epoch the test split is evaluated by the inference graph (compiled once,
// weights copied in), the learning-rate schedule looks at the test loss, a metrics CSV row and
// a plot are written, and the checkpoint (ONNX: the forward graph with trained weights, plus the
// optimizer state and the loop's position in training_info / metadata_props) is replaced
// atomically. --resume continues from such a file exactly where it stopped.
#include "tools/sinter/Commands.h"
#include "tools/sinter/TrainReport.h"

#include "frontend/onnx/OnnxExport.h"
#include "frontend/onnx/OnnxImport.h"
#include "ir/ops/Ops.h"
#include "passes/PassManager.h"
#include "runtime/Executor.h"
#include "runtime/cpu/CpuBackend.h"
#include "runtime/cuda/CudaDevice.h"
#include "runtime/data/Dataset.h"
#include "runtime/reference/Interpreter.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>
#include <unistd.h>

namespace sinter::cli {

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct TrainOpts {
  std::string model, data, target = "auto", precision = "f32", optimizer = "sgd", checkpoint, resume, log, plot;
  std::string shuffle = "on", augment = "auto", schedule = "plateau", init = "he";
  int64_t epochs = 10, batch = 128, inputSize = 0, steps = 0, checkpointEvery = 0, classes = 0;
  double lr = 0.01, momentum = 0.9, weightDecay = 0.0005;
  int patience = 2, threads = 0;
  uint64_t seed = 0;
  bool evalOnly = false, autotune = false, winograd = false;
  int winogradTile = 0; // 0: not given
};

// The loop's position, saved in the checkpoint's metadata.
struct LoopState {
  int64_t epoch = 0;        // epochs completed
  int64_t batchInEpoch = 0; // batches of `epoch` already taken (mid-epoch checkpoints)
  int64_t step = 0;         // optimizer steps taken
  double lr = 0.01, bestLoss = INFINITY;
  int64_t badEpochs = 0;
  uint64_t seed = 0;
};

// An integer metadata value (exact: seeds may exceed 2^53).
template <class Int>
Expected<Int> parseInteger(const std::map<std::string, std::string>& m, const std::string& key, const std::string& path) {
  auto it = m.find(key);
  if (it == m.end())
    return makeError("{}: not a sinter checkpoint (no '{}' in its metadata)", path, key);
  Int v{};
  const std::string& t = it->second;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec != std::errc() || p != t.data() + t.size())
    return makeError("{}: metadata '{}' = '{}' is not an integer", path, key, t);
  return v;
}

Expected<double> parseNumber(const std::map<std::string, std::string>& m, const std::string& key, const std::string& path) {
  auto it = m.find(key);
  if (it == m.end())
    return makeError("{}: not a sinter checkpoint (no '{}' in its metadata)", path, key);
  try {
    size_t used = 0;
    double v = std::stod(it->second, &used);
    if (used != it->second.size())
      throw std::invalid_argument("trailing");
    return v;
  } catch (const std::exception&) {
    return makeError("{}: metadata '{}' = '{}' is not a number", path, key, it->second);
  }
}

// Accuracy of class scores [B, C] (logits or probabilities) against labels, over the first
// `count` rows, and the mean cross-entropy (scores taken as probabilities when `probs`).
std::pair<double, double> scoreBatch(const Tensor& scores, const Tensor& labels, int64_t count, bool probs) {
  int64_t C = scores.shape()[1];
  auto s = scores.as<float>();
  auto l = labels.as<int64_t>();
  double loss = 0;
  int64_t right = 0;
  for (int64_t r = 0; r < count; ++r) {
    const float* row = s.data() + r * C;
    int64_t label = l[static_cast<size_t>(r)];
    if (label < 0 || label >= C) { // (the caller checks the model scores every class)
      loss += INFINITY;
      continue;
    }
    int64_t best = std::max_element(row, row + C) - row;
    right += best == label;
    double target = row[label];
    if (probs)
      loss -= std::log(std::max(target, 1e-30));
    else {
      double mx = *std::max_element(row, row + C), sum = 0;
      for (int64_t c = 0; c < C; ++c)
        sum += std::exp(static_cast<double>(row[c]) - mx);
      loss += std::log(sum) + mx - target;
    }
  }
  return {loss, static_cast<double>(right)};
}

Error runPasses(Graph& g, bool training, const OptimizerOptions& opt, uint64_t seed, int winogradTile) {
  PassContext ctx;
  ctx.evaluate = evaluateNode;
  ctx.training = training;
  ctx.optimizer = opt;
  ctx.dropoutSeed = seed;
  std::vector<std::string> passes = defaultPipeline(training);
  if (winogradTile) { // forward convolutions only: autodiff has already run, gradients stay direct
    passes.insert(std::find(passes.begin(), passes.end(), "fuse"), "winograd");
    ctx.winogradTile = winogradTile;
  }
  auto r = runPipeline(g, passes, ctx, PipelineOptions{});
  return r ? Error::success() : r.error();
}

// Loads MODEL with its input sized for the data: batch B, the data's channels, side S.
Expected<std::unique_ptr<Graph>> loadForTraining(const TrainOpts& o, const Dataset& data, int64_t* side) {
  for (std::string_view b : builtinModelNames())
    if (o.model == b) {
      AlexNetOptions a;
      a.batch = o.batch;
      a.classes = o.classes ? o.classes : data.classes();
      a.channels = data.channels();
      a.inputSize = o.inputSize;
      a.seed = o.seed;
      a.init = o.init == "paper" ? AlexNetInit::Paper : AlexNetInit::He;
      auto g = buildBuiltinModel(o.model, a);
      if (!g)
        return g.error();
      *side = (*g)->inputs()[0]->type().shape[2];
      return g;
    }
  if (access(o.model.c_str(), F_OK) != 0)
    return makeError("{}: no such file, and not a built-in model ({})", o.model, fmt::join(builtinModelNames(), ", "));
  if (o.model.size() < 5 || o.model.substr(o.model.size() - 5) != ".onnx")
    return makeError("{}: sinter train takes an ONNX model or a built-in", o.model);
  auto names = onnxInputNames(o.model);
  if (!names)
    return names.error();
  if (names->size() != 1)
    return makeError("{}: a classifier with one input is expected, this model has {}", o.model, names->size());
  *side = o.inputSize ? o.inputSize : data.nativeSize();
  OnnxImportOptions io;
  io.inputShapes[(*names)[0]] = Shape{o.batch, data.channels(), *side, *side};
  io.fold = evaluateNode;
  io.training = true;
  io.warn = [&](const std::string& w) { fmt::print(stderr, "warning: {}: {}\n", o.model, w); };
  auto g = importOnnxFile(o.model, io);
  if (!g) {
    std::string m = g.error().message();
    if (m.find("contradicts the model's") != std::string::npos)
      return makeError("{}: {} (sinter train feeds [batch, channels, size, size] = [{}, {}, {}, {}]: pass the model's "
                       "own batch and size with --batch and --input-size, or export it with a dynamic batch)",
                       o.model, m, o.batch, data.channels(), *side, *side);
    return g.error().context(o.model);
  }
  return g;
}

Error train(const TrainOpts& o) {
  // Target.
  std::string target = o.target, why;
  if (target == "auto")
    target = cudaDeviceInfo(&why) ? "cuda" : cpuBackendAvailable() ? "cpu" : "reference";
  if (target == "cuda" && !cudaDeviceInfo(&why))
    return makeError("target 'cuda' needs a GPU: {}", why);
  if (target == "cpu" && !cpuBackendAvailable())
    return makeError("target 'cpu' is not in this build (SINTER_WITH_LLVM=OFF)");
  if (o.autotune && target != "cuda")
    return Error::usage(fmt::format("--autotune times CUDA kernels on a GPU: it needs --target cuda, not '{}'", target));
  if (o.checkpoint.empty() && o.checkpointEvery)
    return makeError("--checkpoint-every needs --checkpoint FILE");

  auto start = Clock::now();
  progress("loading the data ...");
  auto data = openDataset(o.data);
  progressDone();
  if (!data)
    return data.error();
  fmt::print("data: {}; {}\n", data->train->describe(), data->test->describe());
  if (o.augment == "on" && data->train->channels() != 3)
    return makeError("--augment on: random crops and flips apply to image folders; Fashion-MNIST is fed as it is");
  if (data->train->size() < o.batch)
    return makeError("--batch {} is larger than the training set ({} examples)", o.batch, data->train->size());

  int64_t side = 0;
  auto forward = loadForTraining(o, *data->train, &side);
  if (!forward)
    return forward.error();
  {
    const TensorType& out = (*forward)->outputs()[0]->type();
    if (out.rank() != 2 || out.shape[0] != o.batch)
      return makeError("{}: output 0 is {}; a classifier's scores [batch, classes] are expected", o.model, out.str());
    if (out.shape[1] < data->train->classes())
      return makeError("{}: the model scores {} classes but the data has {}", o.model, out.shape[1],
                       data->train->classes());
  }
  // Whether output 0 is a softmax (probabilities) or logits, for the evaluation loss.
  bool probs = false;
  if (Node* p = (*forward)->outputs()[0]->producer())
    probs = p->is(ops::Softmax);

  // Resume: weights, optimizer state and the loop's position.
  LoopState st;
  st.lr = o.lr;
  st.seed = o.seed;
  OnnxTrainingState saved;
  if (!o.resume.empty()) {
    auto s = readOnnxTrainingState(o.resume);
    if (!s)
      return s.error();
    saved = std::move(*s);
    auto integer = [&](const char* k) { return parseInteger<int64_t>(saved.metadata, k, o.resume); };
    for (const char* k : {"sinter.epoch", "sinter.batch_in_epoch", "sinter.step", "sinter.bad_epochs", "sinter.batch"})
      if (auto v = integer(k); !v)
        return v.error();
    for (const char* k : {"sinter.lr", "sinter.best_loss"})
      if (auto v = parseNumber(saved.metadata, k, o.resume); !v)
        return v.error();
    auto seed = parseInteger<uint64_t>(saved.metadata, "sinter.seed", o.resume);
    if (!seed)
      return seed.error();
    st.epoch = *integer("sinter.epoch");
    st.batchInEpoch = *integer("sinter.batch_in_epoch");
    st.step = *integer("sinter.step");
    st.lr = *parseNumber(saved.metadata, "sinter.lr", o.resume);
    st.bestLoss = *parseNumber(saved.metadata, "sinter.best_loss", o.resume);
    st.badEpochs = *integer("sinter.bad_epochs");
    st.seed = *seed;
    int64_t savedBatch = *integer("sinter.batch");
    if (savedBatch != o.batch)
      return makeError("{}: saved with --batch {}, resumed with --batch {} (the epoch position would not match)",
                       o.resume, savedBatch, o.batch);
    int64_t batches = data->train->size() / o.batch;
    if (st.epoch < 0 || st.step < 0 || st.batchInEpoch < 0 || st.batchInEpoch >= std::max<int64_t>(batches, 1) ||
        !(st.lr > 0) || st.badEpochs < 0)
      return makeError("{}: its training position (epoch {}, batch {} of {}, step {}, lr {:g}) does not fit this data",
                       o.resume, st.epoch, st.batchInEpoch, batches, st.step, st.lr);
    if (saved.metadata["sinter.data"] != o.data)
      fmt::print(stderr, "warning: {}: saved while training on --data {}, resumed on --data {}\n", o.resume,
                 saved.metadata["sinter.data"], o.data);
    if (saved.metadata["sinter.optimizer"] != o.optimizer)
      return makeError("{}: saved with --optimizer {}, resumed with {}", o.resume, saved.metadata["sinter.optimizer"],
                       o.optimizer);
    // The checkpoint's weights replace the model's initial ones.
    OnnxImportOptions io;
    auto names = onnxInputNames(o.resume);
    if (!names)
      return names.error();
    if (names->size() == 1)
      io.inputShapes[(*names)[0]] = (*forward)->inputs()[0]->type().shape;
    io.fold = evaluateNode;
    io.training = true;
    auto ck = importOnnxFile(o.resume, io);
    if (!ck)
      return ck.error().context(o.resume);
    for (const Value* p : (*forward)->params()) {
      const Tensor* t = (*ck)->weights().find(p->name());
      if (!t || t->type() != p->type())
        return makeError("{}: has no parameter '{}' of type {} (a checkpoint of another model?)", o.resume, p->name(),
                         p->type().str());
      (*forward)->weights().set(p->name(), *t);
    }
    fmt::print("resume: {} (epoch {}, step {}, lr {:g})\n", o.resume, st.epoch + (st.batchInEpoch ? 1 : 0), st.step, st.lr);
  }

  // The training step and the evaluation graph.
  OptimizerOptions opt;
  opt.kind = o.optimizer;
  opt.momentum = o.momentum;
  opt.weightDecay = o.weightDecay;
  progress("building the training graph ...");
  const int winogradTile = o.winogradTile ? o.winogradTile : o.winograd ? 2 : 0; // 0: no winograd pass
  auto trainGraph = (*forward)->clone();
  if (Error e = runPasses(*trainGraph, true, opt, st.seed, winogradTile))
    return e.context(o.model);
  auto evalGraph = (*forward)->clone();
  if (Error e = runPasses(*evalGraph, false, opt, st.seed, winogradTile))
    return e.context(o.model);
  progressDone();
  std::shared_ptr<const Graph> trainShared(std::move(trainGraph)), evalShared(std::move(evalGraph));
  const Graph& tg = *trainShared;

  ExecutorOptions eo;
  eo.target = target;
  eo.threads = o.threads;
  eo.tf32 = o.precision == "tf32";
  eo.autotune = o.autotune;
  eo.progress = [](const std::string& line) { progress(line); };
  progress(fmt::format("compiling the training step for {} ...", target));
  auto exe = Executor::create(trainShared, eo);
  progressDone();
  if (!exe)
    return exe.error().context(o.model);
  progress(fmt::format("compiling the evaluation graph for {} ...", target));
  auto evalExe = Executor::create(evalShared, eo);
  progressDone();
  if (!evalExe)
    return evalExe.error().context(o.model);
  fmt::print("model: {} ({} parameters, input {}), {} nodes in the training step\n", o.model,
             (*forward)->parameterCount(), tg.inputs()[0]->type().str(), tg.nodes().size());
  fmt::print("target: {}\n", (*exe)->describe());

  // Optimizer state from the checkpoint.
  std::vector<std::string> stateNames;
  for (const auto& [param, value] : tg.updates())
    if (!(*forward)->findValue(param->name()) || !(*forward)->findValue(param->name())->isParam())
      stateNames.push_back(param->name());
  if (!o.resume.empty())
    for (const std::string& name : stateNames) {
      auto it = saved.tensors.find(name);
      if (it == saved.tensors.end())
        return makeError("{}: no optimizer state '{}' (saved by another optimizer or model?)", o.resume, name);
      if (Error e = (*exe)->setParam(name, it->second))
        return e.context(o.resume);
    }

  // Inputs of the step by name.
  int dataIn = 0, labelsIn = -1, stepIn = -1, lrIn = -1, c2In = -1;
  for (size_t i = 0; i < tg.inputs().size(); ++i) {
    const std::string& n = tg.inputs()[i]->name();
    int idx = static_cast<int>(i);
    if (n == "labels")
      labelsIn = idx;
    else if (n == "step")
      stepIn = idx;
    else if (n == "lr")
      lrIn = idx;
    else if (n == "adam_c2")
      c2In = idx;
    else if (i != 0)
      return makeError("{}: the training step has an unexpected input '{}'", o.model, n);
  }
  if (labelsIn < 0 || lrIn < 0)
    return makeError("{}: the training step lacks its labels or lr input", o.model);
  if (tg.inputs()[dataIn]->type().shape != Shape{o.batch, data->train->channels(), side, side})
    return makeError("{}: input {} does not take batches of {}x{}x{}x{}", o.model, tg.inputs()[0]->type().str(), o.batch,
                     data->train->channels(), side, side);

  MetricsLog log;
  if (!o.resume.empty() && !o.log.empty())
    readMetrics(o.log, st.step, log.rows);
  {
    // Rewrite the CSV with the rows up to the checkpoint (a killed run may have logged more).
    std::vector<Metric> kept = log.rows;
    log.rows.clear();
    if (Error e = log.open(o.log, false))
      return e;
    for (const Metric& m : kept)
      log.add(m);
  }

  auto params = (*forward)->params();
  // Batches are decoded beside the computation: on the CPU target, by one thread (the kernels
  // use the cores); for cuda, by up to 8.
  int decodeThreads = target == "cuda" ? static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 8u)) : 1;
  auto checkpoint = [&](const LoopState& s) -> Error {
    if (o.checkpoint.empty())
      return Error::success();
    auto g = (*forward)->clone();
    for (const Value* p : params) {
      auto t = (*exe)->param(p->name());
      if (!t)
        return t.error();
      // Never replace a good checkpoint with diverged weights (the loss of the step that made
      // them was still finite).
      if (isFloat(t->dtype()))
        for (int64_t i = 0; i < t->numel(); ++i)
          if (!std::isfinite(t->get(i)))
            return makeError("parameter '{}' is not finite after step {} (lr {:g}): training stopped; {} keeps the "
                             "last good checkpoint",
                             p->name(), s.step, s.lr, o.checkpoint);
      g->weights().set(p->name(), std::move(*t));
    }
    OnnxExportOptions xo;
    xo.metadata = {{"sinter.epoch", std::to_string(s.epoch)},
                   {"sinter.batch_in_epoch", std::to_string(s.batchInEpoch)},
                   {"sinter.step", std::to_string(s.step)},
                   {"sinter.lr", fmtDouble(s.lr)},
                   {"sinter.best_loss", fmtDouble(s.bestLoss)},
                   {"sinter.bad_epochs", std::to_string(s.badEpochs)},
                   {"sinter.seed", std::to_string(s.seed)},
                   {"sinter.batch", std::to_string(o.batch)},
                   {"sinter.optimizer", o.optimizer},
                   {"sinter.data", o.data}};
    for (const std::string& name : stateNames) {
      auto t = (*exe)->param(name);
      if (!t)
        return t.error();
      xo.trainingState.emplace_back(name, std::move(*t));
    }
    return exportOnnxFile(*g, o.checkpoint, xo);
  };

  auto evaluate = [&](int64_t epoch, const std::string& label) -> Error {
    for (const Value* p : evalShared->params()) {
      auto t = (*exe)->param(p->name());
      if (!t)
        return makeError("the evaluation graph's parameter '{}' is not in the training step: {}", p->name(),
                         t.error().message());
      if (Error e = (*evalExe)->setParam(p->name(), *t))
        return e;
    }
    LoaderOptions lo;
    lo.batch = o.batch;
    lo.side = side;
    lo.shuffle = false;
    lo.dropLast = false;
    lo.threads = decodeThreads;
    BatchLoader loader(*data->test, lo);
    double loss = 0, right = 0;
    int64_t seen = 0;
    auto t0 = Clock::now();
    Progress bar(epoch, o.epochs, loader.batches());
    for (;;) {
      auto b = loader.next();
      if (!b)
        return b.error();
      if (!*b)
        break;
      auto out = (*evalExe)->run({(*b)->data});
      if (!out)
        return out.error();
      auto [l, r] = scoreBatch((*out)[0], (*b)->labels, (*b)->count, probs);
      loss += l;
      right += r;
      seen += (*b)->count;
    }
    bar.done();
    Metric m{"test", epoch + 1, st.step, loss / static_cast<double>(seen), right / static_cast<double>(seen), st.lr,
             static_cast<double>(seen) / since(t0), since(start)};
    log.add(m);
    fmt::print("{}: test loss {:.4f}, accuracy {:.2f}% ({} images, {:.1f} s)\n", label, m.loss, m.accuracy * 100, seen,
               since(t0));
    std::fflush(stdout); // progress for `| tee` and log files
    return Error::success();
  };

  if (o.evalOnly)
    return evaluate(std::max<int64_t>(st.epoch - 1, 0), fmt::format("checkpoint at step {}", st.step));

  std::vector<Tensor> inputs(tg.inputs().size());
  for (size_t i = 0; i < inputs.size(); ++i)
    inputs[i] = Tensor(tg.inputs()[i]->type());
  const double beta1 = 0.9, beta2 = 0.999;
  bool stop = false;
  for (int64_t epoch = st.epoch; epoch < o.epochs && !stop; ++epoch) {
    LoaderOptions lo;
    lo.batch = o.batch;
    lo.side = side;
    lo.shuffle = o.shuffle == "on";
    lo.augment = o.augment == "on" || (o.augment == "auto" && data->train->channels() == 3);
    lo.seed = st.seed;
    lo.epoch = epoch;
    lo.firstBatch = epoch == st.epoch ? st.batchInEpoch : 0;
    lo.threads = decodeThreads;
    BatchLoader loader(*data->train, lo);
    Progress bar(epoch, o.epochs, loader.batches());
    bar.imagesPerBatch = static_cast<double>(o.batch);
    auto t0 = Clock::now();
    int64_t images = 0;
    double runLoss = 0, runAcc = 0;
    int64_t runN = 0;
    for (;;) {
      if (o.steps && st.step >= o.steps) { // (a resumed run may already be there)
        stop = true;
        break;
      }
      auto b = loader.next();
      if (!b)
        return b.error();
      if (!*b)
        break;
      inputs[static_cast<size_t>(dataIn)] = (*b)->data;
      inputs[static_cast<size_t>(labelsIn)] = (*b)->labels;
      if (stepIn >= 0)
        inputs[static_cast<size_t>(stepIn)].set(0, static_cast<double>(st.step));
      double t = static_cast<double>(st.step + 1);
      inputs[static_cast<size_t>(lrIn)].set(0, o.optimizer == "adam" ? st.lr / (1 - std::pow(beta1, t)) : st.lr);
      if (c2In >= 0)
        inputs[static_cast<size_t>(c2In)].set(0, 1 / std::sqrt(1 - std::pow(beta2, t)));
      auto out = (*exe)->run(inputs);
      if (!out)
        return out.error().context(fmt::format("step {}", st.step + 1));
      double loss = (*out)[0].get(0);
      if (!std::isfinite(loss)) {
        bar.done();
        return makeError("the loss is {} at step {} (epoch {}, lr {:g}): training stopped{}", loss, st.step + 1, epoch + 1,
                         st.lr,
                         o.checkpoint.empty() ? ""
                                              : fmt::format("; {} holds the last good checkpoint", o.checkpoint));
      }
      auto [unused, right] = scoreBatch((*out)[1], (*b)->labels, (*b)->count, false);
      (void)unused;
      double acc = right / static_cast<double>((*b)->count);
      ++st.step;
      st.batchInEpoch = (*b)->index + 1;
      images += (*b)->count;
      double ips = static_cast<double>(images) / since(t0);
      log.add({"train", epoch + 1, st.step, loss, acc, st.lr, ips, since(start)});
      runLoss = runN ? 0.9 * runLoss + 0.1 * loss : loss;
      runAcc = runN ? 0.9 * runAcc + 0.1 * acc : acc;
      ++runN;
      bar.update(st.batchInEpoch, runLoss, runAcc, ips);
      if (o.checkpointEvery && st.step % o.checkpointEvery == 0 && st.batchInEpoch < loader.batches()) {
        LoopState mid = st;
        mid.epoch = epoch;
        if (Error e = checkpoint(mid))
          return e;
      }
    }
    bar.done();
    fmt::print("epoch {}: train loss {:.4f} (running), accuracy {:.1f}%, {:.0f} images/s, {:.1f} s\n", epoch + 1, runLoss,
               runAcc * 100, static_cast<double>(images) / since(t0), since(t0));
    std::fflush(stdout); // progress for `| tee` and log files
    bool complete = st.batchInEpoch >= loader.batches();
    if (complete) {
      if (Error e = evaluate(epoch, fmt::format("epoch {}", epoch + 1)))
        return e;
      double testLoss = log.rows.back().loss;
      if (o.schedule == "plateau") {
        if (testLoss < st.bestLoss * (1 - 1e-4)) {
          st.bestLoss = testLoss;
          st.badEpochs = 0;
        } else if (++st.badEpochs >= o.patience) {
          st.lr /= 10;
          st.badEpochs = 0;
          fmt::print("lr: the test loss has not improved for {} epochs: lr {:g}\n", o.patience, st.lr);
        }
      } else if (o.schedule.rfind("step:", 0) == 0) {
        int64_t every = std::stoll(o.schedule.substr(5));
        if ((epoch + 1) % every == 0) {
          st.lr /= 10;
          fmt::print("lr: step schedule: lr {:g}\n", st.lr);
        }
      }
      st.epoch = epoch + 1;
      st.batchInEpoch = 0;
    } else {
      st.epoch = epoch; // stopped inside the epoch (--steps): resume continues it
    }
    if (Error e = checkpoint(st))
      return e;
    if (!o.checkpoint.empty())
      fmt::print("checkpoint: {} (epoch {}, step {})\n", o.checkpoint, st.epoch + (complete ? 0 : 1), st.step);
    std::fflush(stdout); // progress for `| tee` and log files
    if (!o.plot.empty())
      if (Error e = writePlot(o.plot, log.rows, fmt::format("sinter train {} on {} ({}, batch {})", o.model, o.data, target,
                                                            o.batch)))
        return e;
  }
  fmt::print("done: {} steps in {:.1f} s\n", st.step, since(start));
  return Error::success();
}

} // namespace

Action addTrain(CLI::App& app) {
  auto o = std::make_shared<TrainOpts>();
  CLI::App* cmd = app.add_subcommand("train", "Train a classifier through the compiled training-step graph");
  cmd->option_defaults()->always_capture_default(); // --help shows every default
  cmd->add_option("MODEL", o->model, "a built-in (alexnet, alexnet-torchvision, alexnet-narrow; sized for the data) or "
                                     "an ONNX classifier whose output is the logits or their softmax (batch norm trains with batch "
                                     "statistics: export such models from PyTorch in training mode, "
                                     "training=torch.onnx.TrainingMode.TRAINING)")
      ->required();
  cmd->add_option("--data", o->data, "fashion-mnist[:DIR] (idx files, default Debian's) or folder:DIR (class "
                                     "sub-folders of JPEG/PNG; DIR/train + DIR/val when present)")
      ->required();
  cmd->add_option("--epochs", o->epochs, "passes over the training set")->check(CLI::Range(1, 100000));
  cmd->add_option("--batch", o->batch, "examples per step")->check(CLI::Range(1, 65536));
  cmd->add_option("--lr", o->lr, "learning rate (the paper's 0.01)")->check(CLI::PositiveNumber);
  cmd->add_option("--momentum", o->momentum, "SGD momentum")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--weight-decay", o->weightDecay, "L2 weight decay")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--optimizer", o->optimizer, "sgd (the paper's rule with momentum and weight decay) or adam")
      ->check(CLI::IsMember({"sgd", "adam"}));
  cmd->add_option("--lr-schedule", o->schedule, "plateau (divide by 10 when the test loss stops improving for "
                                                "--patience epochs), step:N (every N epochs) or none")
      ->check([](const std::string& s) {
        if (s == "plateau" || s == "none")
          return std::string();
        if (s.rfind("step:", 0) == 0) {
          int64_t v = 0;
          auto [p, ec] = std::from_chars(s.data() + 5, s.data() + s.size(), v);
          if (ec == std::errc() && p == s.data() + s.size() && v > 0)
            return std::string();
        }
        return std::string("expected plateau, step:N or none");
      });
  cmd->add_option("--patience", o->patience, "epochs without improvement before the plateau schedule divides the lr")
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--target", o->target, "cuda, cpu or reference; auto: cuda when a GPU is present, else cpu")
      ->check(CLI::IsMember({"auto", "reference", "cpu", "cuda"}));
  cmd->add_option("--precision", o->precision, "cuda: f32 or tf32 (tensor cores) for conv and gemm")
      ->check(CLI::IsMember({"f32", "tf32"}));
  cmd->add_flag("--autotune", o->autotune, kAutotuneHelp);
  cmd->add_flag("--winograd", o->winograd,
                "forward 3x3 stride-1 f32 convolutions (16+ channels per group) as Winograd F(2x2,3x3) (the "
                "winograd pass; gradients stay direct; not yet the default)");
  cmd->add_option("--winograd-tile", o->winogradTile,
                  "output tile of --winograd (implied): 2 = F(2x2,3x3); 4 = F(4x4,3x3), fewer multiplies, larger "
                  "rounding errors, f32 only on cuda")
      ->check(CLI::IsMember({2, 4}))
      ->default_str("2");
  cmd->add_option("--threads", o->threads, "CPU threads (default: every core)")->check(CLI::Range(0, 1024));
  cmd->add_option("--seed", o->seed, "seed of the initial weights (built-ins), the shuffling, the augmentation and "
                                     "the dropout masks");
  cmd->add_option("--input-size", o->inputSize, "side the images are resized to (bilinear); default: the built-in's "
                                                "(227, 224, 67) or the data's own (28 for Fashion-MNIST)")
      ->check(CLI::Range(1, 4096));
  cmd->add_option("--init", o->init, "initial weights of a built-in: he (N(0, 2/fan_in), zero biases) or paper "
                                     "(N(0, 0.01), biases 1 in conv2/4/5 and fc6/7: slow to start on deep narrow nets)")
      ->check(CLI::IsMember({"he", "paper"}));
  cmd->add_option("--classes", o->classes, "classes a built-in scores (default: the data's)")->check(CLI::PositiveNumber);
  cmd->add_option("--steps", o->steps, "stop after this many steps in all (smoke runs, comparisons)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  cmd->add_option("--shuffle", o->shuffle, "on: a new order each epoch from --seed; off: file order")
      ->check(CLI::IsMember({"on", "off"}));
  cmd->add_option("--augment", o->augment, "image folders: random crops and flips (the paper's); auto = on for "
                                           "folders (Fashion-MNIST is never augmented)")
      ->check(CLI::IsMember({"auto", "on", "off"}));
  cmd->add_option("--checkpoint", o->checkpoint, "ONNX file written (atomically) after each epoch: the trained model, "
                                                 "plus the optimizer state for --resume");
  cmd->add_option("--checkpoint-every", o->checkpointEvery, "also write the checkpoint every N steps")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  cmd->add_option("--resume", o->resume, "continue from a checkpoint (weights, optimizer state, epoch, step, lr)");
  cmd->add_option("--log", o->log, "metrics CSV: one row per step (train) and per epoch (test)");
  cmd->add_option("--plot", o->plot, "SVG file with the loss and accuracy curves, rewritten each epoch");
  cmd->add_flag("--eval-only", o->evalOnly, "evaluate the (resumed) model on the test split and stop");
  cmd->footer("Example: sinter train alexnet-narrow --data fashion-mnist --epochs 10 --batch 128 --lr 0.01 "
              "--checkpoint fmnist.onnx --log fmnist.csv --plot fmnist.svg");
  return [o]() -> Error {
    if (!o->plot.empty()) {
      std::string ext = std::filesystem::path(o->plot).extension().string();
      if (ext != ".svg")
        return makeError("--plot {}: Sinter writes SVG plots (name the file .svg)", o->plot);
    }
    if (o->evalOnly && o->resume.empty())
      return makeError("--eval-only needs --resume CHECKPOINT");
    return train(*o);
  };
}

} // namespace sinter::cli
