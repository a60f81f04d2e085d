// --autotune (see Autotune.h): candidates timed in rounds (round i times every undecided
// kernel's i-th candidate, so each round is one parallel NVRTC batch), winners stored.
#include "runtime/cuda/Autotune.h"

#include "runtime/KernelCache.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>

namespace sinter {

namespace {
// Bump when the generator's candidates or the record format change: old choices are then ignored.
constexpr std::string_view kTuneVersion = "tune-1";
} // namespace

std::string TuneRecord::str() const { return fmt::format("{} ms={:.6f} rule_ms={:.6f}\n", tiling.str(), ms, ruleMs); }

std::optional<TuneRecord> TuneRecord::parse(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
    text.remove_suffix(1);
  size_t at = text.find(" ms=");
  if (at == std::string_view::npos)
    return std::nullopt;
  auto tiling = GemmTiling::parse(text.substr(0, at));
  if (!tiling)
    return std::nullopt;
  TuneRecord r;
  r.tiling = *tiling;
  std::string rest(text.substr(at + 1));
  double ms = -1, ruleMs = -1;
  char tail = 0;
  if (std::sscanf(rest.c_str(), "ms=%lf rule_ms=%lf%c", &ms, &ruleMs, &tail) != 2 || !(ms >= 0) || !(ruleMs >= 0) ||
      !std::isfinite(ms) || !std::isfinite(ruleMs))
    return std::nullopt;
  r.ms = ms;
  r.ruleMs = ruleMs;
  return r;
}

double autotuneTolerance(CudaPrecision p) { return p == CudaPrecision::TF32 ? 2e-3 : 1e-4; }

TuneStore::TuneStore(std::string deviceKey, std::string cacheDir)
    : deviceKey_(std::move(deviceKey)), cacheDir_(std::move(cacheDir)) {}

std::string TuneStore::key(const CudaKernel& k) const {
  return contentHash(fmt::format("{}\n{}\n{}", kTuneVersion, deviceKey_, k.source));
}

std::optional<TuneRecord> TuneStore::load(const CudaKernel& k) const {
  auto payload = KernelCache("tune", cacheDir_).load(key(k));
  if (!payload)
    return std::nullopt;
  auto r = TuneRecord::parse(*payload);
  // A choice the generator no longer offers for this kernel is stale: tune again.
  if (!r || std::find(k.candidates.begin(), k.candidates.end(), r->tiling) == k.candidates.end())
    return std::nullopt;
  return r;
}

Error TuneStore::store(const CudaKernel& k, const TuneRecord& r) const { return KernelCache("tune", cacheDir_).store(key(k), r.str()); }

Expected<AutotuneResult> autotune(const Graph& g, const CudaTarget& target, const TuneStore& store, const KernelTimer& time,
                                  const std::function<void(const std::string&)>& progress) {
  AutotuneResult res;
  res.target = target;
  res.target.tilings.clear();
  auto ruleProgram = emitCudaProgram(g, res.target);
  if (!ruleProgram)
    return ruleProgram.error();
  std::vector<size_t> pending;
  size_t rounds = 0;
  for (size_t i = 0; i < ruleProgram->kernels.size(); ++i) {
    const CudaKernel& k = ruleProgram->kernels[i];
    if (!k.tiling)
      continue;
    ++res.tunable;
    if (auto r = store.load(k)) {
      ++res.stored;
      res.target.tilings[k.name] = r->tiling;
      res.lines.push_back(fmt::format("{}: {} ({:.4f} ms; the rule's {:.4f} ms), stored", k.name, r->tiling.str(), r->ms, r->ruleMs));
      continue;
    }
    if (k.candidates.size() < 2) {
      res.target.tilings[k.name] = *k.tiling;
      res.lines.push_back(fmt::format("{}: {} (the only candidate)", k.name, k.tiling->str()));
      continue;
    }
    pending.push_back(i);
    rounds = std::max(rounds, k.candidates.size());
  }
  // runs[kernel index][candidate]
  std::map<size_t, std::vector<KernelTiming>> runs;
  for (size_t round = 0; round < rounds; ++round) {
    CudaTarget t = target;
    t.tilings.clear();
    std::vector<size_t> in;
    for (size_t i : pending) {
      const CudaKernel& k = ruleProgram->kernels[i];
      if (round < k.candidates.size()) {
        t.tilings[k.name] = k.candidates[round];
        in.push_back(i);
      }
    }
    auto prog = emitCudaProgram(g, t);
    if (!prog)
      return prog.error();
    std::vector<CudaKernel> batch;
    for (size_t i : in) {
      if (prog->kernels[i].tiling != ruleProgram->kernels[i].candidates[round])
        return makeError("autotune: kernel {} did not take candidate {}", prog->kernels[i].name,
                         ruleProgram->kernels[i].candidates[round].str());
      batch.push_back(prog->kernels[i]);
    }
    if (progress)
      progress(fmt::format("autotune: round {}/{}: {} candidate kernels", round + 1, rounds, batch.size()));
    auto ms = time(batch, round == 0);
    if (!ms)
      return ms.error().context("autotune");
    if (ms->size() != batch.size())
      return makeError("autotune: the timer returned {} times for {} kernels", ms->size(), batch.size());
    for (size_t j = 0; j < in.size(); ++j)
      runs[in[j]].push_back((*ms)[j]);
    res.candidates += batch.size();
  }
  const double tolerance = autotuneTolerance(target.precision);
  for (size_t i : pending) {
    const CudaKernel& k = ruleProgram->kernels[i];
    const std::vector<KernelTiming>& ms = runs[i];
    size_t best = 0;
    for (size_t c = 0; c < ms.size(); ++c)
      res.timings.push_back(fmt::format("{}: {} {:.4f} ms{}", k.name, k.candidates[c].str(), ms[c].ms,
                                        c == 0 ? " (rule)" : ms[c].difference <= tolerance ? "" : " (rejected)"));
    for (size_t c = 1; c < ms.size(); ++c) {
      if (!(ms[c].difference <= tolerance)) {
        ++res.rejected;
        res.lines.push_back(fmt::format("{}: {} rejected: its outputs differ from the rule's by {:.3g} (relative; at most {:.3g})",
                                        k.name, k.candidates[c].str(), ms[c].difference, tolerance));
        continue;
      }
      if (ms[c].ms < ms[best].ms)
        best = c;
    }
    TuneRecord r{k.candidates[best], ms[best].ms, ms[0].ms};
    res.target.tilings[k.name] = r.tiling;
    ++res.timed;
    if (Error e = store.store(k, r))
      res.lines.push_back(fmt::format("{}: not stored: {}", k.name, e.message()));
    res.lines.push_back(fmt::format("{}: {} ({:.4f} ms; the rule's {:.4f} ms, {:.2f}x), {} candidates timed", k.name, r.tiling.str(),
                                    r.ms, r.ruleMs, r.ms > 0 ? r.ruleMs / r.ms : 1.0, ms.size()));
  }
  return res;
}

} // namespace sinter
