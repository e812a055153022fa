"""Learning curves of a training run, from its TensorBoard events: JSON data and a PNG.

    python bench/learning_curves.py RUN_DIR --out bench/results/NAME [--device "NVIDIA H100"] [--command "..."]
        [--at_minutes 5.5,10]

Curves: mean episode length as a fraction of the clip length (`metric_completion`), each tracking
reward as its mean per policy step over the clip (`metric_tracking_*` x dt, in [0, 1]), the mean
key-body distance to the reference in metres, the mean reward, the policy's action std, the student's
KL(student || teacher) and the state estimator's normalised squared error (student runs only, the latter
with `policy.estimator_fields`), and the throughput (env-steps/s, collection and learning
time per iteration) and, for MuJoCo Warp runs, the fraction of finished episodes in which the
contact solver stopped at its iteration limit; for CMG runs the command-velocity error (m/s, and
relative to the commanded speed: metric_cmd_vel_error / metric_cmd_speed of the same iteration) and
the error of the episode-mean velocity (metric_cmd_mean_vel_error: |mean of command - heading-frame
velocity| over an episode, without the within-stride oscillation; m/s and relative likewise) and of
the episode-mean yaw rate (metric_cmd_mean_yaw_rate_error, rad/s).
`training_minutes` is the run's time at each iteration: its collection and learning times added up (the
first iteration's compilation included; saving and logging, under 1 % of a run, left out; the pieces of
a resumed run add up). `--at_minutes` records and prints the first iteration at each of those minutes,
the checkpoint to evaluate for a quality-per-minute point of one run (`iteration_at_minutes`; saved
checkpoints are every `runner.save_interval` iterations: take the nearest).
Writes NAME.json and NAME.png.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

import numpy

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from legged_gym.simulator.base import POLICY_DT  # noqa: E402

TRACKING = (
    "tracking_joint_dof",
    "tracking_joint_vel",
    "tracking_root_pose",
    "tracking_root_vel",
    "tracking_keybody_pos",
    "tracking_root_yaw_rate",  # when weighted (off in TWIST's table)
    "tracking_cmd_vel",  # CMG tasks
    "tracking_cmd_yaw",
)


def read_scalars(run_dir: Path):
    """({tag: [(iteration, value)]}, minutes between the first and the last logged value)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    acc.Reload()
    events = {tag: acc.Scalars(tag) for tag in acc.Tags()["scalars"]}
    times = [e.wall_time for values in events.values() for e in values]
    minutes = (max(times) - min(times)) / 60.0 if times else 0.0
    return {tag: [(e.step, e.value) for e in values] for tag, values in events.items()}, minutes


def find(scalars: dict, suffix: str):
    for tag, values in scalars.items():
        if tag.endswith(suffix):
            return values
    return []


def curves(scalars: dict) -> dict:
    out = {
        "episode_length_fraction_of_clip": find(scalars, "metric_completion"),
        "keybody_distance_m": find(scalars, "metric_keybody_distance"),
        "root_drift_m": find(scalars, "metric_root_drift"),
        "mean_reward": find(scalars, "Train/mean_reward"),
        "mean_episode_length_steps": find(scalars, "Train/mean_episode_length"),
        "env_steps_per_s": find(scalars, "Perf/total_fps"),
        "collection_time_s": find(scalars, "Perf/collection time"),
        "learning_time_s": find(scalars, "Perf/learning_time"),
        "action_std": find(scalars, "Policy/mean_noise_std"),
        "kl_student_teacher": find(scalars, "Loss/kl_teacher_student"),
        "state_estimator_mse": find(scalars, "Loss/estimator"),
        "solver_iteration_limit_episode_fraction": find(scalars, "metric_solver_iteration_limit"),
    }
    out["training_minutes"] = training_minutes(out["collection_time_s"], out["learning_time_s"])
    for term in TRACKING:
        out[term + "_per_step"] = [(s, v * POLICY_DT) for s, v in find(scalars, "metric_" + term)]
    speed = dict(find(scalars, "metric_cmd_speed"))
    for name in ("cmd_vel_error", "cmd_mean_vel_error"):
        error = find(scalars, "metric_" + name)
        if error:
            out[name + "_mps"] = error
            out[name + "_relative"] = [(s, v / speed[s]) for s, v in error if speed.get(s)]
    yaw_rate = find(scalars, "metric_cmd_mean_yaw_rate_error")
    if yaw_rate:
        out["cmd_mean_yaw_rate_error_radps"] = yaw_rate
    return out


def training_minutes(collection: list, learning: list) -> list:
    """[(iteration, minutes of collection and learning up to and including it)] of the per-iteration times."""
    learning_s = dict(learning)
    total, out = 0.0, []
    for step, seconds in collection:
        total += seconds + learning_s.get(step, 0.0)
        out.append((step, total / 60.0))
    return out


