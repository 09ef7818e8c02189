"""The public surface of `flight` is what `__all__` claims (trio's test_exports)."""

import types

import flight
import ground


def test_every_name_in_all_exists():
    missing = [name for name in flight.__all__ if not hasattr(flight, name)]
    assert missing == []


def test_all_has_no_duplicates():
    assert len(flight.__all__) == len(set(flight.__all__))


def test_every_public_non_module_name_is_in_all():
    public = {
        name for name, value in vars(flight).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public - set(flight.__all__) == set()
    assert set(flight.__all__) <= public


def test_ground_exports_what_all_claims():
    public = {
        name for name, value in vars(ground).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public == set(ground.__all__)


def test_fault_injection_exports_what_all_claims():
    import fault_injection

    public = {
        name for name, value in vars(fault_injection).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public == set(fault_injection.__all__)
