"""A full verification of an image finds exactly the chunks that were hit, on either code path."""

from __future__ import annotations

import pytest

import flight.engine._weights as weights
from flight import Replica, open_model


@pytest.mark.parametrize("parallel", [False, True], ids=["per-tensor", "two-threads"])
def test_bad_chunks_names_exactly_the_hit_chunks(big_mlp_small_chunks_dir, monkeypatch, parallel):
    if parallel:  # the two-thread path normally starts at 8 MiB; the fixture image is ~280 KiB
        monkeypatch.setattr(weights, "PARALLEL_VERIFY_BYTES", 1)
    image = Replica(0, open_model(big_mlp_small_chunks_dir)).image
    assert image.bad_chunks() == []
    hits = [("w2", 5), ("w2", 40_000), ("b3", 1)]
    for tensor, element in hits:
        image.flip_bit(tensor, element, 7)
    expected = sorted({image.chunk_of(t, e).index for t, e in hits})
    assert sorted(c.index for c in image.bad_chunks()) == expected
    for tensor, element in hits:
        image.flip_bit(tensor, element, 7)
    assert image.bad_chunks() == []