def iteration_at_minutes(minutes: list, at: float):
    """The first iteration of a `training_minutes` curve at `at` minutes or later; None when the run is shorter."""
    return next((step for step, m in minutes if m >= at), None)


def summary(data: dict, window: int = 20, early_iteration: int = 20) -> dict:
    """First value, value at `early_iteration` and mean of the last `window` values of every curve.

    Episodes that end in the first iterations mostly started at a random point of their clip
    (`init_at_random_ep_len`), so `at_iteration_20` describes the untrained policy better than `first`.
    """
    out = {}
    for name, values in data.items():
        if values:
            tail = [v for _, v in values[-window:]]
            early = [v for step, v in values if step >= early_iteration][:1]
            out[name] = {
                "first": values[0][1],
                "at_iteration_{}".format(early_iteration): early[0] if early else None,
                "last_mean": sum(tail) / len(tail),
                "last_iteration": values[-1][0],
            }
    return out


def plot(data: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        ("episode length / clip length", ["episode_length_fraction_of_clip"]),
        ("tracking rewards (mean per step)", [t + "_per_step" for t in TRACKING]),
        (
            "key-body distance, root drift (m), command-velocity errors (m/s)",
            [
                "keybody_distance_m",
                "root_drift_m",
                "cmd_vel_error_mps",
                "cmd_mean_vel_error_mps",
                "cmd_mean_yaw_rate_error_radps",
            ],
        ),
        ("mean reward", ["mean_reward"]),
        (
            "action std, KL(student || teacher), state estimator MSE",
            ["action_std", "kl_student_teacher", "state_estimator_mse"],
        ),
        ("env-steps/s", ["env_steps_per_s"]),
        ("time per iteration (s)", ["collection_time_s", "learning_time_s"]),
        ("episodes with an unconverged contact solve", ["solver_iteration_limit_episode_fraction"]),
    ]
    fig, axes = plt.subplots(2, 4, figsize=(20, 8))
    for ax, (label, names) in zip(axes.flat, panels):
        for name in names:
            if data.get(name):
                steps, values = zip(*data[name])
                ax.plot(steps, values, label=name.replace("_per_step", ""))
        ax.set_title(label)
        ax.set_xlabel("iteration")
        if label.startswith("action std"):
            ax.set_yscale("log")
        if len(names) > 1 and ax.lines:
            ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def result_text(result: dict) -> str:
    """`result` as JSON with an indent of 1, each curve of `result["curves"]` on one line, its values
    written with the fewest digits that read back as the same float32 (TensorBoard keeps float32
    scalars): a 2,000-iteration run in 0.6 MB, not the 1.4 MB of an indent throughout and every
    digit of the float64 products."""
    marks = {name: "curve:" + name for name in result["curves"]}
    text = json.dumps(dict(result, curves=marks), indent=1)
    for name, values in result["curves"].items():
        short = [[step, float(str(numpy.float32(value)))] for step, value in values]
        text = text.replace(json.dumps(marks[name]), json.dumps(short, separators=(",", ":")), 1)
    return text + "\n"


def minutes_list(text: str) -> list:
    """--at_minutes: "5.5,10" -> [5.5, 10.0]."""
    try:
        return [float(m) for m in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError("expected comma-separated minutes, e.g. 5.5,10; got {!r}".format(text))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", type=Path)
    p.add_argument("--out", required=True, help="output path without suffix")
    p.add_argument("--device", default="", help="device the run used (for the record)")
    p.add_argument("--command", default="", help="command that produced the run (for the record)")
    p.add_argument("--extra", default="{}", help="JSON object merged into the result")
    p.add_argument(
        "--at_minutes", type=minutes_list, default=[], help="comma-separated minutes: the first iteration at each"
    )
    args = p.parse_args()
    scalars, minutes = read_scalars(args.run_dir)
    data = curves(scalars)
    result = {
        "benchmark": "learning curves",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
        "device": args.device,
        "command": args.command,
        "run": args.run_dir.name,
        "wall_clock_min": round(minutes, 1),
        "summary": summary(data),
        "curves": data,
    }
    if args.at_minutes:
        minutes = data["training_minutes"]
        result["iteration_at_minutes"] = {"{:g}".format(m): iteration_at_minutes(minutes, m) for m in args.at_minutes}
    result.update(json.loads(args.extra))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(result_text(result))
    plot(data, out.with_suffix(".png"), "{} ({})".format(args.run_dir.name, args.device))
    print(json.dumps(result["summary"], indent=1))
    for m, iteration in result.get("iteration_at_minutes", {}).items():
        print("{} min: iteration {}".format(m, "- (the run is shorter)" if iteration is None else iteration))


if __name__ == "__main__":
    main()
