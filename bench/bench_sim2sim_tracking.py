"""Tracking of a deployed student in sim2sim (plain MuJoCo, the deploy server's loop) vs the training
simulator (the `g1_stu_rl` environment on MuJoCo Warp), clip by clip.

    python bench/bench_sim2sim_tracking.py [--policy_path assets/twist_general_motion_tracker.pt]
        [--motion_file MANIFEST] [--clips 0 5] [--device cpu] [--drift_feedback_gains POS YAW] [--leg_odometry]
        [--out bench/results/sim2sim_tracking_<date>.json]

Both sides play each clip from its first frame with the same exported policy, no noise, no
randomisation, and are scored by the same function (`step_metrics`) on their own state:
- completion: fraction of the clip's steps played before the first failure by TWIST's termination criteria
  (`legged_gym.envs.mdp.terminations`: roll or pitch beyond 1 rad, root height more than 0.2 m off the
  reference, root speed above 5 m/s, a key body more than 0.7 m from the reference, root-relative); the
  clip's steps are the same on both sides (`legged_gym.envs.mdp.clip_steps.clip_step_times`: those an env
  episode plays before it times out at the clip's end, the frames the high-level server streams), and a
  motion set with a clip of at most 0.02 s, which has none, is refused before anything runs;
- joint error: mean |q - q_ref| (rad) over the steps before the failure;
- key-body error: mean distance (m) of the 9 key bodies to the reference, each relative to its root in
  its root frame (so the drift of the robot in the plane does not count);
- heading error: mean |yaw - yaw_ref| (rad, wrapped). TWIST's student does not observe its own yaw (only
  the reference's), so its heading can drift while its body tracks the reference; this shows how far (a
  student trained with motion.student_relative_ref_yaw sees the difference).
Both sides start facing the clip's start heading, and both use the settings the policy's export metadata
records (`reference_yaw`, `vel_smooth_window`, `drift_feedback`): the environment's
`motion.student_relative_ref_yaw` and `motion.vel_smooth_window`, the stream's velocity window, and for a
student trained with the drift feedback in its block, that feedback dead-reckoned on the policy's own
base-velocity estimate on both sides (`motion.student_odometry = "estimate"`; `deploy_real.drift_feedback`),
with the gains of --drift_feedback_gains instead of the trained ones if given, and with --leg_odometry on the
legs' kinematic velocity where it agrees with the estimate (`motion.student_odometry = "legs"`; the servers' flags).
The sim2sim side is `deploy_real.server_low_level_g1_sim.LowLevelSim` (1 kHz physics, full torque limits,
the sim2sim model's contacts) fed the high-level server's reference frames directly (no Redis, no wall
clock); the training side is the environment with its terminations switched off (scored as above).
Target (README): sim2sim within 20 % of the training simulator.
Both sides are also scored with the tracking benchmark's metrics (legged_gym/scripts/eval.py: success
rate, completion, world-frame and root-relative MPKPE, joint and root-velocity errors, root drift): the
training side by `eval.evaluate` (--rand none, one env per clip, the env's terminations), the sim2sim side
by the same per-step errors on the MuJoCo state (`sim2sim_clip`); `summary.eval_metrics` and each
clip's `*_eval`. Writes the JSON. Not a test.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path
from typing import List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.common import device_name, write_result  # noqa: E402
from legged_gym.envs.mdp import metrics, terminations  # noqa: E402
from legged_gym.scripts.eval_report import METRIC_KEYS, repeated_files_warning, unique_clip_names  # noqa: E402
from pose.g1_model import load_g1  # noqa: E402
from pose.utils.torch_utils import get_euler_xyz  # noqa: E402

G1 = load_g1()


def step_metrics(
    root_pos, root_quat, root_lin_vel, key_body_pos, dof_pos, ref_root_pos, ref_root_rot, ref_key_local, ref_dof_pos
):
    """(failed, joint error, key-body error, heading error), each (N,), of one step; inputs batched (N, ...);
    quaternions xyzw; ref_key_local (N, 9, 3) = the clip's local_body_pos at the key bodies. The errors are
    those of `legged_gym.envs.mdp.metrics` (as scripts/eval.py reports them)."""
    ref_key_world = metrics.from_root_frame(ref_key_local, ref_root_pos, ref_root_rot)
    failed = terminations.bad_orientation(root_quat)
    failed |= terminations.root_height_deviation(root_pos, ref_root_pos)
    failed |= terminations.root_speed(root_lin_vel)
    failed |= terminations.pose_deviation(key_body_pos, root_pos, root_quat, ref_key_world, ref_root_pos, ref_root_rot)
    joint_err = metrics.joint_error(dof_pos, ref_dof_pos)
    kb_err = metrics.mean_body_distance(metrics.to_root_frame(key_body_pos, root_pos, root_quat), ref_key_local)
    return failed, joint_err, kb_err, metrics.heading_error(root_quat, ref_root_rot)


class Score:
    """Accumulates step_metrics of N clips until each one's first failure."""

    def __init__(self, n: int, clip_steps: np.ndarray) -> None:
        self.alive = np.ones(n, dtype=bool)
        self.steps = np.zeros(n)
        self.joint = np.zeros(n)
        self.kb = np.zeros(n)
        self.yaw = np.zeros(n)
        self.clip_steps = clip_steps

    def add(self, failed, joint_err, kb_err, yaw_err, active) -> None:
        ok = self.alive & active & ~failed.numpy()
        self.alive &= ~(active & failed.numpy())
        self.steps += ok
        self.joint += np.where(ok, joint_err.numpy(), 0.0)
        self.kb += np.where(ok, kb_err.numpy(), 0.0)
        self.yaw += np.where(ok, yaw_err.numpy(), 0.0)

    def result(self, i: int) -> dict:
        n = max(self.steps[i], 1.0)
        return {
            "completion": float(self.steps[i] / self.clip_steps[i]),
            "joint_err_rad": float(self.joint[i] / n),
            "keybody_err_m": float(self.kb[i] / n),
            "heading_err_rad": float(self.yaw[i] / n),
            "steps": int(self.steps[i]),
        }


