// Host compilation of emulated CUDA C (see HostCompile.h).
#include "tests/support/HostCompile.h"

#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <unistd.h>

namespace sinter::test {

namespace fs = std::filesystem;

namespace {

// 128-bit FNV-1a (two 64-bit lanes with different offsets) as hex: a cache file name.
std::string hashHex(const std::string& s) {
  uint64_t a = 0xcbf29ce484222325ull, b = 0x84222325cbf29ce4ull;
  for (unsigned char c : s) {
    a = (a ^ c) * 0x100000001b3ull;
    b = (b ^ c) * 0x100000001b3ull + 1;
  }
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(a), static_cast<unsigned long long>(b));
  return buf;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

} // namespace

std::string emulatorInclude() { return std::string("#include \"") + SINTER_CUDA_EMU_HEADER + "\"\n"; }

std::vector<KernelDecl> kernelDecls(const std::string& source) {
  std::vector<KernelDecl> decls;
  for (size_t at = source.find("__global__"); at != std::string::npos; at = source.find("__global__", at + 1)) {
    KernelDecl d;
    size_t open = source.find('(', at);
    size_t b = source.find("__launch_bounds__", at);
    if (b != std::string::npos && b < open) { // __launch_bounds__(N): then the name's parenthesis
      d.launchBounds = static_cast<unsigned>(std::strtoul(source.c_str() + open + 1, nullptr, 10));
      open = source.find('(', source.find(')', open));
    }
    size_t end = open;
    while (end != std::string::npos && end > at && source[end - 1] == ' ')
      --end;
    size_t start = end;
    while (start != std::string::npos && start > at &&
           (std::isalnum(static_cast<unsigned char>(source[start - 1])) || source[start - 1] == '_'))
      --start;
    if (open != std::string::npos && start < end) {
      d.name = source.substr(start, end - start);
      decls.push_back(d);
    }
  }
  return decls;
}

std::string hostKernelUnit(const std::string& source, const std::string& name) {
  return emulatorInclude() + source +
         "\nextern \"C\" const char* sinter_host_entry(unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, "
         "unsigned bz, unsigned shared, void** a) {\n"
         "  return sinter_emu::launch(dim3{gx, gy, gz}, dim3{bx, by, bz}, shared, [](void* p) { sinter_emu::invoke(&" +
         name + ", static_cast<void**>(p)); }, a);\n}\n"
         "template <class... P> unsigned sinter_host_sizes(void (*)(P...), unsigned* s) {\n"
         "  unsigned n = 0;\n  ((s[n++] = sizeof(P)), ...);\n  return n;\n}\n"
         "extern \"C\" unsigned sinter_host_param_sizes(unsigned* s) { return sinter_host_sizes(&" + name + ", s); }\n";
}

bool hostCompilerAvailable(std::string* why) {
  if (std::string(SINTER_HOST_CXX).empty() || !fs::exists(SINTER_CUDA_EMU_HEADER)) {
    if (why)
      *why = "no host compiler recorded at build time";
    return false;
  }
  return true;
}

std::string buildHostObject(const std::string& tu, std::string& error) {
  const char* env = std::getenv("SINTER_CACHE_DIR");
  fs::path dir = fs::path(env && *env ? env : fs::temp_directory_path().string()) / "emu";
  const std::string flags = std::string("-std=c++17 -O1 -fPIC -shared -w -pthread ") + SINTER_HOST_CXX_FLAGS;
  // The key covers the emulator header too (the translation unit only names it).
  fs::path so = dir / (hashHex(std::string(SINTER_HOST_CXX) + "\n" + flags + "\n" + readFile(SINTER_CUDA_EMU_HEADER) + tu) + ".so");
  if (fs::exists(so))
    return so.string();
  std::error_code ec;
  fs::create_directories(dir, ec);
  static std::atomic<unsigned> serial{0}; // (threads of one process may build at once)
  std::string pid = std::to_string(getpid()) + "-" + std::to_string(serial++);
  fs::path src = so, tmp = so;
  src.replace_extension("." + pid + ".cpp");
  tmp.replace_extension("." + pid + ".tmp");
  {
    std::ofstream out(src);
    out << tu;
    if (!out) {
      error = "cannot write " + src.string();
      return {};
    }
  }
  // (Not with the host driver preloaded, as the CLI runs it: the compiler has no use for it.)
  std::string cmd = "env -u LD_PRELOAD " + std::string(SINTER_HOST_CXX) + " " + flags + " -o '" + tmp.string() + "' '" + src.string() + "' 2>&1";
  std::string log;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) {
    error = "cannot run the host compiler: " + cmd;
    return {};
  }
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, pipe))
    log.append(buf, n);
  if (pclose(pipe) != 0) {
    error = "the host compiler rejected the generated CUDA C (" + src.string() + "): " + cmd + "\n" + log.substr(0, 8000);
    return {};
  }
  fs::remove(src, ec);
  fs::rename(tmp, so, ec);
  if (ec) {
    error = "cannot move " + tmp.string() + " into place: " + ec.message();
    return {};
  }
  return so.string();
}

} // namespace sinter::test
