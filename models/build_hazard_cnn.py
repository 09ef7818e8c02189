"""Build the rover terrain-hazard CNN: synthetic seeded terrain patches, trained in plain numpy.

Why this model: it is the project's convolutional workload, with exactly the operator mix whose
weight liveness was measured (Conv, BatchNormalization, MaxPool, Reshape with an int64 shape,
Gemm transB=1, Softmax). BatchNormalization stays a separate node with its own scale/B/mean/var
initializers, because the ground compiler is what fuses Conv+BN; the raw model must not pre-empt it.

Classes (1x32x32 grayscale patches in [0, 1], drawn from a numpy Generator):
    0 safe    smooth low-frequency noise, at most a gentle tilt
    1 rock    bright blobs, each with a dark shadow cast away from a random sun direction
    2 crater  bright ring rim around a darker bowl
    3 slope   a strong brightness gradient in a random direction

Graph: image [1,1,32,32] -> Conv(8,3x3,pad 1) -> BN -> Relu -> MaxPool 2 -> Conv(16,3x3,pad 1) -> BN
-> Relu -> MaxPool 2 -> Reshape [1,1024] -> Gemm(4, transB=1) -> Softmax -> probs [1,4].

Outputs: DIR/hazard-cnn.onnx, DIR/hazard-cnn.golden-inputs.npz (key "image", (16,1,1,32,32)),
DIR/hazard-cnn.metrics.json (held-out accuracy under the flight session configuration, batch 1).

Usage: python models/build_hazard_cnn.py --out DIR [--seed N]
"""

from __future__ import annotations

import os

# One BLAS thread so reductions split the same way every run (see build_landers.py).
if __name__ == "__main__":  # only when run as a script: an importer keeps its own BLAS threading
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Sequence  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

_REPO = Path(__file__).resolve().parent.parent
if str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))

OPSET = 17
IR_VERSION = 8
SIZE = 32
CLASSES = ["safe", "rock", "crater", "slope"]
BN_EPS = 1e-5
BN_MOMENTUM = 0.9  # running = momentum * running + (1 - momentum) * batch

# Independent data streams derived from the master seed: train, held-out, golden.
TRAIN_STREAM, HELDOUT_STREAM, GOLDEN_STREAM, INIT_STREAM = 0, 1, 2, 3


# ----------------------------------------------------------------------------------------------
# Synthetic terrain
# ----------------------------------------------------------------------------------------------

_YY, _XX = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)


def _smooth_noise(rng: np.random.Generator, cells: int, amp: float) -> np.ndarray:
    """Low-frequency noise: a coarse Gaussian grid, bilinearly upsampled to SIZE x SIZE."""
    grid = rng.normal(0.0, amp, size=(cells + 1, cells + 1))
    pos = np.linspace(0.0, cells, SIZE)
    i0 = np.minimum(pos.astype(int), cells - 1)
    f = pos - i0
    rows = grid[i0] * (1 - f)[:, None] + grid[i0 + 1] * f[:, None]
    return rows[:, i0] * (1 - f)[None, :] + rows[:, i0 + 1] * f[None, :]


def _ground(rng: np.random.Generator) -> np.ndarray:
    """Regolith shared by every class: base albedo, two scales of smooth noise, sensor grain, mild tilt."""
    img = rng.uniform(0.35, 0.6) + _smooth_noise(rng, 4, 0.06) + _smooth_noise(rng, 8, 0.03)
    theta = rng.uniform(0, 2 * np.pi)
    tilt = rng.uniform(0.0, 0.12)  # gentle tilt: safe terrain is not perfectly flat
    img += tilt * ((_XX - SIZE / 2) * np.cos(theta) + (_YY - SIZE / 2) * np.sin(theta)) / SIZE
    return img


def _rock(img: np.ndarray, rng: np.random.Generator) -> None:
    sun = rng.uniform(0, 2 * np.pi)
    for _ in range(rng.integers(1, 4)):
        cx, cy = rng.uniform(5, SIZE - 5, size=2)
        r = rng.uniform(1.8, 4.5)
        d = r * rng.uniform(0.8, 1.3)
        sx, sy = cx + d * np.cos(sun), cy + d * np.sin(sun)
        img -= rng.uniform(0.15, 0.35) * np.exp(-((_XX - sx) ** 2 + (_YY - sy) ** 2) / (2 * (1.2 * r) ** 2))
        img += rng.uniform(0.25, 0.5) * np.exp(-((_XX - cx) ** 2 + (_YY - cy) ** 2) / (2 * r ** 2))


