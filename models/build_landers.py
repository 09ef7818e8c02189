"""Build the two LunarLander policy models by behaviour cloning Gymnasium's heuristic with DAgger.

Why cloning the heuristic: it gives small, well-behaved MLP policies in minutes on a laptop-class
CPU with plain numpy, and the heuristic doubles as the onboard fallback controller, so the model
and the fallback agree on what a good command is.

Why DAgger: plain cloning only sees states the expert visits; a slightly wrong learner drifts into
states it never saw and crashes. DAgger rolls out the learner, asks the expert what it would have
done there, adds those labels and retrains.

Outputs (raw, un-packaged ONNX, opset 17, ir_version 8; the ground packages and compiles them):
    DIR/lander-discrete.onnx     obs float32 [1,8] -> logits float32 [1,4]   (action = argmax)
    DIR/lander-continuous.onnx   obs float32 [1,8] -> action float32 [1,2]   (Tanh, in [-1, 1])
    DIR/lander-<kind>.golden-inputs.npz   key "obs", (16, 1, 8) float32, from heuristic rollouts

Seeds: DAgger rollouts use episode seeds 1000+, model selection 3000+, golden inputs 5000+, so none
overlap the acceptance seeds 0..99. Everything random comes from one numpy Generator built from
``--seed``; the same seed on the same machine rebuilds the same bytes.

Usage: python models/build_landers.py --out DIR [--which discrete|continuous|both] [--seed N]
"""

from __future__ import annotations

import os

# One BLAS thread: multi-threaded reductions may split sums differently from run to run, and
# these matrices are too small to gain from threads anyway. Must precede the numpy import.
if __name__ == "__main__":  # only when run as a script: an importer keeps its own BLAS threading
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable, Sequence  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

_REPO = Path(__file__).resolve().parent.parent
if str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))

from sim.lunar_lander import EpisodeOutcome, LunarLanderWorld  # noqa: E402

OPSET = 17
IR_VERSION = 8
OBS_DIM = 8
SUCCESS_RETURN = 200.0

DAGGER_SEED_BASE = 1000  # training rollouts
SELECT_SEED_BASE = 3000  # model selection between DAgger iterations
GOLDEN_SEED_BASE = 5000  # golden input frames


@dataclass(frozen=True)
class LanderSpec:
    """What distinguishes the two policies: output head, loss and the recipe that meets the bar."""

    kind: str  # "discrete" | "continuous"
    output_name: str
    out_dim: int
    hidden: int
    dagger_iters: int
    episodes_per_iter: int
    epochs_first: int
    epochs_per_iter: int
    select_episodes: int

    @property
    def continuous(self) -> bool:
        return self.kind == "continuous"


SPECS: dict[str, LanderSpec] = {
    "discrete": LanderSpec("discrete", "logits", 4, hidden=64, dagger_iters=8, episodes_per_iter=40,
                           epochs_first=30, epochs_per_iter=10, select_episodes=200),
    "continuous": LanderSpec("continuous", "action", 2, hidden=64, dagger_iters=6, episodes_per_iter=30,
                             epochs_first=30, epochs_per_iter=10, select_episodes=200),
}


# ----------------------------------------------------------------------------------------------
# The MLP in numpy: obs -> Gemm -> Relu -> Gemm -> Relu -> Gemm [-> Tanh]
# ----------------------------------------------------------------------------------------------

