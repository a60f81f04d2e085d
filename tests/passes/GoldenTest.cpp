// Golden pass tests: tests/passes/golden/*.sir hold cases split by "// -----". Each case names
// the passes to run ("// RUN: a,b"), lines the output must contain in order ("// CHECK: text")
// or must not contain ("// CHECK-NOT: text"), and the input graph. Every case also checks that
// the output parses back to the same text and that the graph computes the same numbers on the
// reference interpreter before and after the passes (random inputs and weights, f32 rtol 1e-5).
#include "ir/Printer.h"
#include "ir/Verifier.h"
#include "passes/MemoryPlan.h"
#include "passes/PassManager.h"
#include "runtime/cpu/CpuBackend.h"
#include "runtime/reference/Interpreter.h"
#include "tests/support/Numerics.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace sinter {
namespace {

struct GoldenCase {
  std::string file;
  int index = 0;
  int line = 1; // first line of the case in the file
  std::vector<std::string> passes;
  std::vector<std::pair<bool, std::string>> checks; // (is CHECK-NOT, text)
  std::string text;
};

void PrintTo(const GoldenCase& c, std::ostream* os) { *os << c.file << " case " << c.index; }

std::vector<GoldenCase> loadCases() {
  std::vector<GoldenCase> cases;
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(SINTER_GOLDEN_DIR))
    if (e.path().extension() == ".sir")
      files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& path : files) {
    std::ifstream f(path);
    std::string line;
    GoldenCase c{path.filename().string(), 0, 1, {}, {}, {}};
    int lineNo = 0;
    auto flush = [&]() {
      if (c.text.find("graph") != std::string::npos)
        cases.push_back(c);
      c = GoldenCase{path.filename().string(), c.index + 1, lineNo + 1, {}, {}, {}};
    };
    while (std::getline(f, line)) {
      ++lineNo;
      if (line == "// -----") {
        flush();
        continue;
      }
      if (line.rfind("// RUN: ", 0) == 0)
        c.passes = splitList(line.substr(8));
      else if (line.rfind("// CHECK: ", 0) == 0)
        c.checks.emplace_back(false, line.substr(10));
      else if (line.rfind("// CHECK-NOT: ", 0) == 0)
        c.checks.emplace_back(true, line.substr(14));
      c.text += line + "\n";
    }
    flush();
  }
  return cases;
}

// Seeded values for every input and parameter (labels and indices small and in range).
std::vector<Tensor> randomInputs(Graph& g, uint64_t seed) {
  std::vector<Tensor> in;
  for (const Value* v : g.inputs())
    in.push_back(isFloat(v->type().dtype) ? test::randomTensor(v->type(), seed++)
                                          : test::randomTensor(v->type(), seed++, 0, 2));
  for (const Value* p : g.params())
    g.weights().set(p->name(), test::randomTensor(p->type(), seed++));
  return in;
}

class Golden : public testing::TestWithParam<GoldenCase> {};

TEST_P(Golden, PassOutputMatches) {
  const GoldenCase& c = GetParam();
  SCOPED_TRACE(c.file + " case " + std::to_string(c.index) + " (line " + std::to_string(c.line) + ")");
  ASSERT_FALSE(c.passes.empty()) << "case has no RUN line";
  auto g = parseGraph(c.text, c.file);
  ASSERT_TRUE(g) << g.error().message();
  ASSERT_FALSE(verifyGraph(**g));
  std::vector<Tensor> inputs = randomInputs(**g, 1);
  auto before = runReference(**g, inputs);
  ASSERT_TRUE(before) << before.error().message();

  PassContext ctx;
  ctx.evaluate = evaluateNode;
  PipelineOptions opts;
  opts.verifyEach = true;
  auto r = runPipeline(**g, c.passes, ctx, opts);
  ASSERT_TRUE(r) << r.error().message();
  std::string out = printGraph(**g);

  size_t pos = 0;
  for (const auto& [isNot, text] : c.checks) {
    if (isNot) {
      EXPECT_EQ(out.find(text), std::string::npos) << "CHECK-NOT: " << text << "\nfound in:\n" << out;
      continue;
    }
    size_t at = out.find(text, pos);
    ASSERT_NE(at, std::string::npos) << "CHECK: " << text << "\nnot found after offset " << pos << " in:\n" << out;
    pos = at + text.size();
  }
  auto back = parseGraph(out);
  ASSERT_TRUE(back) << back.error().message() << "\n" << out;
  EXPECT_EQ(printGraph(**back), out);

  auto after = runReference(**g, inputs);
  ASSERT_TRUE(after) << after.error().message();
  ASSERT_EQ(after->size(), before->size());
  for (size_t i = 0; i < after->size(); ++i)
    EXPECT_ALL_CLOSE((*after)[i], (*before)[i], {1e-6, 1e-5});

  // The same graph, memory-planned, on the CPU backend (which reads the plan).
  std::shared_ptr<Graph> planned = (*g)->clone();
  ASSERT_TRUE(runPipeline(*planned, {"plan-memory"}, ctx, {}));
  auto exe = CpuExecutable::compile(planned, {});
  ASSERT_TRUE(exe) << exe.error().message();
  auto cpu = (*exe)->run(inputs);
  ASSERT_TRUE(cpu) << cpu.error().message();
  for (size_t i = 0; i < cpu->size(); ++i)
    EXPECT_ALL_CLOSE((*cpu)[i], (*before)[i], {1e-5, 1e-4});
}

INSTANTIATE_TEST_SUITE_P(Passes, Golden, testing::ValuesIn(loadCases()),
                         [](const testing::TestParamInfo<GoldenCase>& p) {
                           std::string n = p.param.file.substr(0, p.param.file.find('.')) + "_" +
                                           std::to_string(p.param.index);
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

} // namespace
} // namespace sinter
