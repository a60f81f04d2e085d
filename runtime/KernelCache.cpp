// Kernel cache: validated entries, atomic writes.
#include "runtime/KernelCache.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace sinter {

namespace fs = std::filesystem;

namespace {
constexpr std::string_view kMagic = "SINTER-CACHE-1\n";

uint64_t fnv1a(std::string_view d, uint64_t seed) {
  uint64_t h = 1469598103934665603ull ^ seed;
  for (unsigned char c : d) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

// Header: magic, key line, size line, hash line, then the payload.
std::optional<std::string> parseEntry(const std::string& bytes, const std::string& key) {
  if (bytes.compare(0, kMagic.size(), kMagic) != 0)
    return std::nullopt;
  std::istringstream in(bytes.substr(kMagic.size()));
  std::string k, sizeLine, hashLine;
  if (!std::getline(in, k) || !std::getline(in, sizeLine) || !std::getline(in, hashLine))
    return std::nullopt;
  if ((!key.empty() && k != key) || k.empty())
    return std::nullopt;
  size_t header = kMagic.size() + k.size() + sizeLine.size() + hashLine.size() + 3;
  uint64_t size = 0;
  try {
    size = std::stoull(sizeLine);
  } catch (...) {
    return std::nullopt;
  }
  if (bytes.size() != header + size)
    return std::nullopt;
  std::string payload = bytes.substr(header);
  if (contentHash(payload) != hashLine)
    return std::nullopt;
  return payload;
}

std::optional<std::string> readFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f)
    return std::nullopt;
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}
} // namespace

std::string contentHash(std::string_view data) {
  return fmt::format("{:016x}{:016x}", fnv1a(data, 0), fnv1a(data, 0x9E3779B97F4A7C15ull));
}

std::string defaultCacheRoot() {
  if (const char* d = std::getenv("SINTER_CACHE_DIR"); d && *d)
    return d;
  if (const char* h = std::getenv("HOME"); h && *h)
    return (fs::path(h) / ".cache" / "sinter").string();
  return (fs::temp_directory_path() / "sinter-cache").string();
}

KernelCache::KernelCache(std::string kind, std::string dir)
    : folder_((fs::path(dir.empty() ? defaultCacheRoot() : dir) / kind).string()) {}

std::optional<std::string> KernelCache::load(const std::string& key) const {
  auto bytes = readFile((fs::path(folder_) / (key + ".bin")).string());
  if (!bytes)
    return std::nullopt;
  return parseEntry(*bytes, key);
}

Error KernelCache::store(const std::string& key, std::string_view payload) const {
  std::error_code ec;
  fs::create_directories(folder_, ec);
  if (ec)
    return makeError("kernel cache {}: {}", folder_, ec.message());
  std::string path = (fs::path(folder_) / (key + ".bin")).string();
  std::string tmp = fmt::format("{}.tmp{}", path, getpid());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << kMagic << key << '\n' << payload.size() << '\n' << contentHash(payload) << '\n';
    f.write(payload.data(), static_cast<std::streamsize>(payload.size()));
    if (!f) {
      fs::remove(tmp, ec);
      return makeError("kernel cache {}: write failed", path);
    }
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return makeError("kernel cache {}: {}", path, ec.message());
  }
  return Error::success();
}

std::vector<KernelCache::Entry> KernelCache::list() const {
  std::vector<Entry> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(folder_, ec)) {
    if (e.path().extension() != ".bin")
      continue;
    Entry entry{e.path().stem().string(), e.path().string(), 0, false};
    entry.bytes = e.file_size(ec);
    if (auto bytes = readFile(entry.path))
      entry.valid = parseEntry(*bytes, entry.key).has_value();
    out.push_back(std::move(entry));
  }
  std::sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) { return a.key < b.key; });
  return out;
}

size_t KernelCache::clear() const {
  size_t n = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(folder_, ec))
    if (e.path().extension() == ".bin" || e.path().string().find(".bin.tmp") != std::string::npos)
      n += fs::remove(e.path(), ec) ? 1 : 0;
  return n;
}

} // namespace sinter
