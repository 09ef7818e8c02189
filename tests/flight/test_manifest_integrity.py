"""The manifest protects itself: any changed field fails `flight verify` and boot in one line, and a
session block that is not this flight's (settings or onnxruntime version) is refused naming both."""

from __future__ import annotations

import shutil

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import flight
from flight import FLIGHT_SESSION_CONFIG, ManifestError, SlotStore, load_config
from flight._cli import boot_failure, main
from flight.storage._manifest import CRC_KEY, FLIGHT_SESSION_BLOCK, canonical_bytes, check_manifest_crc, seal

# One change per kind of field the flight reads from a manifest.
CHANGES = {
    "output range": lambda m: m["outputs"][0].update(range=[-1e6, 1e6]),
    "input range": lambda m: m["inputs"][0].update(range=[-50.0, 50.0]),
    "version": lambda m: m.update(version="9.9.9"),
    "sequence": lambda m: m.update(sequence=m["sequence"] + 1),
    "chunk size": lambda m: m.update(chunk_size=m["chunk_size"] * 2),
    "session block": lambda m: m["session"].update(intra_op_num_threads=2),
    "world": lambda m: m.update(world="lunar-lander-continuous"),
    "tensor liveness": lambda m: m["tensors"][0].update(live=not m["tensors"][0]["live"]),
    "notes": lambda m: m["notes"].update(optimization_level="basic"),
}


def changed_copy(source, tmp_path, change, reseal=False):
    d = tmp_path / "m"
    shutil.copytree(source, d)
    path = d / "manifest.yaml"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(seal(data) if reseal else data, sort_keys=False, width=100))
    return d


def boot(directory):
    executive = flight.Executive(SlotStore.single(directory), load_config(), actuate=lambda o: None,
                                 fallback=lambda i: None)
    try:
        return boot_failure(executive)
    finally:
        executive.close()


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("kind", sorted(CHANGES))
def test_any_changed_manifest_field_fails_verify_and_boot_naming_the_manifest(kind, mlp_dir, tmp_path, capsys):
    d = changed_copy(mlp_dir, tmp_path, CHANGES[kind])
    assert main(["verify", str(d)]) == 1
    line = one_error_line(capsys)
    assert line.startswith(f"flight: error: {d / 'manifest.yaml'}: changed since it was packaged (CRC-32C 0x")
    failure = boot(d)
    assert f"{d / 'manifest.yaml'}: changed since it was packaged" in failure


def test_the_unchanged_manifest_verifies_and_boots(mlp_dir, capsys):
    """Not vacuous: the same checks pass a manifest nobody changed."""
    assert main(["verify", str(mlp_dir)]) == 0
    assert capsys.readouterr().err == ""
    assert boot(mlp_dir) == ""


def test_a_manifest_without_its_crc_is_refused(mlp_dir, tmp_path):
    d = changed_copy(mlp_dir, tmp_path, lambda m: m.pop(CRC_KEY))
    with pytest.raises(ManifestError, match=r"manifest\.yaml: no manifest_crc32c; repackage the model"):
        flight.open_model(d)


def test_a_resealed_session_from_another_onnxruntime_is_refused_naming_both(mlp_dir, tmp_path, capsys):
    d = changed_copy(mlp_dir, tmp_path, lambda m: m["session"].update(onnxruntime_version="0.1.0"), reseal=True)
    assert main(["verify", str(d)]) == 1
    line = one_error_line(capsys)
    assert line == (f"flight: error: {d / 'manifest.yaml'}.session.onnxruntime_version: the model was packaged "
                    f"under '0.1.0', this flight runs {FLIGHT_SESSION_BLOCK['onnxruntime_version']!r}")
    assert "onnxruntime_version: the model was packaged under '0.1.0'" in boot(d)


def test_a_resealed_session_with_other_settings_is_refused(mlp_dir, tmp_path):
    d = changed_copy(mlp_dir, tmp_path, lambda m: m["session"].update(graph_optimization_level="ORT_ENABLE_ALL"),
                     reseal=True)
    with pytest.raises(ManifestError, match=r"session\.graph_optimization_level: the model was packaged under "
                                            r"'ORT_ENABLE_ALL', this flight runs 'ORT_DISABLE_ALL'$"):
        flight.open_model(d)


def test_the_declared_session_block_is_what_the_engine_builds():
    """Storage declares the flight session (manifests are checked against it) and the engine builds
    its sessions: the options it builds must say what the block says."""
    import onnxruntime as ort

    from flight import flight_session_options

    opts = flight_session_options()
    block = FLIGHT_SESSION_CONFIG
    assert block is FLIGHT_SESSION_BLOCK  # one definition
    assert opts.graph_optimization_level.name == block["graph_optimization_level"]
    assert opts.execution_mode.name == block["execution_mode"]
    assert opts.intra_op_num_threads == block["intra_op_num_threads"]
    assert opts.inter_op_num_threads == block["inter_op_num_threads"]
    assert opts.get_session_config_entry("session.disable_prepacking") == block["session.disable_prepacking"]
    assert block["onnxruntime_version"] == ort.__version__


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_changing_any_scalar_anywhere_in_the_manifest_changes_its_canonical_crc(mlp_dir, data):
    """Property: every leaf of the manifest is covered by the CRC (a change to any one is seen)."""
    manifest = yaml.safe_load((mlp_dir / "manifest.yaml").read_text())
    leaves = []

    def walk(node, path):
        if isinstance(node, dict):
            for k, v in node.items():
                if k != CRC_KEY:
                    walk(v, path + (k,))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, path + (i,))
        else:
            leaves.append(path)

    walk(manifest, ())
    path = data.draw(st.sampled_from(leaves))
    target = manifest
    for key in path[:-1]:
        target = target[key]
    old = target[path[-1]]
    new = data.draw(st.one_of(st.integers(), st.text(max_size=8), st.booleans(), st.none(),
                              st.floats(allow_nan=False)).filter(lambda v: v != old or type(v) is not type(old)))
    before = canonical_bytes(manifest)
    target[path[-1]] = new
    assert canonical_bytes(manifest) != before
    with pytest.raises(ManifestError, match="changed since it was packaged"):
        check_manifest_crc(manifest, "m")
