// libFuzzer target over the ONNX importer (and, for what imports, the verifier and printer):
// any input must give a graph or an Error, never a crash, a leak or undefined behaviour.
#include "frontend/onnx/OnnxImport.h"
#include "ir/Printer.h"
#include "runtime/reference/Interpreter.h"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sinter::OnnxImportOptions io;
  io.fold = sinter::evaluateNode;
  auto g = sinter::importOnnxBytes(std::string_view(reinterpret_cast<const char*>(data), size), io, "/nonexistent");
  if (g) {
    std::string text = sinter::printGraph(**g);
    auto back = sinter::parseGraph(text);
    if (!back || sinter::printGraph(**back) != text)
      __builtin_trap(); // what we print we must parse
  }
  return 0;
}
