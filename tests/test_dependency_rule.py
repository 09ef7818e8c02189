"""The one dependency rule: `flight` never imports `ground`, `fault_injection` or `sim`."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ("ground", "fault_injection", "sim")
FLIGHT_FILES = sorted((ROOT / "flight").rglob("*.py"))
# DESIGN.md, "Layout and the one dependency rule": what flight may import.
ALLOWED_THIRD_PARTY = {"numpy", "onnxruntime", "onnx", "crc32c", "crcmod", "yaml", "spacepackets", "cfdp",
                       "cryptography"}
ALLOWED_THIRD_PARTY |= {"cfdppy", "zstandard"}  # uplink: cfdp-py's import name; zstd for patch bodies
# The command-line front end runs on the operator's terminal, not in the onboard loop: it alone may
# draw tables and progress bars with rich. Nothing onboard imports it.
CLI_ONLY = {"_cli.py": {"rich"}}


def imported_modules(tree: ast.AST, package: str) -> list[tuple[int, str]]:
    """(line, absolute top-level module) of every import anywhere in the file (top level or nested).
    Relative imports are resolved against `package`, so `from .. import ground` counts as ground."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = parts[: len(parts) - (node.level - 1)] if node.level - 1 < len(parts) else []
                if not base:  # beyond the top of the package: `from ..x import y` out of flight
                    found.append((node.lineno, node.module or node.names[0].name))
                    continue
                if node.module:
                    found.append((node.lineno, ".".join(base + [node.module])))
                else:
                    found += [(node.lineno, ".".join(base + [a.name])) for a in node.names]
            else:
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
            "import_module", "__import__"
        ):
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                found.append((node.lineno, node.args[0].value))
    return found


def test_flight_has_source_files():
    assert len(FLIGHT_FILES) >= 10


@pytest.mark.parametrize("path", FLIGHT_FILES, ids=lambda p: p.name)
def test_flight_module_imports_no_ground_fault_injection_or_sim(path):
    package = ".".join(path.relative_to(ROOT).parent.parts)
    tree = ast.parse(path.read_text(), filename=str(path))
    bad = [(line, mod) for line, mod in imported_modules(tree, package) if mod.split(".")[0] in FORBIDDEN]
    assert bad == [], f"{path.relative_to(ROOT)} imports {bad}"


def test_resolving_relative_imports_catches_an_escape_from_flight():
    tree = ast.parse("from .. import ground\nfrom ..sim import x\nfrom . import _crc\nimport sim.lunar_lander\n")
    mods = [m for _, m in imported_modules(tree, "flight")]
    assert mods == ["ground", "sim", "flight._crc", "sim.lunar_lander"]


