"""The tracking benchmark's results (`eval.json` of `legged_gym/scripts/eval.py`): their metric keys, the
console table, the comparison of two results (the student target's verdict) and the per-clip plot.

Shared by `eval.py`, which measures, and `eval_compare.py`, which compares two finished results; it
needs no environment. The keys are documented in eval.py's docstring.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

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
    "root_drift_per_10s_m",
    "root_lag_m",
    "root_drift_lateral_m",
    "root_heading_error_rad",
)
#: reported and compared, but not in the student target's within-25 % check, where root_drift_m itself is:
#: the drift scaled to 10 s of clip (the same drift, per clip) and its two parts (a signed lag near 0 has
#: no meaningful ratio)
UNJUDGED = ("root_drift_per_10s_m", "root_lag_m", "root_drift_lateral_m")
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
    "root_drift_per_10s_m": "drift_10s",
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


def mean_over(rows: List[Dict[str, Any]], keys: Sequence[str]) -> Dict[str, Optional[float]]:
    """Mean over `rows` of each key, leaving out the rows where it is None or missing (None when all are)."""
    out: Dict[str, Optional[float]] = {}
    for key in keys:
        values = [r[key] for r in rows if r.get(key) is not None]
        out[key] = float(sum(values) / len(values)) if values else None
    return out


def repeated_files_warning(files: Sequence[str]) -> Optional[str]:
    """One warning line when a clip file is listed more than once (a motion set whose manifest names it
    twice, e.g. to weight it up for training): each listing is played as a row of its own ("name (2)") and
    counts as a clip in the summary's means. None otherwise."""
    repeated = {f: n for f, n in Counter(os.path.abspath(f) for f in files).items() if n > 1}
    if not repeated:
        return None
    first = next(iter(repeated))
    return (
        "WARNING: {} clip file(s) listed more than once (e.g. {}, {} times): each listing is a row of its own "
        "and counts as a clip in the summary's means; list each file once to weigh clips alike".format(
            len(repeated), first, repeated[first]
        )
    )


def unique_clip_names(names: Sequence[str], files: Sequence[str]) -> List[str]:
    """The row names of clips (`MotionLib.motion_names`: file stems) and their files: the stem, unless other
    files share it (the same stem in two folders, e.g. a segment and its mirror set's namesake); those get
    their file's path relative to the folder the sharing files have in common ("lafan/walk1_seg000.pkl",
    "lafan_120fps/walk1_seg000.pkl"), and a file listed twice gets " (2)", " (3)" after the later ones
    (its first listing keeps the name it would have alone)."""
    out = list(names)
    paths = [os.path.abspath(f) for f in files]
    for name in dict.fromkeys(names):
        ids = [i for i, n in enumerate(names) if n == name]
        sharing = list(dict.fromkeys(paths[i] for i in ids))  # the distinct files of this stem
        if len(sharing) > 1:
            root = os.path.commonpath([os.path.dirname(f) for f in sharing])
            for i in ids:
                out[i] = Path(os.path.relpath(paths[i], root)).as_posix()
    seen: Dict[str, int] = {}
    for i, name in enumerate(out):
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            out[i] = "{} ({})".format(name, seen[name])
    return out


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
    rows = [(str(r[index]), r["name"], r) for r in rows_of] + [("", "mean", result["summary"])]
    se = result.get("summary_standard_error")
    if se is not None and any(v is not None for v in se.values()):
        rows.append(("", "standard error", {k: se.get(k) for k in keys}))
    spread = result.get("summary_over_clips") or {}
    for stat, label in (("median", "median clip"), ("p90", "90th pct clip")):
        if any(spread.get(k) for k in keys):
            rows.append(("", label, {k: (spread.get(k) or {}).get(stat) for k in keys}))
    rows += [("", "{}/ ({})".format(name, r["clips"]), r) for name, r in result.get("groups", {}).items()]
    width = max(len(name) for _, name, _ in rows + [("", "name", {})])  # whole names: segments differ at their end
    head = "{:>4} {:<{w}}".format(index, "name", w=width) + "".join("{:>10}".format(SHORT[k]) for k in keys)
    lines = [head, "-" * len(head)]
    for i, name, r in rows:
        cells = ("{:>10}".format("-") if r[k] is None else "{:>10.3f}".format(r[k]) for k in keys)
        lines.append("{:>4} {:<{w}}".format(i, name, w=width) + "".join(cells))
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
    the other's, errors <= 1.25 x; None for the UNJUDGED keys), the difference's standard error
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
                within_tolerance=None if k in UNJUDGED else bool(a >= bound if k in HIGHER_IS_BETTER else a <= bound),
            )
            if a_se.get(k) is not None and b_se.get(k) is not None:
                se = math.hypot(a_se[k], b_se[k])
                row.update(difference_standard_error=se, beyond_noise=bool(abs(a - b) > NOISE_SE * se))
        out[k] = row
    return out


