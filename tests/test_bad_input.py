"""Bad input to any program: one line on stderr, exit 2 for a usage error and 1 for a refusal, never
a traceback, nothing run.

The walk is driven by the parsers themselves: every subcommand of `flight` and `ground`, every option
and positional argument, with bad values chosen from what the argument declares (the limits of a
number, the kind of a path, the choices, a flag given a value). A new subcommand or option is walked
without touching this file; one that declares nothing checkable fails `test_every_argument_declares_
what_is_valid` until it does (use the types in flight/_cli_args.py) or is listed in FREE_TEXT with
the reason its text cannot be wrong.

In-process (`main(argv)`, SystemExit caught) for speed: about 150 cases in a couple of seconds; a
handful of subprocess cases prove the real entry points behave the same.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import flight._cli
import ground._cli

ROOT = Path(__file__).resolve().parents[1]
PROGRAMS = {"flight": flight._cli, "ground": ground._cli}

# Arguments whose value is free text, with why no value of it is a usage error.
FREE_TEXT = {
    ("ground", "console", "token"): "a secret: any text of 8 or more characters (shorter is refused at start)",
    ("ground", "package", "name"): "the model's name: any text is a name",
    ("ground", "package", "version"): "the model's version: any text is a version",
}
# Arguments of ground/_uplink_cli.py (the uplink helper's module, not edited here): they check their
# values when used, with a one-line refusal, but declare no limits or path kinds yet. Their bad
# values are not walked; each entry must stay truly undeclared (a stale one fails the test), so the
# list only shrinks. To do: give them types from flight/_cli_args.py and delete this list.
NOT_YET_DECLARED: set[tuple[str, str, str]] = set()
# Arguments checked when they are used (a refusal, exit 1), with a bad value and the rest of a
# command line that gets that far without running anything long.
CHECKED_AT_USE = {
    ("flight", "fly", "world"): ("no-such-world", ["--model", "models/lander-discrete", "--episodes", "1"], 1),
    ("flight", "serve", "world"): ("no-such-world", ["--model", "models/lander-discrete", "--cycles", "1"], 1),
    ("ground", "package", "world"): ("no-such-world", ["{tmp}/model.onnx", "-o", "{tmp}/out", "--golden", "2"], 1),
    ("ground", "command", "name"): ("NO_SUCH_COMMAND", [], 2),
    ("ground", "command", "args"): ("x", ["NOOP"], 2),
}
# The rest of a command line for arguments refused at use (model folders).
AT_USE_REST = {"verify": [], "fly": ["--episodes", "1"], "serve": ["--cycles", "1"]}


@dataclass(frozen=True)
class Case:
    program: str
    argv: tuple[str, ...]
    code: int
    why: str

    def __str__(self) -> str:
        return f"{self.program} {' '.join(self.argv)}  [{self.why}]"


def subcommands(parser: argparse.ArgumentParser, prefix: str = "") -> dict[str, argparse.ArgumentParser]:
    """Every leaf subcommand by its words ('fly', 'patch build'), nested ones included."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found = {}
            for name, sub in action.choices.items():
                words = f"{prefix} {name}".strip()
                found.update(subcommands(sub, words) or {words: sub})
            return found
    return {}


def arguments(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))]


def spell(action: argparse.Action, value: str) -> list[str]:
    return [action.option_strings[-1], value] if action.option_strings else [value]


def bad_values(action: argparse.Action, tmp: Path) -> list[tuple[str, int, str]]:
    """(value, expected exit code, what is wrong) for one argument, from what it declares."""
    t = action.type
    limits, kind = getattr(t, "limits", None), getattr(t, "kind", None)
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        return []  # a flag: given a value, see flag_cases
    if action.choices is not None:
        return [("no-such-choice", 2, "not one of the choices"), ("", 2, "empty")]
    if limits is not None:
        low, high = limits
        integer = t.__name__ == "integer"
        out = [("abc", 2, "wrong type"), ("", 2, "empty"), (str(low - 1), 2, "below the limit"),
               (str(high + 1) if integer else repr(high * 10 + 1), 2, "above the limit")]
        out.append(("1.5", 2, "not an integer") if integer else ("nan", 2, "not a number"))
        if low >= 0:
            out.append(("-1", 2, "negative"))
        return out
    if kind == "host":
        return [("not-an-address", 2, "not an IP address"), ("", 2, "empty")]
    folder, file, missing = tmp / "a-folder", tmp / "a-file", tmp / "missing" / "x"
    if kind == "file":
        return [(str(missing), 2, "missing file"), (str(folder), 2, "a folder where a file is expected")]
    if kind == "dir":
        return [(str(missing), 2, "missing folder"), (str(file), 2, "a file where a folder is expected")]
    if kind == "new_file":
        return [(str(folder), 2, "a folder where a file is expected"), (str(missing), 2, "in a missing folder")]
    if kind == "out_dir":
        return [(str(file), 2, "a file where a folder is expected")]
    if kind == "model_dir":
        return [(str(missing), 1, "missing model folder"), (str(file), 1, "a file, not a model folder"),
                (str(folder), 1, "an empty folder, not a model folder")]
    if t is not None and t not in (str, int, float, Path):
        return [("", 2, "empty"), ("abc", 2, "malformed")]  # a parsing function of the program's own
    return []


