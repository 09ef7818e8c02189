"""The uplink receiver end to end: a signed delta over a lossy CFDP link, verified, staged in the
inactive slot; every bad patch refused with its named reason, nothing staged, the active slot
untouched. Run time: about 20 s (20 seeded transfers of ~0.6 s each dominate)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from flight.storage._manifest import seal
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from flight import Replica, check_golden, golden_key, golden_outputs_digest, open_model, sha256_file
from flight.uplink import (
    EVENTS,
    PatchRejected,
    RejectReason,
    UplinkReceiver,
    model_digest,
    sign_patch,
)
from flight.uplink._patch import HEADER_LEN, PatchKind, encode_content, FileEntry
from ground._linksim import LinkProfile
from ground._patch import build_patch, public_key_bytes
from ground._uplink import PatchSender
from harness import BASE, FAST, FINE_TUNED, make_store, pump

SPACECRAFT = 7
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))


@pytest.fixture(scope="module")
def delta_patch() -> bytes:
    return build_patch(BASE, FINE_TUNED, KEY, 2, SPACECRAFT)[0]


class Events(list):
    def __call__(self, name: str, text: str) -> None:
        assert name in EVENTS
        self.append((name, text))

    def names(self) -> list[str]:
        return [n for n, _ in self]


def receiver_for(store, events=None, **kw) -> UplinkReceiver:
    return UplinkReceiver(store, public_key_bytes(KEY), SPACECRAFT, events if events is not None else Events(),
                          timers=FAST, **kw)


def verify_now(receiver: UplinkReceiver, raw: bytes, budget: int = 1 << 30) -> None:
    receiver.receive_file(raw)
    for _ in range(10_000):
        receiver.step(budget)
        if not receiver.busy:
            return
    raise AssertionError("verification never finished")


def outputs_on_golden(model_dir: Path) -> list[bytes]:
    replica = Replica(0, open_model(model_dir))
    return [b"".join(o.tobytes() for o in replica.run(x)) for x in replica.model.golden_inputs]


def test_delta_over_10_percent_loss_and_1e_6_ber_is_staged_in_20_seeded_runs(tmp_path, delta_patch):
    reference = outputs_on_golden(FINE_TUNED)  # the ground's reference for the new model
    base_digest = model_digest(BASE)
    for seed in range(20):
        store = make_store(tmp_path / f"s{seed}")
        events = Events()
        receiver = receiver_for(store, events)
        transfer = pump(PatchSender(delta_patch, seed, FAST), receiver, LinkProfile(loss=0.1, ber=1e-6), seed=seed)
        assert transfer.delivered, f"seed {seed}"
        assert receiver.staged_slot == "B" and receiver.ready_to_activate, f"seed {seed}: {receiver.statistics()}"
        assert model_digest(store.slot_dir("B")) == model_digest(FINE_TUNED)
        assert model_digest(store.slot_dir("A")) == base_digest and store.active() == "A"
        assert outputs_on_golden(store.slot_dir("B")) == reference
        assert events.names()[-1] == "UPLINK_PATCH_STAGED_INF"
        assert receiver.statistics().highest_sequence == 2


def test_the_link_really_lost_and_corrupted_packets(tmp_path, delta_patch):
    """Not vacuous: at 30% loss and a high BER the run needs retransmissions and still stages."""
    store = make_store(tmp_path / "s")
    receiver = receiver_for(store)
    transfer = pump(PatchSender(delta_patch, 1, FAST), receiver, LinkProfile(loss=0.3, ber=5e-5), seed=3)
    assert transfer.up.lost > 0 and transfer.up.corrupted > 0
    assert transfer.retransmissions > 0 and receiver.statistics().pdus_corrupt > 0
    assert transfer.delivered and receiver.staged_slot == "B"


def test_duplicated_and_reordered_packets_do_not_corrupt_the_result(tmp_path, delta_patch):
    rng = np.random.default_rng(5)

    def mangle(packets: list[bytes]) -> list[bytes]:
        doubled = packets + [p for p in packets if rng.random() < 0.5]
        return [doubled[i] for i in rng.permutation(len(doubled))]

    store = make_store(tmp_path / "s")
    receiver = receiver_for(store)
    transfer = pump(PatchSender(delta_patch, 9, FAST), receiver, LinkProfile(loss=0.05), seed=4, mangle=mangle)
    assert transfer.delivered
    assert model_digest(store.slot_dir("B")) == model_digest(FINE_TUNED)


def test_a_shorter_model_replacing_a_longer_one_leaves_no_stale_bytes(tmp_path, delta_patch):
    store = make_store(tmp_path / "s")
    shutil.copytree(BASE.parent / "hazard-cnn", store.root / "B")  # longer files, other names
    receiver = receiver_for(store)
    verify_now(receiver, delta_patch)
    staged = store.slot_dir("B")
    assert sorted(p.name for p in staged.iterdir()) == sorted(p.name for p in FINE_TUNED.iterdir())
    for p in FINE_TUNED.iterdir():
        assert (staged / p.name).read_bytes() == p.read_bytes()
    assert sorted(p.name for p in store.root.iterdir() if p.name.startswith(".")) == []


def test_verification_is_resumable_within_a_small_budget(tmp_path, delta_patch):
    store = make_store(tmp_path / "s")
    receiver = receiver_for(store)
    receiver.receive_file(delta_patch)
    spent = []
    while receiver.busy:
        spent.append(receiver.step(4096))
    assert len(spent) >= 5 and receiver.staged_slot == "B"
    assert max(spent) <= 4096 + 64 * 1024  # at most one unit of work past the budget
    one_go = receiver_for(make_store(tmp_path / "t"))
    one_go.receive_file(delta_patch)
    assert one_go.step(1 << 30) == sum(spent) and not one_go.busy


# --- refusals ----------------------------------------------------------------------------------


def _golden_broken_copy(tmp_path: Path) -> Path:
    """The fine-tuned model with its golden expected outputs nudged and the manifest made
    consistent again: it passes open_model, fails the golden run."""
    out = tmp_path / "golden-broken"
    shutil.copytree(FINE_TUNED, out)
    manifest = yaml.safe_load((out / "manifest.yaml").read_text())
    with np.load(out / "golden.npz") as g:
        data = {k: g[k] for k in g.files}
    key = golden_key("output", "logits")
    data[key] = data[key] + np.float32(1e-3)
    np.savez(out / "golden.npz", **data)
    manifest["golden"]["file_sha256"] = sha256_file(out / "golden.npz")
    manifest["golden"]["outputs_sha256"] = golden_outputs_digest([[v] for v in data[key]])
    (out / "manifest.yaml").write_text(yaml.safe_dump(seal(manifest), sort_keys=False))  # consistent: resealed
    return out


def _zip_bomb() -> bytes:
    content = encode_content((FileEntry("model.onnx", data=b"\0" * (8 << 20)),))
    header = dict(kind=PatchKind.WHOLE, spacecraft=SPACECRAFT, sequence=5, base_sha256=b"\0" * 32,
                  result_sha256=b"\1" * 32)
    raw = bytearray(sign_patch(header, content, KEY.sign))
    # Claim 1 KiB of content in the (re-signed) header: the body inflates to 8 MiB.
    from flight.uplink._patch import _HEADER, SIGNATURE_LEN
    fields = list(_HEADER.unpack_from(raw))
    fields[-1] = 1024
    head = _HEADER.pack(*fields)
    return head + KEY.sign(head) + bytes(raw[HEADER_LEN + SIGNATURE_LEN :])


def _resigned(raw: bytes, **changes) -> bytes:
    """The same content under a header with `changes`, validly signed by the flight's key."""
    from flight.uplink import decode_patch

    patch = decode_patch(raw, KEY.public_key())
    h = patch.header
    fields = dict(kind=h.kind, spacecraft=h.spacecraft, sequence=h.sequence, base_sha256=h.base_sha256,
                  result_sha256=h.result_sha256)
    return sign_patch({**fields, **changes}, encode_content(patch.files), KEY.sign)


