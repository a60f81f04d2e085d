#!/usr/bin/env python3
"""The sinter CLI on --target cuda without a GPU: `sinter run`, `bench` and `train` with the host
CUDA driver preloaded (tests/support/hostcuda: a libcuda.so.1 and NVRTC's program functions that
run the generated kernels on the CPU), checked against --target cpu on the same model and data.

usage: hostcuda_cli.py SINTER HOST_DRIVER
"""
import csv
import os
import subprocess
import sys
import tempfile

import numpy as np

sinter, driver = sys.argv[1], sys.argv[2]
failures = []


def run(args, host):
    env = dict(os.environ)
    if host:
        env["LD_PRELOAD"] = driver
        # (In the sanitizer build the preloaded driver comes before the ASan runtime.)
        env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"), "verify_asan_link_order=0"]))
    p = subprocess.run([sinter] + args, env=env, capture_output=True, text=True, timeout=900)
    if p.returncode != 0:
        sys.exit(f"sinter {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p.stdout + p.stderr


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


with tempfile.TemporaryDirectory() as tmp:
    # run: the narrow AlexNet at batch 3 on a random input, both targets.
    out = {}
    for target in ("cuda", "cpu"):
        log = run(["run", "alexnet-narrow", "--batch", "3", "--random-input", "--input-seed", "7", "--target", target,
                   "-o", f"{tmp}/{target}.npy"], host=target == "cuda")
        out[target] = np.load(f"{tmp}/{target}.npy")
        if target == "cuda":
            check("target: cuda (Sinter host driver" in log, "run says it ran on the host driver")
    diff = float(np.max(np.abs(out["cuda"] - out["cpu"])))
    check(out["cuda"].shape == (3, 10) and diff < 1e-5, f"run: cuda and cpu outputs agree (max |difference| {diff:.2e})")

    # run --winograd on cuda (conv3 of the narrow net at 131x131 as Winograd F(2x2,3x3)) against
    # the direct convolution on the cpu.
    log = run(["run", "alexnet-narrow", "--input-size", "131", "--batch", "2", "--random-input", "--input-seed", "7",
               "--target", "cuda", "--winograd", "-o", f"{tmp}/wino.npy"], host=True)
    run(["run", "alexnet-narrow", "--input-size", "131", "--batch", "2", "--random-input", "--input-seed", "7",
         "--target", "cpu", "-o", f"{tmp}/direct.npy"], host=False)
    diff = float(np.max(np.abs(np.load(f"{tmp}/wino.npy") - np.load(f"{tmp}/direct.npy"))))
    check("14 kernels" in log and diff < 1e-5,
          f"run --winograd: cuda (14 kernels: the filter transform folded) agrees with the direct convolution on cpu (max |difference| {diff:.2e})")

    # bench: the report's lines.
    log = run(["bench", "alexnet-narrow", "--batch", "2", "--target", "cuda"], host=True)
    check("step: median" in log and "compile: cold" in log and "host driver" in log, "bench reports compile and step times")

    # train: 4 SGD steps from the same seed; the losses, then the checkpoints' predictions.
    losses = {}
    for target in ("cuda", "cpu"):
        run(["train", "alexnet-narrow", "--data", "fashion-mnist", "--batch", "8", "--steps", "4", "--shuffle", "off",
             "--target", target, "--log", f"{tmp}/{target}.csv", "--checkpoint", f"{tmp}/{target}.onnx",
             "--checkpoint-every", "4"], host=target == "cuda")
        with open(f"{tmp}/{target}.csv") as f:
            losses[target] = [float(r["loss"]) for r in csv.DictReader(f) if r["split"] == "train"]
    check(len(losses["cuda"]) == 4 and len(losses["cpu"]) == 4, f"train: 4 losses each ({losses})")
    worst = max(abs(a - b) / abs(b) for a, b in zip(losses["cuda"], losses["cpu"]))
    check(worst < 1e-4, f"train: cuda and cpu losses agree (worst relative difference {worst:.2e})")
    # resume on the cuda target: 2 steps, a checkpoint, 2 more from it (weights and velocities
    # go back to the device) give the losses of 4 straight steps. (Not bit for bit: the emulator
    # spreads blocks over threads, so atomic additions land in varying order.)
    run(["train", "alexnet-narrow", "--data", "fashion-mnist", "--batch", "8", "--steps", "2", "--shuffle", "off",
         "--target", "cuda", "--checkpoint", f"{tmp}/half.onnx", "--checkpoint-every", "2"], host=True)
    run(["train", "alexnet-narrow", "--data", "fashion-mnist", "--batch", "8", "--steps", "4", "--shuffle", "off",
         "--target", "cuda", "--resume", f"{tmp}/half.onnx", "--log", f"{tmp}/resumed.csv"], host=True)
    with open(f"{tmp}/resumed.csv") as f:
        resumed = [float(r["loss"]) for r in csv.DictReader(f) if r["split"] == "train"]
    worst = max((abs(a - b) / abs(b) for a, b in zip(resumed, losses["cuda"][2:])), default=1.0)
    check(len(resumed) == 2 and worst < 1e-5, f"train --resume on cuda continues the run (steps 3-4 {resumed}, "
          f"straight {losses['cuda'][2:]})")
    pred = {}
    for target in ("cuda", "cpu"):
        run(["run", f"{tmp}/{target}.onnx", "--random-input", "--target", "cpu", "-o", f"{tmp}/{target}-pred.npy"], host=False)
        pred[target] = np.load(f"{tmp}/{target}-pred.npy")
    diff = float(np.max(np.abs(pred["cuda"] - pred["cpu"])))
    check(diff < 1e-4, f"train: the checkpoints' outputs agree (max |difference| {diff:.2e})")

sys.exit(1 if failures else 0)
