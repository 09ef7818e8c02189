"""Every mutant of a valid patch is refused: bit flips, truncations, splices, insertions.

Fast path: `decode_patch` (size, header, signature, spacecraft, body sha256, decompression,
content) refuses each mutant before any model work; a smaller sample goes through the whole
receiver to show it agrees. Run time: about 5 s for 2,400 examples."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from flight import SlotStore
from flight.uplink import PatchRejected, UplinkReceiver, decode_patch
from ground._patch import build_patch, public_key_bytes
from harness import BASE, FAST, FINE_TUNED

SPACECRAFT = 7
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
DELTA = build_patch(BASE, FINE_TUNED, KEY, 3, SPACECRAFT)[0]
WHOLE = build_patch(BASE, FINE_TUNED, KEY, 4, SPACECRAFT, force_whole=True)[0]
VALID = {DELTA, WHOLE}


@st.composite
def mutants(draw) -> bytes:
    raw = draw(st.sampled_from([DELTA, WHOLE]))
    kind = draw(st.sampled_from(["flip", "flips", "truncate", "splice", "insert", "delete", "append"]))
    n = len(raw)
    if kind == "flip":
        bit = draw(st.integers(0, 8 * n - 1))
        out = bytearray(raw)
        out[bit // 8] ^= 0x80 >> (bit % 8)
        return bytes(out)
    if kind == "flips":
        out = bytearray(raw)
        for bit in draw(st.lists(st.integers(0, 8 * n - 1), min_size=2, max_size=8, unique=True)):
            out[bit // 8] ^= 0x80 >> (bit % 8)
        return bytes(out)
    if kind == "truncate":
        return raw[: draw(st.integers(0, n - 1))]
    if kind == "splice":
        other = WHOLE if raw is DELTA else DELTA
        return raw[: draw(st.integers(0, n))] + other[draw(st.integers(0, len(other))) :]
    if kind == "insert":
        at = draw(st.integers(0, n))
        return raw[:at] + draw(st.binary(min_size=1, max_size=16)) + raw[at:]
    if kind == "delete":
        at = draw(st.integers(0, n - 1))
        return raw[:at] + raw[at + draw(st.integers(1, 16)) :]
    return raw + draw(st.binary(min_size=1, max_size=64))


def test_the_valid_patches_decode():
    """Not vacuous: the unmutated patches pass every check the mutants fail."""
    for raw in VALID:
        assert not isinstance(decode_patch(raw, KEY.public_key(), SPACECRAFT), PatchRejected)


@settings(max_examples=2400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutants())
def test_every_mutant_of_a_valid_patch_is_refused(mutant):
    assume(mutant not in VALID)
    result = decode_patch(mutant, KEY.public_key(), SPACECRAFT)
    assert isinstance(result, PatchRejected), "a mutant passed"


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(mutants())
def test_the_receiver_refuses_mutants_and_stages_nothing(mutant):
    assume(mutant not in VALID)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shutil.copytree(BASE, root / "A")
        store = SlotStore.open(root)
        receiver = UplinkReceiver(store, public_key_bytes(KEY), SPACECRAFT, timers=FAST)
        receiver.receive_file(mutant)
        while receiver.busy:
            receiver.step(1 << 30)
        assert receiver.statistics().refusals == 1
        assert receiver.staged_slot is None and not (root / "B").exists()
