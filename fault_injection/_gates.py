"""Gates: pass/fail conditions over a campaign summary, for users' CI, and their JUnit XML.

A gate is `LEFT OP RIGHT` where each side is a number or a path into the summary:
`[experiment.]mode.metric[.lower|.upper]`, for example `tmr+scrub.sdc_rate_ci95.upper < 0.001`,
`simplex.sdc > 0`, `solar.tmr+scrub.landed == solar.fault-free.landed`. OP is one of
< <= > >= == !=. A path that names nothing fails the gate with the reason (never silently passes).
"""

from __future__ import annotations

import operator
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._errors import CampaignError

_OPS = {"<=": operator.le, ">=": operator.ge, "==": operator.eq, "!=": operator.ne, "<": operator.lt, ">": operator.gt}
_GATE = re.compile(r"^\s*(\S+)\s*(<=|>=|==|!=|<|>)\s*(\S+)\s*$")
_NUMBER = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")


@dataclass(frozen=True)
class Gate:
    text: str
    left: str
    op: str
    right: str


@dataclass(frozen=True)
class GateResult:
    gate: Gate
    passed: bool
    detail: str  # the values compared, or why the gate could not be evaluated


def parse_gate(text: str, where: str = "gate") -> Gate:
    m = _GATE.match(text)
    if not m:
        raise CampaignError(f"{where}: {text!r} is not 'LEFT OP RIGHT' with OP one of {' '.join(_OPS)}")
    return Gate(text.strip(), m.group(1), m.group(2), m.group(3))


def _modes_of(summary: dict, experiment: str | None) -> dict | None:
    if experiment is None:
        return summary.get("modes")
    exp = summary.get("experiments", {}).get(experiment)
    return exp.get("modes") if exp else None


def resolve(summary: dict, term: str) -> float:
    """A number, or the value a path names in the summary; CampaignError names what is missing."""
    if _NUMBER.match(term):
        return float(term)
    parts = term.split(".")
    experiments = summary.get("experiments", {})
    experiment = None
    if parts[0] in experiments and len(parts) >= 3:
        experiment, parts = parts[0], parts[1:]
    modes = _modes_of(summary, experiment)
    if modes is None:
        raise CampaignError(f"{term}: no results here (experiments: {', '.join(experiments) or 'none'})")
    if parts[0] not in modes:
        raise CampaignError(f"{term}: no mode {parts[0]!r} (modes: {', '.join(modes)})")
    value: Any = modes[parts[0]]
    for p in parts[1:]:
        if isinstance(value, list) and p in ("lower", "upper") and len(value) == 2:
            value = value[0 if p == "lower" else 1]
        elif isinstance(value, dict) and p in value:
            value = value[p]
        else:
            raise CampaignError(f"{term}: no {p!r} there")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CampaignError(f"{term}: not a number")
    return float(value)


def evaluate(gates: tuple[str, ...] | list[str], summary: dict) -> list[GateResult]:
    out = []
    for text in gates:
        gate = parse_gate(text)
        try:
            left, right = resolve(summary, gate.left), resolve(summary, gate.right)
        except CampaignError as exc:
            out.append(GateResult(gate, False, str(exc)))
            continue
        passed = bool(_OPS[gate.op](left, right))
        out.append(GateResult(gate, passed, f"{gate.left} = {left:g}, {gate.right} = {right:g}"))
    return out


def write_junit(path: Path | str, campaign: str, results: list[GateResult], seconds: float = 0.0) -> None:
    """One <testcase> per gate; a failed gate carries a <failure> with the values compared."""
    suite = ET.Element("testsuite", name=f"fault-inject campaign {campaign}", tests=str(len(results)),
                       failures=str(sum(not r.passed for r in results)), errors="0", time=f"{seconds:.3f}")
    for r in results:
        case = ET.SubElement(suite, "testcase", classname=f"campaign.{campaign}", name=r.gate.text, time="0")
        if not r.passed:
            failure = ET.SubElement(case, "failure", message=f"gate failed: {r.gate.text}")
            failure.text = r.detail
        else:
            ET.SubElement(case, "system-out").text = r.detail
    root = ET.Element("testsuites")
    root.append(suite)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