def test_importing_flight_loads_no_ground_fault_injection_or_sim():
    code = (
        "import flight, sys; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('ground', 'fault_injection', 'sim')); "
        "assert not bad, bad"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("path", FLIGHT_FILES, ids=lambda p: p.name)
def test_flight_module_imports_only_what_design_allows(path):
    """DESIGN.md lists what flight may import: numpy, onnxruntime, onnx, crc32c, crcmod, pyyaml,
    spacepackets, cfdp-py, cryptography (plus the standard library and flight itself)."""
    package = ".".join(path.relative_to(ROOT).parent.parts)
    tree = ast.parse(path.read_text(), filename=str(path))
    bad = []
    for line, mod in imported_modules(tree, package):
        top = mod.split(".")[0]
        if top == "flight" or top in sys.stdlib_module_names or top == "__future__":
            continue
        if top not in ALLOWED_THIRD_PARTY | CLI_ONLY.get(path.name, set()):
            bad.append((line, mod))
    assert bad == [], f"{path.relative_to(ROOT)} imports {bad}"


# --- the layers inside flight (issue 6) ------------------------------------------------------------
# engine: weights, replicas, voter, TMR, scrubber, watchdog; storage: manifest, model folder, slots;
# comms: packets and recordings; executive: the scheduler and its components, which uses them all.
LAYER_FORBIDS = {
    "engine": ("executive", "comms"),
    "storage": ("engine", "executive", "comms"),
    "comms": ("executive", "engine", "storage"),
}
LAYER_FILES = [(layer, p) for layer in LAYER_FORBIDS for p in sorted((ROOT / "flight" / layer).rglob("*.py"))]


def layer_violations(tree: ast.AST, package: str, layer: str) -> list[tuple[int, str]]:
    forbidden = {f"flight.{other}" for other in LAYER_FORBIDS[layer]}
    bad = []
    for line, mod in imported_modules(tree, package):
        parts = mod.split(".")
        if ".".join(parts[:2]) in forbidden:
            bad.append((line, mod))
    return bad


def test_every_layer_has_source_files():
    for layer in LAYER_FORBIDS:
        assert any(p.name != "__init__.py" for lay, p in LAYER_FILES if lay == layer), layer


@pytest.mark.parametrize("layer, path", LAYER_FILES, ids=lambda v: v if isinstance(v, str) else v.name)
def test_a_layer_imports_nothing_of_the_layers_above_it(layer, path):
    package = ".".join(path.relative_to(ROOT).parent.parts)
    tree = ast.parse(path.read_text(), filename=str(path))
    bad = layer_violations(tree, package, layer)
    assert bad == [], f"{path.relative_to(ROOT)} ({layer}) imports {bad}"


def test_the_layer_rule_catches_a_relative_import_of_the_engine_from_storage():
    tree = ast.parse("from ..engine._weights import Chunk\nfrom . import _manifest\nimport flight.comms._packets\n")
    assert layer_violations(tree, "flight.storage", "storage") == [(1, "flight.engine._weights"),
                                                                   (3, "flight.comms._packets")]


@pytest.mark.parametrize("layer", sorted(LAYER_FORBIDS))
def test_importing_a_layer_loads_none_of_the_layers_above_it(layer):
    """Confirmed in a fresh interpreter: importing `flight.<layer>`'s modules directly (not through
    `flight`, whose __init__ loads everything) pulls in no forbidden layer."""
    modules = [f"flight.{layer}.{p.stem}" for lay, p in LAYER_FILES if lay == layer and p.name != "__init__.py"]
    forbidden = [f"flight.{other}" for other in LAYER_FORBIDS[layer]]
    code = (
        "import sys, types, importlib, pathlib\n"
        # A bare `flight` package object, so `import flight.x` does not run flight/__init__.py.
        f"pkg = types.ModuleType('flight'); pkg.__path__ = [str(pathlib.Path({str(ROOT)!r}) / 'flight')]\n"
        "sys.modules['flight'] = pkg\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"bad = sorted(m for m in sys.modules if any(m == f or m.startswith(f + '.') for f in {forbidden!r}))\n"
        "assert not bad, bad\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env)
    assert result.returncode == 0, result.stderr


# --- fault_injection (issue 8): flight and sim only, never ground -------------------------------

FAULT_INJECTION_FILES = sorted((ROOT / "fault_injection").rglob("*.py"))


@pytest.mark.parametrize("path", FAULT_INJECTION_FILES, ids=lambda p: p.name)
def test_fault_injection_module_imports_no_ground(path):
    tree = ast.parse(path.read_text(), str(path))
    bad = [(line, mod) for line, mod in imported_modules(tree, "fault_injection") if mod.split(".")[0] == "ground"]
    assert bad == [], f"{path.name} imports ground at {bad}"
# --- uplink (issue 9) ----------------------------------------------------------------------------
UPLINK_FILES = sorted((ROOT / "flight" / "uplink").glob("*.py"))


@pytest.mark.parametrize("path", UPLINK_FILES, ids=lambda p: p.name)
def test_the_uplink_never_imports_the_executive(path):
    """flight.uplink is a component the executive wires in: it may use storage, comms and the
    engine's replica, never the executive itself (or a cycle appears)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    bad = [(line, mod) for line, mod in imported_modules(tree, "flight.uplink")
           if mod.startswith("flight.executive") or mod in ("flight._fly", "flight._serve", "flight._cli")]
    assert bad == [], f"{path.relative_to(ROOT)} imports {bad}"


def test_the_uplink_rule_sees_the_uplink_files():
    assert len(UPLINK_FILES) >= 6
