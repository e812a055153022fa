"""CMG student in sim2sim (plain MuJoCo, the deploy server's loop on CMG frames) vs the training simulator
(its `g1_stu_rl_cmg_<mode>` task on MuJoCo Warp), velocity command by velocity command.

    python bench/bench_sim2sim_cmg.py --policy_path TRACED.pt [--task g1_stu_rl_cmg_medium]
        [--commands "vx,vy,wz;..."] [--seconds 10] [--settle_s 0] [--cmg_model PATH] [--cmg_foot_lock]
        [--device cpu] [--out bench/results/sim2sim_cmg_<date>.json]

TRACED.pt is a student of the CMG tasks exported by `bash to_jit.sh <exptid> g1_stu_rl_cmg_<mode>`; its task
and foot lock are read from its export metadata (`task`, `cmg.foot_lock`) when it records them (exported
since 2026-12-05), else --task (default g1_stu_rl_cmg_medium) and --cmg_foot_lock. Each
command is played from its first frame for --seconds (default the tasks' 10-s episode) by the same
policy on both sides, no noise, no randomisation, and both sides are scored with the metrics of
`legged_gym/scripts/eval.py`'s CMG mode (METRIC_KEYS + CMG_KEYS, by its `CommandTracker` and
`summarize_commands`):
- training_sim: `eval.evaluate(env, policy, 1, commands)` on the task's env (--rand none, one env per
  command, episodes of --seconds, `motion.cmg_model` / `motion.cmg_foot_lock` as given), the env's own
  terminations (torso contact included);
- sim2sim: `deploy_real.server_low_level_g1_sim.LowLevelSim` (1 kHz physics, full torque limits, the
  sim2sim model's contacts, the robot starting at the default standing pose) fed, step k, the 33-D
  vector of the frame the high-level server's `--cmg` source streams (`deploy_real.cmg_reference.
  CMGReference`: same CMG, same command, not mirrored, deterministic) directly (no Redis, no wall
  clock). After every policy step the MuJoCo state is scored against that frame: the command errors
  from the pelvis velocities (the free joint's qvel[0:3] is world frame, rotated into the pelvis frame;
  qvel[3:6] is already the pelvis frame); the episode ends at the first failure by the TWIST criteria
  (`terminations.failures` without the torso-contact term, as bench_sim2sim_tracking.py's
  `step_metrics`) or at the last step; the reference root is the frame's, shifted to start where the
  robot starts (xy, as the env's episode origin); reference key bodies are the forward kinematics of
  the frame's joints (`pose.kinematics.ForwardKinematics`, as the CMG library makes them). A CMG
  task's motion bodies are its key bodies, so the `*_all_*` keys equal the key-body ones on both sides.
The starts differ as in deployment: the training env starts an episode in the state of the reference's
frame 0 (reference state initialisation: moving at `motion.reset_vel_factor` = 0.8 x the commanded
velocity), the deploy robot standing still, so the first second or so counts against sim2sim on the
command and world-frame errors and on the drift; the default 10 s dilutes it, and --settle_s S leaves
each episode's first S seconds out of the command errors on both sides (`CommandTracker`'s
settle_steps): the steady gait's command tracking.
Default commands: eval.py's `default_commands` over the task's command band intersected with the CMG's
trained command range (rounded inwards to 1e-3), because the high-level server refuses a command outside
that range (the shipped CMG's |vy| <= 0.4 m/s inside the medium and fast bands' 0.5); --commands outside
it are refused.
`summary.within_20_percent` (README target: sim2sim within 20 % of the training simulator), on the
means over the commands: completion >= 0.8 x training's; cmd_vel_error_rel <= 1.2 x training's + 0.01
(one hundredth of the commanded speed of slack: the per-step error carries the stride's velocity
oscillation, so a near-zero training error would otherwise leave no room); None where no command is
fast enough for a relative error. Prints both sides' tables (`eval_report.format_table`); writes the JSON.
Not a test.
"""

