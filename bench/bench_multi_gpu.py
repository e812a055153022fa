"""Data-parallel training: throughput and learning curves of 1 process against N (torchrun), with
the same number of envs per GPU.

    python bench/bench_multi_gpu.py [--task g1_priv_mimic] [--num_envs 4096] [--iterations 250]
        [--nproc 1 2] [--device cuda] [--seed 1] [--skip 10] [--work_dir /tmp/bench_multi_gpu]
        [--out_dir bench/results] [--device_tag h200] [-- extra train.py flags]

For each N of --nproc, one training run of --iterations iterations through the real entry point,
--num_envs envs per process, MuJoCo Warp, logs under WORK_DIR/logs:
  N = 1   python legged_gym/scripts/train.py ... --device cuda:0   (the single-process run as it is
          started today: CUDA-graph update and all);
  N > 1   python -m torch.distributed.run --standalone --nproc_per_node N legged_gym/scripts/train.py
          ... --device cuda --multi_gpu   (rank r on cuda:r, seed + r).
A finished run leaves WORK_DIR/run_n<N>.json (its curves from TensorBoard, wall clock, command) and
is not run again, so the runs may be spread over several invocations (each under a time limit).
Once WORK_DIR holds the 1-process run and another, the comparison is written to
OUT_DIR/multi_gpu_<device_tag>_<date>.json and .png:
  throughput  env-steps/s of all processes together (Perf/total_fps: transitions of an iteration
              over its wall time; median over the iterations after --skip, which include start-up
              work), the N/1 ratio against the target 1.85 for 2 GPUs, and collection and learning
              seconds per iteration;
  learning    per-iteration curves of both runs (mean reward, episode length / clip length, tracking
              rewards, key-body distance, action std; rank 0's envs, as many as the 1-process run's),
              their means over the last 20 iterations and over all iterations from 20 on, and the
              N/1 ratios ("no_worse": within 5 % or better).
The environment, NCCL variables included (NCCL_NVLS_ENABLE, ...), is passed on unchanged and recorded.
Not a test; `--device cpu` runs the same on gloo (a check of the script, not a measurement).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "bench"))

from learning_curves import curves, read_scalars  # noqa: E402

TARGET_RATIO_2 = 1.85
LAST_WINDOW = 20
FROM_ITERATION = 20
NO_WORSE_TOLERANCE = 0.05
#: learning curves compared, and whether larger is better
COMPARED = (
    ("mean_reward", True),
    ("mean_episode_length_steps", True),
    ("episode_length_fraction_of_clip", True),
    ("tracking_joint_dof_per_step", True),
    ("tracking_keybody_pos_per_step", True),
    ("tracking_root_pose_per_step", True),
    ("tracking_joint_vel_per_step", True),
    ("tracking_root_vel_per_step", True),
    ("keybody_distance_m", False),
    ("kl_student_teacher", False),
)


def device_info(device: str):
    """(device name, tag for the file name, number of GPUs)."""
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
        tag = re.sub(r"[^a-z0-9]+", "_", name.lower().replace("nvidia", "")).strip("_").split("_")[0]
        return name, tag or "cuda", torch.cuda.device_count()
    return platform.processor() or "cpu", "cpu", 0


def run_command(args, nproc: int, exptid: str):
    train = str(REPO_ROOT / "legged_gym" / "scripts" / "train.py")
    common = [
        "--task",
        args.task,
        "--exptid",
        exptid,
        "--num_envs",
        str(args.num_envs),
        "--max_iterations",
        str(args.iterations),
        "--sim",
        "mjwarp",
        "--seed",
        str(args.seed),
    ] + args.extra
    if nproc == 1:
        device = "cuda:0" if args.device.startswith("cuda") else args.device
        return [sys.executable, train] + common + ["--device", device]
    device = "cuda" if args.device.startswith("cuda") else args.device
    return (
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc), train]
        + common
        + ["--device", device, "--multi_gpu"]
    )


def median_after(values, skip: int):
    kept = [v for step, v in values if step > skip]
    return statistics.median(kept) if kept else None


def run_one(args, nproc: int, work_dir: Path) -> dict:
    exptid = "bench_n{}".format(nproc)
    logs = work_dir / "logs"
    proj = args.task
    run_dir = logs / proj / exptid
    if run_dir.exists():
        shutil.rmtree(str(run_dir))  # an unfinished earlier attempt
    cmd = run_command(args, nproc, exptid)
    env = dict(os.environ, LEGGED_GYM_LOG_DIR=str(logs))
    log_path = work_dir / "run_n{}.log".format(nproc)
    print("[n={}] {}".format(nproc, " ".join(cmd)), flush=True)
    t0 = time.time()
    with open(str(log_path), "w") as log:
        rc = subprocess.call(cmd, cwd=str(REPO_ROOT), env=env, stdout=log, stderr=subprocess.STDOUT)
    wall = time.time() - t0
    if rc != 0:
        tail = log_path.read_text(errors="replace")[-4000:]
        raise SystemExit("run with {} process(es) failed ({}); {}:\n{}".format(nproc, rc, log_path, tail))
    scalars, _ = read_scalars(run_dir)
    text = log_path.read_text(errors="replace")
    data = curves(scalars)
    result = {
        "nproc": nproc,
        "command": " ".join(cmd),
        "wall_clock_s": round(wall, 1),
        "iterations": args.iterations,
        "num_envs_per_process": args.num_envs,
        "transitions_per_iteration": None,
        "env_steps_per_s": median_after(data["env_steps_per_s"], args.skip),
        "collection_s": median_after(data["collection_time_s"], args.skip),
        "learning_s": median_after(data["learning_time_s"], args.skip),
        # train.py's end-of-run check (data-parallel only): all ranks hold the same parameters
        "params_identical_across_processes": (
            None if nproc == 1 else "data-parallel: parameters identical on the" in text
        ),
        "curves": data,
    }
    total = scalars.get("Train/total_timesteps", [])
    if total:
        result["transitions_per_iteration"] = total[0][1] / max(total[0][0], 1)
    (work_dir / "run_n{}.json".format(nproc)).write_text(json.dumps(result) + "\n")
    print(
        "[n={}] {:.0f} env-steps/s (median after iteration {}), collection {:.3f} s + learning {:.3f} s, "
        "wall {:.0f} s".format(
            nproc,
            result["env_steps_per_s"] or 0.0,
            args.skip,
            result["collection_s"] or 0.0,
            result["learning_s"] or 0.0,
            wall,
        ),
        flush=True,
    )
    return result


def window_means(values):
    if not values:
        return None, None
    tail = [v for _, v in values[-LAST_WINDOW:]]
    later = [v for step, v in values if step >= FROM_ITERATION]
    return sum(tail) / len(tail), (sum(later) / len(later) if later else None)


def compare(base: dict, other: dict) -> dict:
    out = {
        "nproc": other["nproc"],
        "env_steps_per_s": [base["env_steps_per_s"], other["env_steps_per_s"]],
        "env_steps_per_s_ratio": (
            other["env_steps_per_s"] / base["env_steps_per_s"]
            if base["env_steps_per_s"] and other["env_steps_per_s"]
            else None
        ),
        "collection_s": [base["collection_s"], other["collection_s"]],
        "learning_s": [base["learning_s"], other["learning_s"]],
        "learning": {},
    }
    if other["nproc"] == 2:
        out["target_ratio"] = TARGET_RATIO_2
        out["meets_target"] = (
            out["env_steps_per_s_ratio"] is not None and out["env_steps_per_s_ratio"] >= TARGET_RATIO_2
        )
    for name, larger_better in COMPARED:
        a, b = base["curves"].get(name), other["curves"].get(name)
        if not a or not b:
            continue
        (a_last, a_all), (b_last, b_all) = window_means(a), window_means(b)
        entry = {
            "last{}_mean".format(LAST_WINDOW): [a_last, b_last],
            "mean_from_iteration_{}".format(FROM_ITERATION): [a_all, b_all],
        }
        if a_last:
            ratio = b_last / a_last
            entry["last_ratio"] = ratio
            entry["no_worse"] = ratio >= 1 - NO_WORSE_TOLERANCE if larger_better else ratio <= 1 + NO_WORSE_TOLERANCE
        out["learning"][name] = entry
    return out


def plot(runs: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        ("mean reward", "mean_reward"),
        ("episode length / clip length", "episode_length_fraction_of_clip"),
        ("key-body distance (m)", "keybody_distance_m"),
        ("tracking_joint_dof (mean per step)", "tracking_joint_dof_per_step"),
        ("env-steps/s (all processes)", "env_steps_per_s"),
        ("learning time per iteration (s)", "learning_time_s"),
    ]
    fig, axes = plt.subplots(2, 3, figsize=(16, 8))
    for ax, (label, name) in zip(axes.flat, panels):
        for nproc, run in sorted(runs.items()):
            values = run["curves"].get(name)
            if values:
                steps, ys = zip(*values)
                ax.plot(steps, ys, label="{} process{}".format(nproc, "" if nproc == 1 else "es"))
        ax.set_title(label)
        ax.set_xlabel("iteration")
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(str(path), dpi=90)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", default="g1_priv_mimic")
    p.add_argument("--num_envs", type=int, default=4096, help="envs per process (per GPU)")
    p.add_argument("--iterations", type=int, default=250)
    p.add_argument("--nproc", type=int, nargs="+", default=[1, 2])
    p.add_argument("--device", default="cuda", help="cuda (one GPU per process) or cpu (gloo; a check of the script)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--skip", type=int, default=10, help="iterations left out of the throughput medians")
    p.add_argument("--work_dir", type=Path, default=Path("/tmp/bench_multi_gpu"))
    p.add_argument("--out_dir", type=Path, default=REPO_ROOT / "bench" / "results")
    p.add_argument("--device_tag", default=None, help="file-name tag of the device (default: from the GPU name)")
    p.add_argument("--rerun", action="store_true", help="run again the process counts already in WORK_DIR")
    p.add_argument("extra", nargs=argparse.REMAINDER, help="after --: more train.py flags")
    args = p.parse_args(argv)
    args.extra = [a for a in args.extra if a != "--"]
    if 1 not in args.nproc and not (args.work_dir / "run_n1.json").is_file():
        print("note: the comparison needs a 1-process run as well (--nproc 1)")
    args.work_dir.mkdir(parents=True, exist_ok=True)
    name, tag, gpus = device_info(args.device)
    if args.device.startswith("cuda") and max(args.nproc) > gpus:
        raise SystemExit("--nproc {}: this machine has {} GPU(s)".format(max(args.nproc), gpus))
    settings = {k: getattr(args, k) for k in ("task", "num_envs", "iterations", "device", "seed", "extra")}
    settings_path = args.work_dir / "settings.json"
    if settings_path.is_file() and json.loads(settings_path.read_text()) != json.loads(json.dumps(settings)):
        raise SystemExit(
            "{} holds runs made with other settings ({}); use another --work_dir".format(
                args.work_dir, settings_path.read_text().strip()
            )
        )
    settings_path.write_text(json.dumps(settings) + "\n")

    for nproc in args.nproc:
        if (args.work_dir / "run_n{}.json".format(nproc)).is_file() and not args.rerun:
            print("[n={}] already measured in {}".format(nproc, args.work_dir))
            continue
        run_one(args, nproc, args.work_dir)

    runs = {}
    for path in sorted(args.work_dir.glob("run_n*.json")):
        run = json.loads(path.read_text())
        runs[int(run["nproc"])] = run
    if 1 not in runs or len(runs) < 2:
        print("measured so far: {} process(es); run again with the missing --nproc to compare".format(sorted(runs)))
        return
    import torch

    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    tag = args.device_tag or tag
    result = {
        "benchmark": "multi_gpu_data_parallel",
        "date": date,
        "device_name": name,
        "gpus_on_machine": gpus,
        "torch": torch.__version__,
        "nccl": ".".join(map(str, torch.cuda.nccl.version())) if torch.cuda.is_available() else None,
        "task": args.task,
        "num_envs_per_process": args.num_envs,
        "iterations": args.iterations,
        "throughput_skip_iterations": args.skip,
        "nccl_env": {k: v for k, v in sorted(os.environ.items()) if k.startswith("NCCL_")},
        "command": "python bench/bench_multi_gpu.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "runs": {str(n): {k: v for k, v in run.items() if k != "curves"} for n, run in sorted(runs.items())},
        "comparison": {str(n): compare(runs[1], runs[n]) for n in sorted(runs) if n != 1},
        "curves": {str(n): run["curves"] for n, run in sorted(runs.items())},
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    out = args.out_dir / "multi_gpu_{}_{}.json".format(tag, date)
    out.write_text(json.dumps(result, indent=1) + "\n")
    plot(
        runs,
        out.with_suffix(".png"),
        "{}: 1 vs {} processes, {} envs each ({})".format(
            args.task, "/".join(str(n) for n in sorted(runs) if n != 1), args.num_envs, name
        ),
    )
    print(json.dumps({"runs": result["runs"], "comparison": result["comparison"]}, indent=1))
    print("wrote {} and {}".format(out, out.with_suffix(".png").name))


if __name__ == "__main__":
    main()
