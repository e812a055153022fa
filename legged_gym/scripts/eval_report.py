"""The tracking benchmark's results (`eval.json` of `legged_gym/scripts/eval.py`): their metric keys, the
console table, the comparison of two results (the student target's verdict) and the per-clip plot.

Shared by `eval.py`, which measures, and `eval_compare.py`, which compares two finished results; it
needs no environment. The keys are documented in eval.py's docstring.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Dict, List, Tuple

from legged_gym.gym_utils.helpers import UsageError

#: the keys of every clip row and of the summary, in table order
METRIC_KEYS = (
    "success_rate",
    "completion",
    "mpkpe_global_mm",
    "mpkpe_local_mm",
    "mpkpe_global_all_mm",
    "mpkpe_local_all_mm",
    "joint_error_rad",
    "root_vel_error_mps",
    "root_drift_m",
    "root_lag_m",
    "root_drift_lateral_m",
    "root_heading_error_rad",
)
#: the parts of root_drift_m: reported and compared, but not in the student target's within-25 % check
#: (the drift itself is; a signed lag near 0 has no meaningful ratio)
DRIFT_PARTS = ("root_lag_m", "root_drift_lateral_m")
#: CMG evals: the keys of every command row and of the summary after METRIC_KEYS, in table order
CMG_KEYS = (
    "cmd_vel_error_mps",
    "cmd_mean_vel_error_mps",
    "cmd_vel_error_rel",
    "cmd_mean_vel_error_rel",
    "yaw_rate_error_radps",
    "cmd_mean_yaw_rate_error_radps",
)
#: the relative CMG keys -> the absolute key each divides by the row's commanded speed
RELATIVE_KEYS = {"cmd_vel_error_rel": "cmd_vel_error_mps", "cmd_mean_vel_error_rel": "cmd_mean_vel_error_mps"}


SHORT = {
    "success_rate": "success",
    "completion": "compl",
    "mpkpe_global_mm": "kb_g_mm",
    "mpkpe_local_mm": "kb_l_mm",
    "mpkpe_global_all_mm": "all_g_mm",
    "mpkpe_local_all_mm": "all_l_mm",
    "joint_error_rad": "joint_rad",
    "root_vel_error_mps": "vel_mps",
    "root_drift_m": "drift_m",
    "root_lag_m": "lag_m",
    "root_drift_lateral_m": "lat_m",
    "root_heading_error_rad": "head_rad",
    "cmd_vel_error_mps": "cmd_mps",
    "cmd_mean_vel_error_mps": "cmdmn_mps",
    "cmd_vel_error_rel": "cmd_rel",
    "cmd_mean_vel_error_rel": "cmdmn_rel",
    "yaw_rate_error_radps": "yaw_radps",
    "cmd_mean_yaw_rate_error_radps": "yawmn_rps",
}


def row_kind(result: dict) -> Tuple[str, str, List[Dict[str, Any]], Tuple[str, ...]]:
    """(rows' list key, their index key, the rows, the metric keys) of an eval.json: "clips" / "clip"
    with METRIC_KEYS, or a CMG eval's "commands" / "row" with METRIC_KEYS and CMG_KEYS."""
    if "commands" in result:
        return "commands", "row", result["commands"], METRIC_KEYS + CMG_KEYS
    return "clips", "clip", result["clips"], METRIC_KEYS


def format_table(result: dict) -> str:
    """One row per clip (per command, with the CMG keys, for a CMG eval), a mean row and its standard
    errors (`standard_error`, when K >= 2), the median and 90th-percentile clip (`over_clips`, clip
    evals), then one row per folder group (if any); "-" for a value that is None."""
    kind, index, rows_of, keys = row_kind(result)
    width = 22 if kind == "commands" else 20  # vx2.00_vy-0.50_wz0.00
    head = "{:>4} {:<{w}}".format(index, "name", w=width) + "".join("{:>10}".format(SHORT[k]) for k in keys)
    lines = [head, "-" * len(head)]
    rows = [(str(r[index]), r["name"], r) for r in rows_of] + [("", "mean", result["summary"])]
    se = result.get("summary_standard_error")
    if se is not None and any(v is not None for v in se.values()):
        rows.append(("", "standard error", {k: se.get(k) for k in keys}))
    spread = result.get("summary_over_clips") or {}
    for stat, label in (("median", "median clip"), ("p90", "90th pct clip")):
        if any(spread.get(k) for k in keys):
            rows.append(("", label, {k: (spread.get(k) or {}).get(stat) for k in keys}))
    rows += [("", "{}/ ({})".format(name, r["clips"]), r) for name, r in result.get("groups", {}).items()]
    for i, name, r in rows:
        cells = ("{:>10}".format("-") if r[k] is None else "{:>10.3f}".format(r[k]) for k in keys)
        lines.append("{:>4} {:<{w}}".format(i, name[:width], w=width) + "".join(cells))
    causes = result["summary"].get("failure_causes")
    if causes:
        lines.append(
            "episodes ended by (share of envs, mean over {}): ".format(kind)
            + ", ".join("{} {:.3f}".format(k, v) for k, v in causes.items())
        )
    return "\n".join(lines)


#: metrics where more is better (the others are errors: less is better)
HIGHER_IS_BETTER = ("success_rate", "completion")
#: the student target of the tracking benchmark: within 25 % of its teacher on every metric (README)
STUDENT_TOLERANCE = 0.25
#: a difference between two evaluations counts as beyond their sampling noise above this many standard errors
NOISE_SE = 2.0


def compare_summaries(this: dict, other: dict) -> Dict[str, dict]:
    """Per metric (METRIC_KEYS, then the CMG keys either run has) of two eval.json results: this run's
    and the other's value, the difference and ratio (this / other; None where the other is 0), whether
    this one is within STUDENT_TOLERANCE of the other on the worse side (success and completion >= 0.75 x
    the other's, errors <= 1.25 x; None for the DRIFT_PARTS), the difference's standard error
    sqrt(se_this^2 + se_other^2) from both runs' "summary_standard_error" and whether the difference is
    beyond NOISE_SE of them (`beyond_noise`); values None where either run has none (an eval.json of K = 1
    or from before the standard errors, or a key an older eval.json lacks)."""
    a_sum, b_sum = this["summary"], other.get("summary", {})
    a_se, b_se = this.get("summary_standard_error") or {}, other.get("summary_standard_error") or {}
    keys = METRIC_KEYS + tuple(k for k in CMG_KEYS if k in a_sum or k in b_sum)
    out = {}
    for k in keys:
        a, b = a_sum.get(k), b_sum.get(k)
        row = {
            "this": a,
            "other": b,
            "difference": None,
            "ratio": None,
            "within_tolerance": None,
            "difference_standard_error": None,
            "beyond_noise": None,
        }
        if a is not None and b is not None:
            bound = (1.0 - STUDENT_TOLERANCE) * b if k in HIGHER_IS_BETTER else (1.0 + STUDENT_TOLERANCE) * b
            row.update(
                difference=a - b,
                ratio=a / b if b != 0 else None,
                within_tolerance=None
                if k in DRIFT_PARTS
                else bool(a >= bound if k in HIGHER_IS_BETTER else a <= bound),
            )
            if a_se.get(k) is not None and b_se.get(k) is not None:
                se = math.hypot(a_se[k], b_se[k])
                row.update(difference_standard_error=se, beyond_noise=bool(abs(a - b) > NOISE_SE * se))
        out[k] = row
    return out


def comparison_record(this: dict, other: dict, other_file: str) -> dict:
    """What an eval.json stores under "compared_with": the other result's file, the tolerance and
    `compare_summaries` of the two."""
    return {"file": other_file, "tolerance": STUDENT_TOLERANCE, "metrics": compare_summaries(this, other)}


def read_eval_result(folder: str, flag: str) -> dict:
    """FOLDER/eval.json, the result of an earlier evaluation; a UsageError naming FLAG and the file when
    it is missing, is not JSON or holds no "summary" mapping."""
    path = Path(folder) / "eval.json"
    if not path.is_file():
        raise UsageError("{} {}: no eval.json there".format(flag, folder))
    try:
        result = json.loads(path.read_text())
    except ValueError as e:
        raise UsageError("{} {}: {} is not JSON ({})".format(flag, folder, path, e)) from None
    if not isinstance(result, dict) or not isinstance(result.get("summary"), dict):
        raise UsageError('{} {}: {} is not an eval.py result (no "summary" mapping)'.format(flag, folder, path))
    return result


def format_comparison(this: dict, other: dict, other_name: str) -> str:
    """Summary of this run vs another eval.json (`compare_summaries`): metric, this, other, difference
    (this - other), ratio, "yes"/"no" for within 25 % (in_25pct), NOISE_SE standard errors of the
    difference (noise) and "yes"/"no" for a difference beyond them (beyond); "-" where a value is
    missing. A last line gives the verdict over the judged metrics (`tolerance_verdict`)."""
    head = "{:<22}{:>12}{:>12}{:>12}{:>8}{:>10}{:>10}{:>8}".format(
        "metric", "this", "other", "difference", "ratio", "in_25pct", "noise", "beyond"
    )
    lines = ["compared with {}".format(other_name), head, "-" * len(head)]
    yes_no = lambda flag: "-" if flag is None else ("yes" if flag else "no")  # noqa: E731
    rows = compare_summaries(this, other)
    for k, row in rows.items():
        cells = [
            "-" if row[c] is None else ("{:+.3f}" if c == "difference" else "{:.3f}").format(row[c])
            for c in ("this", "other", "difference", "ratio")
        ]
        se = row["difference_standard_error"]
        noise = "-" if se is None else "{:.3f}".format(NOISE_SE * se)
        lines.append(
            "{:<22}{:>12}{:>12}{:>12}{:>8}{:>10}{:>10}{:>8}".format(
                k, *cells, yes_no(row["within_tolerance"]), noise, yes_no(row["beyond_noise"])
            )
        )
    lines.append(tolerance_verdict(rows))
    return "\n".join(lines)


def tolerance_verdict(rows: Dict[str, dict]) -> str:
    """One line over the metrics `compare_summaries` judged (within_tolerance not None): on how many this
    run is within STUDENT_TOLERANCE of the other, and the others by name with their ratio."""
    judged = {k: row for k, row in rows.items() if row["within_tolerance"] is not None}
    if not judged:
        return "within {:.0%}: no metric to judge".format(STUDENT_TOLERANCE)
    missed = [
        k if row["ratio"] is None else "{} (x{:.2f})".format(k, row["ratio"])
        for k, row in judged.items()
        if not row["within_tolerance"]
    ]
    return "within {:.0%} on {} of {} judged metrics{}".format(
        STUDENT_TOLERANCE, len(judged) - len(missed), len(judged), "; not on " + ", ".join(missed) if missed else ""
    )


#: eval.png's panels (key, axis label): per clip, and per command of a CMG eval
PLOT_CLIPS = (
    ("success_rate", "success rate"),
    ("completion", "completion"),
    ("mpkpe_local_mm", "key-body error,\nroot-relative (mm)"),
)
PLOT_COMMANDS = PLOT_CLIPS[:2] + (
    ("cmd_vel_error_rel", "command velocity\nerror / speed"),
    ("cmd_mean_vel_error_rel", "mean velocity\nerror / speed"),
)


def plot(result: dict, path: Path, title: str) -> None:
    """Per-clip bars of success rate, completion and mpkpe_local_mm; per command (CMG eval) of success
    rate, completion and the two relative command errors (no bar where None). Matplotlib, Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kind, _, rows, _ = row_kind(result)
    panels = PLOT_COMMANDS if kind == "commands" else PLOT_CLIPS
    names = [r["name"] for r in rows]
    x = list(range(len(names)))
    figsize = (max(6.0, 0.6 * len(names) + 2.0), 8.0 / 3.0 * len(panels))
    fig, axes = plt.subplots(len(panels), 1, figsize=figsize, sharex=True)
    for ax, (key, label) in zip(axes, panels):
        ax.bar(x, [math.nan if r[key] is None else r[key] for r in rows], color="tab:blue")
        if result["summary"][key] is not None:
            ax.axhline(result["summary"][key], color="tab:red", linestyle="--", linewidth=1, label="mean")
            ax.legend(loc="upper right", fontsize=8)
        ax.set_ylabel(label)
        if key in ("success_rate", "completion"):
            ax.set_ylim(0.0, 1.05)
    axes[-1].set_xticks(x)
    axes[-1].set_xticklabels(names, rotation=45, ha="right", fontsize=8)
    axes[0].set_title(title)
    fig.tight_layout()
    fig.savefig(str(path), dpi=100)
    plt.close(fig)


def clip_differences(this: dict, other: dict, key: str, top: int) -> dict:
    """Where two results differ on one metric `key`: {"key", "kind" ("clips", or "commands" of a CMG
    eval), "groups": {folder group both results have: {"this", "other", "difference"}}, "rows": the `top`
    rows of the same name in both with the largest |this - other|, each {"name", "this", "other",
    "difference"}, "matched": how many rows of the same name both have a value for, "unmatched": the row
    names that only one result has}. A UsageError for a key that is not a metric both results hold (an
    eval.json from before a key was added lacks it), or for two results without a row in common."""
    kind, _, this_rows, this_keys = row_kind(this)
    _, _, other_rows, other_keys = row_kind(other)
    keys = [k for k in this_keys if k in other_keys and k in this["summary"] and k in other["summary"]]
    if key not in keys:
        raise UsageError(
            "--clips {}: not a metric that both results hold (expected one of {})".format(key, ", ".join(keys))
        )
    rows_this = {r["name"]: r for r in this_rows}
    rows_other = {r["name"]: r for r in other_rows}
    common = [n for n in rows_this if n in rows_other]
    if not common:
        raise UsageError("--clips {}: the two results have no {} of the same name".format(key, kind[:-1]))
    diffs: List[Dict[str, Any]] = []
    for name in common:
        a, b = rows_this[name].get(key), rows_other[name].get(key)
        if a is not None and b is not None:
            diffs.append({"name": name, "this": a, "other": b, "difference": a - b})
    diffs.sort(key=lambda d: -abs(d["difference"]))
    groups = {}
    for name, g in (this.get("groups") or {}).items():
        h = (other.get("groups") or {}).get(name)
        if h is not None and g.get(key) is not None and h.get(key) is not None:
            groups[name] = {"this": g[key], "other": h[key], "difference": g[key] - h[key]}
    unmatched = sorted(set(rows_this) ^ set(rows_other))
    return {
        "key": key,
        "kind": kind,
        "groups": groups,
        "rows": diffs[:top],
        "matched": len(diffs),
        "unmatched": unmatched,
    }


def format_clip_differences(diff: dict) -> str:
    """`clip_differences` as console lines: the groups, then the rows with the largest difference."""
    line = "{:<32}{:>12}{:>12}{:>12}"

    def values(v: dict) -> List[str]:
        return ["{:.3f}".format(v["this"]), "{:.3f}".format(v["other"]), "{:+.3f}".format(v["difference"])]

    only = "; only in one: " + ", ".join(diff["unmatched"]) if diff["unmatched"] else ""
    lines = ["{} per {} ({} in both{})".format(diff["key"], diff["kind"][:-1], diff["matched"], only)]
    if diff["groups"]:
        lines.append(line.format("group", "this", "other", "difference"))
        lines += [line.format(name, *values(g)) for name, g in diff["groups"].items()]
    lines.append("the {} {} with the largest difference:".format(len(diff["rows"]), diff["kind"]))
    lines.append(line.format("name", "this", "other", "difference"))
    lines += [line.format(r["name"][:31], *values(r)) for r in diff["rows"]]
    return "\n".join(lines)