from __future__ import annotations

import argparse
import datetime
import math
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.common import device_name, write_result  # noqa: E402
from bench.bench_sim2sim_tracking import PolicySettings  # noqa: E402
from legged_gym.envs.mdp import metrics, terminations  # noqa: E402
from legged_gym.envs.mdp.observations import POLICY_DT  # noqa: E402
from legged_gym.scripts.eval import Command, CommandTracker, step_errors, summarize_commands  # noqa: E402
from pose.g1_model import load_g1  # noqa: E402
from pose.utils.torch_utils import quat_rotate_inverse  # noqa: E402

G1 = load_g1()
#: the failure terms scored in sim2sim: `terminations.failures` less torso contact (no contact sensing)
SIM2SIM_CAUSES = ("orientation", "height", "root_speed", "pose")
SIDES = ("training_sim", "sim2sim")
#: within_20_percent's absolute slack on cmd_vel_error_rel (a fraction of the commanded speed)
REL_SLACK = 0.01


def root_state(data) -> Tuple[torch.Tensor, ...]:
    """(root position (1, 3), quaternion xyzw (1, 4), world linear velocity (1, 3), pelvis-frame linear
    and angular velocities (1, 3) each) of a G1 MjData: the free joint's qvel[0:3] is world frame, its
    qvel[3:6] pelvis frame (MuJoCo's convention), as the training env's root_states / base_* are."""
    w, x, y, z = data.qpos[3:7]
    quat = torch.tensor([[x, y, z, w]], dtype=torch.float32)
    world_vel = torch.tensor(data.qvel[0:3], dtype=torch.float32).unsqueeze(0)
    ang_vel = torch.tensor(data.qvel[3:6], dtype=torch.float32).unsqueeze(0)
    pos = torch.tensor(data.qpos[0:3], dtype=torch.float32).unsqueeze(0)
    return pos, quat, world_vel, quat_rotate_inverse(quat, world_vel), ang_vel


def sim2sim_command(
    policy_path,
    command: Command,
    seconds: float,
    cmg_model=None,
    foot_lock: bool = False,
    trace: Optional[List[np.ndarray]] = None,
    settle_s: float = 0.0,
) -> Tuple[Dict[str, torch.Tensor], Dict[str, torch.Tensor]]:
    """(eval.py's per-env metrics, failure causes), (1,) each, of one command played for `seconds`
    through the deploy server's loop on the frames of the high-level server's CMG source (see the module
    docstring), the command errors from `settle_s` on. `trace`, when given, receives every measured
    step's qpos[0:7] + qvel[0:6] (13,)."""
    from deploy_real.cmg_reference import CMGReference
    from deploy_real.server_low_level_g1_sim import LowLevelSim
    from pose.kinematics import ForwardKinematics

    cmg = CMGReference(cmg_model, command, foot_lock=foot_lock)
    server = LowLevelSim(policy_path, link=None, reference_blend_in_s=0.0)  # frames from the first, as in training
    data = server.sim.data
    fk = ForwardKinematics(G1, bodies=G1.key_bodies)
    env0 = torch.zeros(1, dtype=torch.long)
    origin = torch.zeros(1, 3)
    origin[0, :2] = torch.tensor(data.qpos[0:2]) - cmg.lib.calc_motion_frame(env0, torch.zeros(1))[0][0, :2]
    commands = torch.tensor([command], dtype=torch.float32)
    tracker = CommandTracker(1, "cpu", SIM2SIM_CAUSES, int(round(settle_s / POLICY_DT)))
    steps = max(int(round(seconds / POLICY_DT)), 1)
    for k in range(steps):
        ref, t = cmg.next()
        server.step_reference(k, ref)
        root_pos, root_quat, root_vel, base_lin_vel, base_ang_vel = root_state(data)
        kb = torch.tensor(np.stack([data.body(b).xpos for b in G1.key_bodies]), dtype=torch.float32).unsqueeze(0)
        dof = torch.tensor(server.sim.state().dof_pos, dtype=torch.float32).unsqueeze(0)
        frame = cmg.lib.calc_motion_frame(env0, torch.tensor([t], dtype=torch.float64))
        ref_pos, ref_rot, ref_vel, ref_dof = frame[0] + origin, frame[1], frame[2], frame[4]
        ref_kb = metrics.from_root_frame(fk.local_body_pos(ref_dof), ref_pos, ref_rot)
        causes = terminations.failures(torch.zeros(1, 3), root_pos, root_quat, root_vel, kb, ref_pos, ref_rot, ref_kb)
        causes = {name: causes[name] for name in SIM2SIM_CAUSES}
        last = torch.tensor([k == steps - 1])
        if trace is not None:
            trace.append(np.concatenate([data.qpos[0:7], data.qvel[0:6]]))
        tracker.observe_commands(commands, root_quat, base_lin_vel, base_ang_vel)
        errors = step_errors(
            root_pos, root_quat, root_vel, dof, kb, kb, ref_pos, ref_rot, ref_vel, ref_dof, ref_kb, ref_kb
        )
        failed = torch.stack(list(causes.values())).any(dim=0)
        offset, heading = metrics.root_offset(root_pos, ref_pos, ref_rot), metrics.heading_error(root_quat, ref_rot)
        tracker.observe_step(errors, failed | last, last, offset, heading, causes)
        if not bool(tracker.active.any()):
            break
    return tracker.per_env(torch.tensor([steps * POLICY_DT]), POLICY_DT), tracker.failures_per_env()


