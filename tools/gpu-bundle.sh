#!/usr/bin/env bash
# Makes what tools/gpu-check.sh needs on a lent GPU machine, which has CUDA, CMake, ninja and
# PyTorch but not Debian's ONNX, protobuf, fmt or LLVM: `sinter` and the CUDA test binary built
# without the CPU backend (SINTER_WITH_LLVM=OFF), the shared libraries they load that such a
# machine lacks (not glibc, libstdc++ or libnvrtc: those are there), and the PyTorch anchor.
# Result: build-gpu/bundle (at most 64 MiB), carried to the device with the working tree:
#   tools/gpu-bundle.sh && run: carry=["build-gpu/bundle"], command="tools/gpu-check.sh"
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-$(nproc)}

cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DSINTER_WITH_LLVM=OFF >/dev/null
cmake --build build-gpu -j "$jobs" --target sinter sinter_cuda_tests

stage=build-gpu/bundle
rm -rf "$stage"
mkdir -p "$stage/bin" "$stage/lib"
cp build-gpu/sinter build-gpu/tests/sinter_cuda_tests "$stage/bin/"
strip --strip-unneeded "$stage"/bin/*
for lib in $(ldd "$stage"/bin/* | awk '/=> \// {print $3}' | sort -u); do
  case "$(basename "$lib")" in
    libc.so* | libm.so* | libpthread.so* | libdl.so* | librt.so* | ld-linux* | libstdc++.so* | libgcc_s.so* | libnvrtc*) ;;
    *) cp -L "$lib" "$stage/lib/" ;;
  esac
done
strip --strip-unneeded "$stage"/lib/* 2>/dev/null || true
# Fashion-MNIST (30 MB of idx.gz) for tools/gpu-train.sh.
fm=/usr/share/datasets/fashion-mnist
if [[ -d $fm ]]; then
  mkdir -p "$stage/data/fashion-mnist"
  cp "$fm"/*.gz "$stage/data/fashion-mnist/"
fi
anchor=../shared/anchors/gpu_anchor.py
[[ -f $anchor ]] && cp "$anchor" "$stage/gpu_anchor.py"
git rev-parse HEAD >"$stage/COMMIT" 2>/dev/null || echo unknown >"$stage/COMMIT"

bytes=$(du -sb "$stage" | cut -f1)
echo "bundle: $stage, $((bytes / 1024 / 1024)) MiB"
ls -la "$stage/bin" "$stage/lib"
if ((bytes > 64 * 1024 * 1024)); then
  echo "error: the bundle is over the 64 MiB a device call can carry" >&2
  exit 1
fi