def teacher_task(task: str) -> str:
    """The task of a student task's teacher (g1_stu_rl -> g1_priv_mimic, g1_stu_rl_cmg_fast -> g1_cmg_fast),
    a teacher task itself: a student compared with its teacher is the student target, not a mismatch."""
    return {"g1_stu_rl": "g1_priv_mimic"}.get(task, task.replace("g1_stu_rl_cmg_", "g1_cmg_"))


def row_names(result: dict) -> Optional[List[str]]:
    """The names of a result's rows (its clips, or a CMG eval's commands); None when it has none to tell."""
    rows = result.get("commands", result.get("clips"))
    names = [r.get("name") for r in rows] if isinstance(rows, list) else []
    return names if names and all(isinstance(n, str) for n in names) else None


def comparison_scope(this: dict, other: dict) -> Tuple[dict, dict, List[str], Optional[int]]:
    """(this, other, warnings, shared): what `comparison_record` judges. A warning line for each difference
    in what the two evaluations measured, where both results record it: tasks that are neither the same nor
    a student's and its teacher's (`teacher_task`), another --rand, another motion_file, other row names.
    With other row names (another clip set, or other commands), the two are judged on the rows both hold:
    this and other become their means over those rows (`mean_over`; no standard errors, which need each
    clip's envs) and `shared` their number; else (and when no row is shared) they are the results."""
    warnings = []
    a_task, b_task = this.get("task"), other.get("task")
    if a_task and b_task and teacher_task(a_task) != teacher_task(b_task):
        warnings.append(
            "WARNING: task {} against {}: neither the same task nor a student's and its teacher's".format(
                a_task, b_task
            )
        )
    if this.get("rand") and other.get("rand") and this["rand"] != other["rand"]:
        warnings.append("WARNING: --rand {} against --rand {}: other randomisation".format(this["rand"], other["rand"]))
    a_file, b_file = this.get("motion_file"), other.get("motion_file")
    if a_file and b_file and os.path.normpath(a_file) != os.path.normpath(b_file):
        warnings.append(
            "WARNING: motion_file {} against {}: another motion set (or the same by another path)".format(
                a_file, b_file
            )
        )
    a_names, b_names = row_names(this), row_names(other)
    if a_names is None or b_names is None or sorted(a_names) == sorted(b_names):
        return this, other, warnings, None
    kind = row_kind(this)[0]
    in_a, in_b = set(a_names), set(b_names)
    shared = [n for n in a_names if n in in_b]
    only_a, only_b = [n for n in a_names if n not in in_b], [n for n in b_names if n not in in_a]

    def listed(names: List[str]) -> str:
        return "{} ({}{})".format(len(names), ", ".join(names[:3]), ", ..." if len(names) > 3 else "") if names else "0"

    warning = "WARNING: other {}: {} only in this result, {} only in the other, {} in both".format(
        kind, listed(only_a), listed(only_b), len(shared)
    )
    if not shared:
        warnings.append(warning + ": nothing in common, the summaries are compared as they are")
        return this, other, warnings, None
    warnings.append(warning + ": judged on the {} in both (their means, without standard errors)".format(kind))
    keys = [k for k in METRIC_KEYS + CMG_KEYS if k in this["summary"] or k in other.get("summary", {})]

    def restricted(result: dict) -> dict:
        rows = [r for r in row_kind(result)[2] if r["name"] in in_a & in_b]
        return {"summary": mean_over(rows, keys)}

    return restricted(this), restricted(other), warnings, len(shared)