def sim2sim_eval(
    policy_path,
    commands: Sequence[Command],
    seconds: float,
    cmg_model=None,
    foot_lock: bool = False,
    settle_s: float = 0.0,
) -> dict:
    """`summarize_commands` of every command played by `sim2sim_command`: {"summary", "commands"}."""
    runs = [sim2sim_command(policy_path, c, seconds, cmg_model, foot_lock, settle_s=settle_s) for c in commands]
    per_env = {key: torch.cat([r[0][key] for r in runs]) for key in runs[0][0]}
    failures = {key: torch.cat([r[1][key] for r in runs]) for key in runs[0][1]}
    return summarize_commands(per_env, torch.arange(len(commands)), commands, failures)


def training_sim_eval(
    policy_path,
    task: str,
    commands: Sequence[Command],
    seconds: float,
    cmg_model,
    foot_lock: bool,
    device: str,
    settle_s: float = 0.0,
) -> dict:
    """eval.py's CMG evaluation of the task's env (MuJoCo Warp, --rand none, one env per command,
    episodes of `seconds`, the command errors from `settle_s` on): {"summary", "commands"}."""
    from legged_gym.envs import task_registry
    from legged_gym.scripts.eval import configure_env_cfg, evaluate

    cfg, _ = task_registry.get_cfgs(task)
    configure_env_cfg(cfg, "none", len(commands))
    PolicySettings.of(policy_path).apply(cfg)  # as the deploy loop reads the export (e.g. its relative yaw)
    cfg.env.episode_length_s = float(seconds)
    cfg.sim.backend = "mjwarp"
    cfg.motion.cmg_model = cmg_model
    cfg.motion.cmg_foot_lock = bool(foot_lock)
    env = task_registry.get(task).env_class(cfg, device, True)
    policy = torch.jit.load(str(policy_path), map_location=env.device).eval()
    return evaluate(env, policy, 1, commands, settle_s)


