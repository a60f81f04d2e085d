// Packed GEMM for the CPU: a register-blocked MR x NR micro-kernel over packed panels of B,
// driven per work item; convolution feeds it im2col panels packed straight from the input.
#pragma once

#include "codegen/cpu/Emitters.h"

namespace sinter::cpu {

/// f32 convolution as implicit GEMM: per (image, group, row block, column chunk) work item,
/// C[Mg x OH*OW] = W_g[Mg x Cg*KH*KW] * im2col(x) with the bias and epilogue applied once per tile.
Error emitConvGemm(KernelBuilder& kb, const Node& conv, const ConvShape& cs, const Binding& bind, const Epilogue& epi);

/// f32 weight gradient of a convolution as a GEMM per (group, row block, column chunk): dy rows of
/// each image times that image's im2col panel, summed over the batch.
Error emitConvGradWeightGemm(KernelBuilder& kb, const Node& op, const Binding& bind, const Epilogue& epi);

/// Whether the direct convolution applies: f32 data and constant weights (it repacks them once).
bool directConvApplies(KernelBuilder& kb, const Node& conv, const Binding& bind);
/// f32 direct convolution vectorised over output channels (codegen/cpu/DirectConv.cpp). With
/// `gradInput`, `cs` describes the stride-1 input gradient as a convolution of dy, and the
/// prepare step reads the weights transposed per group and flipped in both spatial axes.
Error emitDirectConv(KernelBuilder& kb, const Node& conv, const ConvShape& cs, const Binding& bind,
                     const Epilogue& epi, llvm::Module& m, CpuProgram& program, const CpuTarget& target,
                     bool gradInput = false);

/// f32 gemm: y[M x N] = alpha * op(x) * op(w) + beta * c, then the epilogue (x^T packed per K
/// block when trans_a).
Error emitGemmPacked(KernelBuilder& kb, const Node& gemm, const Binding& bind, const Epilogue& epi);

/// f32 gemm with trans_b = 1 and few rows (FC layers at small batch): dot products streaming w.
Error emitGemmDot(KernelBuilder& kb, const Node& gemm, const Binding& bind, const Epilogue& epi);

} // namespace sinter::cpu
