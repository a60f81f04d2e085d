// NumPy .npy files: read and write float32 / int64 arrays (little-endian, C order).
#pragma once

#include "ir/Error.h"
#include "ir/Tensor.h"

#include <string>

namespace sinter {

/// Reads a .npy file. Accepts format versions 1-3, dtype '<f4' or '<i8', C order; anything else
/// is refused with a message that says what the file holds and what would be accepted.
/// Errors are prefixed with the path.
Expected<Tensor> readNpy(const std::string& path);
/// Parses .npy bytes (the same checks, without the path prefix).
Expected<Tensor> parseNpy(std::string_view bytes);

/// Writes an f32 or i64 tensor as a version 1.0 .npy file.
Error writeNpy(const std::string& path, const Tensor& t);

} // namespace sinter

namespace sinter {

class Graph;

/// File name of a parameter in a weights folder: NAME.npy, with characters outside
/// [A-Za-z0-9_.-] written as %XX.
std::string weightFileName(std::string_view paramName);
/// Loads every parameter of `g` from DIR/<weightFileName>; errors name the missing or
/// mismatching file.
Error loadWeightsDir(Graph& g, const std::string& dir);
/// Writes every parameter that has data to DIR (created if needed).
Error saveWeightsDir(const Graph& g, const std::string& dir);

} // namespace sinter
