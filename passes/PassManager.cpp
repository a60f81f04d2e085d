// Pass registry (from Passes.def), default pipelines, and the instrumented pipeline runner.
#include "passes/PassManager.h"

#include "ir/Printer.h"
#include "ir/Verifier.h"
#include "passes/Passes.h"

#include <algorithm>
#include <chrono>

namespace sinter {

namespace {
constexpr PassInfo kPasses[] = {
#define SINTER_PASS(name, fn, summary) {name, fn, summary},
#include "passes/Passes.def"
#undef SINTER_PASS
};
} // namespace

std::span<const PassInfo> allPasses() { return kPasses; }

const PassInfo* findPass(std::string_view name) {
  for (const PassInfo& p : kPasses)
    if (p.name == name)
      return &p;
  return nullptr;
}

std::vector<std::string> defaultPipeline(bool training) {
  std::vector<std::string> p = {"verify", "infer-shapes", "fold-constants", "canonicalize", "dce", "cse"};
  if (!training)
    for (const char* name : {"remove-dropout", "fold-batch-norm", "fold-params"})
      p.push_back(name);
  else
    for (const char* name : {"add-loss", "autodiff", "optimizer", "cse"})
      p.push_back(name);
  for (const char* name : {"fuse", "dce", "plan-memory"})
    p.push_back(name);
  return p;
}

std::vector<std::string> splitList(const std::string& s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t comma = s.find(',', pos);
    std::string item = s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (!item.empty())
      out.push_back(item);
    if (comma == std::string::npos)
      break;
    pos = comma + 1;
  }
  return out;
}

Error checkPipeline(const std::vector<std::string>& passes, const PipelineOptions& o) {
  std::vector<std::string_view> known;
  for (const PassInfo& p : kPasses)
    known.push_back(p.name);
  auto check = [&](const std::string& name, std::string_view flag) -> Error {
    if (!findPass(name))
      return makeError("{}: unknown pass '{}' (passes: {})", flag, name, fmt::join(known, ", "));
    if (flag != "--passes" && std::find(passes.begin(), passes.end(), name) == passes.end())
      return makeError("{}: pass '{}' is not in the pipeline ({})", flag, name, fmt::join(passes, ","));
    return Error::success();
  };
  for (const std::string& p : passes)
    SINTER_CHECK(check(p, "--passes"));
  for (const std::string& p : o.printBefore)
    SINTER_CHECK(check(p, "--print-before"));
  for (const std::string& p : o.printAfter)
    SINTER_CHECK(check(p, "--print-after"));
  if (!o.stopAfter.empty())
    SINTER_CHECK(check(o.stopAfter, "--stop-after"));
  return Error::success();
}

Expected<std::vector<PassTiming>> runPipeline(Graph& g, const std::vector<std::string>& passes,
                                              const PassContext& ctx, const PipelineOptions& o) {
  SINTER_CHECK(checkPipeline(passes, o));
  auto emit = [&](const std::string& s) {
    if (o.out)
      o.out(s);
  };
  std::vector<PassTiming> timings;
  for (const std::string& name : passes) {
    const PassInfo* p = findPass(name);
    if (o.printBefore.count(name))
      emit(fmt::format("// ----- IR before {} -----\n{}", name, printGraph(g)));
    auto start = std::chrono::steady_clock::now();
    auto changed = p->fn(g, ctx);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!changed)
      return changed.error().context(fmt::format("pass {}", name));
    timings.push_back({name, secs, *changed});
    if (o.verifyEach)
      if (Error e = verifyGraph(g))
        return e.context(fmt::format("after pass {}", name));
    bool print = o.printAfterAll || o.printAfter.count(name) || (o.printChanged && *changed);
    if (print)
      emit(fmt::format("// ----- IR after {}{} -----\n{}", name, *changed ? "" : " (unchanged)", printGraph(g)));
    if (name == o.stopAfter)
      break;
  }
  if (o.timePasses) {
    double total = 0;
    for (const PassTiming& t : timings)
      total += t.seconds;
    std::string table = "// ----- pass timing -----\n";
    for (const PassTiming& t : timings)
      table += fmt::format("// {:>9.3f} ms  {:>5.1f}%  {}{}\n", t.seconds * 1e3, total > 0 ? 100 * t.seconds / total : 0,
                           t.name, t.changed ? "" : " (unchanged)");
    table += fmt::format("// {:>9.3f} ms  total\n", total * 1e3);
    emit(table);
  }
  return timings;
}

} // namespace sinter
