#!/usr/bin/python3
"""ONNX import vs PyTorch: PyTorch exports of torchvision's AlexNet and the paper AlexNet (LRN,
grouped convs) at several opsets; `sinter run MODEL.onnx --target reference` must match PyTorch's
outputs to 1e-4 relative, and `sinter dump` must show plain ops (no shape arithmetic left).
Beyond AlexNet, torchvision's other classifier families (residual, inception, depthwise and
grouped convolutions, channel shuffles, squeeze-excitation) run on the CPU target against PyTorch.
Models are generated here, at test time. Usage: onnx_import_vs_torch.py SINTER_BINARY [--quick]
"""
import os
import re
import subprocess
import sys
import tempfile
import warnings

import numpy as np
import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from models import PaperAlexNet, narrow_paper  # noqa: E402

warnings.filterwarnings("ignore")
SINTER = os.path.abspath(sys.argv[1])
QUICK = "--quick" in sys.argv
failures = []
PLAIN_OPS = {"conv2d", "relu", "lrn", "max_pool2d", "avg_pool2d", "gemm", "flatten", "reshape", "pad", "mul",
             "add", "pow", "div", "softmax", "dropout", "constant", "global_avg_pool"}


def check(name, model, shape, opset, dynamic_batch=False, rtol=1e-4, atol=1e-6):
    torch.manual_seed(0)
    model.eval()
    x = torch.randn(*shape)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "m.onnx")
        kw = {}
        if dynamic_batch:
            kw["dynamic_axes"] = {"data": {0: "batch"}, "out": {0: "batch"}}
        torch.onnx.export(model, x, path, opset_version=opset, input_names=["data"], output_names=["out"], **kw)
        np.save(os.path.join(d, "x.npy"), x.numpy())
        extra = ["--input-shape", "data=" + ",".join(map(str, shape))] if dynamic_batch else []
        with torch.no_grad():
            want = model(x).numpy()
        errors = []
        for target in ("reference", "cpu"):
            r = subprocess.run([SINTER, "run", path, "--target", target, "--input", f"data={d}/x.npy",
                                "--output", f"{d}/y.npy", *extra], capture_output=True, text=True)
            if r.returncode != 0:
                failures.append(f"{name} on {target}: sinter run failed: {r.stderr.strip()}")
                return
            got = np.load(os.path.join(d, "y.npy"))
            if got.shape != want.shape or not np.allclose(got, want, rtol=rtol, atol=atol):
                err = np.abs(got - want).max() if got.shape == want.shape else f"shape {got.shape} vs {want.shape}"
                failures.append(f"{name} on {target}: outputs differ from PyTorch (max abs error {err})")
                return
            errors.append(f"{target} {np.abs(got - want).max():.2e}")
        dump = subprocess.run([SINTER, "dump", path, *extra], capture_output=True, text=True)
        ops = set(re.findall(r"= ([a-z_0-9]+)\(", dump.stdout))
        if dump.returncode != 0 or not ops <= PLAIN_OPS:
            failures.append(f"{name}: dump shows {sorted(ops - PLAIN_OPS)} beyond plain ops ({dump.stderr.strip()})")
            return
        print(f"ok   {name} (max abs error {', '.join(errors)}; ops: {', '.join(sorted(ops))})")


def fused_pipeline(opset):
    """The PyTorch export of the paper AlexNet compiles to the same 12 kernels as the built-in:
    its spelled-out LRN is recognised and fused with the max-pool."""
    model = PaperAlexNet().eval()
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "p.onnx")
        torch.onnx.export(model, torch.randn(1, 3, 227, 227), path, opset_version=opset, input_names=["data"],
                          output_names=["out"])
        r = subprocess.run([SINTER, "compile", path], capture_output=True, text=True)
        kinds = re.findall(r"^\s+\d+\s+\S+\s+(\S+)\s", r.stdout, re.M)
        want = ["conv2d+relu", "lrn+max_pool2d", "conv2d+relu", "lrn+max_pool2d", "conv2d+relu", "conv2d+relu",
                "conv2d+relu", "max_pool2d", "gemm+relu", "gemm+relu", "gemm", "softmax"]
        if r.returncode != 0 or kinds != want:
            failures.append(f"fused_pipeline_opset{opset}: kernels {kinds} ({r.stderr.strip()})")
            return
        print(f"ok   fused_pipeline_opset{opset} (12 kernels: {', '.join(kinds)})")


