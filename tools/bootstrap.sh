#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine for Sinter, builds it, and runs the main job or the tests.
#   tools/bootstrap.sh run    install what is missing, build, run the built-in AlexNet
#   tools/bootstrap.sh test   install what is missing, build, run the whole test suite (ctest); with
#                             CI=true (or SINTER_SANITIZE=1) also tools/sanitize.sh: the suite under
#                             ASan+UBSan and 60 s of libFuzzer per target
# Environment: BUILD_DIR (default build), JOBS (default: all cores), FUZZ_SECONDS.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-}
if [[ "$mode" != run && "$mode" != test ]]; then
  echo "usage: tools/bootstrap.sh run|test" >&2
  exit 2
fi

# Debian packages the build and the tests need (see README.md for what each is for).
packages=(
  g++ cmake ninja-build pkg-config
  libfmt-dev libcli11-dev googletest libgtest-dev
  zlib1g-dev libjpeg-dev libpng-dev dataset-fashion-mnist
  libonnx-dev libprotobuf-dev protobuf-compiler libonnx-testdata
  llvm-19-dev
  python3-numpy python3-torch python3-torchvision python3-onnx
  graphviz
  clang-14 libclang-rt-14-dev
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "== installing: ${missing[*]}"
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

build=${BUILD_DIR:-build}
jobs=${JOBS:-$(nproc)}
echo "== configuring and building in $build"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build "$build" -j "$jobs"

if [[ "$mode" == run ]]; then
  echo "== sinter run alexnet (paper AlexNet, random weights, seeded random 227x227 input)"
  "$build/sinter" run alexnet --random-input --top 5
else
  echo "== ctest"
  ctest --test-dir "$build" --output-on-failure -j "$jobs"
  # In CI (CI=true) or on request, also the sanitizer builds and the bounded fuzz runs.
  if [[ "${CI:-}" == true || "${SINTER_SANITIZE:-0}" == 1 ]]; then
    JOBS="$jobs" tools/sanitize.sh
  fi
fi
