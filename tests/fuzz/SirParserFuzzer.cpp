// libFuzzer target over the .sir parser: bad text gives an Error, never a crash; what parses
// prints and parses back to the same text.
#include "ir/Printer.h"
#include "ir/Verifier.h"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto g = sinter::parseGraph(std::string_view(reinterpret_cast<const char*>(data), size));
  if (g && !sinter::verifyGraph(**g)) {
    std::string text = sinter::printGraph(**g);
    auto back = sinter::parseGraph(text);
    if (!back || sinter::printGraph(**back) != text)
      __builtin_trap();
  }
  return 0;
}
