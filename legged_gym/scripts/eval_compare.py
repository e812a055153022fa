"""Compare two finished tracking-benchmark results, as `eval.py --compare` does, without playing again.

    python legged_gym/scripts/eval_compare.py eval/S1 eval/T1            # print S1 against T1
    python legged_gym/scripts/eval_compare.py eval/S1 eval/T1 --write    # and store it in eval/S1/eval.json
    python legged_gym/scripts/eval_compare.py eval/S1 eval/T1 --clips root_drift_m [--top 10]   # and where
    python legged_gym/scripts/eval_compare.py eval/T2 eval/T1 --paired      # and the per-clip paired differences
    python legged_gym/scripts/eval_compare.py bench/results/A.json:RUN_A bench/results/B.json:RUN_B --paired
    python legged_gym/scripts/eval_compare.py eval/B_460+eval/B_470 eval/A_490+eval/A_500 --paired   # means

For evaluations that ran at the same time (a student's next to its teacher's), where `--compare` cannot
read the other result yet. Prints THIS's summary against OTHER/eval.json: each metric's difference and
ratio, whether THIS is within 25 % of OTHER on the worse side (the student target against its teacher) and
whether the difference is beyond two standard errors of it (`eval_report.compare_summaries`), then the
verdict line; WARNING lines first for two evaluations that measured different things (another --rand or
motion_file, unrelated tasks, other clips, which are then judged on the clips both hold:
`eval_report.comparison_scope`); `--write` stores the same under "compared_with" in THIS/eval.json, as `eval.py --compare`
would have. It reads results only: no environment is built.

`--clips KEY` also prints where the two differ on metric KEY: per folder group (e.g. the embedded clips
and the LAFAN segments of a combined set) and the --top clips of the same name with the largest
difference (`eval_report.clip_differences`), as when a lever's mean hides which clips it moved.

`--paired` also prints, per metric, the mean of the per-clip differences, its standard error and how
many clips are lower and higher (`eval_report.paired_differences`): the measure of a lever on one training
seed that docs/tracking_quality.md reports, since it leaves out the spread between clips that the
summaries' difference carries. THIS and OTHER may also be `FILE.json:RUN`, a run of a bench/results file
(its "runs" list holds each committed measurement's summary and per-clip rows), so the committed
comparisons can be made again from the repository; `--write` needs a folder.

THIS and OTHER may each also be several results of the same clips joined by "+" (`eval/A_490+eval/A_500`,
or runs of a results file), compared as their clip-by-clip mean (`eval_report.mean_result`): a run's last
checkpoints against another's, so that neither side's checkpoint-to-checkpoint spread decides the
comparison. Evaluate them alike (task, --rand, motion set); the mean has no standard errors of its own.
"""

import argparse
import json
import sys
from pathlib import Path
from typing import List, Optional

if __package__ in (None, ""):  # run as a file: make `legged_gym.scripts` importable from any cwd
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from legged_gym.gym_utils.helpers import UsageError, run_script  # noqa: E402
from legged_gym.scripts.eval_report import (  # noqa: E402
    clip_differences,
    comparison_record,
    format_clip_differences,
    format_comparison,
    format_paired_differences,
    mean_result,
    paired_differences,
    read_result_source,
    run_source,
)


def read_sources(sources: str, flag: str) -> dict:
    """One result (`read_result_source`), or the row-by-row mean of several joined by "+" (`mean_result`)."""
    names = sources.split("+")
    return mean_result([read_result_source(name, flag) for name in names], names, flag)


def compare(args: argparse.Namespace) -> dict:
    if args.top < 1:
        raise UsageError("--top {}: expected at least 1".format(args.top))
    if args.write and run_source(args.this) is not None:
        raise UsageError("--write: stores into THIS's eval.json; {} is a run of a results file".format(args.this))
    if args.write and "+" in args.this:
        raise UsageError("--write: stores into THIS's eval.json; {} is several results".format(args.this))
    this = read_sources(args.this, "THIS")
    other = read_sources(args.other, "OTHER")
    single = "+" not in args.other and run_source(args.other) is None
    other_file = str(Path(args.other) / "eval.json") if single else args.other
    differences = None if args.clips is None else clip_differences(this, other, args.clips, args.top)
    paired = paired_differences(this, other) if args.paired else None
    print(format_comparison(this, other, other_file))
    record = comparison_record(this, other, other_file)
    if differences is not None:
        print(format_clip_differences(differences))
    if paired is not None:
        print(format_paired_differences(paired))
    if args.write:
        this["compared_with"] = record
        path = Path(args.this) / "eval.json"
        path.write_text(json.dumps(this, indent=1) + "\n")
        print("Wrote the comparison into {}".format(path))
    return record


def main(argv: Optional[List[str]] = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "this",
        metavar="THIS",
        help="folder of the eval.json to judge (e.g. the student's), or FILE.json:RUN; several joined by + for their mean",
    )
    p.add_argument(
        "other",
        metavar="OTHER",
        help="folder of the eval.json to compare with (e.g. the teacher's), or FILE.json:RUN; several joined by +",
    )
    p.add_argument("--write", action="store_true", help='store the comparison under "compared_with" in THIS/eval.json')
    p.add_argument(
        "--clips", metavar="KEY", default=None, help="also where the two differ on metric KEY, per group and clip"
    )
    p.add_argument("--top", type=int, default=10, help="with --clips: how many clips (default 10)")
    p.add_argument("--paired", action="store_true", help="also the per-clip paired differences of every metric")
    p.add_argument("--debug", action="store_true", help="show the traceback of a usage error")
    return run_script("eval_compare.py", compare, p.parse_args(argv))


if __name__ == "__main__":
    main()
