// The on-disk kernel cache shared by the CPU (object files) and CUDA (CUBIN) backends.
// Folder: $SINTER_CACHE_DIR, else ~/.cache/sinter. Key: hash of everything that determines the
// bytes (source or IR, target, compiler version, flags). Entries carry a header with the key, the
// payload size and the payload's hash; a corrupt, truncated or mismatched entry is ignored
// (and recompiled), never trusted.
#pragma once

#include "ir/Error.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sinter {

/// 128-bit content hash as 32 hex digits (two FNV-1a 64 streams; not cryptographic).
std::string contentHash(std::string_view data);

class KernelCache {
public:
  /// `dir` empty: $SINTER_CACHE_DIR or ~/.cache/sinter. `kind` is a sub-folder ("cpu", "cuda").
  KernelCache(std::string kind, std::string dir = {});

  const std::string& folder() const { return folder_; }
  /// The payload stored under `key`, or nothing when absent or invalid.
  std::optional<std::string> load(const std::string& key) const;
  /// Stores atomically (temporary file + rename); failures are reported, not fatal.
  Error store(const std::string& key, std::string_view payload) const;

  struct Entry {
    std::string key, path;
    uint64_t bytes = 0;
    bool valid = false;
  };
  /// Every entry in the folder, checked.
  std::vector<Entry> list() const;
  /// Removes every entry; returns how many.
  size_t clear() const;

private:
  std::string folder_;
};

/// The cache root: $SINTER_CACHE_DIR or ~/.cache/sinter.
std::string defaultCacheRoot();

} // namespace sinter