def cmg_command_band(band: Sequence[Sequence[float]], low: np.ndarray, high: np.ndarray) -> List[Tuple[float, float]]:
    """The task's command band ([min, max] of vx, vy, wz) within the CMG's trained range (low, high),
    the range rounded inwards to 1e-3; ValueError when a component has no overlap."""
    out = []
    for name, (lo, hi), c_lo, c_hi in zip(("vx", "vy", "wz"), band, low, high):
        a, b = (
            max(float(lo), math.ceil(float(c_lo) * 1000) / 1000),
            min(float(hi), math.floor(float(c_hi) * 1000) / 1000),
        )
        if a > b:
            raise ValueError(
                "{} band [{:g}, {:g}] is outside the CMG's range [{:g}, {:g}]".format(name, lo, hi, c_lo, c_hi)
            )
        out.append((a, b))
    return out


def within_20_percent(summary: Dict[str, Dict[str, Any]]) -> Dict[str, Optional[bool]]:
    """The README target on the means over the commands (see the module docstring)."""
    tr, s2 = summary["training_sim"], summary["sim2sim"]
    rel = None
    if tr["cmd_vel_error_rel"] is not None and s2["cmd_vel_error_rel"] is not None:
        rel = s2["cmd_vel_error_rel"] <= 1.2 * tr["cmd_vel_error_rel"] + REL_SLACK
    return {"completion": s2["completion"] >= 0.8 * tr["completion"], "cmd_vel_error_rel": rel}


def display_path(path) -> str:
    """`path` relative to the repository when inside it."""
    resolved = Path(path).resolve()
    return str(resolved.relative_to(REPO_ROOT)) if REPO_ROOT in resolved.parents else str(path)


