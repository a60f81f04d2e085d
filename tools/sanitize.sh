#!/usr/bin/env bash
# The sanitizer half of CI: the whole test suite under AddressSanitizer + UBSan (GCC), then the
# libFuzzer targets (clang) over the ONNX importer and the .sir parser for a bounded time.
#   tools/sanitize.sh            both
#   FUZZ_SECONDS=60 (default)    seconds per fuzz target
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-$(nproc)}
seconds=${FUZZ_SECONDS:-60}

echo "== ASan + UBSan build and tests (build-asan)"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSINTER_SANITIZE=ON
cmake --build build-asan -j "$jobs"
ctest --test-dir build-asan --output-on-failure -j "$jobs"

echo "== libFuzzer build (build-fuzz, clang)"
CC=clang-14 CXX=clang++-14 cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSINTER_FUZZ=ON
cmake --build build-fuzz -j "$jobs"

# Seed corpora: ONNX test models, and .sir dumps of them and of the built-ins.
corpus=build-fuzz/corpus
mkdir -p "$corpus/onnx" "$corpus/sir"
for d in /usr/share/libonnx-testdata/data/node/test_{conv_with_strides_padding,lrn,gemm_all_attributes,maxpool_2d_pads,reshape_negative_dim,softmax_axis_0,sce_mean_weight,slice,if,constantofshape_int_zeros,averagepool_2d_pads,batchnorm_example}; do
  [[ -f "$d/model.onnx" ]] && cp "$d/model.onnx" "$corpus/onnx/$(basename "$d").onnx"
done
build/sinter dump alexnet-narrow > "$corpus/sir/narrow.sir" 2>/dev/null || true
for f in "$corpus"/onnx/*.onnx; do build/sinter dump "$f" > "$corpus/sir/$(basename "$f").sir" 2>/dev/null || true; done

for target in onnx_import:onnx sir_parser:sir; do
  name=${target%%:*}
  echo "== fuzzing $name for ${seconds}s"
  mkdir -p build-fuzz/artifacts
  build-fuzz/tests/fuzz/fuzz_$name -max_total_time="$seconds" -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix=build-fuzz/artifacts/ "$corpus/${target##*:}"
done
echo "== sanitizers and fuzzing: no findings"