def comparison_record(this: dict, other: dict, other_file: str) -> dict:
    """What an eval.json stores under "compared_with": the other result's file, the tolerance, the warnings
    and the number of shared rows judged (None: the whole results) of `comparison_scope`, and
    `compare_summaries` of what it judges."""
    a, b, warnings, shared = comparison_scope(this, other)
    return {
        "file": other_file,
        "tolerance": STUDENT_TOLERANCE,
        "warnings": warnings,
        "shared_rows": shared,
        "metrics": compare_summaries(a, b),
    }


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


def run_source(source: str) -> Optional[Tuple[str, str]]:
    """(FILE.json, RUN) of a `FILE.json:RUN` source (a run of a bench/results file); None for a folder."""
    path, sep, name = source.partition(":")
    return (path, name) if sep and path.endswith(".json") else None


def read_result_source(source: str, flag: str) -> dict:
    """An eval.py result: `FOLDER` (its eval.json, `read_eval_result`) or `FILE.json:RUN`, the run named
    RUN of a bench/results file's "runs" list (where the committed measurements keep their summaries and
    per-clip rows). A UsageError naming FLAG for a file without a runs list, a missing run (the names
    there listed) or a run without a "summary" mapping."""
    run = run_source(source)
    if run is None:
        return read_eval_result(source, flag)
    path, name = run
    try:
        runs = json.loads(Path(path).read_text())["runs"]
        names = [r.get("name") for r in runs]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise UsageError("{} {}: {} is not a bench/results file with a runs list ({})".format(flag, source, path, e))
    if name not in names:
        raise UsageError("{} {}: no run {!r} in {} (runs: {})".format(flag, source, name, path, names))
    result = runs[names.index(name)]
    if not isinstance(result.get("summary"), dict):
        raise UsageError('{} {}: run {!r} of {} has no "summary" mapping'.format(flag, source, name, path))
    return result


def mean_result(results: Sequence[dict], sources: Sequence[str], flag: str) -> dict:
    """The row-by-row mean of several results of the same rows (one run's last checkpoints evaluated alike,
    say, so that a comparison leaves out the spread between checkpoints): the first result's fields, with
    its summary and each row's metrics the means over `results` (`mean_over`; a row keeps only its index,
    name and metrics) and "averaged_over" the sources; no standard errors, spreads or groups. One result is
    returned as it is. A UsageError naming FLAG and the source for a result without rows or with other rows
    (names, in order) than the first's."""
    if len(results) == 1:
        return results[0]
    for result, source in zip(results, sources):
        if not has_rows(result):
            raise UsageError("{} {}: no per-clip rows to average".format(flag, source))
    kind, index, first_rows, keys = row_kind(results[0])
    row_lists = [row_kind(result)[2] for result in results]
    names = [r["name"] for r in first_rows]
    for rows, source in zip(row_lists[1:], sources[1:]):
        if [r["name"] for r in rows] != names:
            raise UsageError(
                "{} {}: other {} than {} (a mean needs the same rows in the same order)".format(
                    flag, source, kind, sources[0]
                )
            )
    rows = [
        dict({index: row[index], "name": row["name"]}, **mean_over([rs[i] for rs in row_lists], keys))
        for i, row in enumerate(first_rows)
    ]
    dropped = ("summary_standard_error", "summary_over_clips", "groups", "odometry", "compared_with")
    merged = {k: v for k, v in results[0].items() if k not in dropped}
    merged["summary"] = mean_over([result["summary"] for result in results], keys)
    merged[kind] = rows
    merged["averaged_over"] = list(sources)
    return merged


