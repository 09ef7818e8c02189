"""docs/requirements.csv: every requirement has a unique id and is verified by tests that exist.

Tests are found by reading the test files' syntax trees (module-level `test_*` functions and the
methods of `Test*` classes), so a renamed or deleted test breaks this check, not a later audit."""

from __future__ import annotations

import ast
import csv
import re
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / "docs" / "requirements.csv"
COLUMNS = ["id", "text", "rationale", "tests"]
ID = re.compile(r"^[A-Z]+-[0-9]+$")


def read_requirements(path: Path = CSV) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == COLUMNS, f"{path.name}: columns {reader.fieldnames}, expected {COLUMNS}"
        return list(reader)


@lru_cache(maxsize=None)
def defined_tests(path: Path) -> frozenset[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test_"):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            names.update(f"{node.name}::{m.name}" for m in node.body
                         if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef)) and m.name.startswith("test_"))
    return frozenset(names)


def missing_tests(entries: str, root: Path = ROOT) -> list[str]:
    """Each `path::test` entry that does not name an existing test, with why."""
    problems = []
    for entry in entries.split():
        path, sep, name = entry.partition("::")
        if not sep or not name:
            problems.append(f"{entry}: not path::test_name")
        elif not path.startswith("tests/") or not (root / path).is_file():
            problems.append(f"{entry}: no test file {path}")
        elif name not in defined_tests(root / path):
            problems.append(f"{entry}: no test {name} in {path}")
    return problems


REQUIREMENTS = read_requirements()


def duplicates(ids: list[str]) -> list[str]:
    return sorted(i for i in set(ids) if ids.count(i) > 1)


def test_requirement_ids_are_unique_and_well_formed():
    ids = [r["id"] for r in REQUIREMENTS]
    assert len(ids) >= 20
    assert [i for i in ids if not ID.match(i)] == []
    assert duplicates(ids) == []


@pytest.mark.parametrize("req", REQUIREMENTS, ids=lambda r: r["id"])
def test_every_requirement_is_stated_and_verified_by_tests_that_exist(req):
    assert req["text"].strip() and req["rationale"].strip(), f"{req['id']}: text and rationale are required"
    assert req["tests"].split(), f"{req['id']}: no test verifies it"
    assert missing_tests(req["tests"]) == []


def test_the_check_catches_a_missing_test_a_missing_file_and_a_bad_entry():
    entries = ("tests/test_requirements.py::test_requirement_ids_are_unique_and_well_formed "
               "tests/test_requirements.py::test_that_does_not_exist tests/nowhere.py::test_x just_a_name")
    assert missing_tests(entries) == [
        "tests/test_requirements.py::test_that_does_not_exist: no test test_that_does_not_exist in "
        "tests/test_requirements.py",
        "tests/nowhere.py::test_x: no test file tests/nowhere.py",
        "just_a_name: not path::test_name",
    ]


def test_duplicate_ids_and_wrong_columns_are_caught(tmp_path):
    assert duplicates(["A-1", "B-1", "A-1", "C-2", "B-1"]) == ["A-1", "B-1"]
    bad = tmp_path / "requirements.csv"
    bad.write_text("id,text,tests\nA-1,x,y\n")
    with pytest.raises(AssertionError, match=r"columns \['id', 'text', 'tests'\]"):
        read_requirements(bad)
