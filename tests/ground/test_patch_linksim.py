"""The link simulator the uplink tests and `ground uplink --link` use. Run time: < 1 s."""

from __future__ import annotations

import numpy as np
import pytest

from ground._linksim import LinkProfile, LinkSim


def test_a_link_setting_parses_with_rate_suffixes():
    assert LinkProfile.parse("loss=0.1,ber=1e-6,rate=64k,delay=0.25") == LinkProfile(0.1, 1e-6, 64e3, 0.25)
    assert LinkProfile.parse("rate=2M").rate_bps == 2e6


@pytest.mark.parametrize("text", ["loss=1", "ber=-1", "speed=3", "rate=fast", "loss"])
def test_a_bad_link_setting_is_a_one_line_value_error(text):
    with pytest.raises(ValueError, match=r"^link setting|^link settings out of range"):
        LinkProfile.parse(text)


def _run(seed: int) -> list[bytes]:
    link = LinkSim(LinkProfile(loss=0.2, ber=1e-3), np.random.default_rng(seed))
    for i in range(500):
        link.send(bytes([i % 256]) * 100, now=0.0)
    return link.receive(now=1.0)


def test_the_same_seed_gives_the_same_losses_and_bit_errors():
    assert _run(1) == _run(1) and _run(1) != _run(2)


def test_loss_and_bit_errors_happen_at_about_their_rates():
    link = LinkSim(LinkProfile(loss=0.2, ber=1e-3), np.random.default_rng(0))
    for i in range(2000):
        link.send(bytes(100), now=0.0)
    out = link.receive(now=1.0)
    stats = link.statistics()
    assert 0.17 < stats.lost / 2000 < 0.23
    flipped = sum(bin(b).count("1") for p in out for b in p)
    assert 0.8e-3 < flipped / (len(out) * 800) < 1.2e-3


def test_bandwidth_and_delay_set_arrival_times_in_order():
    link = LinkSim(LinkProfile(rate_bps=8000, delay_s=0.5), np.random.default_rng(0))
    link.send(bytes(1000), now=0.0)  # 1 s on the wire at 8 kbit/s
    link.send(bytes(1000), now=0.0)
    assert link.receive(now=1.4) == []
    assert len(link.receive(now=1.5)) == 1 and link.next_arrival() == pytest.approx(2.5)
