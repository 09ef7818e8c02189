"""CRC check values pinned (DESIGN: CRC and scrubbing)."""

import numpy as np

import flight

CHECK = b"123456789"


def test_crc32c_check_value_is_e3069283():
    assert flight.crc32c(CHECK) == 0xE3069283


def test_crc16_ccitt_false_check_value_is_29b1():
    assert flight.crc16_ccitt_false(CHECK) == 0x29B1


def test_crc32_check_value_is_cbf43926():
    assert flight.crc32(CHECK) == 0xCBF43926


def test_crc32c_of_numpy_array_equals_crc32c_of_its_bytes():
    arr = np.random.default_rng(0).standard_normal(1000).astype(np.float32)
    assert flight.crc32c(arr) == flight.crc32c(arr.tobytes())


def test_crc32c_continues_from_a_previous_value():
    assert flight.crc32c(CHECK[4:], flight.crc32c(CHECK[:4])) == 0xE3069283