class MLP:
    """Two hidden ReLU layers; weights stored (out, in) as the ONNX Gemm(transB=1) wants them."""

    def __init__(self, sizes: Sequence[int], rng: np.random.Generator, tanh_out: bool) -> None:
        self.tanh_out = tanh_out
        self.params: list[np.ndarray] = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            w = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_out, fan_in)).astype(np.float32)
            self.params += [w, np.zeros(fan_out, np.float32)]
        self.params[-2] *= np.float32(0.1)  # small last layer: start near uniform / zero action
        self.mean = np.zeros(sizes[0], np.float32)
        self.std = np.ones(sizes[0], np.float32)
        self._m = [np.zeros_like(p) for p in self.params]
        self._v = [np.zeros_like(p) for p in self.params]
        self._t = 0

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """Output and the activations backprop needs; x is raw (un-normalised) observations."""
        h = (x - self.mean) / self.std
        acts = [h]
        n_layers = len(self.params) // 2
        for i in range(n_layers):
            w, b = self.params[2 * i], self.params[2 * i + 1]
            h = h @ w.T + b
            if i < n_layers - 1:
                h = np.maximum(h, 0.0)
                acts.append(h)
        if self.tanh_out:
            h = np.tanh(h)
        return h, acts

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)[0]

    def backward(self, acts: list[np.ndarray], grad_out: np.ndarray) -> list[np.ndarray]:
        """Gradients of the loss w.r.t. params, given dLoss/d(final pre-activation)."""
        grads: list[np.ndarray] = [np.empty(0)] * len(self.params)
        g = grad_out
        n_layers = len(self.params) // 2
        for i in reversed(range(n_layers)):
            a = acts[i]
            grads[2 * i] = g.T @ a
            grads[2 * i + 1] = g.sum(axis=0)
            if i > 0:
                g = (g @ self.params[2 * i]) * (a > 0)
        return grads

    def adam_step(self, grads: list[np.ndarray], lr: float, b1: float = 0.9, b2: float = 0.999,
                  eps: float = 1e-8) -> None:
        self._t += 1
        c1 = 1.0 - b1 ** self._t
        c2 = 1.0 - b2 ** self._t
        for p, g, m, v in zip(self.params, grads, self._m, self._v):
            m *= b1
            m += (1.0 - b1) * g
            v *= b2
            v += (1.0 - b2) * g * g
            p -= (lr * (m / c1) / (np.sqrt(v / c2) + eps)).astype(np.float32)

    def baked(self) -> list[np.ndarray]:
        """Params with the input normalisation folded into the first layer: W' = W/std, b' = b - W'mean."""
        out = [p.copy() for p in self.params]
        w1 = (self.params[0] / self.std[None, :]).astype(np.float32)
        out[0] = w1
        out[1] = (self.params[1] - w1 @ self.mean).astype(np.float32)
        return out

    def copy(self) -> "MLP":
        clone = object.__new__(MLP)
        clone.tanh_out = self.tanh_out
        clone.params = [p.copy() for p in self.params]
        clone.mean, clone.std = self.mean.copy(), self.std.copy()
        clone._m = [m.copy() for m in self._m]
        clone._v = [v.copy() for v in self._v]
        clone._t = self._t
        return clone


def train(net: MLP, x: np.ndarray, y: np.ndarray, continuous: bool, epochs: int,
          rng: np.random.Generator, batch: int = 256, lr: float = 1e-3) -> float:
    """Minibatch Adam on cross-entropy (discrete labels) or MSE (continuous targets); last epoch's loss."""
    n = len(x)
    loss_sum = 0.0
    for _ in range(epochs):
        order = rng.permutation(n)
        loss_sum = 0.0
        for start in range(0, n, batch):
            idx = order[start:start + batch]
            xb, yb = x[idx], y[idx]
            out, acts = net.forward(xb)
            if continuous:
                diff = out - yb
                loss_sum += float((diff * diff).sum())
                # d/dz of mean squared error through tanh
                g = (2.0 / (len(idx) * yb.shape[1])) * diff * (1.0 - out * out)
            else:
                z = out - out.max(axis=1, keepdims=True)
                p = np.exp(z)
                p /= p.sum(axis=1, keepdims=True)
                loss_sum += float(-np.log(p[np.arange(len(idx)), yb] + 1e-12).sum())
                g = p
                g[np.arange(len(idx)), yb] -= 1.0
                g /= len(idx)
            net.adam_step(net.backward(acts, g.astype(np.float32)), lr)
    return loss_sum / n


# ----------------------------------------------------------------------------------------------
# Rollouts
# ----------------------------------------------------------------------------------------------

def rollout(world: LunarLanderWorld, seed: int, policy: Callable[[np.ndarray], object] | None,
            beta: float, rng: np.random.Generator | None) -> tuple[list[np.ndarray], list[object], EpisodeOutcome]:
    """One episode. Each step acts with the expert with probability beta, else with ``policy``.

    Returns every visited frame, the expert's label for it, and the outcome.
    """
    obs = world.reset(seed)
    frames: list[np.ndarray] = []
    labels: list[object] = []
    done = False
    while not done:
        expert = world.fallback_action(obs)
        frames.append(obs[0].copy())
        labels.append(expert)
        use_expert = policy is None or (beta > 0.0 and rng is not None and rng.random() < beta)
        action = expert if use_expert else policy(obs)
        obs, _, done = world.step(action)
    return frames, labels, world.outcome()


