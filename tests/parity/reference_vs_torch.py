#!/usr/bin/python3
"""Reference interpreter vs PyTorch: every op of the table on random inputs, then the three
built-in AlexNets with Sinter's weights loaded into PyTorch models.

Each op case writes a one-node .sir graph whose result type comes from PyTorch (so Sinter's shape
rule is checked too), runs `sinter run` on .npy inputs and compares with PyTorch/numpy computed
independently. Usage: reference_vs_torch.py SINTER_BINARY [--only NAME] [--targets reference,cpu]
[--models-only]. On a GPU: --targets cuda --models-only (the whole networks on the CUDA backend;
PyTorch computes on the CPU in fp32, so the comparison does not share any GPU library).
"""
import os
import subprocess
import sys
import tempfile
import warnings

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from models import PaperAlexNet, narrow_paper  # noqa: E402

warnings.filterwarnings("ignore")
SINTER = os.path.abspath(sys.argv[1])
ONLY = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else None
TARGETS = (sys.argv[sys.argv.index("--targets") + 1] if "--targets" in sys.argv else "reference,cpu").split(",")
MODELS_ONLY = "--models-only" in sys.argv
RNG = np.random.default_rng(1234)
failures = []


def rand(*shape, lo=-1.0, hi=1.0):
    return RNG.uniform(lo, hi, size=shape).astype(np.float32)


def sir_type(a):
    dt = {np.dtype(np.float32): "f32", np.dtype(np.int64): "i64"}[a.dtype]
    return f"{dt}[{','.join(str(d) for d in a.shape)}]"


def fmt_attr(v):
    if isinstance(v, bool):
        return str(int(v))
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v) if ("." in repr(v) or "e" in repr(v)) else repr(v) + ".0"
    if isinstance(v, str):
        return '"' + v + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(fmt_attr(x) for x in v) + "]"
    raise TypeError(v)


def run_case(name, op, inputs, attrs, expected, rtol=1e-4, atol=1e-5):
    """inputs: list of np arrays; expected: np array (the single result)."""
    if ONLY and ONLY != name:
        return
    expected = np.asarray(expected)
    with tempfile.TemporaryDirectory() as d:
        names = [f"x{i}" for i in range(len(inputs))]
        args = ", ".join(f"%{n}: {sir_type(a)}" for n, a in zip(names, inputs))
        attr_text = ""
        if attrs:
            attr_text = " {" + ", ".join(f"{k}={fmt_attr(v)}" for k, v in attrs.items()) + "}"
        out_type = sir_type(expected.astype(np.float32) if expected.dtype != np.int64 else expected)
        sir = (f"graph @{name}({args}) -> (%y: {out_type}) {{\n"
               f"  %y = {op}({', '.join('%' + n for n in names)}){attr_text} : {out_type}\n"
               f"  return %y\n}}\n")
        path = os.path.join(d, "case.sir")
        with open(path, "w") as f:
            f.write(sir)
        cmd = [SINTER, "run", path, "--target", "reference", "--output", os.path.join(d, "y.npy")]
        for n, a in zip(names, inputs):
            np.save(os.path.join(d, n + ".npy"), a)
            cmd += ["--input", f"{n}={os.path.join(d, n + '.npy')}"]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            failures.append(f"{name}: sinter failed: {r.stderr.strip()}\n{sir}")
            return
        got = np.load(os.path.join(d, "y.npy"))
        if got.shape != expected.shape:
            failures.append(f"{name}: shape {got.shape} != {expected.shape}")
            return
        if not np.allclose(got, expected, rtol=rtol, atol=atol, equal_nan=True):
            err = np.abs(got.astype(np.float64) - expected.astype(np.float64))
            i = np.unravel_index(np.argmax(err), err.shape)
            failures.append(f"{name}: worst at {i}: got {got[i]!r}, want {expected[i]!r}")
            return
        print(f"ok   {name}")


T = torch.from_numpy


