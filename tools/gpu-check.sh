#!/usr/bin/env bash
# Everything GPU-side in one go, on a machine with a GPU (the lent H100/H200), from the bundle
# that tools/gpu-bundle.sh makes here:
#   1. the GPU tests: every op of the table and AlexNet (f32, TF32) on the device against the
#      reference interpreter, outputs poisoned before each run, CUDA graph replays;
#   2. one run of those tests under compute-sanitizer memcheck (where the runtime allows it);
#   3. AlexNet (paper, torchvision, narrow) on the CUDA target against PyTorch;
#   4. `sinter bench` of inference and training steps (cold and cached compile, step time,
#      TFLOP/s) and the PyTorch anchor (../shared/anchors/gpu_anchor.py, carried in the bundle)
#      in the same run;
#   5. the same benches with --autotune (candidate tilings timed on the GPU, the fastest kept),
#      and batch-128 inference with --winograd (conv3-5 as Winograd F(2x2,3x3); F(4x4) in f32);
#   6. a short table last. Logs go to $OUT (or build-gpu/out).
# Usage: tools/gpu-check.sh [--quick]   (--quick: the tests, batch-128 inference and training
#        benches in f32 and tf32, and a short anchor; no memcheck, parity or batch 1)
# ANCHOR_S (default 150, quick 60) bounds the PyTorch anchor's own budget.
set -uo pipefail
cd "$(dirname "$0")/.."
B=build-gpu/bundle
OUT=${OUT:-build-gpu/out}
mkdir -p "$OUT"
quick=0
[[ ${1:-} == --quick ]] && quick=1
start=$(date +%s)
elapsed() { echo $(($(date +%s) - start)); }

if [[ ! -x $B/bin/sinter ]]; then
  echo "error: $B/bin/sinter is missing: run tools/gpu-bundle.sh first (and carry build-gpu/bundle)" >&2
  exit 1
fi
source tools/gpu-env.sh
rm -rf "$SINTER_CACHE_DIR"
S="$B/bin/sinter"
status=0

echo "== machine ($(cat $B/COMMIT 2>/dev/null))"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv,noheader 2>&1 | tee "$OUT/gpu.txt"
ldd "$B/bin/sinter" | grep -E "not found|nvrtc" | tee "$OUT/ldd.txt"

echo "== GPU tests (device against the reference)"
timeout 300 "$B/bin/sinter_cuda_tests" --gtest_filter='*EveryOpGpu*:CudaGpu.*' \
  --gtest_brief=1 >"$OUT/gpu-tests.txt" 2>&1
tests_rc=$?
tail -15 "$OUT/gpu-tests.txt"
tests=$([[ $tests_rc == 0 ]] && echo pass || echo FAIL)
if grep -q "no GPU:" "$OUT/gpu-tests.txt"; then
  tests="SKIPPED: $(grep -m1 "no GPU:" "$OUT/gpu-tests.txt")"
  tests_rc=1
fi
((tests_rc == 0)) || status=1

memcheck="skipped"
if ((quick == 0)) && command -v compute-sanitizer >/dev/null; then
  echo "== compute-sanitizer memcheck (op tests)"
  timeout 200 compute-sanitizer --tool memcheck --error-exitcode 3 "$B/bin/sinter_cuda_tests" \
    --gtest_filter='*EveryOpGpu*' --gtest_brief=1 >"$OUT/memcheck.txt" 2>&1
  rc=$?
  tail -5 "$OUT/memcheck.txt"
  case $rc in 0) memcheck="clean" ;; 3) memcheck="ERRORS" && status=1 ;; 124) memcheck="timed out" ;; *) memcheck="failed ($rc)" ;; esac
fi

parity="skipped"
if ((quick == 0)); then
  echo "== AlexNet on the CUDA target against PyTorch (t=$(elapsed)s)"
  timeout 200 python3 tests/parity/reference_vs_torch.py "$S" --models-only --targets cuda >"$OUT/parity.txt" 2>&1
  rc=$?
  cat "$OUT/parity.txt" | tail -8
  parity=$([[ $rc == 0 ]] && echo "pass" || echo "FAIL")
  ((rc == 0)) || status=1
fi

echo "== sinter bench (t=$(elapsed)s)"
bench() { # name, args...
  local name=$1
  shift
  timeout 180 "$S" bench "$@" >"$OUT/bench-$name.txt" 2>&1 || echo "bench $name failed" >>"$OUT/bench-$name.txt"
  cat "$OUT/bench-$name.txt"
}
bench b128-f32 alexnet --batch 128 --target cuda --precision f32 --iters 50 --warmup 10 --profile
bench b128-tf32 alexnet --batch 128 --target cuda --precision tf32 --iters 50 --warmup 10 --profile
bench b128-f32-train alexnet --batch 128 --train --target cuda --precision f32 --iters 20 --warmup 3 --profile
bench b128-tf32-train alexnet --batch 128 --train --target cuda --precision tf32 --iters 20 --warmup 3
if ((quick == 0)); then
  bench b1-f32 alexnet --batch 1 --target cuda --precision f32 --iters 200 --warmup 20 --profile
  bench b1-tf32 alexnet --batch 1 --target cuda --precision tf32 --iters 200 --warmup 20