def numpy_policy(net: MLP, world: LunarLanderWorld) -> Callable[[np.ndarray], object]:
    return lambda obs: world.action_from_outputs([net(obs)])


def score(outcomes: Sequence[EpisodeOutcome]) -> tuple[int, float]:
    """(episodes with return >= 200, mean return): the acceptance measure."""
    good = sum(o.episode_return >= SUCCESS_RETURN for o in outcomes)
    return good, float(np.mean([o.episode_return for o in outcomes]))


def dagger(spec: LanderSpec, rng: np.random.Generator, log: Callable[[str], None]) -> MLP:
    """DAgger with a decaying expert mixture; returns the iterate best on the selection seeds."""
    world = LunarLanderWorld(continuous=spec.continuous)
    net = MLP([OBS_DIM, spec.hidden, spec.hidden, spec.out_dim], rng, tanh_out=spec.continuous)
    xs: list[np.ndarray] = []
    ys: list[object] = []
    next_seed = DAGGER_SEED_BASE
    select_seeds = range(SELECT_SEED_BASE, SELECT_SEED_BASE + spec.select_episodes)
    best: tuple[tuple[int, float], MLP] | None = None
    try:
        for it in range(spec.dagger_iters + 1):
            beta = 1.0 if it == 0 else 0.5 ** it
            for _ in range(spec.episodes_per_iter):
                frames, labels, _ = rollout(world, next_seed, None if it == 0 else numpy_policy(net, world),
                                            beta, rng)
                next_seed += 1
                xs.extend(frames)
                ys.extend(labels)
            x = np.asarray(xs, np.float32)
            y = (np.asarray(ys, np.float32).reshape(-1, spec.out_dim) if spec.continuous
                 else np.asarray(ys, np.int64))
            if it == 0:
                # Normalisation from expert data only, then frozen: it becomes part of layer 1.
                net.mean = x.mean(axis=0).astype(np.float32)
                net.std = np.maximum(x.std(axis=0), 1e-3).astype(np.float32)
            epochs = spec.epochs_first if it == 0 else spec.epochs_per_iter
            loss = train(net, x, y, spec.continuous, epochs, rng)
            sel = score([rollout(world, s, numpy_policy(net, world), 0.0, None)[2] for s in select_seeds])
            log(f"  iter {it}: beta={beta:.3f} samples={len(x)} loss={loss:.4f} "
                f"select {sel[0]}/{spec.select_episodes} mean {sel[1]:.1f}")
            if best is None or sel > best[0]:
                best = (sel, net.copy())
    finally:
        world.close()
    assert best is not None
    log(f"  selected: {best[0][0]}/{spec.select_episodes} on selection seeds")
    return best[1]


# ----------------------------------------------------------------------------------------------
# ONNX export and evaluation under the flight configuration
# ----------------------------------------------------------------------------------------------

