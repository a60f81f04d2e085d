// `sinter conformance`: the ONNX backend node tests (Debian's libonnx-testdata) on a target.
#include "tools/sinter/Commands.h"

#include "frontend/onnx/OnnxImport.h"
#include "passes/PassManager.h"
#include "runtime/cpu/CpuBackend.h"
#include "runtime/reference/Interpreter.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <regex>

namespace sinter::cli {

namespace {

namespace fs = std::filesystem;

// Op families Sinter claims: every test named FAMILY or FAMILY_* must pass (or be excused below).
constexpr std::string_view kClaimedFamilies[] = {
    "conv", "basic_conv", "relu", "lrn", "maxpool", "averagepool", "globalaveragepool", "gemm", "matmul",
    "softmax", "logsoftmax", "dropout", "flatten", "reshape", "add", "sub", "mul", "div", "pow", "sqrt", "exp",
    "log", "neg", "concat", "transpose", "batchnorm", "sum", "constant_pad", "edge_pad", "reflect_pad", "slice",
    "squeeze", "unsqueeze", "shape", "gather", "constant", "identity", "cast", "sce", "nllloss", "max", "min",
    "equal", "where", "constantofshape", "range", "reduce_sum", "reduce_mean", "reduce_max", "sigmoid", "tanh",
    "abs", "clip"};

// Tests whose names start like a claimed family but belong to another op.
constexpr std::string_view kOtherOps[] = {"reduce_sum_square"};

// Tests of claimed families that Sinter does not claim, and why.
struct Excuse {
  std::string_view test, why;
};
constexpr Excuse kExcused[] = {
    {"averagepool_3d_default", "3-D pooling with a non-trivial window"},
    {"maxpool_3d_default", "3-D pooling with a non-trivial window"},
    {"maxpool_with_argmax_2d_precomputed_pads", "MaxPool's Indices output"},
    {"maxpool_with_argmax_2d_precomputed_strides", "MaxPool's Indices output"},
    {"batchnorm_epsilon_training_mode", "training-mode BatchNormalization"},
    {"batchnorm_example_training_mode", "training-mode BatchNormalization"},
    {"cast_FLOAT_to_STRING", "string tensors"},
    {"cast_STRING_to_FLOAT", "string tensors"},
    {"identity_opt", "optional types"},
    {"identity_sequence", "sequence types"},
    {"training_dropout", "training-mode dropout draws Sinter's Philox mask, not the test's numpy mask"},
    {"training_dropout_default", "training-mode dropout draws Sinter's Philox mask, not the test's numpy mask"},
    {"training_dropout_default_mask", "the mask output in training mode"},
    {"training_dropout_mask", "the mask output in training mode"},
    {"cast_FLOAT_to_BFLOAT16", "ONNX 1.12's data truncates to bfloat16; Sinter rounds to nearest even, as "
                               "ONNX >= 1.14 and PyTorch do"},
    {"castlike_BFLOAT16_to_FLOAT_expanded", "the data's 'like' input contradicts the model's declared shape"},
    {"castlike_FLOAT_to_BFLOAT16_expanded", "the data's 'like' input contradicts the model's declared shape"},
    {"range_float_type_positive_delta_expanded", "the expanded form uses Loop"},
    {"range_int32_type_negative_delta_expanded", "the expanded form uses Loop"},
};

struct Totals {
  int pass = 0, fail = 0, unsupported = 0, excused = 0;
};

bool claimed(std::string_view test) {
  for (std::string_view f : kOtherOps)
    if (test.substr(0, f.size()) == f)
      return false;
  for (std::string_view f : kClaimedFamilies)
    if (test == f || (test.size() > f.size() && test.substr(0, f.size()) == f && test[f.size()] == '_'))
      return true;
  return false;
}

const Excuse* excuseFor(std::string_view test) {
  for (const Excuse& e : kExcused)
    if (e.test == test)
      return &e;
  return nullptr;
}

// ONNX 1.12's test data stores bfloat16 tensors as UINT16 bits (numpy has no bfloat16).
Tensor asBfloat16IfStoredAsU16(Tensor t, const TensorType& want) {
  if (t.dtype() != DType::U16 || want.dtype != DType::BF16 || t.shape() != want.shape)
    return t;
  Tensor b(want);
  std::memcpy(b.raw(), t.raw(), t.bytes());
  return b;
}

// ONNX's backend-test tolerance: |a - e| <= atol + rtol * |e|, atol 1e-7, rtol 1e-3.
std::string compare(const Tensor& got, const Tensor& want) {
  if (got.type() != want.type())
    return fmt::format("result is {}, expected {}", got.type().str(), want.type().str());
  for (int64_t i = 0; i < got.numel(); ++i) {
    double a = got.get(i), e = want.get(i);
    if (std::isnan(a) && std::isnan(e))
      continue;
    if (std::isinf(e) ? a != e : !(std::fabs(a - e) <= 1e-7 + 1e-3 * std::fabs(e)))
      return fmt::format("element {} is {}, expected {}", i, a, e);
  }
  return {};
}

// Runs one test folder; returns "" on success, or the failure, with `unsupported` set when
// the importer declined the model.
//
// Test models feed shapes, pads and axes as graph inputs; Sinter compiles static shapes, so each
// data set is imported with its input values available to the rules that need constants.
std::string runTest(const fs::path& dir, bool& unsupported, bool optimize, const std::string& target) {
  int sets = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (!entry.is_directory() || entry.path().filename().string().rfind("test_data_set_", 0) != 0)
      continue;
    ++sets;
    // Input names come from the model (this also declines non-tensor inputs early).
    auto names = onnxInputNames((dir / "model.onnx").string());
    if (!names) {
      unsupported = names.error().isUnsupported();
      return names.error().message();
    }
    std::vector<Tensor> inputs;
    for (size_t i = 0; fs::exists(entry.path() / fmt::format("input_{}.pb", i)); ++i) {
      auto t = readOnnxTensorFile((entry.path() / fmt::format("input_{}.pb", i)).string());
      if (!t) {
        unsupported = t.error().isUnsupported();
        return t.error().message();
      }
      inputs.push_back(std::move(*t));
    }
    OnnxImportOptions io;
    io.fold = evaluateNode;
    for (size_t i = 0; i < names->size() && i < inputs.size(); ++i)
      io.inputValues[(*names)[i]] = inputs[i];
    auto g = importOnnxFile((dir / "model.onnx").string(), io);
    if (!g) {
      unsupported = g.error().isUnsupported();
      return g.error().message();
    }
    if (inputs.size() != (*g)->inputs().size())
      return fmt::format("the model has {} inputs, the data set {}", (*g)->inputs().size(), inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i)
      inputs[i] = asBfloat16IfStoredAsU16(std::move(inputs[i]), (*g)->inputs()[i]->type());
    if (optimize || target == "cpu") { // the pipeline must not change a number the test checks
      PassContext ctx;
      ctx.evaluate = evaluateNode;
      auto r = runPipeline(**g, optimize ? defaultPipeline(false) : std::vector<std::string>{"plan-memory"}, ctx, {});
      if (!r)
        return r.error().message();
    }
    Expected<std::vector<Tensor>> outs = std::vector<Tensor>{};
    if (target == "cpu") {
      CpuOptions co;
      co.threads = 2;
      auto exe = CpuExecutable::compile(std::shared_ptr<const Graph>(std::move(*g)), co);
      if (!exe) {
        unsupported = exe.error().isUnsupported();
        return exe.error().message();
      }
      outs = (*exe)->run(inputs);
    } else {
      outs = runReference(**g, inputs);
    }
    if (!outs)
      return outs.error().message();
    for (size_t i = 0; i < outs->size(); ++i) {
      auto want = readOnnxTensorFile((entry.path() / fmt::format("output_{}.pb", i)).string());
      if (!want) {
        unsupported = want.error().isUnsupported();
        return want.error().message();
      }
      std::string diff = compare((*outs)[i], asBfloat16IfStoredAsU16(std::move(*want), (*outs)[i].type()));
      if (!diff.empty())
        return fmt::format("{} output {}: {}", entry.path().filename().string(), i, diff);
    }
  }
  return sets ? std::string() : "no test_data_set_* folder";
}

} // namespace