class PolicySettings(NamedTuple):
    """The observation settings a policy was trained with, from its export metadata (also used by
    bench/bench_sim2sim_cmg.py)."""

    relative_ref_yaw: bool
    vel_smooth_window: int
    drift_feedback: Optional[dict] = None  # the student's drift feedback (`deploy_real.drift_feedback`)
    leg_odometry: bool = False  # the feedback dead-reckoned on the legs' velocity where it agrees (--leg_odometry)

    @classmethod
    def of(cls, policy_path, drift_feedback_gains=None, leg_odometry: bool = False) -> "PolicySettings":
        """From the export metadata; `drift_feedback_gains` (POS, YAW) replaces the feedback's gains, and
        `leg_odometry` checks the estimate against the legs (as the low-level servers' flags)."""
        from deploy_real.drift_feedback import feedback_settings, with_gains
        from deploy_real.policy import Policy
        from deploy_real.student_step import reference_vel_window, reference_yaw_mode

        meta = Policy(policy_path, engine="torch").metadata()
        feedback = feedback_settings(meta)
        if drift_feedback_gains is not None:
            if feedback is None:
                raise ValueError("--drift_feedback_gains: {} has no drift_feedback in its metadata".format(policy_path))
            feedback = with_gains(feedback, drift_feedback_gains)
        if leg_odometry and feedback is None:
            raise ValueError("--leg_odometry: {} has no drift_feedback in its metadata".format(policy_path))
        return cls(reference_yaw_mode(meta) == "relative", reference_vel_window(meta), feedback, leg_odometry)

    def apply(self, cfg) -> None:
        """The env settings; with the drift feedback dead-reckoned as on the robot (`odometry`)."""
        cfg.motion.student_relative_ref_yaw = self.relative_ref_yaw
        cfg.motion.vel_smooth_window = self.vel_smooth_window
        if self.drift_feedback is not None:
            cfg.motion.student_ref_correction = True
            cfg.motion.student_odometry = "legs" if self.leg_odometry else "estimate"
            for key, value in self.drift_feedback.items():
                setattr(cfg.motion.ref_correction, key, value)

    def velocity_estimator(self, policy):
        """obs -> the base velocity the feedback dead-reckons on (`odometry.DeadReckoning`, which checks it
        against the legs where `apply` set that), or None without the feedback: a TorchScript student's estimate."""
        return None if self.drift_feedback is None else policy.base_velocity


def reference(lib, ids: torch.Tensor, times: torch.Tensor, key_idx):
    root_pos, root_rot, _, _, dof_pos, _, local_body_pos = lib.calc_motion_frame(ids, times)
    return root_pos, root_rot, local_body_pos[:, key_idx], dof_pos