def to_onnx(net: MLP, spec: LanderSpec) -> onnx.ModelProto:
    """Gemm(transB=1)+Relu layers, Tanh head for continuous; normalisation baked into layer 1."""
    params = net.baked()
    inits = []
    nodes = []
    cur = "obs"
    n_layers = len(params) // 2
    for i in range(n_layers):
        w_name, b_name = f"fc{i + 1}.weight", f"fc{i + 1}.bias"
        inits += [numpy_helper.from_array(params[2 * i], w_name),
                  numpy_helper.from_array(params[2 * i + 1], b_name)]
        last = i == n_layers - 1
        gemm_out = spec.output_name if (last and not spec.continuous) else f"fc{i + 1}.out"
        nodes.append(helper.make_node("Gemm", [cur, w_name, b_name], [gemm_out], name=f"fc{i + 1}",
                                      transB=1))
        if not last:
            cur = f"relu{i + 1}.out"
            nodes.append(helper.make_node("Relu", [gemm_out], [cur], name=f"relu{i + 1}"))
        elif spec.continuous:
            nodes.append(helper.make_node("Tanh", [gemm_out], [spec.output_name], name="tanh"))
    graph = helper.make_graph(
        nodes, f"lander-{spec.kind}",
        [helper.make_tensor_value_info("obs", TensorProto.FLOAT, [1, OBS_DIM])],
        [helper.make_tensor_value_info(spec.output_name, TensorProto.FLOAT, [1, spec.out_dim])],
        initializer=inits)
    model = helper.make_model(graph, producer_name="seuguard.models.build_landers",
                              opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    model.doc_string = (f"LunarLander-v3 {spec.kind} policy, behaviour-cloned from gymnasium's heuristic "
                        f"with DAgger")
    onnx.checker.check_model(model, full_check=True)
    return model


def flight_session(onnx_path: str | os.PathLike):
    """An onnxruntime session under the flight configuration (what flies, and what golden vectors use)."""
    import onnxruntime as ort

    from flight.engine._session import PROVIDERS, flight_session_options

    return ort.InferenceSession(str(onnx_path), sess_options=flight_session_options(), providers=PROVIDERS)


def evaluate(onnx_path: str | os.PathLike, continuous: bool, seeds: Sequence[int]) -> list[EpisodeOutcome]:
    """Fly the model closed-loop, batch 1, under the flight session configuration, one episode per seed."""
    sess = flight_session(onnx_path)
    in_name = sess.get_inputs()[0].name
    world = LunarLanderWorld(continuous=continuous)
    outcomes: list[EpisodeOutcome] = []
    try:
        for seed in seeds:
            obs = world.reset(int(seed))
            done = False
            while not done:
                obs, _, done = world.step(world.action_from_outputs(sess.run(None, {in_name: obs})))
            outcomes.append(world.outcome())
    finally:
        world.close()
    return outcomes


def golden_inputs(continuous: bool, rng: np.random.Generator, count: int = 16,
                  episodes: int = 4) -> np.ndarray:
    """``count`` frames drawn without replacement from heuristic rollouts on seeds 5000+; (count, 1, 8)."""
    world = LunarLanderWorld(continuous=continuous)
    frames: list[np.ndarray] = []
    try:
        for k in range(episodes):
            frames.extend(rollout(world, GOLDEN_SEED_BASE + k, None, 1.0, None)[0])
    finally:
        world.close()
    pick = np.sort(rng.choice(len(frames), size=count, replace=False))
    return np.stack([frames[i] for i in pick]).astype(np.float32).reshape(count, 1, OBS_DIM)


def build(kind: str, out_dir: Path, seed: int, log: Callable[[str], None] = print) -> dict[str, object]:
    """Train, export, write golden inputs and evaluate one policy; returns the measured results."""
    spec = SPECS[kind]
    # Independent streams per kind, so building one kind alone gives the same bytes as "both".
    rng_train, rng_golden = np.random.default_rng([seed, 0 if kind == "discrete" else 1]).spawn(2)
    t0 = time.perf_counter()
    log(f"lander-{kind}: DAgger, hidden={spec.hidden}, seed={seed}")
    net = dagger(spec, rng_train, log)
    model = to_onnx(net, spec)
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = out_dir / f"lander-{kind}.onnx"
    onnx.save_model(model, str(onnx_path))
    gold = golden_inputs(spec.continuous, rng_golden)
    np.savez(out_dir / f"lander-{kind}.golden-inputs.npz", obs=gold)
    t_train = time.perf_counter() - t0
    outcomes = evaluate(onnx_path, spec.continuous, range(100))
    good, mean_ret = score(outcomes)
    landed = sum(o.outcome == "landed" for o in outcomes)
    n_params = sum(int(np.prod(p.shape)) for p in net.params)
    t_all = time.perf_counter() - t0
    log(f"lander-{kind}: {onnx_path} ({n_params} params)")
    log(f"  flight-config eval, seeds 0..99: return>=200 on {good}/100, outcome landed {landed}/100, "
        f"mean return {mean_ret:.1f}, min {min(o.episode_return for o in outcomes):.1f}")
    log(f"  wall time: train+export {t_train:.1f} s, total {t_all:.1f} s")
    return {"kind": kind, "path": str(onnx_path), "params": n_params, "return_ge_200": good,
            "landed": landed, "mean_return": mean_ret, "wall_s": t_all}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=Path, help="output folder")
    ap.add_argument("--which", choices=["discrete", "continuous", "both"], default="both")
    ap.add_argument("--seed", type=int, default=0, help="master seed for init, shuffling and DAgger mixing")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    kinds = ["discrete", "continuous"] if args.which == "both" else [args.which]
    for kind in kinds:
        build(kind, args.out, args.seed)
    print(f"total wall time {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
