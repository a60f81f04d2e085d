// `sinter cache ls|verify|clear`: the on-disk kernel cache ($SINTER_CACHE_DIR, else
// ~/.cache/sinter), with one folder per kind (cpu: object files, cuda: CUBINs, tune: autotune's
// choices).
#include "tools/sinter/Commands.h"

#include "runtime/KernelCache.h"

namespace sinter::cli {

namespace {
constexpr const char* kKinds[] = {"cpu", "cuda", "tune"};

std::vector<std::string> kindsOf(const std::string& kind) {
  if (kind != "all")
    return {kind};
  return {std::begin(kKinds), std::end(kKinds)};
}
} // namespace

Action addCache(CLI::App& app) {
  struct Opts {
    std::string action, kind = "all", dir;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand("cache", "List, verify or clear the compiled-kernel cache");
  cmd->add_option("ACTION", o->action, "ls (entries and sizes), verify (check every entry), clear (remove all)")
      ->required()
      ->check(CLI::IsMember({"ls", "verify", "clear"}));
  cmd->add_option("--kind", o->kind, "cpu, cuda, tune (autotune's choices) or all")
      ->check(CLI::IsMember({"all", "cpu", "cuda", "tune"}));
  cmd->add_option("--dir", o->dir, "cache root (default: $SINTER_CACHE_DIR, else ~/.cache/sinter)");
  cmd->footer("Entries are keyed by a hash of the kernel source or IR, the target and the compiler version and\n"
              "options; a corrupt or truncated entry is never used (it is recompiled and replaced).");
  return [o]() -> Error {
    std::string root = o->dir.empty() ? defaultCacheRoot() : o->dir;
    size_t total = 0, invalid = 0;
    uint64_t bytes = 0;
    for (const std::string& kind : kindsOf(o->kind)) {
      KernelCache cache(kind, o->dir);
      if (o->action == "clear") {
        size_t n = cache.clear();
        fmt::print("{}: removed {} entries from {}\n", kind, n, cache.folder());
        total += n;
        continue;
      }
      auto entries = cache.list();
      uint64_t kindBytes = 0;
      size_t kindInvalid = 0;
      for (const auto& e : entries) {
        kindBytes += e.bytes;
        kindInvalid += !e.valid;
        if (o->action == "ls" || !e.valid)
          fmt::print("  {:<4} {}  {:>10} bytes  {}{}\n", kind, e.key.empty() ? std::string(32, '?') : e.key, e.bytes,
                     e.path, e.valid ? "" : "  INVALID (will be recompiled)");
      }
      fmt::print("{}: {} entries, {:.1f} MB in {}{}\n", kind, entries.size(), static_cast<double>(kindBytes) / 1e6,
                 cache.folder(), kindInvalid ? fmt::format(", {} invalid", kindInvalid) : "");
      total += entries.size();
      invalid += kindInvalid;
      bytes += kindBytes;
    }
    if (o->action == "clear")
      return Error::success();
    fmt::print("total: {} entries, {:.1f} MB under {}\n", total, static_cast<double>(bytes) / 1e6, root);
    if (o->action == "verify" && invalid)
      return makeError("{} of {} cache entries are invalid (they are ignored and recompiled when needed; "
                       "'sinter cache clear' removes them)",
                       invalid, total);
    if (o->action == "verify")
      fmt::print("every entry is valid\n");
    return Error::success();
  };
}

} // namespace sinter::cli