fi
# --autotune: every conv/GEMM kernel's candidate tilings timed on this GPU, the fastest kept.
bench b128-tf32-tuned alexnet --batch 128 --target cuda --precision tf32 --iters 50 --warmup 10 --autotune --profile
bench b128-tf32-train-tuned alexnet --batch 128 --train --target cuda --precision tf32 --iters 20 --warmup 3 --autotune --profile
# The winograd pass (opt-in): conv3-5 as Winograd F(2x2,3x3) (16/36 of the multiplies) and, in
# f32 only, F(4x4,3x3) (36/144).
bench b128-f32-winograd alexnet --batch 128 --target cuda --precision f32 --iters 50 --warmup 10 --winograd --profile
bench b128-f32-winograd4 alexnet --batch 128 --target cuda --precision f32 --iters 50 --warmup 10 --winograd-tile 4 --profile
bench b128-tf32-winograd-tuned alexnet --batch 128 --target cuda --precision tf32 --iters 50 --warmup 10 --winograd --autotune --profile
if ((quick == 0)); then
  bench b128-f32-winograd-tuned alexnet --batch 128 --target cuda --precision f32 --iters 50 --warmup 10 --winograd --autotune --profile
  bench b128-f32-tuned alexnet --batch 128 --target cuda --precision f32 --iters 50 --warmup 10 --autotune
  bench b1-f32-tuned alexnet --batch 1 --target cuda --precision f32 --iters 200 --warmup 20 --autotune --profile
  bench b1-tf32-tuned alexnet --batch 1 --target cuda --precision tf32 --iters 200 --warmup 20 --autotune
fi

anchor="skipped"
if [[ -f $B/gpu_anchor.py ]]; then
  echo "== PyTorch anchor (t=$(elapsed)s)"
  budget=${ANCHOR_S:-$((quick ? 60 : 150))}
  BUDGET_S=$budget OUT="$OUT" timeout $((budget + 120)) python3 "$B/gpu_anchor.py" >"$OUT/anchor.txt" 2>&1
  anchor="rc=$?"
  tail -25 "$OUT/anchor.txt"
fi

echo
echo "== summary (t=$(elapsed)s; logs in $OUT)"
python3 - "$OUT" <<'PY'
import json, os, re, sys
out = sys.argv[1]
def grab(name, pat):
    try:
        m = re.search(pat, open(os.path.join(out, name)).read())
        return m.groups() if m else None
    except OSError:
        return None
anchor = {}
try:
    for r in json.load(open(os.path.join(out, "anchor.json"))):
        if isinstance(r, dict) and r.get("model") == "paper":
            anchor[(r["batch"], r["prec"], r["mode"], r["compiled"])] = r["median_ms"]
except Exception:
    pass
print(f"{'case':<26}{'sinter ms':>11}{'min ms':>9}{'TFLOP/s':>9}{'% floor':>9}{'cold s':>8}{'cached s':>9}{'kern s':>8}   anchor (same run)")
for name, batch, prec, mode in (("b128-f32", 128, "fp32", "infer"), ("b128-tf32", 128, "tf32", "infer"),
                                ("b128-f32-train", 128, "fp32", "train"), ("b128-tf32-train", 128, "tf32", "train"),
                                ("b1-f32", 1, "fp32", "infer"), ("b1-tf32", 1, "tf32", "infer"),
                                ("b128-f32-tuned", 128, "fp32", "infer"), ("b128-tf32-tuned", 128, "tf32", "infer"),
                                ("b128-tf32-train-tuned", 128, "tf32", "train"), ("b1-f32-tuned", 1, "fp32", "infer"),
                                ("b1-tf32-tuned", 1, "tf32", "infer"), ("b128-f32-winograd", 128, "fp32", "infer"),
                                ("b128-f32-winograd4", 128, "fp32", "infer"),
                                ("b128-f32-winograd-tuned", 128, "fp32", "infer"),
                                ("b128-tf32-winograd-tuned", 128, "tf32", "infer")):
    step = grab(f"bench-{name}.txt", r"step: median ([\d.]+) ms, min ([\d.]+) ms")
    if not step:
        continue
    tf = grab(f"bench-{name}.txt", r"([\d.]+) TFLOP/s achieved")
    fl = grab(f"bench-{name}.txt", r"this step is at ([\d.]+)% of it")
    comp = grab(f"bench-{name}.txt", r"cold ([\d.]+) s .*cached ([\d.]+) s")
    kern = grab(f"bench-{name}.txt", r"from the cache: ([\d.]+) s")
    eager, compiled = anchor.get((batch, prec, mode, False)), anchor.get((batch, prec, mode, True))
    a = ", ".join(x for x in (f"eager {eager} ms" if eager else "", f"compiled {compiled} ms" if compiled else "") if x)
    print(f"{name:<26}{step[0]:>11}{step[1]:>9}{tf[0] if tf else '-':>9}{fl[0] if fl else '-':>9}"
          f"{comp[0] if comp else '-':>8}{comp[1] if comp else '-':>9}{kern[0] if kern else '-':>8}   {a or '-'}")
# Autotune's output check: a candidate whose outputs differ from the rule's on this GPU is a bug
# the emulator missed; list them.
for name in sorted(os.listdir(out)):
    if name.startswith("bench-") and name.endswith("-tuned.txt"):
        for line in open(os.path.join(out, name)):
            if " rejected: " in line:
                print(f"REJECTED by autotune's output check ({name}): {line.strip()}")
PY
echo "tests: $tests | memcheck: $memcheck | parity vs PyTorch: $parity | anchor: $anchor"
exit $status