def format_comparison(this: dict, other: dict, other_name: str) -> str:
    """Summary of this run vs another eval.json (`comparison_record`): its warnings first, then per metric
    this, other, difference (this - other), ratio, "yes"/"no" for within 25 % (in_25pct), NOISE_SE standard
    errors of the difference (noise) and "yes"/"no" for a difference beyond them (beyond); "-" where a
    value is missing. A last line gives the verdict over the judged metrics (`tolerance_verdict`)."""
    record = comparison_record(this, other, other_name)
    head = "{:<22}{:>12}{:>12}{:>12}{:>8}{:>10}{:>10}{:>8}".format(
        "metric", "this", "other", "difference", "ratio", "in_25pct", "noise", "beyond"
    )
    lines = ["compared with {}".format(other_name)] + record["warnings"] + [head, "-" * len(head)]
    yes_no = lambda flag: "-" if flag is None else ("yes" if flag else "no")  # noqa: E731
    rows = record["metrics"]
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
    verdict = tolerance_verdict(rows)
    if record["shared_rows"] is not None:
        verdict += " (over the {} {} both results hold)".format(record["shared_rows"], row_kind(this)[0])
    lines.append(verdict)
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
    rate, completion and the two relative command errors (no bar where None). Horizontal bars, one panel
    per metric side by side and one row per clip, top to bottom in clip order with their names: the
    figure grows in height with the clips (87 clips: about 12 x 20 inches), not in width. Matplotlib, Agg."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kind, _, rows, _ = row_kind(result)
    panels = PLOT_COMMANDS if kind == "commands" else PLOT_CLIPS
    names = [r["name"] for r in rows]
    y = list(range(len(names)))
    label_in = 0.07 * max(len(n) for n in names)  # room for the names, about 7 points a character
    figsize = (label_in + 3.0 * len(panels) + 0.5, max(3.0, 0.22 * len(names) + 1.5))
    fig, axes = plt.subplots(1, len(panels), figsize=figsize, sharey=True, squeeze=False, constrained_layout=True)
    for ax, (key, label) in zip(axes[0], panels):
        ax.barh(y, [math.nan if r[key] is None else r[key] for r in rows], color="tab:blue")
        if result["summary"][key] is not None:
            ax.axvline(result["summary"][key], color="tab:red", linestyle="--", linewidth=1, label="mean")
            ax.legend(loc="lower right", fontsize=8)
        ax.set_xlabel(label)
        ax.grid(axis="x", alpha=0.3)
        if key in ("success_rate", "completion"):
            ax.set_xlim(0.0, 1.05)
    first = axes[0][0]
    first.set_yticks(y)
    first.set_yticklabels(names, fontsize=8)
    first.set_ylim(len(names) - 0.5, -0.5)  # the first clip on top
    fig.suptitle(title)
    fig.savefig(str(path), dpi=100)
    plt.close(fig)


def has_rows(result: dict) -> bool:
    """Whether a result holds its rows (clips, or a CMG eval's commands); a results file's run may keep only
    its summary."""
    return isinstance(result.get("commands", result.get("clips")), list)


def matched_rows(
    this: dict, other: dict, flag: str
) -> Tuple[str, List[str], Dict[str, dict], Dict[str, dict], List[str]]:
    """(row kind, the metric keys both results hold, this result's rows by name, the other's, the names both
    have in this result's order) of two results whose rows are compared one by one (the same clip, or the
    same CMG command, played by both). A UsageError naming FLAG when a result names several rows alike (an
    eval.json written before clips of one file stem were told apart) or the two share no row name, and for
    a result without rows (a results file's run kept as a summary only)."""
    for result, which in ((this, "this"), (other, "the other")):
        if not has_rows(result):
            raise UsageError("{}: {} result has no per-clip rows".format(flag, which))
    kind, _, this_rows, this_keys = row_kind(this)
    _, _, other_rows, other_keys = row_kind(other)
    keys = [k for k in this_keys if k in other_keys and k in this["summary"] and k in other["summary"]]
    for rows, which in ((this_rows, "this"), (other_rows, "the other")):
        names = [r["name"] for r in rows]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise UsageError(
                "{}: {} result names several {} alike ({}): an eval.json written before clips of the "
                "same file stem were told apart; evaluate again".format(flag, which, kind, ", ".join(repeated))
            )
    rows_this = {r["name"]: r for r in this_rows}
    rows_other = {r["name"]: r for r in other_rows}
    common = [n for n in rows_this if n in rows_other]
    if not common:
        raise UsageError("{}: the two results have no {} of the same name".format(flag, kind[:-1]))
    return kind, keys, rows_this, rows_other, common