def external_data():
    """Weights in an external data file beside the model load like embedded ones."""
    import onnx
    model = narrow_paper().eval()
    x = torch.randn(2, 3, 67, 67)
    with tempfile.TemporaryDirectory() as d:
        os.makedirs(os.path.join(d, "m"))
        inline = os.path.join(d, "inline.onnx")
        torch.onnx.export(model, x, inline, opset_version=13, input_names=["data"], output_names=["out"])
        m = onnx.load(inline)
        path = os.path.join(d, "m", "ext.onnx")
        onnx.save_model(m, path, save_as_external_data=True, all_tensors_to_one_file=True, location="weights.bin",
                        size_threshold=0)
        if os.path.getsize(path) > 20000 or not os.path.exists(os.path.join(d, "m", "weights.bin")):
            failures.append("external_data: the model did not move its weights out")
            return
        np.save(os.path.join(d, "x.npy"), x.numpy())
        r = subprocess.run([SINTER, "run", "m/ext.onnx", "--input", "data=x.npy", "--output", "y.npy"], cwd=d,
                           capture_output=True, text=True)
        if r.returncode != 0:
            failures.append(f"external_data: sinter run failed: {r.stderr.strip()}")
            return
        got = np.load(os.path.join(d, "y.npy"))
        with torch.no_grad():
            want = model(x).numpy()
        if not np.allclose(got, want, rtol=1e-4, atol=1e-6):
            failures.append(f"external_data: outputs differ (max abs error {np.abs(got - want).max()})")
            return
        # A location that escapes the model's folder is refused.
        for t in m.graph.initializer:
            for kv in t.external_data:
                if kv.key == "location":
                    kv.value = "../weights.bin"
        onnx.save_model(m, os.path.join(d, "m", "escape.onnx"))
        r = subprocess.run([SINTER, "dump", "m/escape.onnx"], cwd=d, capture_output=True, text=True)
        want_err = "location '../weights.bin' must be a relative path beside the model"
        if r.returncode != 1 or want_err not in r.stderr:
            failures.append(f"external_data: escaping location not refused: {r.returncode} {r.stderr.strip()}")
            return
        print("ok   external_data (weights.bin beside the model; '../' refused)")


def energise(model):
    """Weights that keep activations near unit scale through any depth (He-normal convolutions
    and linear layers, batch norms with random statistics and affine terms), so every path of the
    network shows in its logits; torchvision's own initialisations leave some of these networks
    with near-constant outputs (GoogLeNet's logits equal its last bias)."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear)):
                fan_in = mod.weight[0].numel()
                mod.weight.copy_(torch.randn(mod.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
                if mod.bias is not None:
                    mod.bias.copy_(torch.randn(mod.bias.shape, generator=g) * 0.1)
            elif isinstance(mod, torch.nn.BatchNorm2d):
                c = mod.num_features
                mod.running_mean.copy_(torch.randn(c, generator=g) * 0.1)
                mod.running_var.copy_(torch.rand(c, generator=g) + 0.5)
                mod.weight.copy_(torch.rand(c, generator=g) + 0.5)
                mod.bias.copy_(torch.randn(c, generator=g) * 0.1)
    return model


def zoo(name, model, shape, opset=13):
    """Another network family on the CPU target: outputs within 1e-4 of PyTorch's, relative to the
    largest output."""
    torch.manual_seed(0)
    energise(model).eval()
    x = torch.randn(*shape)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "m.onnx")
        torch.onnx.export(model, x, path, opset_version=opset, input_names=["data"], output_names=["out"])
        np.save(os.path.join(d, "x.npy"), x.numpy())
        with torch.no_grad():
            want = model(x).numpy()
        r = subprocess.run([SINTER, "run", path, "--target", "cpu", "--input", f"data={d}/x.npy", "--output", f"{d}/y.npy"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            failures.append(f"{name}: sinter run failed: {r.stderr.strip()}")
            return
        got = np.load(os.path.join(d, "y.npy"))
        scale = float(np.abs(want).max())
        err = float(np.abs(got - want).max()) if got.shape == want.shape else float("inf")
        if not err <= 1e-4 * scale:
            failures.append(f"{name}: outputs differ from PyTorch (max abs error {err:.3e}, largest output {scale:.3e})")
            return
        print(f"ok   {name} on cpu (max abs error {err:.2e}, {err / scale:.1e} of the largest output)")


external_data()
fused_pipeline(13)
if not QUICK:
    fused_pipeline(9)
check("narrow_paper_opset13_dynamic_batch", narrow_paper(), (3, 3, 67, 67), 13, dynamic_batch=True)
check("narrow_paper_opset9", narrow_paper(lrn_k=1.0), (2, 3, 67, 67), 9)
check("paper_alexnet_opset13", PaperAlexNet(softmax=False), (1, 3, 227, 227), 13)
check("torchvision_alexnet_opset11", torchvision.models.alexnet(), (1, 3, 224, 224), 11, atol=1e-5)
if not QUICK:
    check("paper_alexnet_opset11", PaperAlexNet(), (1, 3, 227, 227), 11)
    check("torchvision_alexnet_opset15_dynamic_batch", torchvision.models.alexnet(), (2, 3, 224, 224), 15,
          dynamic_batch=True, atol=1e-5)
zoo("torchvision_resnet18", torchvision.models.resnet18(), (2, 3, 128, 128))
zoo("torchvision_mobilenet_v2", torchvision.models.mobilenet_v2(), (2, 3, 128, 128))
zoo("torchvision_squeezenet1_0", torchvision.models.squeezenet1_0(), (2, 3, 128, 128))
zoo("torchvision_shufflenet_v2_x0_5", torchvision.models.shufflenet_v2_x0_5(), (2, 3, 128, 128))
if not QUICK:
    zoo("torchvision_googlenet", torchvision.models.googlenet(aux_logits=False, init_weights=True), (2, 3, 128, 128))
    zoo("torchvision_efficientnet_b0", torchvision.models.efficientnet_b0(), (2, 3, 128, 128))
    zoo("torchvision_regnet_x_400mf", torchvision.models.regnet_x_400mf(), (2, 3, 128, 128))
if failures:
    print("\n".join("FAIL " + f for f in failures))
    sys.exit(1)
print("all ONNX import parity cases passed")
