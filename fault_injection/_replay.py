"""`fault-inject replay`: one fault record, run again against a fresh boot of its model.

A record holds every hit (replica, tensor, element, bit, operation), the golden vector, the mode,
and what came out when it was recorded (outcome and output digest); replay applies the same hits
to the same live memory, runs one decision, and says whether both agree bit for bit.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ._campaign import MODES, Experiment, FaultSpec
from ._errors import CampaignError
from ._models import FAULT_MODELS, OPS, TARGETS, FaultRecord


class ReplayError(CampaignError):
    """The record file is unreadable or malformed (the message names the field)."""


def _read_json(path: Path | str) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except OSError as exc:
        raise ReplayError(f"{path}: unreadable ({exc.strerror})") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ReplayError(f"{path}: not a JSON fault record") from None


def load_record(path: Path | str) -> tuple[str, FaultRecord]:
    path = Path(path)
    data = _read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("record"), dict):
        raise ReplayError(f"{path}: expected an object with 'model' and 'record'")
    r: dict[str, Any] = data["record"]
    for key, ok in (("mode", lambda v: v in MODES), ("target", lambda v: v in TARGETS),
                    ("model", lambda v: v in FAULT_MODELS), ("vector", lambda v: isinstance(v, int) and v >= 0),
                    ("hits", lambda v: isinstance(v, list) and v), ("seed", lambda v: isinstance(v, int))):
        if key not in r or not ok(r[key]):
            raise ReplayError(f"{path}: record.{key}: missing or invalid ({r.get(key)!r})")
    for i, h in enumerate(r["hits"]):
        if not isinstance(h, dict) or set(h) != {"replica", "tensor", "element", "bit", "op"} or h["op"] not in OPS:
            raise ReplayError(f"{path}: record.hits[{i}]: expected replica, tensor, element, bit, op")
        if not all(isinstance(h[k], int) and not isinstance(h[k], bool) for k in ("replica", "element", "bit")):
            raise ReplayError(f"{path}: record.hits[{i}]: replica, element and bit must be integers")
    try:
        record = FaultRecord.from_dict(r)
    except TypeError as exc:
        raise ReplayError(f"{path}: record: {exc}") from None
    return str(data.get("model", "")), record


def replay_record(path: Path | str, model: Path | str | None = None) -> dict[str, Any]:
    from ._trials import InferenceTrials

    data = _read_json(path)
    if isinstance(data, dict) and isinstance(data.get("mission"), dict):
        return replay_mission(path, data, model)
    model_dir, record = load_record(path)
    model_dir = str(model) if model is not None else model_dir
    if not model_dir or not (Path(model_dir) / "manifest.yaml").is_file():
        raise ReplayError(f"model {model_dir or '(none)'}: no model folder (manifest.yaml) there; pass --model")
    exp = Experiment(name="replay", kind="inference", model=str(Path(model_dir).resolve()), seed=record.seed,
                     modes=(record.mode,), fault=FaultSpec(record.model), targets=((record.target, 1.0),),
                     trials=1, shard_size=1, deadline_ms=1e9)
    trials = InferenceTrials(exp)
    try:
        _check_hits(trials, record, path)
        outcome, out_digest, _ = trials.run_trial(record.mode, record)
    finally:
        trials.close()
    return {"mode": record.mode, "outcome": outcome, "recorded_outcome": record.outcome,
            "output_sha256": out_digest, "recorded_output_sha256": record.output_sha256,
            "identical": outcome == record.outcome and out_digest == record.output_sha256}


def _check_hits(trials, record: FaultRecord, path) -> None:
    tensors = {"weights": trials.weight_tensors, "output": trials.output_tensors,
               "model-file": trials.file_tensors}.get(record.target, trials.input_tensors)
    by_name = {t.name: t for t in tensors}
    n = 3 if record.mode.startswith("tmr") else (2 if record.mode == "duplex" else 1)
    if record.vector >= len(trials.golden):
        raise ReplayError(f"{path}: record.vector {record.vector}: the model has {len(trials.golden)} golden vectors")
    for i, h in enumerate(record.hits):
        info = by_name.get(h.tensor)
        if info is None:
            raise ReplayError(f"{path}: record.hits[{i}].tensor {h.tensor!r}: not a {record.target} tensor of the model")
        if not 0 <= h.element < info.elements or not 0 <= h.bit < info.itemsize * 8:
            raise ReplayError(f"{path}: record.hits[{i}]: element or bit out of range for {h.tensor}")
        if not (record.target in ("input", "input-before-crc", "model-file") or 0 <= h.replica < n):
            raise ReplayError(f"{path}: record.hits[{i}].replica {h.replica}: {record.mode} has {n} replicas")


def replay_mission(path: Path | str, data: dict[str, Any], model: Path | str | None = None) -> dict[str, Any]:
    """Fly a recorded mission shard again: the same executive configuration, the same episode seeds,
    every recorded upset re-applied at its cycle; compare each episode's outcome and the telemetry."""
    from flight import fly, load_manifest, load_world

    from ._missions import ReplayUpsets, executive_for_shard
    from ._models import Hit

    m = data["mission"]
    for key, ok in (("mode", lambda v: v in MODES), ("first_episode_seed", lambda v: isinstance(v, int)),
                    ("episodes", lambda v: isinstance(v, int) and v > 0), ("upsets", lambda v: isinstance(v, list)),
                    ("outcomes", lambda v: isinstance(v, list)), ("telemetry_sha256", lambda v: isinstance(v, str))):
        if key not in m or not ok(m[key]):
            raise ReplayError(f"{path}: mission.{key}: missing or invalid ({m.get(key)!r})")
    model_dir = str(model) if model is not None else str(data.get("model", ""))
    if not model_dir or not (Path(model_dir) / "manifest.yaml").is_file():
        raise ReplayError(f"model {model_dir or '(none)'}: no model folder (manifest.yaml) there; pass --model")
    log = []
    for i, u in enumerate(m["upsets"]):
        try:
            hits = tuple(Hit(**h) for h in u["hits"])
            log.append((int(u["cycle"]), str(u["target"]), hits))
        except (KeyError, TypeError, ValueError):
            raise ReplayError(f"{path}: mission.upsets[{i}]: expected cycle, target and hits") from None
    exp = Experiment(name="replay", kind="mission", model=str(Path(model_dir).resolve()), seed=0,
                     modes=(m["mode"],), fault=FaultSpec(), targets=(("weights", 1.0),), trials=m["episodes"],
                     shard_size=m["episodes"], deadline_ms=1e9, world=str(data.get("world", "")),
                     flight_config=str(data.get("flight_config", "")))
    world = load_world(exp.world or load_manifest(f"{exp.model}/manifest.yaml").world or "")
    executive = None
    try:
        upsets = ReplayUpsets(log)
        executive = executive_for_shard(exp, m["mode"], world, [upsets])
        summary = fly(executive, world, m["episodes"], m["first_episode_seed"])
        digest = executive.digest.hexdigest()
    finally:
        if executive is not None:
            executive.close()
        world.close()
    outcomes = [e["outcome"] for e in summary.per_episode]
    return {"mode": m["mode"], "episodes": m["episodes"], "upsets": len(log), "outcomes": outcomes,
            "recorded_outcomes": m["outcomes"], "telemetry_sha256": digest,
            "recorded_telemetry_sha256": m["telemetry_sha256"],
            "upsets_not_applied": upsets.skipped,
            "identical": outcomes == m["outcomes"] and digest == m["telemetry_sha256"] and not upsets.skipped}