def sim2sim_clip(
    policy_path,
    lib,
    clip: int,
    key_idx,
    drift_feedback_gains=None,
    policy_latency_ms: int = 0,
    leg_odometry: bool = False,
) -> Tuple[dict, dict]:
    """(this benchmark's scores, eval.py's metrics) of one clip played through the deploy server's loop.

    eval.py's metrics (`legged_gym/scripts/eval.py`: `step_errors`, `FirstEpisodeTracker`): the episode
    ends at the first failure by `step_metrics`' TWIST criteria (the env's torso-contact term is not
    applied) or at the clip's last frame (then the clip counts as finished); the robot starts facing the
    clip's start heading and the reference is the clip shifted so that its root starts at the robot's
    start position (xy), as an env episode starts. `policy_latency_ms`: the sim2sim server's
    --policy_latency_ms (bench/bench_sim2sim_latency.py); `leg_odometry`: its --leg_odometry."""
    from deploy_real.server_high_level_motion_lib import clip_frames
    from deploy_real.server_low_level_g1_sim import LowLevelSim
    from legged_gym.scripts.eval import FirstEpisodeTracker, step_errors

    # no blend-in of the stream (deploy_real.safety): the policy gets the clip from its first frame, as an env
    # episode does
    server = LowLevelSim(
        policy_path,
        link=None,
        drift_feedback_gains=drift_feedback_gains,
        leg_odometry=leg_odometry,
        policy_latency_ms=policy_latency_ms,
        reference_blend_in_s=0.0,
    )
    sim = server.sim
    refs, times = clip_frames(lib, clip)
    score = Score(1, np.array([len(refs)]))
    tracker = FirstEpisodeTracker(1, "cpu")
    body_names = lib.get_body_names()
    start, start_rot = lib.calc_motion_frame(torch.tensor([clip]), torch.tensor([0.0]))[:2]
    sim.reset(heading=float(get_euler_xyz(start_rot)[2][0]))  # facing the clip's start, as an env episode starts
    origin = torch.zeros(1, 3)
    origin[0, :2] = torch.tensor(sim.data.qpos[0:2], dtype=torch.float32) - start[0, :2]
    for k, ref in enumerate(refs):
        server.step_reference(k, ref)
        d = sim.data
        w, x, y, z = d.qpos[3:7]
        root_pos = torch.tensor(d.qpos[0:3], dtype=torch.float32).unsqueeze(0)
        root_quat = torch.tensor([x, y, z, w], dtype=torch.float32).unsqueeze(0)
        root_vel = torch.tensor(d.qvel[0:3], dtype=torch.float32).unsqueeze(0)  # free joint: world frame
        kb = torch.tensor(np.stack([d.body(b).xpos for b in G1.key_bodies]), dtype=torch.float32).unsqueeze(0)
        bodies = torch.tensor(np.stack([d.body(b).xpos for b in body_names]), dtype=torch.float32).unsqueeze(0)
        dof = torch.tensor(sim.state().dof_pos, dtype=torch.float32).unsqueeze(0)
        clip_pos, ref_rot, ref_vel, _, ref_dof, _, local = lib.calc_motion_frame(
            torch.tensor([clip]), torch.tensor([float(times[k])])
        )
        failed, joint_err, kb_err, yaw_err = step_metrics(
            root_pos, root_quat, root_vel, kb, dof, clip_pos, ref_rot, local[:, key_idx], ref_dof
        )
        score.add(failed, joint_err, kb_err, yaw_err, active=np.array([True]))
        ref_pos = clip_pos + origin  # eval.py's reference: the clip moved to start where the robot starts
        ref_body = metrics.from_root_frame(local, ref_pos, ref_rot)
        ref_kb = ref_body[:, key_idx]
        last = torch.tensor([k == len(refs) - 1])
        tracker.observe_step(
            step_errors(
                root_pos, root_quat, root_vel, dof, kb, bodies, ref_pos, ref_rot, ref_vel, ref_dof, ref_kb, ref_body
            ),
            failed | last,
            last,
            metrics.root_offset(root_pos, ref_pos, ref_rot),
            metrics.heading_error(root_quat, ref_rot),
        )
    length = lib.get_motion_length(torch.tensor([clip]))
    return score.result(0), {k: float(v[0]) for k, v in tracker.per_env(length, 0.02).items()}


