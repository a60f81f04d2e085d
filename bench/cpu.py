#!/usr/bin/python3
"""CPU benchmark: paper AlexNet (PyTorch ONNX export) on Sinter's CPU backend beside ONNX Runtime
(npm onnxruntime-node 1.30.0, CPU provider) and Debian's PyTorch, in one run on this machine.

Prints a table with medians and ratios, and the JIT compile time cold and from the cache.
Usage: bench/cpu.py [--sinter build/sinter] [--threads 2] [--iters 20] [--batches 1,16]
ONNX Runtime is installed into bench/node_modules on first use (ONNXRUNTIME_NODE_INSTALL=skip).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import warnings

import torch

warnings.filterwarnings("ignore")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "parity"))
from models import PaperAlexNet  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--sinter", default=os.path.join(HERE, "..", "build", "sinter"))
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--iters", type=int, default=20)
ap.add_argument("--batches", default="1,16")
args = ap.parse_args()
sinter = os.path.abspath(args.sinter)


def ensure_ort():
    if os.path.exists(os.path.join(HERE, "node_modules", "onnxruntime-node")):
        return True
    env = dict(os.environ, ONNXRUNTIME_NODE_INSTALL="skip")
    r = subprocess.run(["npm", "install", "--no-save", "--prefix", HERE, "onnxruntime-node@1.30.0"], env=env,
                       capture_output=True, text=True)
    if r.returncode != 0:
        print(f"(ONNX Runtime unavailable: npm install failed: {r.stderr.strip()[:200]})")
    return r.returncode == 0


def sinter_bench(path, iters, extra=()):
    r = subprocess.run([sinter, "bench", path, "--target", "cpu", "--threads", str(args.threads), "--iters", str(iters),
                        *extra], capture_output=True, text=True, check=True)
    med, best = map(float, re.search(r"median ([0-9.]+) ms, min ([0-9.]+) ms", r.stdout).groups())
    compile_s = float(re.search(r"compile: ([0-9.]+) s", r.stdout).group(1))
    gflops = float(re.search(r"([0-9.]+) GFLOP/s", r.stdout).group(1))
    return med, best, compile_s, gflops


def ort_bench(path, shape, iters):
    env = dict(os.environ, NODE_PATH=os.path.join(HERE, "node_modules"))
    r = subprocess.run(["node", os.path.join(HERE, "ort_time.js"), path, ",".join(map(str, shape)), str(iters),
                        str(args.threads)], capture_output=True, text=True, env=env, check=True)
    return json.loads(r.stdout)


def torch_bench(model, x, iters):
    torch.set_num_threads(args.threads)
    with torch.no_grad():
        for _ in range(2):
            model(x)
        ms = []
        for _ in range(iters):
            t = time.perf_counter()
            model(x)
            ms.append((time.perf_counter() - t) * 1e3)
    ms.sort()
    return ms[len(ms) // 2], ms[0]


have_ort = ensure_ort()
torch.manual_seed(0)
model = PaperAlexNet(softmax=False).eval()
rows = []
with tempfile.TemporaryDirectory() as d:
    for batch in map(int, args.batches.split(",")):
        shape = (batch, 3, 227, 227)
        path = os.path.join(d, f"alexnet_b{batch}.onnx")
        torch.onnx.export(model, torch.randn(*shape), path, opset_version=13, input_names=["data"],
                          output_names=["out"])
        iters = args.iters if batch <= 4 else max(5, args.iters // 2)
        cache = os.path.join(d, "cache")
        os.environ["SINTER_CACHE_DIR"] = cache
        cold = sinter_bench(path, 1, ["--warmup", "0", "--no-cache"])[2]
        sinter_bench(path, 1, ["--warmup", "0"])  # fills the cache
        med, best, cached, gflops = sinter_bench(path, iters)
        ort = ort_bench(path, shape, iters) if have_ort else None
        pt = torch_bench(model, torch.randn(*shape), iters)
        rows.append((batch, med, best, gflops, cold, cached, ort, pt))

print(f"paper AlexNet (PyTorch ONNX export, opset 13), {args.threads} threads, medians "
      f"(machine: {os.cpu_count()} cores)")
print(f"{'batch':>5} {'sinter ms':>10} {'min':>8} {'GFLOP/s':>8} {'ORT ms':>8} {'sinter/ORT':>10} "
      f"{'PyTorch ms':>10} {'sinter/PT':>9} {'compile cold s':>14} {'cached s':>8}")
for batch, med, best, gflops, cold, cached, ort, pt in rows:
    ort_ms = ort["median_ms"] if ort else float("nan")
    print(f"{batch:>5} {med:>10.2f} {best:>8.2f} {gflops:>8.1f} {ort_ms:>8.2f} {med / ort_ms:>10.2f} "
          f"{pt[0]:>10.2f} {med / pt[0]:>9.2f} {cold:>14.3f} {cached:>8.3f}")
if rows and rows[0][6]:
    print(f"ONNX Runtime {rows[0][6]['version']}; PyTorch {torch.__version__}")
