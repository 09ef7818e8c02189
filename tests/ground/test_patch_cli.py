"""`ground keygen`, `ground patch build`, `ground patch inspect` and `ground uplink` as a user runs
them: exit codes, JSON contracts, one-line errors. Run time: about 3 s."""

from __future__ import annotations

import json
import stat
import sys
import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from flight import SlotStore
from flight.uplink import UplinkReceiver, model_digest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "uplink"))

from ground._cli import main  # noqa: E402
from ground._patch import load_public_key  # noqa: E402
from harness import BASE, FAST, FINE_TUNED, UdpFlight, make_store  # noqa: E402


def run(capsys, *argv) -> tuple[int, str, str]:
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # a usage error: argparse exits 2
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def keys(tmp_path, capsys):
    key = tmp_path / "key"
    assert run(capsys, "keygen", "-o", key)[0] == 0
    return key, Path(str(key) + ".pub")


def test_keygen_writes_a_private_key_readable_only_by_its_owner_and_a_public_key(keys):
    key, pub = keys
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert len(bytes.fromhex(pub.read_text().strip())) == 32
    load_public_key(pub)


def test_keygen_refuses_to_overwrite_a_key(keys, capsys):
    code, _, err = run(capsys, "keygen", "-o", keys[0])
    assert code == 1 and err.startswith("ground: error: ") and "exists" in err


def test_patch_build_prints_the_json_contract_and_inspect_verifies_it(tmp_path, keys, capsys):
    key, pub = keys
    patch = tmp_path / "p.bin"
    code, out, _ = run(capsys, "patch", "build", "--base", BASE, "--new", FINE_TUNED, "--key", key, "--seq", 2,
                       "--spacecraft", 7, "-o", patch, "--json")
    report = json.loads(out)
    assert code == 0 and set(report) == {"kind", "patch_bytes", "model_bytes", "changed_elements"}
    assert report["kind"] == "delta" and report["changed_elements"] == 410
    assert report["patch_bytes"] == patch.stat().st_size < report["model_bytes"] / 5
    code, out, _ = run(capsys, "patch", "inspect", patch, "--pub", pub, "--json")
    info = json.loads(out)
    assert code == 0 and info["header"]["sequence"] == 2 and info["header"]["spacecraft"] == 7
    assert info["header"]["result_sha256"] == model_digest(FINE_TUNED).hex()


def test_a_whole_patch_when_the_graph_changes(tmp_path, keys, capsys):
    code, out, _ = run(capsys, "patch", "build", "--base", BASE, "--new", BASE.parent / "lander-continuous",
                       "--key", keys[0], "--seq", 3, "--spacecraft", 7, "-o", tmp_path / "w.bin", "--json")
    assert code == 0 and json.loads(out)["kind"] == "whole"


def test_inspect_exits_1_with_the_reason_for_a_wrong_key_or_a_truncated_patch(tmp_path, keys, capsys):
    key, _ = keys
    patch = tmp_path / "p.bin"
    run(capsys, "patch", "build", "--base", BASE, "--new", FINE_TUNED, "--key", key, "--seq", 2,
        "--spacecraft", 7, "-o", patch)
    other = tmp_path / "other"
    run(capsys, "keygen", "-o", other)
    code, out, err = run(capsys, "patch", "inspect", patch, "--pub", str(other) + ".pub", "--json")
    assert code == 1 and json.loads(out)["reason"] == "BAD_SIGNATURE"
    assert err.strip().endswith("BAD_SIGNATURE: Ed25519 signature does not verify")
    patch.write_bytes(patch.read_bytes()[:-5])
    code, _, err = run(capsys, "patch", "inspect", patch)
    assert code == 1 and "TRUNCATED" in err and len(err.strip().splitlines()) == 1


def test_patch_build_with_a_missing_folder_or_key_is_a_one_line_usage_error(tmp_path, keys, capsys):
    code, _, err = run(capsys, "patch", "build", "--base", tmp_path / "nope", "--new", FINE_TUNED, "--key",
                       keys[0], "--seq", 2, "--spacecraft", 7, "-o", tmp_path / "p")
    assert code == 2 and "no such folder" in err and len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, "patch", "build", "--base", BASE, "--new", FINE_TUNED, "--key", tmp_path / "nokey",
                       "--seq", 2, "--spacecraft", 7, "-o", tmp_path / "p")
    assert code == 2 and "no such file" in err and len(err.strip().splitlines()) == 1
    (tmp_path / "notakey").write_text("hello")
    code, _, err = run(capsys, "patch", "build", "--base", BASE, "--new", FINE_TUNED, "--key", tmp_path / "notakey",
                       "--seq", 2, "--spacecraft", 7, "-o", tmp_path / "p")
    assert code == 1 and "private key" in err


def test_uplink_rejects_a_bad_link_setting_with_exit_2(tmp_path, keys, capsys):
    patch = tmp_path / "p.bin"
    run(capsys, "patch", "build", "--base", BASE, "--new", FINE_TUNED, "--key", keys[0], "--seq", 2,
        "--spacecraft", 7, "-o", patch)
    code, _, err = run(capsys, "uplink", patch, "--link", "loss=2")
    assert code == 2 and "out of range" in err


def test_uplink_over_udp_through_a_lossy_link_is_delivered_and_staged(tmp_path, keys, capsys):
    key, pub = keys
    patch = tmp_path / "p.bin"
    run(capsys, "patch", "build", "--base", BASE, "--new", FINE_TUNED, "--key", key, "--seq", 2,
        "--spacecraft", 7, "-o", patch)
    store = make_store(tmp_path / "store")
    staged = threading.Event()
    receiver = UplinkReceiver(store, bytes.fromhex(pub.read_text().strip()), 7,
                              lambda name, text: name == "UPLINK_PATCH_STAGED_INF" and staged.set(), timers=FAST)
    with UdpFlight(receiver) as flight:
        code, out, err = run(capsys, "uplink", patch, "--tc-port", flight.port, "--link", "loss=0.1,ber=1e-6,rate=1M",
                             "--seed", 3, "--ack-interval", 0.05, "--transaction", 11, "--timeout", 20, "--json")
        assert code == 0, err
        result = json.loads(out)
        assert set(result) == {"delivered", "bytes_on_link", "retransmissions", "seconds"}
        assert result["delivered"] is True and result["bytes_on_link"] >= patch.stat().st_size
        assert staged.wait(10)
    assert receiver.staged_slot == "B"
    assert model_digest(store.slot_dir("B")) == model_digest(FINE_TUNED)