def _crater(img: np.ndarray, rng: np.random.Generator) -> None:
    cx, cy = rng.uniform(10, SIZE - 10, size=2)
    r = rng.uniform(5.0, 11.0)
    w = rng.uniform(1.0, 2.2)
    dist = np.sqrt((_XX - cx) ** 2 + (_YY - cy) ** 2)
    img += rng.uniform(0.2, 0.4) * np.exp(-((dist - r) ** 2) / (2 * w ** 2))  # rim
    img -= rng.uniform(0.15, 0.3) * np.clip(1.0 - dist / r, 0.0, 1.0) ** 0.5  # bowl


def _slope(img: np.ndarray, rng: np.random.Generator) -> None:
    theta = rng.uniform(0, 2 * np.pi)
    strength = rng.uniform(0.45, 0.9)
    img += strength * ((_XX - SIZE / 2) * np.cos(theta) + (_YY - SIZE / 2) * np.sin(theta)) / SIZE


def make_patches(rng: np.random.Generator, per_class: int) -> tuple[np.ndarray, np.ndarray]:
    """``per_class`` patches of each class, shuffled: images (N,1,32,32) float32 in [0,1], labels int64."""
    add = [None, _rock, _crater, _slope]
    images, labels = [], []
    for label in range(len(CLASSES)):
        for _ in range(per_class):
            img = _ground(rng)
            if add[label] is not None:
                add[label](img, rng)
            img += rng.normal(0.0, 0.02, size=img.shape)
            images.append(np.clip(img, 0.0, 1.0))
            labels.append(label)
    order = rng.permutation(len(labels))
    x = np.asarray(images, np.float32)[order][:, None, :, :]
    return np.ascontiguousarray(x), np.asarray(labels, np.int64)[order]


# ----------------------------------------------------------------------------------------------
# The CNN in numpy (training-time BatchNorm with batch statistics, running stats for export)
# ----------------------------------------------------------------------------------------------

def _im2col(x: np.ndarray) -> np.ndarray:
    """(N,C,H,W) -> (N*H*W, C*9) patches of a 3x3 window with padding 1, ordered (c, kh, kw)."""
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(2, 3))  # N,C,H,W,3,3
    return np.ascontiguousarray(win.transpose(0, 2, 3, 1, 4, 5)).reshape(n * h * w, c * 9)


def _col2im(cols: np.ndarray, shape: tuple[int, int, int, int]) -> np.ndarray:
    """Adjoint of _im2col: scatter-add patch gradients back to (N,C,H,W)."""
    n, c, h, w = shape
    g = cols.reshape(n, h, w, c, 3, 3)
    out = np.zeros((n, c, h + 2, w + 2), cols.dtype)
    for kh in range(3):
        for kw in range(3):
            out[:, :, kh:kh + h, kw:kw + w] += g[:, :, :, :, kh, kw].transpose(0, 3, 1, 2)
    return out[:, :, 1:-1, 1:-1]