def ops_cases():
    # Elementwise, unary.
    x = rand(2, 3, 4)
    pos = rand(2, 3, 4, lo=0.1, hi=3.0)
    run_case("relu", "relu", [x], {}, F.relu(T(x)).numpy())
    run_case("neg", "neg", [x], {}, (-T(x)).numpy())
    run_case("abs", "abs", [x], {}, T(x).abs().numpy())
    run_case("sqrt", "sqrt", [pos], {}, T(pos).sqrt().numpy())
    run_case("exp", "exp", [x], {}, T(x).exp().numpy())
    run_case("log", "log", [pos], {}, T(pos).log().numpy())
    run_case("sigmoid", "sigmoid", [x], {}, torch.sigmoid(T(x)).numpy())
    run_case("tanh", "tanh", [x], {}, torch.tanh(T(x)).numpy())
    run_case("identity", "identity", [x], {}, x)
    run_case("dropout_inference", "dropout", [x], {"ratio": 0.3}, x)
    # Elementwise, binary with broadcasting.
    a, b = rand(2, 3, 4), rand(3, 1)
    run_case("add", "add", [a, b], {}, (T(a) + T(b)).numpy())
    run_case("sub", "sub", [b, a], {}, (T(b) - T(a)).numpy())
    run_case("mul", "mul", [a, b], {}, (T(a) * T(b)).numpy())
    d = rand(4, lo=0.5, hi=2.0)
    run_case("div", "div", [a, d], {}, (T(a) / T(d)).numpy())
    e = rand(1, 4, lo=-2, hi=2)
    run_case("pow", "pow", [pos, e], {}, torch.pow(T(pos), T(e)).numpy())
    run_case("max", "max", [a, b], {}, torch.maximum(T(a), T(b)).numpy())
    run_case("min", "min", [a, b], {}, torch.minimum(T(a), T(b)).numpy())
    ia, ib = RNG.integers(-20, 20, (2, 3)), RNG.integers(1, 5, (3,))
    run_case("add_i64", "add", [ia, ib], {}, ia + ib)

    # Convolution: grouped, strided, dilated, asymmetric padding (top, left, bottom, right).
    x, w, bias = rand(2, 4, 9, 10), rand(6, 2, 3, 3), rand(6)
    xp = F.pad(T(x), (0, 1, 1, 2))  # torch order: left, right, top, bottom
    want = F.conv2d(xp, T(w), T(bias), stride=(2, 1), dilation=(1, 2), groups=2)
    run_case("conv2d_grouped", "conv2d", [x, w, bias],
             {"stride": [2, 1], "pad": [1, 0, 2, 1], "dilation": [1, 2], "group": 2}, want.numpy())
    x, w = rand(1, 3, 13, 13), rand(5, 3, 11, 11)
    run_case("conv2d_nobias", "conv2d", [x, w], {"stride": [4, 4], "pad": [2, 2, 2, 2]},
             F.conv2d(T(x), T(w), stride=4, padding=2).numpy())

    # Pooling.
    x = rand(2, 3, 11, 12)
    run_case("max_pool2d", "max_pool2d", [x], {"kernel": [3, 3], "stride": [2, 2]},
             F.max_pool2d(T(x), 3, 2).numpy())
    run_case("max_pool2d_pad_ceil_dil", "max_pool2d", [x],
             {"kernel": [3, 2], "stride": [2, 3], "pad": [1, 1, 1, 1], "dilation": [2, 1], "ceil_mode": 1},
             F.max_pool2d(T(x), (3, 2), (2, 3), padding=1, dilation=(2, 1), ceil_mode=True).numpy())
    run_case("avg_pool2d", "avg_pool2d", [x], {"kernel": [3, 3], "stride": [2, 2], "pad": [1, 1, 1, 1]},
             F.avg_pool2d(T(x), 3, 2, padding=1, count_include_pad=False).numpy())
    run_case("avg_pool2d_incl_ceil", "avg_pool2d", [x],
             {"kernel": [3, 3], "stride": [2, 2], "pad": [1, 1, 1, 1], "ceil_mode": 1, "count_include_pad": 1},
             F.avg_pool2d(T(x), 3, 2, padding=1, ceil_mode=True, count_include_pad=True).numpy())
    run_case("global_avg_pool", "global_avg_pool", [x], {}, F.adaptive_avg_pool2d(T(x), 1).numpy())

    # Normalisation.
    x = rand(2, 7, 3, 4, lo=-3, hi=3)
    run_case("lrn", "lrn", [x], {"size": 5, "alpha": 1e-2, "beta": 0.75, "bias": 2.0},
             nn.LocalResponseNorm(5, 1e-2, 0.75, 2.0)(T(x)).numpy())
    run_case("lrn_size3", "lrn", [x], {"size": 3, "alpha": 0.5, "beta": 0.6, "bias": 1.0},
             nn.LocalResponseNorm(3, 0.5, 0.6, 1.0)(T(x)).numpy())
    sc, bi, mu, var = rand(7), rand(7), rand(7), rand(7, lo=0.5, hi=2)
    run_case("batch_norm", "batch_norm", [x, sc, bi, mu, var], {"epsilon": 1e-3},
             F.batch_norm(T(x), T(mu), T(var), T(sc), T(bi), False, 0.0, 1e-3).numpy())
    x = rand(3, 4, 5, lo=-5, hi=5)
    run_case("softmax", "softmax", [x], {"axis": 1}, F.softmax(T(x), 1).numpy())
    run_case("softmax_last", "softmax", [x], {}, F.softmax(T(x), -1).numpy())
    run_case("log_softmax", "log_softmax", [x], {"axis": 0}, F.log_softmax(T(x), 0).numpy())

    # Matrix products.
    a, b, c = rand(5, 3), rand(4, 5), rand(4)
    run_case("gemm_trans", "gemm", [a, b, c], {"trans_a": 1, "trans_b": 1, "alpha": 0.5, "beta": 2.0},
             (0.5 * T(a).t() @ T(b).t() + 2.0 * T(c)).numpy())
    a, b, c = rand(3, 5), rand(5, 4), rand(3, 1)
    run_case("gemm_bias_col", "gemm", [a, b, c], {}, (T(a) @ T(b) + T(c)).numpy())
    run_case("gemm_nobias", "gemm", [a, b], {"alpha": 2.0}, (2.0 * T(a) @ T(b)).numpy())
    a, b = rand(2, 3, 4), rand(4, 5)
    run_case("matmul_3d_2d", "matmul", [a, b], {}, torch.matmul(T(a), T(b)).numpy())
    a, b = rand(5, 1, 3, 4), rand(2, 4, 6)
    run_case("matmul_broadcast", "matmul", [a, b], {}, torch.matmul(T(a), T(b)).numpy())
    a, b = rand(4), rand(2, 4, 3)
    run_case("matmul_vec", "matmul", [a, b], {}, torch.matmul(T(a), T(b)).numpy())
    a, b = rand(2, 3, 4), rand(4)
    run_case("matmul_mat_vec", "matmul", [a, b], {}, torch.matmul(T(a), T(b)).numpy())

    # Reductions.
    x = rand(2, 3, 4, 5)
    run_case("reduce_sum", "reduce_sum", [x], {"axes": [1, -1], "keepdims": 0}, x.sum(axis=(1, 3)))
    run_case("reduce_mean", "reduce_mean", [x], {"axes": [2]}, x.mean(axis=2, keepdims=True))
    run_case("reduce_sum_all", "reduce_sum", [x], {}, x.sum(keepdims=True).reshape(1, 1, 1, 1))

    # Shape ops.
    run_case("flatten", "flatten", [x], {"axis": 2}, x.reshape(6, 20))
    run_case("flatten0", "flatten", [x], {"axis": 0}, x.reshape(1, 120))
    run_case("reshape", "reshape", [x], {"shape": [4, -1, 3]}, x.reshape(4, -1, 3))
    run_case("transpose", "transpose", [x], {"perm": [2, 0, 3, 1]}, x.transpose(2, 0, 3, 1))
    p, q, r = rand(2, 1, 3), rand(2, 4, 3), rand(2, 2, 3)
    run_case("concat", "concat", [p, q, r], {"axis": 1}, np.concatenate([p, q, r], 1))
    run_case("slice", "slice", [x], {"starts": [1, -1, 0], "ends": [3, -100, 100], "axes": [1, 2, 3], "steps": [1, -2, 2]},
             x[:, 1:3, 3::-2, 0:100:2])
    run_case("slice_default_axes", "slice", [x], {"starts": [1, 0], "ends": [2, 2]}, x[1:2, 0:2])
    y = rand(2, 3, 4)
    run_case("pad_constant", "pad", [y], {"pads": [0, 1, 2, 1, 0, -1], "value": 1.5},
             np.pad(y, ((0, 1), (1, 0), (2, 0)), constant_values=1.5)[:, :, :5])
    run_case("pad_reflect", "pad", [y], {"pads": [0, 2, 1, 0, 1, 3], "mode": "reflect"},
             np.pad(y, ((0, 0), (2, 1), (1, 3)), mode="reflect"))
    run_case("pad_edge", "pad", [y], {"pads": [1, 0, 2, 1, 3, 0], "mode": "edge"},
             np.pad(y, ((1, 1), (0, 3), (2, 0)), mode="edge"))

    # Conversions, comparisons, selection, gathers.
    xc = rand(2, 3, lo=-4, hi=4)
    run_case("cast_f32_to_i64", "cast", [xc], {"to": "i64"}, T(xc).to(torch.int64).numpy())
    ic = RNG.integers(-5, 5, (2, 3)).astype(np.int64)
    run_case("cast_i64_to_f32", "cast", [ic], {"to": "f32"}, ic.astype(np.float32))
    xg = rand(5, 4, 3)
    gi = np.array([[0, -1], [2, 4]], dtype=np.int64)
    run_case("gather_axis1", "gather", [xg, gi[:, :1] % 4], {"axis": 1}, np.take(xg, gi[:, :1] % 4, axis=1))
    run_case("gather_negative", "gather", [xg, gi], {}, np.take(xg, gi, axis=0))
    ge = RNG.integers(0, 4, (5, 2, 3)).astype(np.int64)
    run_case("gather_elements", "gather_elements", [xg, ge], {"axis": 1},
             torch.gather(T(xg), 1, T(ge)).numpy())
    run_case("reduce_max", "reduce_max", [xg], {"axes": [0, 2], "keepdims": 0}, xg.max(axis=(0, 2)))

    # Loss.
    s = rand(6, 5, lo=-4, hi=4)
    lab = RNG.integers(0, 5, (6,)).astype(np.int64)
    run_case("sce_mean", "softmax_cross_entropy", [s, lab], {}, F.cross_entropy(T(s), T(lab)).numpy())
    run_case("sce_sum", "softmax_cross_entropy", [s, lab], {"reduction": "sum"},
             F.cross_entropy(T(s), T(lab), reduction="sum").numpy())
    wts = rand(5, lo=0.2, hi=2)
    lab2 = lab.copy()
    lab2[2] = 3
    lab2[4] = 3
    run_case("sce_weights_ignore", "softmax_cross_entropy", [s, lab2, wts], {"ignore_index": 3},
             F.cross_entropy(T(s), T(lab2), weight=T(wts), ignore_index=3).numpy())
    s4 = rand(2, 3, 4, 2)
    lab4 = RNG.integers(0, 3, (2, 4, 2)).astype(np.int64)
    run_case("sce_none_nd", "softmax_cross_entropy", [s4, lab4], {"reduction": "none"},
             F.cross_entropy(T(s4), T(lab4), reduction="none").numpy())
    lp = F.log_softmax(T(s4), 1).numpy()
    w3 = rand(3, lo=0.2, hi=2)
    run_case("nll_loss", "nll_loss", [lp, lab4, w3], {"ignore_index": 1},
             F.nll_loss(T(lp), T(lab4), weight=T(w3), ignore_index=1).numpy())


