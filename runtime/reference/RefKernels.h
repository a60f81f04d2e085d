// Reference kernels: one plain float64 implementation per kernel template named in the op table.
#pragma once

#include "ir/Attr.h"
#include "ir/Error.h"
#include "ir/Types.h"

#include <span>
#include <string_view>
#include <vector>

namespace sinter::ref {

/// A value in the interpreter: its IR type and its elements widened to double (row-major).
struct RefTensor {
  TensorType type;
  std::vector<double> data;
};

/// What a kernel sees: operands, attributes, and results already sized to their IR types.
struct RefArgs {
  std::span<const RefTensor* const> in;
  const Attrs& attrs;
  std::span<RefTensor> out;
};

using RefKernelFn = Error (*)(RefArgs&);

struct RefKernel {
  std::string_view name; ///< the op table's Kernel{name}
  RefKernelFn fn;
};

/// The reference kernel for a kernel-template name, or null.
const RefKernel* findRefKernel(std::string_view name);
/// All reference kernels (for the test that every op's kernel exists).
std::span<const RefKernel> allRefKernels();

// Families, each defined in its own file and listed in RefKernels.cpp.
std::span<const RefKernel> convPoolKernels();
std::span<const RefKernel> normKernels();
std::span<const RefKernel> linearKernels();
std::span<const RefKernel> shapeKernels();
std::span<const RefKernel> fusedKernels();
std::span<const RefKernel> optimKernels();

/// Row-major strides of a shape.
std::vector<int64_t> stridesOf(const Shape& s);

} // namespace sinter::ref
