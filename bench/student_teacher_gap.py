"""Where a student departs from its teacher: one clip played from its start, step by step.

    python bench/student_teacher_gap.py --task g1_stu_rl --exptid S --teacher_exptid T [--clip stand]
        [--motion_file M] [--actor student|teacher] [--rand none|play|train] [--num_envs 8] [--seconds S]
        [--set ...] --out FILE.json

The clip is played by --num_envs envs from t = 0 (the student's checkpoint and its DAgger teacher are
loaded as for training); --actor chooses which of the two drives the robot, the other only answers on
the same observations; --seconds stops earlier than the clip's end. Per step (mean over the envs, until the first env's episode ends): the root's
horizontal speed and its horizontal displacement from the start (its norm, and its forward and leftward
components in the start's heading frame), the norm of the teacher's action and
the student-teacher gap |a_student - a_teacher| (policy action units, the actions' L2 norm) over all
joints and per joint group (legs, waist, arms: `joint_groups`). Per joint: the mean signed gap over the
steps after the first second (a bias the student holds where the teacher does not). Writes FILE.json
and FILE.png.

What it told (docs/tracking_quality.md, the standing students): with the teacher acting, a student
whose legs differ from it by a steady offset; with the student acting, a slow lean (root speed rising
for half a second) while the teacher's answer grows with the speed and the student's does not.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import legged_gym.scripts.isaacgym_first  # noqa: F401,E402  (before torch)

import datetime  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Dict, List, Optional, Sequence  # noqa: E402

import torch  # noqa: E402

from bench.common import write_result  # noqa: E402
from legged_gym.envs.mdp.metrics import heading_frame_velocity  # noqa: E402
from legged_gym.gym_utils.cfg_override import apply_overrides  # noqa: E402
from legged_gym.gym_utils.helpers import UsageError, build_parser, check_device, get_args, run_script  # noqa: E402
from legged_gym.gym_utils.task_registry import task_registry  # noqa: E402
from legged_gym.scripts.eval import RAND_MODES, configure_env_cfg  # noqa: E402
from legged_gym.scripts.play import resolve_model  # noqa: E402

ACTORS = ("student", "teacher")
#: joint groups by the words of the G1's joint names
GROUP_WORDS = {"legs": ("hip", "knee", "ankle"), "waist": ("waist",), "arms": ("shoulder", "elbow", "wrist")}
#: the per-joint bias is averaged over the steps from this time on (the first steps start from a reset)
BIAS_FROM_S = 1.0


def joint_groups(dof_names: Sequence[str]) -> Dict[str, List[int]]:
    """{group: joint indices} of GROUP_WORDS; ValueError naming a joint that belongs to no group."""
    groups: Dict[str, List[int]] = {g: [] for g in GROUP_WORDS}
    for i, name in enumerate(dof_names):
        found = [g for g, words in GROUP_WORDS.items() if any(w in name for w in words)]
        if len(found) != 1:
            raise ValueError("joint {!r}: in {} of the groups {}".format(name, len(found), list(GROUP_WORDS)))
        groups[found[0]].append(i)
    return groups


def step_record(a_student: torch.Tensor, a_teacher: torch.Tensor, groups: Dict[str, List[int]]) -> Dict[str, float]:
    """The mean over envs of |a_s - a_t| (L2 over all joints, `gap`, and over each group's, `gap_<group>`)
    and of |a_t| (`teacher_action`), for (N, J) actions."""
    d = a_student - a_teacher
    out = {"gap": float(d.norm(dim=1).mean()), "teacher_action": float(a_teacher.norm(dim=1).mean())}
    for g, ids in groups.items():
        out["gap_" + g] = float(d[:, ids].norm(dim=1).mean())
    return out


def run(args) -> dict:
    if not args.exptid or not args.out:
        raise UsageError("--exptid (the student run) and --out FILE.json are required")
    check_device(args.device)
    task_registry.ensure_registered(args.task)
    env_cfg, train_cfg = task_registry.get_cfgs(args.task)
    if train_cfg.runner_class_name != "OnPolicyDaggerRunner":
        raise UsageError("--task {}: not a student task (no DAgger teacher)".format(args.task))
    env_cfg.seed = train_cfg.seed
    apply_overrides(args.overrides, env_cfg, train_cfg)
    model_path = resolve_model(args, train_cfg)
    args.num_envs, args.headless, args.no_rand = args.num_envs or 8, True, False
    configure_env_cfg(env_cfg, args.rand, args.num_envs)
    env, env_cfg = task_registry.make_env(name=args.task, args=args, env_cfg=env_cfg)
    names = env._motion_lib.motion_names
    if args.clip not in names:
        raise UsageError("--clip {}: not in the motion file; its clips: {}".format(args.clip, ", ".join(names)))
    train_cfg.runner.resume = True
    runner, _ = task_registry.make_alg_runner(env=env, name=args.task, args=args, train_cfg=train_cfg, log_root=None)
    student = runner.get_inference_policy(device=env.device)  # obs normaliser applied, eval mode
    teacher = runner.alg.teacher
    groups = joint_groups(env.sim.dof_names)

    motion = torch.full((env.num_envs,), names.index(args.clip), dtype=torch.long, device=env.device)
    env.reset_to_motions(env.all_env_ids, motion)
    clip_s = float(env._motion_lib.get_motion_length(motion[:1])[0])
    steps = int(min(clip_s, args.seconds or clip_s) / env.dt)
    obs = env.get_observations()
    start, start_quat = env.root_states[:, 0:3].clone(), env.base_quat.clone()
    rows: List[Dict[str, float]] = []
    bias_sum, bias_steps = torch.zeros(env.num_actions, device=env.device), 0
    for t in range(steps):
        with torch.no_grad():
            a_s = student(obs)
            a_t = teacher.act_inference(runner.teacher_normalizer.normalize(env.get_privileged_observations()))
        row = {"t_s": t * env.dt}
        row.update(step_record(a_s, a_t, groups))
        row["root_speed_mps"] = float(env.root_states[:, 7:9].norm(dim=1).mean())
        moved = heading_frame_velocity(start_quat, env.root_states[:, 0:3] - start)  # start's heading frame
        row["root_displacement_m"] = float(moved.norm(dim=1).mean())
        row["root_forward_m"], row["root_left_m"] = (float(v) for v in moved.mean(dim=0))
        rows.append({k: round(v, 5) for k, v in row.items()})
        if t * env.dt >= BIAS_FROM_S:
            bias_sum += (a_s - a_t).mean(dim=0)
            bias_steps += 1
        obs, _, _, _, _ = env.step(a_s if args.actor == "student" else a_t)
        if bool(env.reset_buf.any()):
            break
    bias = (bias_sum / max(bias_steps, 1)).tolist()
    result = {
        "benchmark": "student-teacher action gap along one clip (bench/student_teacher_gap.py)",
        "date": datetime.date.today().isoformat(),
        "command": "python bench/student_teacher_gap.py " + " ".join(sys.argv[1:]),
        "student_checkpoint": str(model_path),
        "teacher_checkpoint": str(runner.teacher_path),
        "clip": args.clip,
        "actor": args.actor,
        "rand": args.rand,
        "num_envs": env.num_envs,
        "dt_s": env.dt,
        "steps": rows,
        "joint_bias_from_s": BIAS_FROM_S,
        "joint_bias": {name: round(b, 5) for name, b in zip(env.sim.dof_names, bias)},
    }
    out = Path(args.out)
    write_result(out, result, indent=1)
    plot(
        rows,
        out.with_suffix(".png"),
        "{} on {} ({} acting, --rand {})".format(args.exptid, args.clip, args.actor, args.rand),
    )
    for row in rows[:: max(1, int(round(0.5 / env.dt)))]:
        print(
            "t {t_s:5.2f} s  speed {root_speed_mps:.3f} m/s  displacement {root_displacement_m:.3f} m "
            "(forward {root_forward_m:+.3f}, left {root_left_m:+.3f})  gap {gap:.3f} "
            "(legs {gap_legs:.3f}, waist {gap_waist:.3f}, arms {gap_arms:.3f})  |teacher action| {teacher_action:.3f}".format(
                **row
            )
        )
    print("Wrote {} and {}".format(out, out.with_suffix(".png")))
    return result


def plot(rows: Sequence[Dict[str, float]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [r["t_s"] for r in rows]
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 3.6))
    for key in ("gap", "gap_legs", "gap_waist", "gap_arms", "teacher_action"):
        ax0.plot(t, [r[key] for r in rows], label=key)
    ax0.set_xlabel("time (s)")
    ax0.set_ylabel("action units")
    ax0.legend(fontsize=7)
    for key in ("root_speed_mps", "root_displacement_m", "root_forward_m", "root_left_m"):
        ax1.plot(t, [r[key] for r in rows], label=key)
    ax1.set_xlabel("time (s)")
    ax1.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(str(path), dpi=100)
    plt.close(fig)


def parser():
    p = build_parser(__doc__.splitlines()[0])
    p.add_argument("--clip", default="stand", help="clip name in the motion file (default: stand)")
    p.add_argument("--actor", choices=ACTORS, default="student", help="who drives the robot")
    p.add_argument("--rand", choices=RAND_MODES, default="none", help="randomisation, as eval.py's --rand")
    p.add_argument("--seconds", type=float, default=None, help="play at most this long (default: the whole clip)")
    p.add_argument("--out", default=None, help="FILE.json (and FILE.png)")
    return p


def main(argv: Optional[Sequence[str]] = None) -> dict:
    return run_script("student_teacher_gap.py", run, get_args(argv, parser=parser()))


if __name__ == "__main__":
    main()