def main(argv: Optional[List[str]] = None) -> dict:
    from deploy_real.contract import MessageError, validate_velocity_command
    from deploy_real.policy import Policy
    from legged_gym.envs import task_registry
    from legged_gym.envs.g1.g1_mimic_cmg import G1MimicCMG
    from legged_gym.gym_utils.helpers import UsageError
    from legged_gym.scripts.eval import band_warnings, default_commands, parse_commands
    from legged_gym.scripts.eval_report import format_table
    from pose.utils.cmg_motion_lib import load_generator

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--policy_path", required=True, help="exported CMG student (TorchScript, bash to_jit.sh)")
    p.add_argument(
        "--task",
        default=None,
        help="the CMG task it was trained on (default: its metadata's, else g1_stu_rl_cmg_medium)",
    )
    p.add_argument("--commands", default=None, help='"vx,vy,wz;..." (default: a grid over the task\'s band)')
    p.add_argument("--seconds", type=float, default=10.0, help="played per command (the tasks' episodes: 10)")
    p.add_argument("--settle_s", type=float, default=0.0, help="seconds of each episode left out of the command errors")
    p.add_argument("--cmg_model", default=None, help="CMG checkpoint or run folder (default assets/cmg/cmg.pt)")
    p.add_argument("--cmg_foot_lock", action="store_true", help="for a policy trained with motion.cmg_foot_lock")
    p.add_argument("--device", default="cpu", help="device of the training simulator")
    p.add_argument("--out", default=None, help="default bench/results/sim2sim_cmg_<date>.json")
    args = p.parse_args(argv)
    if not Path(args.policy_path).is_file():
        p.error("--policy_path {}: no such file".format(args.policy_path))
    trained = Policy(args.policy_path).metadata() or {}
    if args.task is not None and trained.get("task") not in (None, args.task):
        p.error(
            "--task {}: {} was trained on {} (its export metadata)".format(args.task, args.policy_path, trained["task"])
        )
    args.task = args.task or trained.get("task") or "g1_stu_rl_cmg_medium"
    if trained.get("cmg") is not None:
        if args.cmg_foot_lock and not trained["cmg"]["foot_lock"]:
            p.error("--cmg_foot_lock: {} was trained without the foot lock".format(args.policy_path))
        args.cmg_foot_lock = bool(trained["cmg"]["foot_lock"])
    if args.task not in task_registry.task_names or not issubclass(task_registry.get(args.task).env_class, G1MimicCMG):
        p.error("--task {}: not a CMG task (g1_stu_rl_cmg_slow|medium|fast)".format(args.task))
    task_cfg = task_registry.get_cfgs(args.task)[0]
    if task_cfg.env.obs_type != "student":
        p.error(
            "--task {}: a teacher task; the deploy loop runs exported students, so name the student task the "
            "policy was trained on (g1_stu_rl_cmg_slow|medium|fast)".format(args.task)
        )
    if args.seconds < POLICY_DT:
        p.error("--seconds {}: at least one policy step ({} s)".format(args.seconds, POLICY_DT))
    if not 0.0 <= args.settle_s < args.seconds:
        p.error("--settle_s {}: expected 0 <= settle_s < --seconds ({})".format(args.settle_s, args.seconds))
    cmg = load_generator(args.cmg_model)
    low, high = np.asarray(cmg.stats.command_min, np.float64), np.asarray(cmg.stats.command_max, np.float64)
    c = task_cfg.commands
    band = (c.lin_vel_x, c.lin_vel_y, c.ang_vel_yaw)
    try:
        commands = (
            parse_commands(args.commands) if args.commands else default_commands(*cmg_command_band(band, low, high))
        )
        for command in commands:
            validate_velocity_command(list(command), low, high)
    except MessageError as e:
        p.error("--commands: {} (the high-level server refuses it)".format(e.reason))
    except (UsageError, ValueError) as e:
        p.error(str(e))
    for line in band_warnings(commands, band):
        print(line, flush=True)

    cpu = device_name(torch.device("cpu"))  # before CMGReference sets one torch thread
    t0 = time.time()
    sides = {
        "training_sim": training_sim_eval(
            args.policy_path,
            args.task,
            commands,
            args.seconds,
            args.cmg_model,
            args.cmg_foot_lock,
            args.device,
            args.settle_s,
        ),
        "sim2sim": sim2sim_eval(
            args.policy_path, commands, args.seconds, args.cmg_model, args.cmg_foot_lock, args.settle_s
        ),
    }
    rows = [
        {
            "command": [float(v) for v in command],
            "name": sides["sim2sim"]["commands"][i]["name"],
            **{
                side: {k: v for k, v in sides[side]["commands"][i].items() if k not in ("row", "name", "command")}
                for side in SIDES
            },
        }
        for i, command in enumerate(commands)
    ]
    summary: Dict[str, Any] = {side: sides[side]["summary"] for side in SIDES}
    summary["within_20_percent"] = within_20_percent(summary)
    result = {
        "benchmark": "CMG student: sim2sim vs the training simulator, per velocity command",
        "date": datetime.date.today().isoformat(),
        "device_name": cpu,
        "command": "python bench/bench_sim2sim_cmg.py "
        + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])),
        "policy": display_path(args.policy_path),
        "task": args.task,
        "cmg_model": display_path(cmg.path),
        "foot_lock": bool(args.cmg_foot_lock),
        "seconds": float(args.seconds),
        "settle_s": float(args.settle_s),
        "training_sim": "{} on MuJoCo Warp ({}), 500 Hz physics, training torque limits (0.9 x effort)".format(
            args.task, args.device
        ),
        "sim2sim": "deploy_real LowLevelSim: MuJoCo {}, 1 kHz physics, full torque limits, sim2sim model".format(
            __import__("mujoco").__version__
        ),
        "summary": summary,
        "commands": rows,
        "wall_s": time.time() - t0,
    }
    for side, title in zip(SIDES, ("training simulator ({})".format(args.task), "sim2sim (deploy loop, MuJoCo)")):
        print("\n{}\n{}".format(title, format_table(sides[side])))
    print("\nwithin 20 % of the training simulator (means over the commands): {}".format(summary["within_20_percent"]))
    out = Path(args.out) if args.out else REPO_ROOT / "bench" / "results" / "sim2sim_cmg_{}.json".format(result["date"])
    write_result(out, result, indent=1)
    print("wrote {} ({:.0f} s)".format(out, result["wall_s"]))
    return result


if __name__ == "__main__":
    main()