Action addConformance(CLI::App& app) {
  struct Opts {
    std::string target = "reference", filter, data = "/usr/share/libonnx-testdata/data/node";
    bool quiet = false, noPasses = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand("conformance", "Run the ONNX backend node tests and print pass/fail/unsupported");
  cmd->add_option("--target", o->target, "target to run on (this build: reference, cpu)")
      ->check(CLI::IsMember({"reference", "cpu", "cuda"}));
  cmd->add_option("--filter", o->filter, "run only tests whose name matches this regex (ECMAScript, searched)");
  cmd->add_option("--data", o->data, "folder of test_* folders (Debian's libonnx-testdata)");
  cmd->add_flag("-q,--quiet", o->quiet, "print failures and totals only");
  cmd->add_flag("--no-passes", o->noPasses, "run the imported graph as is (by default the pass pipeline runs first)");
  cmd->footer("Exit status 1 when a test of a claimed op family fails or is unsupported (unless listed as\n"
              "excused, with the reason, in tools/sinter/Conformance.cpp), or when any imported test fails.");
  return [o]() -> Error {
    if (o->target == "cuda")
      return makeError("target '{}' is not available in this build (available: cpu, reference)", o->target);
    std::regex re;
    try {
      re = std::regex(o->filter.empty() ? "." : o->filter);
    } catch (const std::regex_error& e) {
      return makeError("--filter '{}' is not a valid regex: {}", o->filter, e.what());
    }
    std::error_code ec;
    std::vector<fs::path> tests;
    for (const auto& entry : fs::directory_iterator(o->data, ec))
      if (entry.is_directory() && entry.path().filename().string().rfind("test_", 0) == 0 &&
          std::regex_search(entry.path().filename().string(), re))
        tests.push_back(entry.path());
    if (ec)
      return makeError("{}: {}", o->data, ec.message());
    std::sort(tests.begin(), tests.end());
    Totals claimedTotals, allTotals;
    std::vector<std::string> regressions;
    for (const fs::path& t : tests) {
      std::string name = t.filename().string().substr(5);
      bool isClaimed = claimed(name);
      const Excuse* excuse = excuseFor(name);
      bool unsupported = false;
      progress(fmt::format("{} ...", name));
      std::string why = runTest(t, unsupported, !o->noPasses, o->target);
      progressDone();
      Totals& tot = isClaimed ? claimedTotals : allTotals;
      std::string status;
      if (why.empty() && excuse) { // keep the excuse list honest
        ++tot.fail;
        status = "FAIL: passes, but is listed as excused: remove it from kExcused";
        regressions.push_back(name);
      } else if (why.empty()) {
        ++tot.pass;
        status = "pass";
      } else if (excuse) {
        ++tot.excused;
        status = fmt::format("excused ({}): {}", excuse->why, why);
      } else if (unsupported) {
        ++tot.unsupported;
        status = "unsupported: " + why;
        if (isClaimed)
          regressions.push_back(name);
      } else {
        ++tot.fail;
        status = "FAIL: " + why;
        regressions.push_back(name);
      }
      if (!o->quiet || (!why.empty() && !excuse && (isClaimed || !unsupported)))
        fmt::print("{:<9} test_{}{}\n", isClaimed ? "claimed" : "other", name, ": " + status);
    }
    fmt::print("\nclaimed families: {} pass, {} fail, {} unsupported, {} excused ({} tests)\n", claimedTotals.pass,
               claimedTotals.fail, claimedTotals.unsupported, claimedTotals.excused,
               claimedTotals.pass + claimedTotals.fail + claimedTotals.unsupported + claimedTotals.excused);
    fmt::print("other tests:      {} pass, {} fail, {} unsupported ({} tests)\n", allTotals.pass, allTotals.fail,
               allTotals.unsupported, allTotals.pass + allTotals.fail + allTotals.unsupported + allTotals.excused);
    if (!regressions.empty())
      return makeError("{} conformance test{} failed: {}", regressions.size(), regressions.size() == 1 ? "" : "s",
                       fmt::join(regressions, ", "));
    return Error::success();
  };
}

} // namespace sinter::cli