class HazardCNN:
    def __init__(self, rng: np.random.Generator, c1: int = 8, c2: int = 16) -> None:
        def he(shape: tuple[int, ...], fan_in: int) -> np.ndarray:
            return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape).astype(np.float32)

        flat = c2 * (SIZE // 4) ** 2
        self.p: dict[str, np.ndarray] = {
            "conv1.weight": he((c1, 1, 3, 3), 9),
            "bn1.scale": np.ones(c1, np.float32), "bn1.bias": np.zeros(c1, np.float32),
            "conv2.weight": he((c2, c1, 3, 3), 9 * c1),
            "bn2.scale": np.ones(c2, np.float32), "bn2.bias": np.zeros(c2, np.float32),
            "fc.weight": (he((len(CLASSES), flat), flat) * 0.1).astype(np.float32),
            "fc.bias": np.zeros(len(CLASSES), np.float32),
        }
        self.running = {"bn1.mean": np.zeros(c1, np.float32), "bn1.var": np.ones(c1, np.float32),
                        "bn2.mean": np.zeros(c2, np.float32), "bn2.var": np.ones(c2, np.float32)}
        self.m = {k: np.zeros_like(v) for k, v in self.p.items()}
        self.v = {k: np.zeros_like(v) for k, v in self.p.items()}
        self.t = 0

    def _block(self, x: np.ndarray, conv: str, bn: str, train: bool, cache: list) -> np.ndarray:
        n, c, h, w = x.shape
        wt = self.p[conv]
        cols = _im2col(x)
        z = cols @ wt.reshape(wt.shape[0], -1).T  # (N*H*W, F)
        if train:
            mu, var = z.mean(axis=0), z.var(axis=0)
            r = self.running
            r[bn + ".mean"] = (BN_MOMENTUM * r[bn + ".mean"] + (1 - BN_MOMENTUM) * mu).astype(np.float32)
            r[bn + ".var"] = (BN_MOMENTUM * r[bn + ".var"] + (1 - BN_MOMENTUM) * var).astype(np.float32)
        else:
            mu, var = self.running[bn + ".mean"], self.running[bn + ".var"]
        inv = 1.0 / np.sqrt(var + BN_EPS)
        zh = (z - mu) * inv
        y = np.maximum(zh * self.p[bn + ".scale"] + self.p[bn + ".bias"], 0.0)
        f = wt.shape[0]
        y4 = y.reshape(n, h, w, f)
        pooled_in = y4.reshape(n, h // 2, 2, w // 2, 2, f)
        out = pooled_in.max(axis=(2, 4))
        cache.append((x.shape, cols, zh, inv, y, pooled_in, out))
        return np.ascontiguousarray(out.transpose(0, 3, 1, 2))  # back to NCHW

    def _block_back(self, g: np.ndarray, conv: str, bn: str, cache_item, grads: dict) -> np.ndarray:
        xshape, cols, zh, inv, y, pooled_in, out = cache_item
        n, _, h, w = xshape
        f = self.p[conv].shape[0]
        g = g.transpose(0, 2, 3, 1)  # N,h/2,w/2,F
        mask = pooled_in == out[:, :, None, :, None, :]
        # Route each pooled gradient to the first max in its window (ties are measure-zero here).
        first = mask & (np.cumsum(np.cumsum(mask, axis=2), axis=4) == 1)
        gy = (first * g[:, :, None, :, None, :]).reshape(n * h * w, f)
        gy = gy * (y > 0)
        grads[bn + ".scale"] = (gy * zh).sum(axis=0)
        grads[bn + ".bias"] = gy.sum(axis=0)
        gzh = gy * self.p[bn + ".scale"]
        m = gzh.shape[0]
        gz = inv / m * (m * gzh - gzh.sum(axis=0) - zh * (gzh * zh).sum(axis=0))
        wt = self.p[conv]
        grads[conv] = (gz.T @ cols).reshape(wt.shape)
        return _col2im(gz @ wt.reshape(f, -1), xshape)

    def forward(self, x: np.ndarray, train: bool, cache: list) -> np.ndarray:
        h = self._block(x, "conv1.weight", "bn1", train, cache)
        h = self._block(h, "conv2.weight", "bn2", train, cache)
        flat = h.reshape(len(x), -1)
        cache.append(flat)
        return flat @ self.p["fc.weight"].T + self.p["fc.bias"]

    def train_step(self, x: np.ndarray, y: np.ndarray, lr: float) -> float:
        cache: list = []
        logits = self.forward(x, True, cache)
        z = logits - logits.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        n = len(y)
        loss = float(-np.log(p[np.arange(n), y] + 1e-12).mean())
        g = p
        g[np.arange(n), y] -= 1.0
        g /= n
        grads: dict[str, np.ndarray] = {}
        flat = cache[2]
        grads["fc.weight"] = g.T @ flat
        grads["fc.bias"] = g.sum(axis=0)
        gflat = g @ self.p["fc.weight"]
        c2 = self.p["conv2.weight"].shape[0]
        gh = gflat.reshape(n, c2, SIZE // 4, SIZE // 4)
        gh = self._block_back(gh, "conv2.weight", "bn2", cache[1], grads)
        self._block_back(gh, "conv1.weight", "bn1", cache[0], grads)
        self.t += 1
        b1, b2, eps = 0.9, 0.999, 1e-8
        for k, gk in grads.items():
            self.m[k] = b1 * self.m[k] + (1 - b1) * gk
            self.v[k] = b2 * self.v[k] + (1 - b2) * gk * gk
            step = lr * (self.m[k] / (1 - b1 ** self.t)) / (np.sqrt(self.v[k] / (1 - b2 ** self.t)) + eps)
            self.p[k] = (self.p[k] - step).astype(np.float32)
        return loss

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x, False, []).argmax(axis=1)


# ----------------------------------------------------------------------------------------------
# ONNX export and evaluation
# ----------------------------------------------------------------------------------------------

def to_onnx(net: HazardCNN) -> onnx.ModelProto:
    """The raw graph: BN as its own nodes (the ground fuses), int64 Reshape shape embedded."""
    p, r = net.p, net.running
    c2 = p["conv2.weight"].shape[0]
    flat = c2 * (SIZE // 4) ** 2
    arrays = {
        "conv1.weight": p["conv1.weight"],
        "bn1.scale": p["bn1.scale"], "bn1.bias": p["bn1.bias"], "bn1.mean": r["bn1.mean"], "bn1.var": r["bn1.var"],
        "conv2.weight": p["conv2.weight"],
        "bn2.scale": p["bn2.scale"], "bn2.bias": p["bn2.bias"], "bn2.mean": r["bn2.mean"], "bn2.var": r["bn2.var"],
        "flatten.shape": np.array([1, flat], np.int64),
        "fc.weight": p["fc.weight"], "fc.bias": p["fc.bias"],
    }
    inits = [numpy_helper.from_array(np.ascontiguousarray(a, dtype=a.dtype if a.dtype == np.int64 else np.float32), k)
             for k, a in arrays.items()]
    nodes = []
    cur = "image"
    for i in (1, 2):
        nodes += [
            helper.make_node("Conv", [cur, f"conv{i}.weight"], [f"conv{i}.out"], name=f"conv{i}",
                             kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]),
            helper.make_node("BatchNormalization",
                             [f"conv{i}.out", f"bn{i}.scale", f"bn{i}.bias", f"bn{i}.mean", f"bn{i}.var"],
                             [f"bn{i}.out"], name=f"bn{i}", epsilon=BN_EPS),
            helper.make_node("Relu", [f"bn{i}.out"], [f"relu{i}.out"], name=f"relu{i}"),
            helper.make_node("MaxPool", [f"relu{i}.out"], [f"pool{i}.out"], name=f"pool{i}",
                             kernel_shape=[2, 2], strides=[2, 2]),
        ]
        cur = f"pool{i}.out"
    nodes += [
        helper.make_node("Reshape", [cur, "flatten.shape"], ["flatten.out"], name="flatten"),
        helper.make_node("Gemm", ["flatten.out", "fc.weight", "fc.bias"], ["fc.out"], name="fc", transB=1),
        helper.make_node("Softmax", ["fc.out"], ["probs"], name="softmax", axis=1),
    ]
    graph = helper.make_graph(
        nodes, "hazard-cnn",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 1, SIZE, SIZE])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1, len(CLASSES)])],
        initializer=inits)
    model = helper.make_model(graph, producer_name="seuguard.models.build_hazard_cnn",
                              opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    model.doc_string = "Terrain hazard classifier, classes: " + ", ".join(CLASSES)
    onnx.checker.check_model(model, full_check=True)
    return model


def flight_accuracy(onnx_path: Path, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Accuracy and confusion matrix, one image per run (batch 1) under the flight configuration."""
    import onnxruntime as ort

    from flight.engine._session import PROVIDERS, flight_session_options

    sess = ort.InferenceSession(str(onnx_path), sess_options=flight_session_options(), providers=PROVIDERS)
    confusion = np.zeros((len(CLASSES), len(CLASSES)), np.int64)
    for img, label in zip(x, y):
        probs = sess.run(None, {"image": img[None]})[0]
        confusion[label, int(np.argmax(probs))] += 1
    return float(np.trace(confusion) / len(y)), confusion


def build(out_dir: Path, seed: int, per_class_train: int = 1500, per_class_heldout: int = 250,
          epochs: int = 8, batch: int = 64) -> dict[str, object]:
    t0 = time.perf_counter()
    rngs = np.random.default_rng(seed).spawn(4)
    x_tr, y_tr = make_patches(rngs[TRAIN_STREAM], per_class_train)
    x_ho, y_ho = make_patches(rngs[HELDOUT_STREAM], per_class_heldout)
    net = HazardCNN(rngs[INIT_STREAM])
    shuffle = np.random.default_rng([seed, 99])
    steps_per_epoch = (len(x_tr) + batch - 1) // batch
    total = epochs * steps_per_epoch
    step = 0
    for epoch in range(epochs):
        order = shuffle.permutation(len(x_tr))
        losses = []
        for s in range(0, len(x_tr), batch):
            idx = order[s:s + batch]
            lr = 3e-3 * 0.5 * (1 + np.cos(np.pi * step / total))  # cosine decay
            losses.append(net.train_step(x_tr[idx], y_tr[idx], lr))
            step += 1
        print(f"  epoch {epoch + 1}/{epochs}: loss {np.mean(losses):.4f}")
    # Recompute BN running statistics over a clean pass of the training set at the final weights,
    # so the exported mean/var match the weights rather than an average over the training path.
    _recalibrate_bn(net, x_tr[:2000])

    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = out_dir / "hazard-cnn.onnx"
    onnx.save_model(to_onnx(net), str(onnx_path))
    # Golden inputs: 4 per class from their own stream, class order 0,1,2,3,0,1,...
    xg, yg = make_patches(rngs[GOLDEN_STREAM], 4)
    per_class = [np.flatnonzero(yg == c) for c in range(len(CLASSES))]
    order = np.array([per_class[c][k] for k in range(4) for c in range(len(CLASSES))])
    np.savez(out_dir / "hazard-cnn.golden-inputs.npz", image=xg[order][:, None].astype(np.float32))
    acc, confusion = flight_accuracy(onnx_path, x_ho, y_ho)
    numpy_acc = float((net.predict(x_ho) == y_ho).mean())
    metrics = {"heldout_accuracy": acc, "heldout_count": int(len(y_ho)), "classes": CLASSES,
               "confusion": confusion.tolist(), "train_count": int(len(y_tr)), "seed": seed,
               "evaluated_under": "flight session configuration, batch 1"}
    with open(out_dir / "hazard-cnn.metrics.json", "w") as fh:
        json.dump(metrics, fh, indent=2)
        fh.write("\n")
    n_params = sum(int(a.size) for a in net.p.values()) + sum(int(a.size) for a in net.running.values())
    print(f"hazard-cnn: {onnx_path} ({n_params} float parameters)")
    print(f"  held-out accuracy (flight config, batch 1): {acc:.4f} on {len(y_ho)} patches "
          f"(numpy {numpy_acc:.4f})")
    print(f"  confusion (rows true {CLASSES}):\n{confusion}")
    print(f"  wall time {time.perf_counter() - t0:.1f} s")
    return metrics


def _recalibrate_bn(net: HazardCNN, x: np.ndarray, batch: int = 250) -> None:
    """Exact population mean/var of each BN input over ``x``, layer by layer, at the final weights."""
    for conv, bn, prev in (("conv1.weight", "bn1", None), ("conv2.weight", "bn2", "bn1")):
        s1 = s2 = None
        count = 0
        for start in range(0, len(x), batch):
            h = x[start:start + batch]
            if prev is not None:
                h = net._block(h, "conv1.weight", "bn1", False, [])
            wt = net.p[conv]
            z = (_im2col(h) @ wt.reshape(wt.shape[0], -1).T).astype(np.float64)
            s1 = z.sum(axis=0) if s1 is None else s1 + z.sum(axis=0)
            s2 = (z * z).sum(axis=0) if s2 is None else s2 + (z * z).sum(axis=0)
            count += len(z)
        mean = s1 / count
        net.running[bn + ".mean"] = mean.astype(np.float32)
        net.running[bn + ".var"] = np.maximum(s2 / count - mean * mean, 0.0).astype(np.float32)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=Path, help="output folder")
    ap.add_argument("--seed", type=int, default=0, help="master seed for data, init and shuffling")
    args = ap.parse_args(argv)
    build(args.out, args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
