"""Command-line arguments that refuse bad values in one line, shared by `flight` and `ground`.

Every numeric option declares its limits and every path option the kind of path it wants, so bad
input is a usage error (exit 2, one line on stderr) before anything runs, and a test can walk every
option of every subcommand from the parsers alone (each type carries `.limits` or `.kind`).

Path kinds: `file` (an existing file to read), `dir` (an existing folder to read), `new_file` (a file
to write: not a folder, in an existing folder), `out_dir` (a folder to write: not a file),
`model_dir` (a model folder: checked when it is opened, a refusal with exit 1, not a usage error).
"""

from __future__ import annotations

import argparse
import ipaddress
import re
import sys
from pathlib import Path
from typing import Callable, NoReturn

PATH_KINDS = ("file", "dir", "new_file", "out_dir", "model_dir")


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line (`prog: error: ...`), exit 2."""

    def error(self, message: str) -> NoReturn:
        program = self.prog.split()[0]
        # Our types say "must be ..."; read as "--seed must be >= 0, got -1".
        m = re.match(r"argument (\S+): (must .*)$", message)
        if m:
            message = f"{m[1]} {m[2]}"
        sys.stderr.write(f"{program}: error: {message} (see {self.prog} --help)\n")
        sys.exit(2)


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    """An integer in [low, high]."""

    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {value}")
        if value > high:
            raise argparse.ArgumentTypeError(f"must be <= {high}, got {value}")
        return value

    parse.limits = (low, high)  # type: ignore[attr-defined]
    parse.__name__ = "integer"
    return parse


def bounded_float(low: float, high: float) -> Callable[[str], float]:
    """A finite number in [low, high]."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
        if not low <= value <= high:  # also refuses NaN and infinities
            raise argparse.ArgumentTypeError(f"must be in [{low:g}, {high:g}], got {text}")
        return value

    parse.limits = (low, high)  # type: ignore[attr-defined]
    parse.__name__ = "number"
    return parse


port = bounded_int(1, 65535)
seed = bounded_int(0, 2**32 - 1)


def host(text: str) -> str:
    """An IP address literal (the links are loopback UDP; no name lookups)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an IP address such as 127.0.0.1, got {text!r}") from None
    return text


host.kind = "host"  # type: ignore[attr-defined]


def path_arg(kind: str, allow_dash: bool = False) -> Callable[[str], Path | str]:
    """A path of the given kind (see the module docstring); `allow_dash` lets '-' mean stdout."""
    if kind not in PATH_KINDS:
        raise ValueError(f"unknown path kind {kind!r}")

    def parse(text: str) -> Path | str:
        if allow_dash and text == "-":
            return text
        if not text:
            raise argparse.ArgumentTypeError("must be a path, got ''")
        path = Path(text)
        if kind == "file" and not path.is_file():
            raise argparse.ArgumentTypeError(f"{text}: unreadable ({'a folder, not a file' if path.is_dir() else 'no such file'})")
        if kind == "dir" and not path.is_dir():
            raise argparse.ArgumentTypeError(f"{text}: {'a file, not a folder' if path.exists() else 'no such folder'}")
        if kind == "new_file":
            if path.is_dir():
                raise argparse.ArgumentTypeError(f"{text}: is a folder, not a file")
            if not path.resolve().parent.is_dir():
                raise argparse.ArgumentTypeError(f"{text}: folder {path.parent} does not exist")
        if kind == "out_dir" and path.exists() and not path.is_dir():
            raise argparse.ArgumentTypeError(f"{text}: is a file, not a folder")
        return path

    parse.kind = kind  # type: ignore[attr-defined]
    parse.__name__ = "path"
    return parse
