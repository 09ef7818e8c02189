"""Campaign results as data (summary.json, the `--json` object), Markdown and PNG plots.

Every rate carries its 95% Wilson score interval; the SDC rate also carries the exact one-sided
95% upper bound (Clopper-Pearson), which is what bounds a zero count (zero in 2,995 trials is
below 0.1%). Mission campaigns add landed/crashed/timed-out counts and SDC events per mission-year
with an exact Poisson interval.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flight import load_config, parse_config

from ._runner import CampaignResult
from ._stats import clopper_pearson_upper, poisson_rate_interval, wilson
from ._tally import MISSION_OUTCOMES, OUTCOMES, ModeTally

SECONDS_PER_YEAR = 365.25 * 86_400


def mode_summary(t: ModeTally, exp) -> dict[str, Any]:
    c = t.counts
    n = c["trials"]
    d: dict[str, Any] = {"trials": n, **{k: c[k] for k in OUTCOMES}}
    d["sdc_rate"] = c["sdc"] / n if n else 0.0
    d["sdc_rate_ci95"] = list(wilson(c["sdc"], n)) if n else [0.0, 1.0]
    d["sdc_upper95_one_sided"] = clopper_pearson_upper(c["sdc"], n) if n else 1.0
    d["due_rate"] = c["due"] / n if n else 0.0
    d["due_rate_ci95"] = list(wilson(c["due"], n)) if n else [0.0, 1.0]
    d["targets"] = {tgt: {**c, "trials": sum(c.values())} for tgt, c in t.by_target.items()}
    if exp.kind == "mission":
        m = t.mission
        names = t.outcome_names or MISSION_OUTCOMES
        success = t.success or names[0]
        d["mission_outcomes"] = list(names)  # the world's outcomes (the lander's: landed, crashed, timed_out)
        d.update({k: m.get(k, 0) for k in (*names, "sdc_events", "due_events", "upsets", "cycles")})
        d["success"] = m.get(success, 0)
        d[f"{success}_rate_ci95"] = list(wilson(m.get(success, 0), n)) if n else [0.0, 1.0]
        if exp.environment is not None and m["cycles"]:
            # Exposure in environment time: the flown seconds times the acceleration factor.
            frame_s = (parse_config(exp.flight_config) if exp.flight_config else load_config(None)).schedule.minor_frame_s
            years = m["cycles"] * frame_s * exp.environment.acceleration / SECONDS_PER_YEAR
            d["mission_years"] = years
            d["sdc_events_per_mission_year"] = m["sdc_events"] / years
            d["sdc_events_per_mission_year_ci95"] = list(poisson_rate_interval(m["sdc_events"], years))
    return d


def summarize(result: CampaignResult) -> dict[str, Any]:
    campaign = result.campaign
    experiments = {}
    for exp, per_mode in zip(campaign.experiments, result.tallies):
        modes = {m: mode_summary(t, exp) for m, t in per_mode.items()}
        experiments[exp.name] = {
            "kind": exp.kind,
            "fault": exp.fault.model,
            "targets": dict(exp.targets),
            "environment": exp.environment.name if exp.environment else None,
            "acceleration": exp.environment.acceleration if exp.environment else None,
            "modes": modes,
            "by_bit": {m: t.by_bit for m, t in per_mode.items()},
            "by_tensor": {m: t.by_tensor for m, t in per_mode.items()},
            "by_target": {m: t.by_target for m, t in per_mode.items()},
            "examples": {m: t.examples for m, t in per_mode.items()},
        }
    out: dict[str, Any] = {
        "campaign": campaign.name,
        "trials_per_second": result.trials / result.seconds if result.seconds > 0 else 0.0,
    }
    if not campaign.suite:
        out["modes"] = next(iter(experiments.values()))["modes"]
    out["experiments"] = experiments
    out["seconds"] = result.seconds
    out["executor"] = result.executor
    return out


def contract_json(summary: dict[str, Any]) -> dict[str, Any]:
    """The `--json` object: the contract keys, without the per-bit tables and example records."""
    # Exactly the contract per mode (the rest is in summary.json).
    keep = ("trials", *OUTCOMES, "sdc_rate", "sdc_rate_ci95")

    def slim(modes):  # plus each world's mission outcomes (landed/crashed/timed_out for the lander)
        return {m: {k: v for k, v in d.items() if k in keep or k in d.get("mission_outcomes", ())}
                for m, d in modes.items()}
    out: dict[str, Any] = {"campaign": summary["campaign"], "trials_per_second": summary["trials_per_second"]}
    if "modes" in summary:
        out["modes"] = slim(summary["modes"])
    if len(summary["experiments"]) > 1 or "modes" not in summary:
        out["experiments"] = {n: {"modes": slim(e["modes"])} for n, e in summary["experiments"].items()}
    if "gates" in summary:
        out["gates"] = summary["gates"]
    return out


def _rate_bars(ax, modes: dict[str, dict], labels: list[str], outcomes) -> None:
    """One group of bars per mode: each outcome's rate over the mode's trials, with its Wilson 95%
    interval as the error bar (the outcome-rate and the mission-outcome plots alike)."""
    for k, outcome in enumerate(outcomes):
        n = [modes[m]["trials"] for m in labels]
        rates = [modes[m][outcome] / t if t else 0 for m, t in zip(labels, n)]
        ci = [wilson(modes[m][outcome], t) if t else (0, 0) for m, t in zip(labels, n)]
        err = [[max(0.0, r - lo) for r, (lo, _) in zip(rates, ci)], [max(0.0, hi - r) for r, (_, hi) in zip(rates, ci)]]
        ax.bar([i + (k - 1) * 0.27 for i in range(len(labels))], rates, width=0.27, yerr=err, capsize=3,
               label=outcome.replace("_", " "))


def _mission_names(modes: dict[str, dict]) -> list[str]:
    return next(iter(modes.values()), {}).get("mission_outcomes", list(MISSION_OUTCOMES))


def _table(modes: dict[str, dict], mission: bool) -> list[str]:
    names = _mission_names(modes)
    cols = ["mode", "trials", *OUTCOMES, "SDC rate [95% CI]"] + ([*(n.replace("_", " ") for n in names), "upsets"] if mission else [])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for m, d in modes.items():
        lo, hi = d["sdc_rate_ci95"]
        row = [m, str(d["trials"]), *(str(d[k]) for k in OUTCOMES), f"{d['sdc_rate']:.4%} [{lo:.4%}, {hi:.4%}]"]
        if mission:
            row += [*(str(d[k]) for k in names), str(d["upsets"])]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def text_table(summary: dict[str, Any]) -> str:
    """The outcome table for a terminal."""
    lines = []
    for name, e in summary["experiments"].items():
        mission = e["kind"] == "mission"
        lines.append(f"{name} ({e['kind']}, {e['fault']} on {', '.join(e['targets'])}"
                     + (f", {e['environment']} x{e['acceleration']:g}" if e["environment"] else "") + ")")
        head = f"  {'mode':10s} {'trials':>7s} " + " ".join(f"{k:>9s}" for k in OUTCOMES) + "  SDC rate [95% CI]"
        names = _mission_names(e["modes"])
        if mission:
            head += "         " + " ".join(f"{k[:9]:>9s}" for k in names)
        lines.append(head)
        for m, d in e["modes"].items():
            lo, hi = d["sdc_rate_ci95"]
            row = f"  {m:10s} {d['trials']:7d} " + " ".join(f"{d[k]:9d}" for k in OUTCOMES)
            row += f"  {d['sdc_rate']:7.3%} [{lo:.3%}, {hi:.3%}]"
            if mission:
                row += " " + " ".join(f"{d[k]:9d}" for k in names)
            lines.append(row)
    return "\n".join(lines)


def write_report(directory: Path | str, summary: dict[str, Any], gate_results=None) -> list[Path]:
    """summary.json, report.md and one PNG per plot; returns the files written."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = [directory / "summary.json"]
    written[0].write_text(json.dumps(summary, indent=1, sort_keys=False))
    pngs = _plots(directory, summary)
    written += pngs
    md = [f"# Fault-injection campaign: {summary['campaign']}", "",
          f"{summary['trials_per_second']:.0f} trials/s on {summary['executor']}, {summary['seconds']:.1f} s.", ""]
    for name, e in summary["experiments"].items():
        md += [f"## {name}", "", f"Kind: {e['kind']}; fault model: {e['fault']}; targets: "
               + ", ".join(f"{k} ({v:g})" for k, v in e["targets"].items())
               + (f"; environment: {e['environment']} accelerated {e['acceleration']:g}x" if e["environment"] else ""), ""]
        md += _table(e["modes"], e["kind"] == "mission") + [""]
        targets = {m: t for m, t in e["by_target"].items() if len(t) > 1}
        if targets:
            md += ["By target:", "", "| mode | target | " + " | ".join(OUTCOMES) + " |", "|" + "---|" * (2 + len(OUTCOMES))]
            for m, per in targets.items():
                for tgt, c in per.items():
                    md.append(f"| {m} | {tgt} | " + " | ".join(str(c[k]) for k in OUTCOMES) + " |")
            md.append("")
        for p in pngs:
            if p.stem.startswith(name + "-"):
                md += [f"![{p.stem}]({p.name})", ""]
    if gate_results:
        md += ["## Gates", "", "| gate | result | values |", "|---|---|---|"]
        md += [f"| `{r.gate.text}` | {'pass' if r.passed else 'FAIL'} | {r.detail} |" for r in gate_results]
    (directory / "report.md").write_text("\n".join(md) + "\n")
    written.append(directory / "report.md")
    return written