def _flip(raw: bytes, bit: int) -> bytes:
    out = bytearray(raw)
    out[bit // 8] ^= 0x80 >> (bit % 8)
    return bytes(out)


CASES = {
    "bad_signature": (lambda t, p: p[:HEADER_LEN] + bytes([p[HEADER_LEN] ^ 1]) + p[HEADER_LEN + 1 :], RejectReason.BAD_SIGNATURE),
    "wrong_key": (lambda t, p: build_patch(BASE, FINE_TUNED, OTHER_KEY, 2, SPACECRAFT)[0], RejectReason.BAD_SIGNATURE),
    "wrong_spacecraft": (lambda t, p: build_patch(BASE, FINE_TUNED, KEY, 2, SPACECRAFT + 1)[0], RejectReason.WRONG_SPACECRAFT),
    "wrong_base": (lambda t, p: build_patch(FINE_TUNED, BASE, KEY, 2, SPACECRAFT)[0], RejectReason.WRONG_BASE),
    "truncated": (lambda t, p: p[:-1], RejectReason.TRUNCATED),
    "header_only": (lambda t, p: p[:HEADER_LEN], RejectReason.TRUNCATED),
    "bit_in_header": (lambda t, p: _flip(p, 8 * 20 + 3), RejectReason.BAD_SIGNATURE),
    "bit_in_body": (lambda t, p: _flip(p, 8 * (len(p) - 10)), RejectReason.BODY_MISMATCH),
    "bit_in_magic": (lambda t, p: _flip(p, 1), RejectReason.MALFORMED),
    "bit_in_length": (lambda t, p: _flip(p, 8 * 123), RejectReason.TRUNCATED),
    "trailing_byte": (lambda t, p: p + b"\0", RejectReason.MALFORMED),
    "oversized": (lambda t, p: p + bytes(40 << 10), RejectReason.OVERSIZED),
    "zip_bomb": (lambda t, p: _zip_bomb(), RejectReason.OVERSIZED),
    "result_mismatch": (lambda t, p: _resigned(p, result_sha256=b"\2" * 32), RejectReason.RESULT_MISMATCH),
    "golden_mismatch": (lambda t, p: build_patch(BASE, _golden_broken_copy(t), KEY, 2, SPACECRAFT)[0], RejectReason.GOLDEN_MISMATCH),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_patch_is_refused_with_its_reason_quarantined_and_nothing_staged(tmp_path, delta_patch, case):
    make, reason = CASES[case]
    bad = make(tmp_path, delta_patch)
    store = make_store(tmp_path / "s")
    before = store.fingerprint()
    events = Events()
    receiver = receiver_for(store, events, max_patch_bytes=32 << 10)
    verify_now(receiver, bad)
    stats = receiver.statistics()
    assert (stats.refusals, stats.last_refusal, stats.verification) == (1, reason.name, "REFUSED")
    assert receiver.staged_slot is None and not receiver.ready_to_activate
    assert store.fingerprint() == before and store.active() == "A"
    assert stats.highest_sequence == 0
    assert events.names() == ["UPLINK_PATCH_REFUSED_ERR"] and events[0][1].startswith(reason.name)
    quarantined = sorted((store.root / "quarantine").iterdir())
    assert [p.suffix for p in quarantined] == [".patch", ".reason"]
    assert quarantined[0].read_bytes() == bad
    assert not any(p.name.startswith(".") for p in store.root.iterdir())


def test_the_same_patch_twice_is_a_replay_and_a_lower_sequence_too(tmp_path, delta_patch):
    store = make_store(tmp_path / "s")
    receiver = receiver_for(store)
    verify_now(receiver, delta_patch)
    assert receiver.staged_slot == "B"
    staged = store.fingerprint()
    verify_now(receiver, delta_patch)
    assert receiver.statistics().last_refusal == "REPLAYED_SEQUENCE"
    verify_now(receiver, build_patch(BASE, FINE_TUNED, KEY, 1, SPACECRAFT)[0])
    stats = receiver.statistics()
    assert (stats.refusals, stats.last_refusal, stats.highest_sequence) == (2, "REPLAYED_SEQUENCE", 2)
    assert store.fingerprint() == staged


def test_a_replay_is_refused_after_a_restart(tmp_path, delta_patch):
    store = make_store(tmp_path / "s")
    verify_now(receiver_for(store), delta_patch)
    again = receiver_for(store)  # a new process on the same store
    verify_now(again, delta_patch)
    assert again.statistics().last_refusal == "REPLAYED_SEQUENCE"


def test_a_corrupt_sequence_record_refuses_every_patch(tmp_path, delta_patch):
    store = make_store(tmp_path / "s")
    (store.root / "uplink-sequence").write_bytes(b"SEQ1" + bytes(12))
    receiver = receiver_for(store)
    verify_now(receiver, delta_patch)
    stats = receiver.statistics()
    assert (stats.last_refusal, stats.highest_sequence, receiver.staged_slot) == ("SEQUENCE_RECORD_CORRUPT", -1, None)


def test_a_patch_refused_over_the_link_reports_its_reason(tmp_path, delta_patch):
    store = make_store(tmp_path / "s")
    receiver = UplinkReceiver(store, public_key_bytes(OTHER_KEY), SPACECRAFT, timers=FAST)
    transfer = pump(PatchSender(delta_patch, 2, FAST), receiver, LinkProfile(loss=0.1), seed=8)
    assert transfer.delivered  # CFDP delivered the file; the flight refused it
    assert receiver.statistics().last_refusal == "BAD_SIGNATURE" and receiver.staged_slot is None


def test_decode_patch_names_the_failed_check_and_never_raises(delta_patch):
    from flight.uplink import decode_patch

    patch = decode_patch(delta_patch, KEY.public_key(), SPACECRAFT)
    assert not isinstance(patch, PatchRejected)
    assert patch.header.kind is PatchKind.DELTA and patch.changed_elements == 410
    for raw in (b"", b"SGPT", bytes(300), delta_patch[:-3]):
        assert isinstance(decode_patch(raw, KEY.public_key()), PatchRejected)


def test_a_transfer_larger_than_the_limit_is_cut_off_and_refused_as_oversized(tmp_path, delta_patch):
    store = make_store(tmp_path / "s")
    events = Events()
    receiver = receiver_for(store, events, max_patch_bytes=2048)
    pump(PatchSender(delta_patch, 4, FAST), receiver, LinkProfile(), seed=0, timeout=10)
    stats = receiver.statistics()
    assert (stats.last_refusal, stats.refusals, receiver.staged_slot) == ("OVERSIZED", 1, None)
    assert "UPLINK_PATCH_REFUSED_ERR" in events.names() and not (store.root / "B").exists()


def test_a_new_transfer_is_received_while_the_last_one_still_waits_for_its_finished_ack(tmp_path, delta_patch):
    """cfdp-py keeps waiting for a lost Finished ACK and would swallow the next transfer."""
    from spacepackets.cfdp import PduFactory
    from spacepackets.cfdp.pdu import AckPdu

    from flight.uplink import unwrap_pdu

    def drop_acks(packets):
        return [p for p in packets if not isinstance(PduFactory.from_raw(unwrap_pdu(p)), AckPdu)]

    store = make_store(tmp_path / "s")
    receiver = receiver_for(store)
    first = PatchSender(delta_patch, 20, FAST)
    pump(first, receiver, LinkProfile(), seed=0, timeout=0.5, mangle=drop_acks)
    assert first.delivered and receiver.busy  # the flight still waits for the ACK it never gets
    second = build_patch(BASE, FINE_TUNED.parent / "lander-continuous", KEY, 3, SPACECRAFT)[0]
    transfer = pump(PatchSender(second, 21, FAST), receiver, LinkProfile(loss=0.1), seed=1)
    assert transfer.delivered and receiver.statistics().finished_abandoned == 1
    assert receiver.statistics().highest_sequence == 3
    assert model_digest(store.slot_dir("B")) == model_digest(FINE_TUNED.parent / "lander-continuous")


def test_accept_packet_never_raises_on_mangled_or_random_packets(tmp_path, delta_patch):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from flight.uplink import wrap_pdu

    sender = PatchSender(delta_patch, 30, FAST)
    real = sender.poll()
    receiver = receiver_for(make_store(tmp_path / "s"))

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(real), st.integers(0, 8 * 1100), st.binary(max_size=40), st.booleans())
    def feed(packet, bit, junk, random_pdu):
        if random_pdu:
            receiver.accept_packet(wrap_pdu(junk or b"\0", 0))
            return
        out = bytearray(packet)
        if bit < 8 * len(out):
            out[bit // 8] ^= 0x80 >> (bit % 8)
        receiver.accept_packet(bytes(out))
        receiver.step(1 << 16)
        receiver.outgoing()

    feed()
    assert receiver.statistics().pdus_corrupt > 0


def test_a_transfer_whose_eof_acks_are_all_lost_is_still_delivered(tmp_path, delta_patch):
    """The Finished PDU proves the EOF arrived; cfdp-py alone would fault the ground's transfer."""
    from spacepackets.cfdp import PduFactory
    from spacepackets.cfdp.pdu import AckPdu, DirectiveType

    from flight.uplink import unwrap_pdu

    store = make_store(tmp_path / "s")
    receiver = receiver_for(store)
    sender = PatchSender(delta_patch, 40, FAST)
    real_outgoing = receiver.outgoing

    def outgoing():
        return [p for p in real_outgoing()
                if not (isinstance(pdu := PduFactory.from_raw(unwrap_pdu(p)), AckPdu)
                        and pdu.directive_code_of_acked_pdu == DirectiveType.EOF_PDU)]

    receiver.outgoing = outgoing
    transfer = pump(sender, receiver, LinkProfile(), seed=0)
    assert transfer.delivered and sender.eof_acks_inferred == 1 and receiver.staged_slot == "B"
