// The sinter CLI as a user runs it: exit codes, exact error lines, outputs on disk.
#include "runtime/Npy.h"
#include "runtime/cuda/CudaCompile.h"
#include "runtime/cuda/CudaDevice.h"
#include "tests/support/Numerics.h"

#include <gtest/gtest.h>
#include <jpeglib.h>
#include <png.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <cstdio>
#include <sys/wait.h>

namespace sinter {
namespace {

namespace fs = std::filesystem;

struct Result {
  int code;
  std::string out, err;
};

class Cli : public testing::Test {
protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sinter_cli_" + std::to_string(getpid()) + "_" +
                                        testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  void write(const std::string& name, const std::string& text) const { std::ofstream(path(name)) << text; }
  static std::string slurp(const std::string& p) {
    std::ifstream f(p);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  // Runs `sinter ARGS` in the test folder (with `env`, e.g. "SINTER_CACHE_DIR=cache", set).
  Result sinter(const std::string& args, const std::string& env = "") const {
    std::string cmd = "cd '" + dir_.string() + "' && " + env + " '" SINTER_BIN "' " + args + " >out.txt 2>err.txt";
    int status = std::system(cmd.c_str());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(path("out.txt")), slurp(path("err.txt"))};
  }

  fs::path dir_;
};

TEST_F(Cli, HelpIsTruthfulAndUsageErrorsExit2) {
  Result h = sinter("--help");
  EXPECT_EQ(h.code, 0);
  EXPECT_NE(h.out.find("dump"), std::string::npos);
  EXPECT_NE(h.out.find("run"), std::string::npos);
  Result rh = sinter("run --help");
  EXPECT_EQ(rh.code, 0);
  for (const char* opt : {"--input", "--output", "--output-dir", "--target", "--random-input", "--weights"})
    EXPECT_NE(rh.out.find(opt), std::string::npos) << opt;
  Result none = sinter("");
  EXPECT_EQ(none.code, 2);
  EXPECT_EQ(none.err.rfind("error: ", 0), 0u) << none.err;
  Result badTarget = sinter("run alexnet-narrow --target gpu");
  EXPECT_EQ(badTarget.code, 2);
  Result badFlag = sinter("dump alexnet --frobnicate");
  EXPECT_EQ(badFlag.code, 2);
  // --autotune times CUDA kernels: asked for on another target, it is a usage error.
  for (const char* cmd : {"run", "bench", "train"})
    EXPECT_NE(sinter(std::string(cmd) + " --help").out.find("--autotune"), std::string::npos) << cmd;
  Result tune = sinter("bench alexnet-narrow --target reference --autotune");
  EXPECT_EQ(tune.code, 2);
  EXPECT_EQ(tune.err.rfind("error: --autotune times CUDA kernels on a GPU: it needs --target cuda, not 'reference'\n", 0), 0u)
      << tune.err;
}

TEST_F(Cli, DumpPrintsThePaperNetworkAndParsesItBack) {
  Result d = sinter("dump alexnet");
  ASSERT_EQ(d.code, 0) << d.err;
  EXPECT_EQ(d.out.rfind("// sinter ir: 24 nodes, 60965224 parameters in 16 tensors (243.9 MB)\n"
                        "graph @alexnet(%data: f32[1,3,227,227]) -> (%prob: f32[1,1000]) {\n", 0), 0u);
  write("a.sir", d.out);
  Result again = sinter("dump - < a.sir");
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_EQ(again.out, d.out);
  Result file = sinter("dump a.sir -o b.sir");
  ASSERT_EQ(file.code, 0);
  EXPECT_EQ(slurp(path("b.sir")), d.out);
}

TEST_F(Cli, DotRendersWithGraphviz) {
  Result d = sinter("dump alexnet --format dot -o a.dot");
  ASSERT_EQ(d.code, 0) << d.err;
  if (std::system("command -v dot >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "graphviz 'dot' is not installed (tools/bootstrap.sh installs it)";
  std::string cmd = "dot -Tsvg '" + path("a.dot") + "' -o '" + path("a.svg") + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  EXPECT_NE(slurp(path("a.svg")).find("<svg"), std::string::npos);
}

TEST_F(Cli, RunWritesProbabilitiesThatSumToOne) {
  Tensor x = test::randomTensor({DType::F32, {3, 3, 67, 67}}, 11);
  ASSERT_FALSE(writeNpy(path("x.npy"), x));
  Result r = sinter("run alexnet-narrow --batch 3 --input data=x.npy --output y.npy --target reference");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("output: %prob f32[3,10] -> y.npy"), std::string::npos) << r.out;
  auto y = readNpy(path("y.npy"));
  ASSERT_TRUE(y) << y.error().message();
  ASSERT_EQ(y->type().str(), "f32[3,10]");
  for (int row = 0; row < 3; ++row) {
    double sum = 0;
    for (int c = 0; c < 10; ++c) {
      EXPECT_GT(y->get(row * 10 + c), 0.0);
      sum += y->get(row * 10 + c);
    }
    EXPECT_NEAR(sum, 1.0, 1e-6);
  }
  // --output-dir names files after the outputs; the default target (cpu) agrees with the reference.
  Result dirRun = sinter("run alexnet-narrow --batch 3 --input data=x.npy --output-dir outs");
  ASSERT_EQ(dirRun.code, 0) << dirRun.err;
  EXPECT_NE(dirRun.out.find("target: cpu ("), std::string::npos) << dirRun.out;
  auto y2 = readNpy(path("outs/prob.npy"));
  ASSERT_TRUE(y2);
  EXPECT_ALL_CLOSE(*y2, *y, {1e-6, 1e-4});
}

TEST_F(Cli, RunWithoutFilesPrintsTopClasses) {
  Result r = sinter("run alexnet-narrow --random-input --top 3");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("%prob row 0: top-3 classes: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("time: "), std::string::npos);
}

// `sinter compile --target cuda` needs no GPU; the cache command lists, verifies and clears.
TEST_F(Cli, CompileForCudaFillsTheCacheThatCacheCommandsManage) {
  if (!nvrtcAvailable())
    GTEST_SKIP() << "this build has no CUDA toolkit (NVRTC)";
  Result c = sinter("compile alexnet-narrow --target cuda --arch sm_80 --precision tf32");
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_NE(c.out.find("CUDA kernels of alexnet-narrow for sm_80 (tf32)"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("mma.sync m16n8k8 TF32"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("registers"), std::string::npos) << c.out;
  EXPECT_EQ(c.out.find("WARNINGS"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("tilings for --autotune]"), std::string::npos) << c.out;
  const std::string own = "SINTER_CACHE_DIR=cache";
  Result fill = sinter("compile alexnet-narrow --target cuda --arch sm_90", own);
  ASSERT_EQ(fill.code, 0) << fill.err;
  EXPECT_NE(fill.out.find("compiled 12 kernels"), std::string::npos) << fill.out;
  EXPECT_NE(fill.out.find("(0 from the kernel cache)"), std::string::npos) << fill.out;
  Result again = sinter("compile alexnet-narrow --target cuda --arch sm_90", own);
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_NE(again.out.find("(12 from the kernel cache)"), std::string::npos) << again.out;
  Result ls = sinter("cache ls --dir cache --kind cuda");
  ASSERT_EQ(ls.code, 0) << ls.err;
  EXPECT_NE(ls.out.find("cuda: 12 entries"), std::string::npos) << ls.out;
  Result ok = sinter("cache verify --dir cache");
  EXPECT_EQ(ok.code, 0) << ok.out << ok.err;
  EXPECT_NE(ok.out.find("every entry is valid"), std::string::npos) << ok.out;
  // Damage one entry: verify names it and fails; compile replaces it.
  fs::path victim;
  for (const auto& e : fs::directory_iterator(path("cache/cuda")))
    victim = e.path();
  fs::resize_file(victim, fs::file_size(victim) / 3);
  Result bad = sinter("cache verify --dir cache");
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.out.find("INVALID"), std::string::npos) << bad.out;
  EXPECT_EQ(bad.err, "error: 1 of 12 cache entries are invalid (they are ignored and recompiled when needed; 'sinter cache "
                     "clear' removes them)\n");
  Result fixed = sinter("compile alexnet-narrow --target cuda --arch sm_90", own);
  ASSERT_EQ(fixed.code, 0) << fixed.err;
  EXPECT_NE(fixed.out.find("(11 from the kernel cache)"), std::string::npos) << fixed.out;
  EXPECT_EQ(sinter("cache verify --dir cache").code, 0);
  Result clear = sinter("cache clear --dir cache");
  EXPECT_EQ(clear.code, 0);
  EXPECT_NE(clear.out.find("cuda: removed 12 entries"), std::string::npos) << clear.out;
  EXPECT_EQ(sinter("cache frobnicate").code, 2);
}

// --tiling overrides the tile rule for one kernel (the report says "chosen"), --emit-cuda writes
// the sources; a malformed tiling or an unknown kernel is a usage error.
TEST_F(Cli, CompileForCudaTakesATilingAndWritesTheSources) {
  if (!nvrtcAvailable())
    GTEST_SKIP() << "this build has no CUDA toolkit (NVRTC)";
  const std::string base = "compile alexnet-narrow --target cuda --arch sm_90 --precision tf32 ";
  Result r = sinter(base + "--emit-cuda src --tiling 'sinter_k0_relu1=tile=128x128 split=1 stages=3 bk=16 warps=4'");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("sinter_k0_relu1              grid 2x1x1 block 128  conv2d: tiled GEMM M=6 N=225 K=363 x1: tile "
                       "128x128x16 (chosen), 128 threads, mma.sync m16n8k8 TF32, 64x64 per warp, cp.async 3 stages"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("tile 64x64x32 (rule)"), std::string::npos) << r.out; // the other kernels keep the rule's
  EXPECT_NE(r.out.find("CUDA C of each kernel: src/KERNEL.cu"), std::string::npos) << r.out;
  std::string src = slurp(path("src/sinter_k0_relu1.cu"));
  EXPECT_NE(src.find("__launch_bounds__(128, 2) sinter_k0_relu1("), std::string::npos) << src.substr(0, 2000);
  EXPECT_NE(src.find("float acc[4][8][4];"), std::string::npos);
  EXPECT_TRUE(fs::exists(path("src/sinter_k2_relu2.cu")));
  Result bad = sinter(base + "--tiling 'sinter_k0_relu1=tile=128x128 split=1'");
  EXPECT_EQ(bad.code, 2);
  EXPECT_EQ(bad.err.rfind("error: --tiling 'sinter_k0_relu1=tile=128x128 split=1' is not KERNEL=TILING", 0), 0u) << bad.err;
  Result unknown = sinter(base + "--tiling 'sinter_k1_pool=tile=64x64 split=1 stages=0 bk=8'");
  EXPECT_EQ(unknown.code, 2);
  EXPECT_EQ(unknown.err.rfind("error: --tiling: sinter_k1_pool is not a tiled-GEMM kernel of alexnet-narrow (the report names them)\n", 0), 0u) << unknown.err;
  Result misfit = sinter("compile alexnet-narrow --target cuda --arch sm_90 --precision f32 "
                         "--tiling 'sinter_k0_relu1=tile=128x128 split=1 stages=3 bk=16 warps=4'");
  EXPECT_EQ(misfit.code, 2); // f32 has no cp.async pipeline
  EXPECT_EQ(misfit.err.rfind("error: --tiling: 'tile=128x128 split=1 stages=3 bk=16 warps=4' does not fit sinter_k0_relu1 "
                             "(conv2d: tiled GEMM M=6 N=225 K=363); autotune's candidates for it: 'tile=64x64 split=1 stages=0 bk=8'", 0),
            0u)
      << misfit.err;
  EXPECT_EQ(sinter("compile alexnet-narrow --target cpu --emit-cuda src").code, 2);
  // One value per --tiling: a model named after it is still the model; a kernel named twice is refused.
  Result after = sinter("compile --target cuda --arch sm_90 --tiling 'sinter_k0_relu1=tile=64x64 split=1 stages=0 bk=8' alexnet-narrow");
  EXPECT_EQ(after.code, 0) << after.err;
  Result twice = sinter(base + "--tiling 'sinter_k0_relu1=tile=64x64 split=1 stages=0 bk=8' --tiling 'sinter_k0_relu1=tile=64x64 "
                               "split=1 stages=0 bk=8'");
  EXPECT_EQ(twice.code, 2);
  EXPECT_EQ(twice.err.rfind("error: --tiling names sinter_k0_relu1 twice", 0), 0u) << twice.err;
  // 4 warps only where they fit: 128x128 tiles.
  EXPECT_EQ(sinter(base + "--tiling 'sinter_k0_relu1=tile=64x64 split=1 stages=3 bk=16 warps=4'").code, 2);
}

TEST_F(Cli, BadInputGetsOneErrorLineAndExit1) {
  auto expectError = [&](const std::string& args, const std::string& line) {
    Result r = sinter(args);
    EXPECT_EQ(r.code, 1) << args;
    EXPECT_EQ(r.err, "error: " + line + "\n") << args;
  };
  write("bad.sir", "graph @g(%x: f32[2]) -> (%y: f32[2]) {\n  %y = relu(%x : f32[2]\n  return %y\n}\n");
  expectError("dump bad.sir", "bad.sir:2:16: expected ',' or ')' after the operand, got ':'");
  write("op.sir", "graph @g(%x: f32[2]) -> (%y: f32[2]) {\n  %y = swish(%x) : f32[2]\n  return %y\n}\n");
  expectError("dump op.sir", "op.sir:2:8: unknown op 'swish'");
  write("attr.sir", "graph @g(%x: f32[1,1,4,4]) -> (%y: f32[1,1,2,2]) {\n"
                    "  %y = max_pool2d(%x) {kernel=2} : f32[1,1,2,2]\n  return %y\n}\n");
  expectError("dump attr.sir", "attr.sir:2:31: expected ints for attribute 'kernel' of max_pool2d, got '2'");
  write("shape.sir", "graph @g(%x: f32[2,3]) -> (%y: f32[2,3]) {\n  %y = softmax(%x) : f32[2,4]\n  return %y\n}\n");
  expectError("dump shape.sir", "shape.sir:2:8: softmax result type f32[2,4] does not match the shape rule's f32[2,3]");
  expectError("dump nosuch", "nosuch: no such file, and not a built-in model (alexnet, alexnet-torchvision, alexnet-narrow)");
  expectError("run alexnet-narrow", "missing input 'data' (f32[1,3,67,67]): pass --input data=FILE.npy or --random-input");

  ASSERT_FALSE(writeNpy(path("small.npy"), test::randomTensor({DType::F32, {1, 3, 64, 64}}, 1)));
  expectError("run alexnet-narrow --input data=small.npy",
              "small.npy: input 'data' expects f32[1,3,67,67], the file holds f32[1,3,64,64]");
  ASSERT_FALSE(writeNpy(path("ints.npy"), test::randomTensor({DType::I64, {1, 3, 67, 67}}, 1)));
  expectError("run alexnet-narrow --input data=ints.npy",
              "ints.npy: input 'data' expects f32[1,3,67,67], the file holds i64[1,3,67,67]");
  // A float64 file, as numpy writes by default.
  std::string header = "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }";
  header.append(128 - 10 - header.size() - 1, ' ');
  std::string f64 = std::string("\x93NUMPY\x01\x00", 8) + char(header.size() + 1) + '\0' + header + "\n" +
                    std::string(16, '\0');
  write("f64.npy", f64);
  expectError("run alexnet-narrow --input data=f64.npy",
              "f64.npy: dtype float64 ('<f8') is not supported: save float32 ('<f4') or int64 ('<i8')");
  write("garbage.npy", "not numpy at all");
  expectError("run alexnet-narrow --input data=garbage.npy", "garbage.npy: not a .npy file (missing the \\x93NUMPY magic)");
  expectError("run alexnet-narrow --input data=missing.npy", "missing.npy: cannot open: No such file or directory");
  expectError("run alexnet-narrow --random-input --input label=small.npy",
              "alexnet-narrow: the model has no input 'label' (inputs: data)");
  expectError("run alexnet-narrow --input data", "--input 'data' must be NAME=FILE.npy");
  std::string noGpu;
  if (!cudaDeviceInfo(&noGpu)) {
    expectError("run alexnet-narrow --random-input --target cuda",
                "target 'cuda' is not available here: " + noGpu +
                    " (available: cpu, reference; 'sinter compile --target cuda' compiles CUDA kernels without a GPU)");
    expectError("bench alexnet-narrow --target cuda",
                "target 'cuda' needs a GPU: " + noGpu + " ('sinter compile --target cuda' compiles without one)");
  }
  expectError("dump alexnet-narrow --input-size 40",
              "alexnet-narrow at input 40x40: %pool5: max_pool2d: height: window 3 (kernel 3, dilation 1) is larger "
              "than the padded input 1");
  expectError("dump bad.sir --batch 2", "bad.sir: --batch, --classes, --channels, --input-size and --seed apply to "
                                        "built-in models only");
  write("empty.sir", "");
  expectError("dump empty.sir", "empty.sir:1:1: expected 'graph', got 'end of file'");
  write("binary.sir", std::string("\x00\x01\xff\xfe garbage", 12));
  expectError("dump binary.sir", "binary.sir:1:1: unexpected character '\\x00'");
}

TEST_F(Cli, OnnxFilesExportImportAndBadOnes) {
  Result e = sinter("export alexnet-narrow --seed 4 -o n.onnx");
  ASSERT_EQ(e.code, 0) << e.err;
  EXPECT_EQ(e.out, "wrote n.onnx (opset 13, 24 nodes, 83954 parameters)\n");
  Result a = sinter("run n.onnx --random-input --output a.npy");
  Result b = sinter("run alexnet-narrow --seed 4 --random-input --output b.npy");
  ASSERT_EQ(a.code, 0) << a.err;
  ASSERT_EQ(b.code, 0) << b.err;
  EXPECT_TRUE(readNpy(path("a.npy"))->identical(*readNpy(path("b.npy"))));
  Result dump = sinter("dump n.onnx");
  ASSERT_EQ(dump.code, 0) << dump.err;
  EXPECT_NE(dump.out.find("%conv1 = conv2d(%data, %conv1.w, %conv1.b)"), std::string::npos) << dump.out;
  EXPECT_EQ(sinter("export alexnet-narrow --opset 9 -o x.onnx").code, 2);

  auto expectError = [&](const std::string& args, const std::string& line) {
    Result r = sinter(args);
    EXPECT_EQ(r.code, 1) << args;
    EXPECT_EQ(r.err, "error: " + line + "\n") << args;
  };
  write("empty.onnx", "");
  expectError("dump empty.onnx", "empty.onnx: the file is empty");
  write("random.onnx", std::string("\x0a\xff\xff\xff\xff\x0f garbage", 13));
  expectError("run random.onnx --random-input", "random.onnx: not an ONNX model (the protobuf does not parse)");
  expectError("dump n.onnx --input-shape data=1,3", "n.onnx: --input-shape data has rank 2, the model's input is "
                                                    "[1,3,67,67]");
  expectError("dump n.onnx --input-shape data=1,x", "--input-shape 'data=1,x': 'x' is not a dimension");
  expectError("dump n.onnx --input-shape label=1", "n.onnx: --input-shape names 'label', which is not an input of the model");
}

TEST_F(Cli, PassFlagsOnARealModel) {
  Result help = sinter("dump --help");
  for (const char* flag : {"--print-changed", "--stop-after", "--print-after", "--print-before", "--print-after-all",
                           "--verify-each", "--time-passes", "--list-passes", "--passes"})
    EXPECT_NE(help.out.find(flag), std::string::npos) << flag;
  Result changed = sinter("dump alexnet --print-changed");
  ASSERT_EQ(changed.code, 0) << changed.err;
  EXPECT_NE(changed.out.find("// ----- IR after remove-dropout -----"), std::string::npos);
  EXPECT_NE(changed.out.find("// ----- IR after fuse -----"), std::string::npos);
  EXPECT_EQ(changed.out.find("IR after verify"), std::string::npos) << "verify changes nothing";
  Result stop = sinter("dump alexnet --stop-after=fuse");
  ASSERT_EQ(stop.code, 0) << stop.err;
  EXPECT_NE(stop.out.find("%relu1 = fused(%data, %conv1.w, %conv1.b) {kind=\"conv2d+relu\""), std::string::npos);
  EXPECT_EQ(stop.out.find(" @0"), std::string::npos) << "stopped before plan-memory";
  // A dumped stage is .sir: it parses and can be fed to the remaining passes.
  write("fused.sir", stop.out);
  Result rest = sinter("dump fused.sir --passes=plan-memory");
  ASSERT_EQ(rest.code, 0) << rest.err;
  EXPECT_NE(rest.out.find(" : f32[1,96,55,55] @0\n"), std::string::npos) << rest.out;
  Result timed = sinter("dump alexnet-narrow --time-passes");
  EXPECT_NE(timed.out.find("// ----- pass timing -----"), std::string::npos);
  Result list = sinter("dump --list-passes");
  EXPECT_NE(list.out.find("default pipeline: verify,infer-shapes,fold-constants,canonicalize,dce,cse,remove-dropout,"
                          "fold-batch-norm,fold-params,fuse,dce,plan-memory"), std::string::npos) << list.out;
  Result bad = sinter("dump alexnet --stop-after=nope");
  EXPECT_EQ(bad.code, 1);
  EXPECT_EQ(bad.err.rfind("error: --stop-after: unknown pass 'nope' (passes: verify, ", 0), 0u) << bad.err;
}

TEST_F(Cli, WinogradFlagRewritesThe3x3Convolutions) {
  for (const char* cmd : {"dump", "run", "compile", "bench", "train"})
    EXPECT_NE(sinter(std::string(cmd) + " --help").out.find("--winograd"), std::string::npos) << cmd;
  Result c = sinter("compile alexnet --batch 128 --winograd");
  ASSERT_EQ(c.code, 0) << c.err;
  // conv3-5: three kernels each; fold-params transforms the filters once, at compile time.
  EXPECT_NE(c.out.find("total: 18 kernels"), std::string::npos) << c.out;
  EXPECT_EQ(c.out.find("winograd_filter"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("winograd_output+relu"), std::string::npos) << c.out;
  Result d = sinter("dump alexnet --winograd --stop-after=winograd");
  ASSERT_EQ(d.code, 0) << d.err;
  EXPECT_NE(d.out.find("%conv3.wp = conv2d(%conv3.wv, %conv3.wu) {stride=[1,1], pad=[0,0,0,0], dilation=[1,1], "
                       "group=16} : f32[1,6144,1,49]"),
            std::string::npos)
      << d.out;
  EXPECT_EQ(d.out.find("%conv2.wu"), std::string::npos) << "conv2 is 5x5";
  Result four = sinter("dump alexnet --winograd-tile 4 --stop-after=winograd");
  ASSERT_EQ(four.code, 0) << four.err;
  EXPECT_NE(four.out.find("%conv3.wv = winograd_input(%pool2) {pad=[1,1,1,1], tile=4} : f32[1,9216,1,16]"),
            std::string::npos)
      << four.out;
  Result tile3 = sinter("dump alexnet --winograd-tile 3");
  EXPECT_EQ(tile3.code, 2) << tile3.err;
  Result tf32 = sinter("compile alexnet --target cuda --arch sm_90 --precision tf32 --winograd-tile 4");
  EXPECT_EQ(tf32.code, 1);
  EXPECT_NE(tf32.err.find("use --winograd-tile 2, or --precision f32"), std::string::npos) << tf32.err;
}

TEST_F(Cli, CompileReportsKernelsAndMemory) {
  Result c = sinter("compile alexnet --batch 128");
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_NE(c.out.find("total: 12 kernels, 186.6 GFLOP"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("lrn+max_pool2d"), std::string::npos);
  EXPECT_NE(c.out.find("(arena = 1.000 x lower bound)"), std::string::npos) << c.out;
}

TEST_F(Cli, WeightsTravelThroughAFolder) {
  Result d = sinter("dump alexnet-narrow -o n.sir --save-weights w --seed 3");
  ASSERT_EQ(d.code, 0) << d.err;
  EXPECT_TRUE(fs::exists(path("w/fc8.w.npy")));
  Result a = sinter("run n.sir --weights w --random-input --output a.npy");
  Result b = sinter("run alexnet-narrow --seed 3 --random-input --output b.npy");
  ASSERT_EQ(a.code, 0) << a.err;
  ASSERT_EQ(b.code, 0) << b.err;
  EXPECT_TRUE(readNpy(path("a.npy"))->identical(*readNpy(path("b.npy"))));
  Result missing = sinter("run n.sir --random-input");
  EXPECT_EQ(missing.code, 1);
  EXPECT_EQ(missing.err, "error: n.sir: parameter %conv1.w has no data\n");
  fs::remove(path("w/fc6.b.npy"));
  Result partial = sinter("run n.sir --weights w --random-input");
  EXPECT_EQ(partial.err, "error: w/fc6.b.npy: missing weights for parameter %fc6.b (f32[256])\n");
}


// ---- sinter train ---------------------------------------------------------------------------

// Writes a w x h RGB image of seeded noise as PNG (libpng) or JPEG (libjpeg).
void writeImage(const std::string& path, int w, int h, unsigned seed, bool jpeg) {
  std::vector<unsigned char> rgb(static_cast<size_t>(w * h * 3));
  for (size_t i = 0; i < rgb.size(); ++i)
    rgb[i] = static_cast<unsigned char>((i * 2654435761u + seed * 40503u) >> 13);
  if (!jpeg) {
    png_image img{};
    img.version = PNG_IMAGE_VERSION;
    img.width = static_cast<png_uint_32>(w);
    img.height = static_cast<png_uint_32>(h);
    img.format = PNG_FORMAT_RGB;
    ASSERT_TRUE(png_image_write_to_file(&img, path.c_str(), 0, rgb.data(), 0, nullptr)) << path;
    return;
  }
  jpeg_compress_struct c;
  jpeg_error_mgr err;
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  std::FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_TRUE(f) << path;
  jpeg_stdio_dest(&c, f);
  c.image_width = static_cast<JDIMENSION>(w);
  c.image_height = static_cast<JDIMENSION>(h);
  c.input_components = 3;
  c.in_color_space = JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = rgb.data() + static_cast<size_t>(c.next_scanline) * static_cast<size_t>(w) * 3;
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  std::fclose(f);
}

// idx files as Fashion-MNIST ships them (big-endian header), gzip-compressed like Debian's.
void writeIdx(const std::string& path, uint32_t magic, std::vector<uint32_t> dims, const std::vector<uint8_t>& body) {
  std::string bytes;
  auto be = [&](uint32_t v) {
    for (int s = 24; s >= 0; s -= 8)
      bytes.push_back(static_cast<char>((v >> s) & 0xff));
  };
  be(magic);
  for (uint32_t d : dims)
    be(d);
  bytes.append(body.begin(), body.end());
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_TRUE(f);
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
}

TEST_F(Cli, TrainReportsBadDataWithTheFileName) {
  auto expectError = [&](const std::string& args, const std::string& line) {
    Result r = sinter(args);
    EXPECT_EQ(r.code, 1) << args << "\n" << r.out;
    EXPECT_EQ(r.err, "error: " + line + "\n") << args;
  };
  fs::create_directories(path("fm"));
  std::vector<uint8_t> pixels(8 * 28 * 28, 7), labels(8, 3);
  writeIdx(path("fm/train-images-idx3-ubyte.gz"), 0x803, {8, 28, 28}, pixels);
  writeIdx(path("fm/train-labels-idx1-ubyte.gz"), 0x801, {8}, labels);
  writeIdx(path("fm/t10k-images-idx3-ubyte.gz"), 0x801, {8, 28, 28}, pixels); // wrong magic
  writeIdx(path("fm/t10k-labels-idx1-ubyte.gz"), 0x801, {8}, labels);
  std::string fm = path("fm");
  expectError("train alexnet-narrow --data fashion-mnist:fm --target reference",
              "fm/t10k-images-idx3-ubyte.gz: not an idx3 image file (magic 0x00000801, want 0x00000803)");
  writeIdx(path("fm/t10k-images-idx3-ubyte.gz"), 0x803, {8, 28, 28}, pixels);
  labels[5] = 12;
  writeIdx(path("fm/t10k-labels-idx1-ubyte.gz"), 0x801, {8}, labels);
  expectError("train alexnet-narrow --data fashion-mnist:fm --target reference",
              "fm/t10k-labels-idx1-ubyte.gz: label 12 of example 5 is out of range (10 classes)");
  writeIdx(path("fm/t10k-labels-idx1-ubyte.gz"), 0x801, {9}, labels);
  expectError("train alexnet-narrow --data fashion-mnist:fm --target reference",
              "fm/t10k-labels-idx1-ubyte.gz: 8 labels for 8 images");
  write("fm/t10k-labels-idx1-ubyte.gz", "\x1f\x8b\x08 truncated gzip");
  Result gz = sinter("train alexnet-narrow --data fashion-mnist:fm --target reference");
  EXPECT_EQ(gz.code, 1);
  EXPECT_EQ(gz.err.rfind("error: fm/t10k-labels-idx1-ubyte.gz: ", 0), 0u) << gz.err;
  // Divergence stops training with a message; the checkpoint on disk (if any) is a good one.
  writeIdx(path("fm/t10k-labels-idx1-ubyte.gz"), 0x801, {8}, std::vector<uint8_t>(8, 3));
  Result nan = sinter("train alexnet-narrow --data fashion-mnist:fm --batch 4 --epochs 50 --lr 1e30 --target reference "
                      "--checkpoint ck.onnx --checkpoint-every 1");
  EXPECT_EQ(nan.code, 1) << nan.out;
  EXPECT_NE(nan.err.find("training stopped"), std::string::npos) << nan.err;
  EXPECT_NE(nan.err.find("ck.onnx"), std::string::npos) << nan.err;
  if (fs::exists(path("ck.onnx"))) {
    Result run = sinter("run ck.onnx --random-input --target reference");
    EXPECT_EQ(run.code, 0) << run.err; // a complete model (its huge weights may well overflow to NaN)
  }
  expectError("train alexnet-narrow --data fashion-mnist:nowhere --target reference",
              "nowhere: no such folder (Fashion-MNIST comes with Debian's dataset-fashion-mnist: apt-get install "
              "dataset-fashion-mnist)");
  expectError("train alexnet-narrow --data mnist --target reference",
              "--data 'mnist': expected fashion-mnist, fashion-mnist:DIR or folder:DIR");

  // Image folders: a corrupt JPEG and a truncated PNG stop training with the file's name.
  fs::create_directories(path("img/cat"));
  fs::create_directories(path("img/dog"));
  for (int i = 0; i < 10; ++i) {
    writeImage(path("img/cat/" + std::to_string(i) + ".png"), 40, 30, i, false);
    writeImage(path("img/dog/" + std::to_string(i) + ".jpg"), 30, 40, i, true);
  }
  write("img/cat/0.png", "\x89PNG\r\n\x1a\n then nothing useful");
  Result png = sinter("train alexnet-narrow --data folder:img --shuffle off --batch 2 --target reference");
  EXPECT_EQ(png.code, 1);
  EXPECT_EQ(png.err.rfind("error: img/cat/0.png: corrupt PNG: ", 0), 0u) << png.err;
  writeImage(path("img/cat/0.png"), 40, 30, 0, false);
  write("img/dog/0.jpg", "\xff\xd8\xff\xe0 not a real jpeg");
  write("img/cat/00.png", "plain text");
  Result bad = sinter("train alexnet-narrow --data folder:img --shuffle off --batch 2 --target reference");
  EXPECT_EQ(bad.code, 1);
  EXPECT_EQ(bad.err, "error: img/cat/00.png: neither a JPEG nor a PNG file\n") << bad.err;
  fs::remove(path("img/cat/00.png"));
  Result jpg = sinter("train alexnet-narrow --data folder:img --shuffle off --batch 10 --target reference");
  EXPECT_EQ(jpg.code, 1);
  EXPECT_EQ(jpg.err.rfind("error: img/dog/0.jpg: corrupt JPEG: ", 0), 0u) << jpg.err;
  fs::create_directories(path("empty/a"));
  expectError("train alexnet-narrow --data folder:empty --target reference",
              "empty: no .jpg, .jpeg or .png images in its class folders");
  expectError("train alexnet-narrow --data fashion-mnist:fm --batch 4 --classes 5 --target reference",
              "alexnet-narrow: the model scores 5 classes but the data has 10");
  expectError("train alexnet-narrow --data fashion-mnist --plot curves.png --target reference",
              "--plot curves.png: Sinter writes SVG plots (name the file .svg)");
  expectError("train alexnet-narrow --data fashion-mnist --resume nope.onnx --target reference",
              "nope.onnx: cannot open: No such file or directory");
}

// An image folder (PNG and JPEG, different sizes) trains end to end and writes its outputs.
TEST_F(Cli, TrainOnAnImageFolderWritesCheckpointLogAndPlot) {
  for (const char* split : {"train", "val"})
    for (const char* cls : {"a", "b"}) {
      fs::create_directories(path(std::string("data/") + split + "/" + cls));
      for (int i = 0; i < (std::string(split) == "train" ? 8 : 3); ++i)
        writeImage(path(std::string("data/") + split + "/" + cls + "/" + std::to_string(i) + (i % 2 ? ".jpg" : ".png")),
                   50 + i, 40 + 3 * i, static_cast<unsigned>(i + (cls[0] == 'b' ? 100 : 0)), i % 2);
    }
  Result r = sinter("train alexnet-narrow --data folder:data --epochs 2 --batch 4 --target reference "
                    "--checkpoint ck.onnx --log m.csv --plot p.svg");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("data: data train (16 images, 2 classes); data val (6 images, 2 classes)"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("epoch 2: test loss "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("checkpoint: ck.onnx (epoch 2, step 8)"), std::string::npos) << r.out;
  std::string csv = slurp(path("m.csv"));
  EXPECT_EQ(csv.rfind("split,epoch,step,loss,accuracy,lr,images_per_s,seconds\ntrain,1,1,", 0), 0u) << csv;
  EXPECT_NE(csv.find("\ntest,2,8,"), std::string::npos) << csv;
  std::string svg = slurp(path("p.svg"));
  EXPECT_EQ(svg.rfind("<svg ", 0), 0u);
  EXPECT_NE(svg.find("accuracy (%)"), std::string::npos);
  EXPECT_TRUE(fs::exists(path("ck.onnx")));
  EXPECT_FALSE(fs::exists(path("ck.onnx.tmp")));
  // The checkpoint runs (its input is the training batch: 4 x 3 x 67 x 67).
  Result run = sinter("run ck.onnx --random-input --target reference");
  EXPECT_EQ(run.code, 0) << run.err;
  Result ev = sinter("train alexnet-narrow --data folder:data --batch 4 --target reference --resume ck.onnx --eval-only");
  EXPECT_EQ(ev.code, 0) << ev.err;
  EXPECT_NE(ev.out.find("checkpoint at step 8: test loss "), std::string::npos) << ev.out;
}

} // namespace
} // namespace sinter
