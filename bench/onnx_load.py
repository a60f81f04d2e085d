#!/usr/bin/python3
"""Times `sinter run` loading a 244 MB paper AlexNet ONNX file (PyTorch export, batch 1).

Prints the load times Sinter reports over 3 runs beside the time PyTorch's own onnx.load takes
on the same file. Usage: bench/onnx_load.py [SINTER_BINARY]
"""
import os
import re
import subprocess
import sys
import tempfile
import time
import warnings

import torch

warnings.filterwarnings("ignore")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "parity"))
from models import PaperAlexNet  # noqa: E402

sinter = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/sinter")
with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "alexnet.onnx")
    torch.manual_seed(0)
    torch.onnx.export(PaperAlexNet(softmax=False).eval(), torch.randn(1, 3, 227, 227), path, opset_version=13,
                      input_names=["data"], output_names=["out"])
    size = os.path.getsize(path) / 1e6
    loads = []
    for _ in range(3):
        r = subprocess.run([sinter, "run", path, "--random-input", "--top", "1"], capture_output=True, text=True,
                           check=True)
        loads.append(float(re.search(r"([0-9.]+) s to load the model", r.stdout).group(1)))
    anchor = None
    try:
        import onnx
        t = time.perf_counter()
        onnx.load(path)
        anchor = time.perf_counter() - t
    except ImportError:
        pass
    print(f"model: paper AlexNet, {size:.1f} MB, opset 13 (PyTorch export)")
    print(f"sinter load (import + fold + verify), 3 runs: {', '.join(f'{x:.3f}' for x in loads)} s; "
          f"median {sorted(loads)[1]:.3f} s (goal < 2 s)")
    if anchor is not None:
        print(f"anchor: python onnx.load of the same file: {anchor:.3f} s")