def _plots(directory: Path, summary: dict[str, Any]) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    for name, e in summary["experiments"].items():
        modes = e["modes"]
        fig, ax = plt.subplots(figsize=(7, 3.5))
        labels = list(modes)
        _rate_bars(ax, modes, labels, ("sdc", "due", "corrected"))
        ax.set_xticks(range(len(labels)), labels)
        ax.set_ylabel("rate (95% Wilson CI)")
        ax.set_title(f"{name}: outcome rates by redundancy mode")
        ax.legend()
        fig.tight_layout()
        path = directory / f"{name}-outcomes.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        files.append(path)
        if e["kind"] == "mission":
            fig, ax = plt.subplots(figsize=(7, 3.5))
            _rate_bars(ax, modes, labels, _mission_names(modes))
            ax.set_xticks(range(len(labels)), labels)
            ax.set_ylabel("fraction of episodes (95% CI)")
            env = f" under {e['environment']} x{e['acceleration']:g}" if e["environment"] else ""
            ax.set_title(f"{name}: mission outcomes{env}")
            ax.legend()
            fig.tight_layout()
            path = directory / f"{name}-landings.png"
            fig.savefig(path, dpi=90)
            plt.close(fig)
            files.append(path)
        if e["kind"] == "inference" and any(e["by_bit"].values()):
            for key, title in (("by_bit", "bit position"), ("by_tensor", "tensor")):
                fig, ax = plt.subplots(figsize=(8, 3.5))
                for m, table in e[key].items():
                    keys = sorted(table, key=lambda x: int(x) if str(x).isdigit() else x)
                    if not keys:
                        continue
                    rates = [table[x][1] / table[x][0] if table[x][0] else 0 for x in keys]
                    ax.plot([str(x) for x in keys], rates, marker="o", label=m)
                ax.set_xlabel(title)
                ax.set_ylabel("SDC rate")
                ax.set_title(f"{name}: SDC rate by {title}")
                ax.legend()
                if key == "by_tensor":
                    plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
                fig.tight_layout()
                path = directory / f"{name}-sdc-{key.replace('_', '-')}.png"
                fig.savefig(path, dpi=90)
                plt.close(fig)
                files.append(path)
    return files