def training_sim_eval(policy_path, motion_file, device: str, settings: PolicySettings) -> list:
    """eval.py's metrics of every clip in the training simulator (`evaluate`, --rand none, one env per
    clip, the env's own terminations)."""
    from legged_gym.envs import task_registry
    from legged_gym.scripts.eval import configure_env_cfg, count_clips, evaluate

    cfg, _ = task_registry.get_cfgs("g1_stu_rl")
    configure_env_cfg(cfg, "none", count_clips(motion_file))
    settings.apply(cfg)
    cfg.sim.backend = "mjwarp"
    cfg.motion.motion_file = motion_file
    env = task_registry.get("g1_stu_rl").env_class(cfg, device, True)
    policy = torch.jit.load(str(policy_path), map_location=env.device).eval()
    return evaluate(env, policy, 1, velocity_estimator=settings.velocity_estimator(policy))["clips"]


def training_sim(policy_path, motion_file, clips, device: str, key_idx, settings: PolicySettings) -> list:
    from legged_gym.envs.mdp.clip_steps import clip_step_times
    from legged_gym.envs.mdp.odometry import DeadReckoning
    from legged_gym.envs import task_registry
    from legged_gym.envs.base.humanoid_mimic_config import disable_randomization, set_play_cfg

    cfg, _ = task_registry.get_cfgs("g1_stu_rl")
    set_play_cfg(cfg, num_envs=len(clips))
    disable_randomization(cfg)
    settings.apply(cfg)
    cfg.sim.backend = "mjwarp"
    cfg.motion.motion_file = motion_file
    t = cfg.termination  # scored by step_metrics instead, on both sides
    t.torso_contact_force = t.termination_roll = t.termination_pitch = 1e9
    t.root_height_diff_threshold = t.max_root_vel = 1e9
    t.pose_termination = False
    env = task_registry.get("g1_stu_rl").env_class(cfg, device, True)
    lib = env._motion_lib
    ids = torch.tensor(clips, device=env.device)
    env.reset_to_motions(torch.arange(env.num_envs, device=env.device), ids)  # each env its own clip from t = 0
    policy = torch.jit.load(str(policy_path), map_location=env.device).eval()
    # the env ends an episode when the clip ends (motion_end): the steps before are those sim2sim streams
    played = np.array([len(clip_step_times(length)) for length in lib.get_motion_length(ids).tolist()])
    score = Score(len(clips), played)
    estimator = settings.velocity_estimator(policy)
    reckoning = None if estimator is None else DeadReckoning(env, estimator)
    for k in range(int(played.max())):
        with torch.inference_mode():
            actions = policy(env.obs_buf)
            if reckoning is not None:
                reckoning.advance(env.obs_buf)
        env.step(actions)
        r = reference(lib, ids, env._get_motion_times(), key_idx)
        metrics = step_metrics(
            env.root_states[:, 0:3], env.base_quat, env.root_states[:, 7:10], env._key_body_pos(), env.dof_pos, *r
        )
        score.add(*[m.cpu() for m in metrics], active=(k < played))
    return [score.result(i) for i in range(len(clips))]


def selected_clips(ids: Optional[List[int]], files: Sequence[str]) -> List[int]:
    """--clips: the ids of the clips to play, every clip of the set (`files`) without it; an id outside the
    set is a ValueError naming the range. Prints `repeated_files_warning` of the files played."""
    clips = list(range(len(files))) if ids is None else list(ids)
    outside = [c for c in clips if not 0 <= c < len(files)]
    if outside:
        raise ValueError("--clips {}: the motion set has clips 0 to {}".format(outside, len(files) - 1))
    warning = repeated_files_warning([files[c] for c in clips])
    if warning is not None:
        print(warning, flush=True)
    return clips