def clip_differences(this: dict, other: dict, key: str, top: int) -> dict:
    """Where two results differ on one metric `key`: {"key", "kind" ("clips", or "commands" of a CMG
    eval), "groups": {folder group both results have: {"this", "other", "difference"}}, "rows": the `top`
    rows of the same name in both with the largest |this - other|, each {"name", "this", "other",
    "difference"}, "matched": how many rows of the same name both have a value for, "unmatched": the row
    names that only one result has}. A UsageError for a key that is not a metric both results hold (an
    eval.json from before a key was added lacks it), and those of `matched_rows`."""
    kind, keys, rows_this, rows_other, common = matched_rows(this, other, "--clips {}".format(key))
    if key not in keys:
        raise UsageError(
            "--clips {}: not a metric that both results hold (expected one of {})".format(key, ", ".join(keys))
        )
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
    names = ["group"] + list(diff["groups"]) + [r["name"] for r in diff["rows"]]
    line = "{:<" + str(max(len(n) for n in names) + 1) + "}{:>12}{:>12}{:>12}"  # whole names

    def values(v: dict) -> List[str]:
        return ["{:.3f}".format(v["this"]), "{:.3f}".format(v["other"]), "{:+.3f}".format(v["difference"])]

    only = "; only in one: " + ", ".join(diff["unmatched"]) if diff["unmatched"] else ""
    lines = ["{} per {} ({} in both{})".format(diff["key"], diff["kind"][:-1], diff["matched"], only)]
    if diff["groups"]:
        lines.append(line.format("group", "this", "other", "difference"))
        lines += [line.format(name, *values(g)) for name, g in diff["groups"].items()]
    lines.append("the {} {} with the largest difference:".format(len(diff["rows"]), diff["kind"]))
    lines.append(line.format("name", "this", "other", "difference"))
    lines += [line.format(r["name"], *values(r)) for r in diff["rows"]]
    return "\n".join(lines)


def paired_differences(this: dict, other: dict) -> dict:
    """Per metric both results hold, this minus the other row by row (the same clip played by both, of
    `matched_rows`): {"kind", "rows": how many rows of the same name both have, "unmatched": the names only
    one has, "metrics": {key: {"mean", "standard_error", "lower", "higher", "rows"}}}: the mean of the
    per-row differences, its standard error (their sample standard deviation / sqrt(n); None for one row)
    and how many rows are lower and higher in this result. Pairing removes the spread between clips, which
    a difference of the two summaries carries in full, so a lever's effect on one training seed shows at a
    fraction of the summaries' noise; the spread between training seeds is in neither."""
    kind, keys, rows_this, rows_other, common = matched_rows(this, other, "--paired")
    metrics = {}
    for key in keys:
        d = [
            rows_this[n][key] - rows_other[n][key]
            for n in common
            if rows_this[n].get(key) is not None and rows_other[n].get(key) is not None
        ]
        if not d:
            continue
        mean = sum(d) / len(d)
        se = math.sqrt(sum((x - mean) ** 2 for x in d) / (len(d) - 1) / len(d)) if len(d) > 1 else None
        lower, higher = sum(x < 0 for x in d), sum(x > 0 for x in d)
        metrics[key] = {"mean": mean, "standard_error": se, "lower": lower, "higher": higher, "rows": len(d)}
    return {
        "kind": kind,
        "rows": len(common),
        "unmatched": sorted(set(rows_this) ^ set(rows_other)),
        "metrics": metrics,
    }


def format_paired_differences(paired: dict) -> str:
    """`paired_differences` as console lines: per metric the mean per-row difference, its standard error,
    and the rows lower and higher in this result."""
    only = "; only in one: " + ", ".join(paired["unmatched"]) if paired["unmatched"] else ""
    head = "{:<24}{:>12}{:>12}{:>8}{:>8}".format("metric", "difference", "std_error", "lower", "higher")
    lines = ["paired per {}, this - other ({} in both{})".format(paired["kind"][:-1], paired["rows"], only), head]
    for key, m in paired["metrics"].items():
        se = "-" if m["standard_error"] is None else "{:.4f}".format(m["standard_error"])
        lines.append("{:<24}{:>+12.4f}{:>12}{:>8}{:>8}".format(key, m["mean"], se, m["lower"], m["higher"]))
    return "\n".join(lines)