def walk(tmp: Path) -> list[Case]:
    cases = []
    for program, module in PROGRAMS.items():
        parser = module.build_parser()
        cases.append(Case(program, (), 2, "no subcommand"))
        cases.append(Case(program, ("no-such-subcommand",), 2, "unknown subcommand"))
        for name, sub in subcommands(parser).items():
            words = name.split()
            cases.append(Case(program, (*words, "--no-such-option"), 2, "unknown option"))
            for action in arguments(sub):
                if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
                    cases.append(Case(program, (*words, f"{action.option_strings[-1]}=yes"), 2, "a flag given a value"))
                    continue
                key = (program, name, action.dest)
                if key in NOT_YET_DECLARED:
                    continue
                if key in CHECKED_AT_USE:
                    value, rest, code = CHECKED_AT_USE[key]
                    argv = [*words, *(r.format(tmp=tmp) for r in rest), *spell(action, value)]
                    cases.append(Case(program, tuple(argv), code, f"{action.dest}: checked at use"))
                    continue
                for value, code, why in bad_values(action, tmp):
                    rest = AT_USE_REST.get(name, []) if code == 1 else []
                    if action.option_strings:
                        argv = [*words, *spell(action, value), *rest]
                    elif code == 2 and value.startswith("-"):
                        argv = [*words, "--", value]
                    else:
                        argv = [*words, value, *rest]
                    cases.append(Case(program, tuple(argv), code, f"{action.dest}: {why}"))
    return cases


def undeclared(program: str, name: str, action: argparse.Action) -> bool:
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)) or action.choices is not None:
        return False
    if (program, name, action.dest) in FREE_TEXT or (program, name, action.dest) in CHECKED_AT_USE:
        return False
    t = action.type
    return not (hasattr(t, "limits") or hasattr(t, "kind") or (t is not None and t not in (str, int, float, Path)))


def test_every_argument_declares_what_is_valid():
    found = {(program, name, a.dest)
             for program, module in PROGRAMS.items()
             for name, sub in subcommands(module.build_parser()).items()
             for a in arguments(sub) if undeclared(program, name, a)}
    assert sorted(NOT_YET_DECLARED - found) == [], "declared now: delete them from NOT_YET_DECLARED"
    missing = sorted(found - NOT_YET_DECLARED)
    assert missing == [], ("arguments with nothing to check a value against (give them a type from "
                           f"flight/_cli_args.py, or list them in FREE_TEXT with the reason): {missing}")


@pytest.fixture(scope="module")
def playground(tmp_path_factory, mlp_source):
    tmp = tmp_path_factory.mktemp("bad-input")
    (tmp / "a-folder").mkdir()
    (tmp / "a-file").write_text("not what you want")
    (tmp / "model.onnx").write_bytes(mlp_source.read_bytes())
    return tmp


def run_in_process(program: str, argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        code = PROGRAMS[program].main(argv)
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_every_bad_value_of_every_argument_is_one_line_and_the_right_exit(playground, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    cases = walk(playground)
    assert len(cases) > 100  # the walk found the programs' arguments (not vacuous)
    before = sorted(p.name for p in playground.iterdir())
    failures = []
    for case in cases:
        code, out, err = run_in_process(case.program, list(case.argv), capsys)
        lines = err.splitlines()
        if code != case.code or len(lines) != 1 or not lines[0].startswith(f"{case.program}: error: ") \
                or "Traceback" in err:
            failures.append(f"{case}: exit {code}, stderr {err!r}")
    assert failures == [], "\n".join(failures)
    assert sorted(p.name for p in playground.iterdir()) == before  # nothing written, nothing deleted


def test_the_walk_reaches_every_subcommand(playground):
    walked = {(c.program, " ".join(c.argv[:len(c.argv) - 1])) for c in walk(playground) if c.why == "unknown option"}
    for program, module in PROGRAMS.items():
        for name in subcommands(module.build_parser()):
            assert (program, name) in walked


@pytest.mark.parametrize("program, argv, code, fragment", [
    ("flight", ["fly", "--model", "models/lander-discrete", "--seed", "-1"], 2, "--seed must be >= 0, got -1"),
    ("flight", ["serve", "--model", "models/lander-discrete", "--cycles", "-1"], 2, "--cycles must be >= 0, got -1"),
    ("flight", ["serve", "--tc-port", "70000"], 2, "--tc-port must be <= 65535, got 70000"),
    ("ground", ["monitor", "--tm-port", "0"], 2, "--tm-port must be >= 1, got 0"),
    ("ground", ["package", "models/lander-discrete/model.onnx", "-o", "."], 1,
     "refusing to replace the current folder or one above it"),
])
def test_the_real_entry_points_behave_the_same(program, argv, code, fragment):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-m", program, *argv], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == code
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{program}: error: ") and fragment in lines[0], result.stderr