def main(argv=None) -> dict:
    from deploy_real.drift_feedback import add_gains_argument, add_leg_odometry_argument
    from legged_gym.envs.mdp.clip_steps import check_playable
    from deploy_real.policy import SHIPPED_POLICY
    from pose.synth import default_motion_file
    from pose.utils.motion_lib_pkl import MotionLib

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--policy_path", default=str(SHIPPED_POLICY))
    p.add_argument("--motion_file", default=None, help="default: the embedded motion set")
    p.add_argument("--clips", type=int, nargs="*", default=None, help="clip ids (default: all)")
    p.add_argument("--device", default="cpu", help="device of the training simulator")
    add_gains_argument(p, "play a student trained with the drift feedback with these gains on both sides (1/s)")
    add_leg_odometry_argument(p)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    motion_file = str(args.motion_file or default_motion_file())
    settings = PolicySettings.of(args.policy_path, args.drift_feedback_gains, args.leg_odometry)
    lib = MotionLib(motion_file, device="cpu", smooth_window=settings.vel_smooth_window)  # the stream's
    check_playable(lib)  # the training side evaluates every clip (eval.evaluate refuses these too)
    names = unique_clip_names(lib.motion_names, lib.motion_files)
    try:
        clips = selected_clips(args.clips, lib.motion_files)
    except ValueError as e:
        p.error(str(e))
    key_idx = lib.get_key_body_idx(G1.key_bodies)
    t0 = time.time()
    train = training_sim(args.policy_path, motion_file, clips, args.device, key_idx, settings)
    train_eval = training_sim_eval(args.policy_path, motion_file, args.device, settings)
    rows = []
    for c, tr in zip(clips, train):
        s2s, s2s_eval = sim2sim_clip(
            args.policy_path, lib, c, key_idx, args.drift_feedback_gains, leg_odometry=args.leg_odometry
        )
        tr_eval = {k: train_eval[c][k] for k in METRIC_KEYS}
        rows.append(
            {
                "clip": c,
                "name": names[c],
                "training_sim": tr,
                "sim2sim": s2s,
                "training_sim_eval": tr_eval,
                "sim2sim_eval": s2s_eval,
            }
        )
        print(
            "{:>2} {:<18} completion {:.3f} / {:.3f}  joint err {:.3f} / {:.3f} rad  key-body err {:.3f} / {:.3f} m  "
            "heading err {:.2f} / {:.2f} rad (training sim / sim2sim)".format(
                c,
                names[c],
                tr["completion"],
                s2s["completion"],
                tr["joint_err_rad"],
                s2s["joint_err_rad"],
                tr["keybody_err_m"],
                s2s["keybody_err_m"],
                tr["heading_err_rad"],
                s2s["heading_err_rad"],
            ),
            flush=True,
        )

    def mean(side, key):
        return float(np.mean([r[side][key] for r in rows]))

    summary = {
        side: {k: mean(side, k) for k in ("completion", "joint_err_rad", "keybody_err_m", "heading_err_rad")}
        for side in ("training_sim", "sim2sim")
    }
    summary["eval_metrics"] = {  # eval.py's keys, mean over the clips
        side: {k: mean(side + "_eval", k) for k in METRIC_KEYS} for side in ("training_sim", "sim2sim")
    }
    tr, s2 = summary["training_sim"], summary["sim2sim"]
    summary["within_20_percent"] = {
        "completion": s2["completion"] >= 0.8 * tr["completion"],
        "joint_err_rad": s2["joint_err_rad"] <= 1.2 * tr["joint_err_rad"],
        "keybody_err_m": s2["keybody_err_m"] <= 1.2 * tr["keybody_err_m"],
        "heading_err_rad": s2["heading_err_rad"] <= 1.2 * tr["heading_err_rad"],
    }
    result = {
        "benchmark": "sim2sim tracking vs the training simulator",
        "date": datetime.date.today().isoformat(),
        "device_name": device_name(torch.device("cpu")),
        "command": "python bench/bench_sim2sim_tracking.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "policy": str(Path(args.policy_path).resolve().relative_to(REPO_ROOT))
        if str(Path(args.policy_path).resolve()).startswith(str(REPO_ROOT))
        else str(args.policy_path),
        "motion_file": "embedded set (pose.synth)" if args.motion_file is None else args.motion_file,
        "policy_settings": settings._asdict(),
        "training_sim": "g1_stu_rl on MuJoCo Warp ({}), 500 Hz physics, training torque limits (0.9 x effort)".format(
            args.device
        ),
        "sim2sim": "deploy_real LowLevelSim: MuJoCo {}, 1 kHz physics, full torque limits, sim2sim model".format(
            __import__("mujoco").__version__
        ),
        "summary": summary,
        "clips": rows,
        "wall_s": time.time() - t0,
    }
    print(json.dumps(summary, indent=1))
    out = (
        Path(args.out)
        if args.out
        else REPO_ROOT / "bench" / "results" / "sim2sim_tracking_{}.json".format(result["date"])
    )
    write_result(out, result, indent=1)
    print("wrote", out)
    return result


if __name__ == "__main__":
    main()