def load_into(model, wdir, names):
    """Copies Sinter's weight files (conv1.w, ...) into the PyTorch modules in order."""
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        for m, n in zip(layers, names):
            m.weight.copy_(T(np.load(os.path.join(wdir, n + ".w.npy"))))
            m.bias.copy_(T(np.load(os.path.join(wdir, n + ".b.npy"))))


def model_case(name, builtin, torch_model, shape, extra=(), rtol=1e-4, atol=1e-6):
    if ONLY and ONLY != name:
        return
    names = ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"]
    with tempfile.TemporaryDirectory() as d:
        wdir = os.path.join(d, "w")
        r = subprocess.run([SINTER, "dump", builtin, *extra, "--save-weights", wdir, "-o", os.path.join(d, "m.sir")],
                           capture_output=True, text=True)
        if r.returncode != 0:
            failures.append(f"{name}: dump failed: {r.stderr}")
            return
        load_into(torch_model, wdir, names)
        x = rand(*shape)
        np.save(os.path.join(d, "x.npy"), x)
        with torch.no_grad():
            want = torch_model.eval()(T(x)).numpy()
        for target in TARGETS:
            r = subprocess.run([SINTER, "run", builtin, *extra, "--target", target, "--input",
                                f"data={d}/x.npy", "--output", f"{d}/y.npy"], capture_output=True, text=True)
            if r.returncode != 0:
                failures.append(f"{name} on {target}: run failed: {r.stderr}")
                continue
            got = np.load(os.path.join(d, "y.npy"))
            if got.shape != want.shape or not np.allclose(got, want, rtol=rtol, atol=atol):
                err = np.abs(got - want).max() if got.shape == want.shape else "shape"
                failures.append(f"{name} on {target}: outputs differ from PyTorch (max abs error {err})")
                continue
            print(f"ok   {name} on {target} (max abs error {np.abs(got - want).max():.2e}, "
                  f"max |y| {np.abs(want).max():.3f})")


def models_cases():
    import torchvision
    model_case("alexnet_narrow", "alexnet-narrow", narrow_paper(), (2, 3, 67, 67), ("--batch", "2"))
    model_case("alexnet_narrow_1ch_99px", "alexnet-narrow", narrow_paper(1, 7, 2), (1, 1, 99, 99),
               ("--channels", "1", "--input-size", "99", "--classes", "7", "--seed", "5"))
    model_case("alexnet_paper", "alexnet", PaperAlexNet(), (1, 3, 227, 227))
    # Torchvision outputs logits; compare them absolutely at the scale of the logits.
    model_case("alexnet_torchvision", "alexnet-torchvision", torchvision.models.alexnet(), (1, 3, 224, 224),
               rtol=1e-4, atol=1e-4)


if not MODELS_ONLY:
    ops_cases()
models_cases()
if failures:
    print("\n".join("FAIL " + f for f in failures))
    sys.exit(1)
print("all parity cases passed")
