"""Campaign machinery: statistics, environments, fault records and replay, worker-count
independence, the campaign schema, gates and JUnit, and the CLI's answers to bad input.
(About 25 s, most of it the two-worker run and the CLI subprocesses.)"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from fault_injection._campaign import campaign_from_dict
from fault_injection._environments import load_preset, resolve_environment
from fault_injection._errors import CampaignError
from fault_injection._gates import evaluate, write_junit
from fault_injection._models import FaultRecord, Hit, apply_hits, image_buffers, undo
from fault_injection._replay import replay_record
from fault_injection._report import summarize
from fault_injection._runner import run_campaign
from fault_injection._stats import (
    clopper_pearson_upper,
    leveugle_sample_size,
    poisson_rate_interval,
    wilson,
)
from fault_injection._trials import InferenceTrials

ROOT = Path(__file__).resolve().parents[2]
MODEL = str(ROOT / "models" / "lander-discrete")


# --- statistics -------------------------------------------------------------------------------


@given(n=st.integers(1, 100_000), data=st.data())
def test_the_wilson_interval_contains_the_observed_rate_and_stays_in_0_1(n, data):
    k = data.draw(st.integers(0, n))
    lo, hi = wilson(k, n)
    assert 0.0 <= lo <= k / n <= hi <= 1.0


@given(p=st.floats(0.0, 1.0), n=st.integers(10, 10_000))
def test_the_wilson_interval_shrinks_as_trials_grow_at_the_same_rate(p, n):
    k = round(p * n)
    lo1, hi1 = wilson(k, n)
    lo2, hi2 = wilson(4 * k, 4 * n)
    assert hi2 - lo2 < hi1 - lo1


def test_statistics_match_known_values():
    lo, hi = wilson(0, 3000)
    assert lo == 0.0 and hi == pytest.approx(1.96 ** 2 / (3000 + 1.96 ** 2), rel=1e-3)  # 0.128%: above 0.1%
    assert wilson(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert clopper_pearson_upper(0, 3000) < 0.001 < clopper_pearson_upper(0, 2994)  # the rule of three
    assert clopper_pearson_upper(1, 10) == pytest.approx(0.3942, abs=1e-3)
    assert leveugle_sample_size(0.05) == 384 and leveugle_sample_size(0.01) == 9604
    assert leveugle_sample_size(0.01, population=10_000) < 9604
    assert poisson_rate_interval(0, 1.0)[1] == pytest.approx(3.689, abs=1e-2)
    assert poisson_rate_interval(10, 2.0) == pytest.approx((4.795 / 2, 18.39 / 2), rel=2e-3)  # Garwood


@given(count=st.integers(0, 200_000), exposure=st.floats(1e-3, 1e6))
def test_the_poisson_rate_interval_contains_the_observed_rate(count, exposure):
    lo, hi = poisson_rate_interval(count, exposure)
    assert 0.0 <= lo <= count / exposure <= hi


# --- environments -----------------------------------------------------------------------------


@pytest.mark.parametrize("preset", ["leo", "leo-saa", "lunar", "solar-storm", "geo"])
def test_every_preset_loads(preset):
    env = load_preset(preset)
    assert env.upsets_per_bit_per_day > 0 and env.name == preset


@pytest.mark.parametrize("preset", ["leo", "leo-saa"])
def test_poisson_upset_counts_match_rate_times_bits_times_time(preset):
    env = resolve_environment({"preset": preset, "acceleration": 1000.0})
    bits, seconds = 500_000, 86_400.0
    expected = env.mean_upsets(bits, seconds)
    counts = [len(env.upset_times(np.random.default_rng([3, i]), bits, 0.0, seconds)) for i in range(40)]
    # 40 draws of a Poisson count: the mean is within 4 standard errors of rate x bits x time.
    assert abs(np.mean(counts) - expected) < 4 * math.sqrt(expected / 40)


def test_the_same_seed_draws_the_same_upsets_and_another_seed_does_not():
    env = load_preset("solar-storm")
    a = env.upset_times(np.random.default_rng(1), 400_000, 0.0, 3600.0)
    assert a == env.upset_times(np.random.default_rng(1), 400_000, 0.0, 3600.0)
    assert a != env.upset_times(np.random.default_rng(2), 400_000, 0.0, 3600.0)


# --- records: apply/undo and replay -----------------------------------------------------------


@pytest.fixture(scope="module")
def trials():
    exp = campaign_from_dict({"name": "t", "model": MODEL, "modes": ["simplex", "tmr", "tmr+scrub"],
                              "fault": {"model": "mbu"}, "targets": {"weights": 1, "output": 1, "input": 1},
                              "trials": 10}).experiments[0]
    t = InferenceTrials(exp)
    yield t
    t.close()


@settings(deadline=None, max_examples=60)
@given(seed=st.integers(0, 2**32 - 1))
def test_a_trial_leaves_every_weight_image_byte_for_byte_as_it_found_it(trials, seed):
    before = {red: [r.image.buffer.tobytes() for r in s.replicas] for red, s in trials.stacks.items()}
    rng = np.random.default_rng(seed)
    record = trials.sample(rng, "weights", 0)
    for mode in ("simplex", "tmr", "tmr+scrub"):
        trials.run_trial(mode, record)
    assert before == {red: [r.image.buffer.tobytes() for r in s.replicas] for red, s in trials.stacks.items()}


def test_undo_restores_overlapping_hits_in_reverse(trials):
    stack = next(iter(trials.stacks.values()))
    bufs = image_buffers(stack.replicas)
    before = stack.replicas[0].image.buffer.tobytes()
    hits = [Hit(0, "fc1.bias", 3, 30), Hit(0, "fc1.bias", 3, 30, "set1"), Hit(0, "fc1.bias", 3, 29, "set0")]
    record = apply_hits(bufs, hits)
    assert stack.replicas[0].image.buffer.tobytes() != before
    undo(record)
    assert stack.replicas[0].image.buffer.tobytes() == before


def test_fault_records_survive_json_and_replay_bit_exactly(tmp_path):
    campaign = campaign_from_dict({"name": "r", "model": MODEL, "seed": 5, "modes": ["simplex", "tmr"],
                                   "targets": {"weights": 1, "output": 1}, "trials": 300})
    summary = summarize(run_campaign(campaign, workers=1))
    examples = summary["experiments"]["r"]["examples"]
    replayed = 0
    for mode in ("simplex", "tmr"):
        for outcome, records in examples[mode].items():
            rec = FaultRecord.from_dict(json.loads(json.dumps(records[0])))
            assert rec.to_dict() == records[0]
            path = tmp_path / f"{mode}-{outcome}.json"
            path.write_text(json.dumps({"model": MODEL, "record": records[0]}))
            result = replay_record(path)
            assert result["identical"], (mode, outcome, result)
            replayed += 1
    assert {"sdc", "masked"} <= set(examples["simplex"]) and "corrected" in examples["tmr"] and replayed >= 4


def test_a_replay_whose_recorded_output_differs_is_reported_as_different(tmp_path):
    rec = FaultRecord(0, "weights", "single", (Hit(0, "fc3.bias", 0, 30),), mode="simplex", outcome="masked",
                      output_sha256="0" * 16)
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"model": MODEL, "record": rec.to_dict()}))
    assert replay_record(path)["identical"] is False


def test_a_trial_past_its_deadline_counts_as_a_hang():
    campaign = campaign_from_dict({"name": "h", "model": MODEL, "modes": ["tmr"], "trials": 20, "deadline_ms": 0.001})
    m = summarize(run_campaign(campaign, workers=1))["modes"]["tmr"]
    assert m["hang"] == 20 and m["trials"] == 20


# --- worker-count independence ----------------------------------------------------------------


def test_the_same_seed_gives_the_same_counts_with_one_and_two_workers():
    campaign = campaign_from_dict({"name": "w", "model": MODEL, "seed": 9, "modes": ["simplex", "tmr"],
                                   "trials": 600, "shard_size": 200})
    one = summarize(run_campaign(campaign, workers=1))
    two = summarize(run_campaign(campaign, workers=2))
    strip = lambda s: {m: {k: v for k, v in d.items()} for m, d in s["modes"].items()}  # noqa: E731
    assert strip(one) == strip(two)
    assert one["experiments"]["w"]["by_bit"] == two["experiments"]["w"]["by_bit"]
    assert one["modes"]["simplex"]["sdc"] > 0


def test_mission_counts_do_not_depend_on_the_worker_count_either():
    campaign = campaign_from_dict({"name": "m", "model": MODEL, "seed": 1, "kind": "mission", "modes": ["simplex"],
                                   "environment": {"preset": "solar-storm", "acceleration": 300},
                                   "episodes": 4, "shard_size": 2})
    one = summarize(run_campaign(campaign, workers=1))
    two = summarize(run_campaign(campaign, workers=2))
    assert one["modes"] == two["modes"] and one["modes"]["simplex"]["upsets"] > 0


# --- schema -----------------------------------------------------------------------------------


@pytest.mark.parametrize("change, message", [
    ({"trials": 0}, r"^c\.trials: must be an integer in \[1, 100000000\], got 0$"),
    ({"modes": ["tmr", "quad"]}, r"^c\.modes: must be a list of distinct modes"),
    ({"fault": {"model": "laser"}}, r"^c\.fault\.model: must be one of single, mbu"),
    ({"fault": {"model": "mbu", "bits": 3}}, r"^c\.fault\.bits: unknown key$"),
    ({"targets": {"cache": 1}}, r"^c\.targets\.cache: unknown target"),
    ({"model": "models/nope"}, r"^c\.model: models/nope: no model folder"),
    ({"colour": "red"}, r"^c\.colour: unknown key$"),
    ({"margin": 0.05}, r"^c\.trials: give trials or margin, not both$"),
    ({"kind": "mission"}, r"^c\.environment: missing"),
    ({"targets": {"state": 1}}, r"^c\.targets\.state: only for kind: mission"),
    ({"flight_config": "x.yaml"}, r"^c\.flight_config: only for kind: mission$"),
    ({"kind": "mission", "episodes": 1, "environment": "leo", "flight_config": "nope.yaml"},
     r"^c\.flight_config: 'nope\.yaml': no such file$"),
    ({"kind": "mission", "episodes": 1, "targets": {"input": 1}}, r"^c\.targets\.input: mission campaigns target"),
    ({"gates": ["tmr.sdc is 0"]}, r"^c\.gates\[0\]: 'tmr\.sdc is 0' is not 'LEFT OP RIGHT'"),
])
def test_a_bad_campaign_is_refused_naming_the_key_and_the_reason(change, message):
    base = {"name": "c", "model": MODEL, "trials": 10}
    with pytest.raises(CampaignError, match=message):
        campaign_from_dict({**base, **change}, "c")


def test_a_bad_environment_override_names_its_key():
    with pytest.raises(CampaignError, match=r"^c\.environment\.acceleration: must be a number"):
        campaign_from_dict({"name": "c", "model": MODEL, "kind": "mission", "episodes": 1,
                            "environment": {"preset": "leo", "acceleration": -1}}, "c")
    with pytest.raises(CampaignError, match=r"unknown preset"):
        campaign_from_dict({"name": "c", "model": MODEL, "kind": "mission", "episodes": 1,
                            "environment": "mars"}, "c")


def test_a_margin_sets_the_trials_by_leveugle_over_the_models_fault_population():
    single = campaign_from_dict({"name": "c", "model": MODEL, "margin": 0.01}).experiments[0].trials
    population = 3 * 8 * (2048 + 256 + 16384 + 256 + 1024 + 16)  # every bit of the lander's three images
    assert single == leveugle_sample_size(0.01, population) < 9604
    mbu = campaign_from_dict({"name": "c", "model": MODEL, "margin": 0.05, "fault": {"model": "mbu"}})
    assert mbu.experiments[0].trials == 384


# --- gates ------------------------------------------------------------------------------------


SUMMARY = {"modes": {"tmr": {"sdc": 0, "sdc_rate_ci95": [0.0, 0.0009], "landed": 5},
                     "simplex": {"sdc": 3, "sdc_rate_ci95": [0.01, 0.02], "landed": 4}},
           "experiments": {"x": {"modes": {"tmr": {"sdc": 1}}}}}


def test_gates_compare_paths_and_numbers_and_a_missing_path_fails_with_its_reason(tmp_path):
    results = evaluate(["tmr.sdc_rate_ci95.upper < 0.001", "simplex.sdc > 0", "simplex.landed < tmr.landed",
                        "tmr.sdc != 0", "quad.sdc == 0"], SUMMARY)
    assert [r.passed for r in results] == [True, True, True, False, False]
    assert "no mode 'quad'" in results[4].detail
    write_junit(tmp_path / "j.xml", "c", results, 1.0)
    suite = ET.parse(tmp_path / "j.xml").getroot().find("testsuite")
    assert suite.get("tests") == "5" and suite.get("failures") == "2"
    failed = [c.get("name") for c in suite.findall("testcase") if c.find("failure") is not None]
    assert failed == ["tmr.sdc != 0", "quad.sdc == 0"]


# --- the CLI's answers to bad input -----------------------------------------------------------


def fault_inject(*args, cwd=ROOT):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "fault_injection", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def one_line_error(proc, code, starts):
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(starts), proc.stderr


def test_bad_input_to_every_command_is_one_line_and_a_nonzero_exit(tmp_path):
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("name: [unclosed\n")
    bad_key = tmp_path / "key.yaml"
    bad_key.write_text(yaml.safe_dump({"name": "k", "model": MODEL, "trials": -1}))
    record = tmp_path / "rec.json"
    record.write_text(json.dumps({"model": MODEL, "record": {"mode": "tmr", "target": "weights", "model": "single",
                                  "vector": 0, "seed": 0, "hits": [{"replica": 7, "tensor": "fc1.bias",
                                  "element": 0, "bit": 1, "op": "flip"}]}}))
    cases = [
        (("campaign", str(tmp_path / "missing.yaml")), 1, "fault-inject: error: "),
        (("campaign", str(bad_yaml)), 1, "fault-inject: error: bad.yaml: not valid YAML"),
        (("campaign", str(bad_key)), 1, "fault-inject: error: key.yaml.trials: must be an integer"),
        (("campaign", str(bad_key), "--workers", "0"), 2, "fault-inject: error: --workers must be >= 1"),
        (("campaign",), 2, "usage:"),
        (("replay", str(tmp_path / "none.json")), 1, "fault-inject: error: "),
        (("replay", str(bad_yaml)), 1, "fault-inject: error: "),
        (("replay", str(record)), 1, "fault-inject: error: "),
        (("fly", "--environment", "mars"), 2, "usage:"),
        (("fly", "--episodes", "0"), 2, "fault-inject: error: --episodes must be >= 1"),
        (("fly", "--model", str(tmp_path)), 1, "fault-inject: error: --model"),
    ]
    for args, code, starts in cases:
        proc = fault_inject(*args)
        if starts == "usage:":
            assert proc.returncode == 2 and "Traceback" not in proc.stderr and "error:" in proc.stderr, args
        else:
            one_line_error(proc, code, starts)
    assert "replica 7: tmr has 3 replicas" in fault_inject("replay", str(record)).stderr


def test_fly_under_a_storm_prints_the_same_keys_as_flight_fly():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    ours = fault_inject("fly", "--environment", "solar-storm", "--acceleration", "100", "--redundancy", "tmr+scrub",
                        "--episodes", "1", "--json")
    assert ours.returncode == 0, ours.stderr
    theirs = subprocess.run([sys.executable, "-m", "flight", "fly", "--model", "models/lander-discrete", "--episodes",
                             "1", "--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    a, b = json.loads(ours.stdout), json.loads(theirs.stdout)
    assert set(a) == set(b)
    assert a["chunks_repaired"] > 0  # the storm struck and the scrubber repaired it


def test_a_dask_cluster_given_by_address_gives_the_same_counts_as_one_local_worker():
    import distributed  # the campaign extra, which `make` installs
    campaign = campaign_from_dict({"name": "d", "model": MODEL, "seed": 4, "modes": ["simplex", "tmr"],
                                   "trials": 400, "shard_size": 100})
    local = summarize(run_campaign(campaign, workers=1))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        remote = summarize(run_campaign(campaign, scheduler=cluster.scheduler_address))
    assert remote["modes"] == local["modes"]
    assert remote["executor"].startswith("dask ")



def test_a_mission_record_replays_its_episodes_and_telemetry_bit_exactly_and_a_changed_one_does_not(tmp_path):
    campaign = campaign_from_dict({"name": "mr", "model": MODEL, "seed": 5, "kind": "mission", "modes": ["tmr+scrub"],
                                   "targets": {"weights": 1, "state": 1}, "episodes": 3, "shard_size": 3,
                                   "environment": {"preset": "solar-storm", "acceleration": 300}})
    summary = summarize(run_campaign(campaign, workers=1))
    record = summary["experiments"]["mr"]["examples"]["tmr+scrub"]["mission"][0]
    assert len(record["upsets"]) > 20 and {u["target"] for u in record["upsets"]} == {"weights", "state"}
    path = tmp_path / "mission.json"
    path.write_text(json.dumps({"model": MODEL, "mission": record}))
    assert replay_record(path)["identical"]
    exponent_hits = [i for i, u in enumerate(record["upsets"]) if u["target"] == "weights" and u["hits"][0]["bit"] == 30]
    changed = dict(record, upsets=[u for i, u in enumerate(record["upsets"]) if i not in exponent_hits])
    path.write_text(json.dumps({"model": MODEL, "mission": changed}))
    assert exponent_hits and replay_record(path)["identical"] is False
