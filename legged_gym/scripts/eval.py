"""Tracking benchmark of a trained policy: every clip, or CMG velocity command, played from its start.

    python legged_gym/scripts/eval.py --task g1_priv_mimic --exptid T1 --out eval/T1
    python legged_gym/scripts/eval.py --task g1_stu_rl --exptid S1 --teacher_exptid T1 --out eval/S1 --compare eval/T1
    python legged_gym/scripts/eval.py --task g1_stu_rl --exptid S1 --use_jit --rand none --num_envs_per_clip 4 --out eval/S1_jit
    python legged_gym/scripts/eval.py --task g1_stu_rl --policy_path assets/twist_general_motion_tracker.pt --out eval/shipped
    python legged_gym/scripts/eval.py --task g1_cmg_medium --exptid C1 --out eval/C1 [--commands "2.0,0,0;2.5,0,0"]

The policy is loaded as by play.py (`model_<checkpoint>.pt` of `<log root>/<proj_name>/<exptid>/`, -1 the
latest; student tasks need their teacher unless --use_jit, which runs the newest exported model of
`traced/` (or that of --checkpoint N), or --policy_path FILE, an exported model anywhere, without --exptid). Every clip of --motion_file (default: the embedded motion set) is played from t = 0 by
--num_envs_per_clip envs (K; num_envs = K x clips); each env's FIRST episode is measured, until its first
reset: a failure termination, or the end of the clip. A clip of at most 0.02 s (e.g. 2 frames at 50 fps) ends
on its first step before any is measured: such clips are refused, named, before anything is played
(`legged_gym.envs.mdp.clip_steps.check_playable`). Clips not at 50 fps get one warning: the velocity smoothing
window counts frames (docs/motion_data.md#reference-velocities). Rows are named by the clips' file stems; clips
that share a stem (two folders) by their paths from the folder those files have in common
(`eval_report.unique_clip_names`); a file listed twice is played twice, as "name (2)", and counted twice in
the summary, with one warning (`eval_report.repeated_files_warning`).

Randomisation (--rand): `none` every randomisation off (`disable_randomization`), the privileged
observation holding the values of the nominal physics; `play` TWIST's play-mode overrides
(`set_play_cfg`, default); `train` the training configuration unchanged (noise, pushes, delays, ...). In
every mode the clips start at t = 0 of their clip (no random start time).

Per clip (mean over its K envs) and in the summary (mean over clips), written to `<out>/eval.json` with a
bar chart `<out>/eval.png` and printed as a table:
- success_rate: fraction of envs that played the clip to its end without a failure termination and whose
  mean root-relative key-body error never exceeded 0.25 m on any step (an env whose failure falls on the
  clip's last step is reported by the env as a time-out, so it counts as finished);
- completion: fraction of the clip played before the first reset (1 for a clip played to its end);
- mpkpe_global_mm / mpkpe_local_mm: mean key-body (9) position error, world frame (reference shifted
  by the episode's origin) / root-relative in the root frame; the same over the 38 motion bodies:
  mpkpe_global_all_mm / mpkpe_local_all_mm;
- joint_error_rad: mean |q - q_ref|; root_vel_error_mps: mean |v_root - v_ref| (world);
  (these are means over each env's played steps, then over envs)
- root_drift_m: xy distance of the robot root from the reference root at the episode's end, and its two
  parts in the reference's heading frame (`metrics.root_offset`): root_lag_m, signed, how far the robot
  is behind the reference along the reference's heading (negative: ahead; on a clip that ends running
  backwards, a robot behind the reference on its path is ahead along its heading), and
  root_drift_lateral_m, how far beside it; a policy that falls behind at speed shows a positive mean lag, one that wanders a
  lateral part and a lag near 0, and one that overshoots and undershoots the reference's speed changes a
  mean lag near 0 with a lateral part well below the drift (per clip, lags of either sign);
  root_drift_per_10s_m: the same drift x 10 s / the clip's length (the targets' "per 10 s"; for a CMG
  row, the episode's length), comparable between clips and sets of other lengths (a linear rate: on clips
  of a few seconds or less it also scales up the offset the first steps leave, x10 on a 1-s clip, so read
  root_drift_m beside it there);
  root_heading_error_rad: |yaw - reference yaw| (wrapped to [0, pi]) at its last measured step.
  A heading error of e rad walks the robot off the reference path at sin(e) of its speed, so a drift
  with a large heading error comes from turning, not from speed.
The step on which a clip played to its end times out (t = L) is not measured: the reference has looped to
the clip's first frame there (`MotionLib.calc_motion_frame`, docs/decisions.md K5), so the errors, the
key-body limit and the heading error stop at the step before; the drift is taken on it (the looped root
is shifted by the clip's displacement, so its xy is the last frame's).
Why envs failed (`failure_causes`, per clip and in the summary): the share of the clip's envs whose first
episode ended by each failure term of the task (`legged_gym.envs.mdp.terminations.FAILURE_CAUSES`:
torso_contact, orientation, height, root_speed, pose, drift; an episode can end by several at once),
`non_finite`: the share whose simulation diverged (a NaN or infinite error, offset or heading ends the
episode as a failure there; its errors and drift are those of the step before), and `keybody_error`: the
share that played the clip to its end but exceeded the 0.25 m key-body error.
When the clips come from more than one folder (e.g. a set combined by `python -m pose.manifest`),
`groups` holds the same means per folder (named relative to the folders' common parent; `clips`: how
many), also printed after the table.
`summary_standard_error` holds each summary mean's standard error from the spread between a clip's envs
(`standard_error`; None with K = 1): the evaluation's own noise for this policy, which a difference
between two runs must exceed before it says anything (the spread between training runs comes on top).
`summary_over_clips` holds each metric's median, 90th percentile and maximum over the clip means
(`over_clips`): a mean carried by a few clips shows there.
--compare DIR2 also prints this run's summary against DIR2/eval.json (difference, ratio, whether this
run is within 25 % of that one on the worse side: the student target against its teacher, and whether
the difference is beyond two standard errors of it), then on how many of the judged metrics it is within
25 % and which it misses, and stores the same under "compared_with" in this run's eval.json. Results that
measured different things get WARNING lines first (another --rand or motion_file, tasks that are neither
the same nor a student's and its teacher's, other clips: then both are judged on the clips they share,
without standard errors; `eval_report.comparison_scope`);
`legged_gym/scripts/eval_compare.py` does the same for two finished evaluations (e.g. a student's and its
teacher's run at once). The metric functions are `legged_gym.envs.mdp.metrics`; the keys, table,
comparison and plot of a result are `legged_gym/scripts/eval_report.py`.

A student trained with the drift feedback in its block (`--set motion.student_ref_correction=true`) is
played with it from the simulator's position; `--set motion.student_odometry=estimate` takes the position
from dead reckoning instead: every step the student's state estimate of `base_lin_vel` (the checkpoint's
`policy.estimator_fields`; with --use_jit the exported model's `base_velocity`, what the deploy servers
dead-reckon with) goes to `env.advance_odometry` before the step (docs/rewards_and_terminations.md#drift-feedback).
`--set motion.student_odometry=legs` gives it the legs' kinematic velocity where that lies within
`motion.leg_odometry_gate` of the estimate (`legged_gym.envs.mdp.odometry.LegOdometry`, as the deploy servers'
--leg_odometry does), the estimate elsewhere.
eval.json then also holds "odometry" (`OdometryTracker`; summary, standard errors, spread over the rows, one
row per clip or command, and `groups` per folder as above): `odometry_error_m`, how far the dead-reckoned
position lies from the simulator's at the first episode's last step, and `estimate_bias_{x,y,z}_mps`, the
estimate's mean error against the simulator's base-frame velocity over the episode (x forward, y left, z
up): a bias that dead reckoning integrates, where the estimate's zero-mean noise largely cancels; with
`legs` also `leg_velocity_share`, the share of the steps that took the legs' velocity.

--true_estimate (a student with a state estimator, `policy.estimator_fields`; not with --use_jit): its actor
reads the simulator's values of what the estimator estimates, from the env's privileged observation of the
same step, instead of the estimate (`OnPolicyRunnerMimic.get_inference_policy_reading_truth`): how much of a
student's error its estimate costs. The dead-reckoned feedback still integrates the estimate. A diagnostic:
a robot has no such values. eval.json records it as "true_estimate".

CMG tasks (`g1_cmg_*`, `g1_stu_rl_cmg_*`: env `G1MimicCMG`) generate their references from velocity
commands, so the rows are commands instead of clips (--motion_file is refused): --commands
"vx,vy,wz;vx,vy,wz;..." (m/s, m/s, rad/s, heading frame; a command outside the task's band
`commands.lin_vel_x|lin_vel_y|ang_vel_yaw` is warned about, not refused), by default a grid over the band
(`default_commands`): vx at the band's min, middle and max with vy = wz = 0, then the middle vx with vy at
each nonzero bound of its band (+-max|vy| for the tasks' symmetric bands) and with wz at each nonzero
bound. K envs per command start at frame 0 of a reference generated for it (`G1MimicCMG.reset_to_commands`:
not mirrored, no command switch) and are measured over their first episode, which ends at a failure or at
the task's episode length (`env.episode_length_s`, 10 s; kept in every --rand mode). Rows are named
`vx2.00_vy0.00_wz0.00` and hold their `command` [vx, vy, wz]; eval.json lists them under "commands".
Besides the keys above (against the generated reference), per command and in the summary:
- cmd_vel_error_mps: mean over steps of |command (vx, vy) - pelvis velocity (x, y) in the pelvis frame|
  (`metrics.command_velocity_error`; it includes the within-stride oscillation of the pelvis);
- cmd_mean_vel_error_mps: |mean over steps of command (vx, vy) - heading-frame pelvis velocity|
  (`metrics.heading_frame_velocity` of the velocity the training metric metric_cmd_mean_vel_error uses):
  how far the speed travelled at is from the commanded one;
- cmd_vel_error_rel, cmd_mean_vel_error_rel: the two divided by the row's commanded speed |(vx, vy)|; None
  for a command slower than 0.1 m/s (`MIN_RELATIVE_SPEED`), left out of the summary's mean (None if no
  row has one);
- yaw_rate_error_radps: mean over steps of |wz - pelvis yaw rate| (`base_ang_vel` z, pelvis frame);
- cmd_mean_yaw_rate_error_radps: |mean over steps of wz - pelvis yaw rate| (as the training metric
  metric_cmd_mean_yaw_rate_error): how far the turning is from the commanded one (a robot that does not
  turn at all scores |wz|).
The table shows them too; eval.png plots success, completion and the two relative errors per command.
"""

from __future__ import annotations

import os
import sys

if __package__ in (None, ""):  # run as a file: make `legged_gym.scripts` importable from any cwd
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import legged_gym.scripts.isaacgym_first  # noqa: F401,E402  (before torch)

import datetime  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import shlex  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Dict, List, Optional, Sequence, Tuple  # noqa: E402

import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402

from legged_gym.envs.mdp.clip_steps import check_playable, window_rate_warning  # noqa: E402
from legged_gym.envs.base.humanoid_mimic_config import disable_randomization, set_play_cfg  # noqa: E402
from legged_gym.envs.g1.g1_mimic_cmg import G1MimicCMG  # noqa: E402
from legged_gym.envs.mdp import metrics, odometry  # noqa: E402
from legged_gym.envs.mdp.layout import LAYOUT  # noqa: E402
from legged_gym.envs.mdp.terminations import FAILURE_CAUSES  # noqa: E402
from legged_gym.gym_utils.cfg_override import apply_overrides  # noqa: E402
from legged_gym.gym_utils.helpers import (
    UsageError,
    build_parser,
    check_device,
    check_motion_file,  # noqa: E402
    check_sim,
    checkpoint_iteration,
    get_args,
    run_script,
)
from legged_gym.gym_utils.task_registry import task_registry  # noqa: E402
from legged_gym.scripts.play import checkpoint_runner, load_policy, require_model_args, resolve_model  # noqa: E402
from legged_gym.scripts.eval_report import (  # noqa: E402
    CMG_KEYS,
    METRIC_KEYS,
    RELATIVE_KEYS,
    comparison_record,
    format_comparison,
    format_table,
    mean_over,
    plot,
    read_eval_result,
    repeated_files_warning,
    unique_clip_names,
)

RAND_MODES = ("none", "play", "train")
#: success needs the per-step mean root-relative key-body error to stay at or below this (m)
SUCCESS_MAX_LOCAL_KEYBODY_ERROR = 0.25
#: a failure cause of eval.py's own: a step whose state gave a non-finite error (a diverged simulation)
NON_FINITE = "non_finite"
#: the keys of `failure_causes`: the failure terms, a diverged state, then a finished clip above the key-body
#: error limit
FAILURE_KEYS = FAILURE_CAUSES + (NON_FINITE, "keybody_error")
#: per-step errors accumulated over each env's first episode: name -> (metric key, scale to its unit)
STEP_ERRORS = {
    "kb_world": ("mpkpe_global_mm", 1000.0),
    "kb_local": ("mpkpe_local_mm", 1000.0),
    "all_world": ("mpkpe_global_all_mm", 1000.0),
    "all_local": ("mpkpe_local_all_mm", 1000.0),
    "joint": ("joint_error_rad", 1.0),
    "root_vel": ("root_vel_error_mps", 1.0),
}
#: root_drift_per_10s_m: each env's drift at its episode's end x this / its clip's length (s), the targets' "per 10 s"
DRIFT_PER_S = 10.0
#: commanded speed |(vx, vy)| (m/s) below which a row's relative errors are None
MIN_RELATIVE_SPEED = 0.1
COMMANDS_FORMAT = '"vx,vy,wz;vx,vy,wz;..." (m/s, m/s, rad/s; e.g. "2.0,0,0;2.5,0,0.3")'
Command = Tuple[float, float, float]


# --- configuration ------------------------------------------------------------------------------------


def configure_env_cfg(env_cfg, rand: str, num_envs: int):
    """The env config of an evaluation with randomisation mode `rand`, in place; returns env_cfg.

    none: play mode with every randomisation off; the privileged info stays on (`domain_rand_general`),
    so it holds the nominal physics (friction 1, no added mass or CoM offset, motor strength 1) as
    the buffers hold them when the randomisation flags are off, not zeros. play: `set_play_cfg`.
    train: the training config. The clips' start times are set by `reset_to_motions` in every mode.
    The task's episode length stays (not set_play_cfg's 60 s): it is the length of a CMG task's
    generated episodes; clip episodes end at the clip's end whatever it is.
    """
    if rand not in RAND_MODES:
        raise UsageError("--rand {}: expected one of {}".format(rand, ", ".join(RAND_MODES)))
    episode_length_s = env_cfg.env.episode_length_s
    if rand == "train":
        env_cfg.env.num_envs = int(num_envs)
    else:
        set_play_cfg(env_cfg, num_envs=num_envs)
    if rand == "none":
        disable_randomization(env_cfg)
        env_cfg.domain_rand.domain_rand_general = True  # privileged info of the nominal physics, not zeros
    env_cfg.env.episode_length_s = episode_length_s
    return env_cfg


def count_clips(motion_file) -> int:
    """Number of clips of a manifest or clip file (None: the embedded motion set)."""
    from pose.formats import motion_sources
    from pose.synth import default_motion_file

    return len(motion_sources(motion_file if motion_file is not None else default_motion_file()))


def command_name(command: Sequence[float]) -> str:
    """The row name of a command (vx, vy, wz): vx2.00_vy0.00_wz0.00."""
    vx, vy, wz = (float(v) + 0.0 for v in command)  # + 0.0: -0.0 prints as 0.00
    return "vx{:.2f}_vy{:.2f}_wz{:.2f}".format(vx, vy, wz)


def default_commands(
    lin_vel_x: Sequence[float], lin_vel_y: Sequence[float], ang_vel_yaw: Sequence[float]
) -> List[Command]:
    """The rows of a CMG eval without --commands, over a command band ([min, max] of vx, vy, wz): vx at
    the band's min, middle and max with vy = wz = 0; then at the middle vx, vy at each nonzero bound of
    its band (max first) with wz = 0, and wz at each nonzero bound of its band with vy = 0 (for the
    tasks' symmetric bands: +-max|vy|, +-max|wz|). Repeated rows are dropped."""
    (x0, x1), (y0, y1), (w0, w1) = ([float(v) for v in band] for band in (lin_vel_x, lin_vel_y, ang_vel_yaw))
    mid = 0.5 * (x0 + x1)
    rows = [(x0, 0.0, 0.0), (mid, 0.0, 0.0), (x1, 0.0, 0.0)]
    rows += [(mid, vy, 0.0) for vy in (y1, y0) if vy != 0.0]
    rows += [(mid, 0.0, wz) for wz in (w1, w0) if wz != 0.0]
    return list(dict.fromkeys(rows))


def parse_commands(text: str) -> List[Command]:
    """The rows of --commands "vx,vy,wz;vx,vy,wz;..." (empty items, e.g. after a final ";", skipped);
    UsageError naming the expected format on anything else than three finite numbers per item."""
    rows: List[Command] = []
    for item in text.split(";"):
        if not item.strip():
            continue
        try:
            values = [float(v) for v in item.split(",")]
        except ValueError:
            values = []
        if len(values) != 3 or not all(math.isfinite(v) for v in values):
            raise UsageError(
                "--commands {!r}: {!r} is not three numbers vx,vy,wz; expected {}".format(
                    text, item.strip(), COMMANDS_FORMAT
                )
            )
        rows.append((values[0], values[1], values[2]))
    if not rows:
        raise UsageError("--commands {!r}: no command; expected {}".format(text, COMMANDS_FORMAT))
    return rows


def band_warnings(commands: Sequence[Command], band: Sequence[Sequence[float]]) -> List[str]:
    """A warning line per command with a component outside the task's band ([min, max] of vx, vy, wz)."""
    lines = []
    for command in commands:
        outside = [
            "{} {:g} not in [{:g}, {:g}]".format(name, value, float(lo), float(hi))
            for name, value, (lo, hi) in zip(("vx", "vy", "wz"), command, band)
            if not float(lo) <= value <= float(hi)
        ]
        if outside:
            lines.append(
                "WARNING: --commands {}: {} (outside the task's command band, where the policy trained).".format(
                    command_name(command), ", ".join(outside)
                )
            )
    return lines


# --- measuring ----------------------------------------------------------------------------------------


def step_errors(
    root_pos: torch.Tensor,
    root_quat: torch.Tensor,
    root_lin_vel: torch.Tensor,
    dof_pos: torch.Tensor,
    kb: torch.Tensor,
    body_pos: torch.Tensor,
    ref_root_pos: torch.Tensor,
    ref_root_quat: torch.Tensor,
    ref_root_vel: torch.Tensor,
    ref_dof_pos: torch.Tensor,
    ref_kb: torch.Tensor,
    ref_body_pos: torch.Tensor,
) -> Dict[str, torch.Tensor]:
    """Per-step tracking errors (N,) (`STEP_ERRORS`' names) of a robot state against its reference, all
    world frame (N, ...): root position, xyzw quaternion and linear velocity, joint positions, the key
    bodies' (N, 9, 3) and all motion bodies' (N, B, 3) positions. The training env (`env_step_errors`)
    and the sim2sim benchmark (bench/bench_sim2sim_tracking.py) both score with it."""
    return {
        "kb_world": metrics.body_error_world(kb, ref_kb),
        "kb_local": metrics.body_error_local(kb, root_pos, root_quat, ref_kb, ref_root_pos, ref_root_quat),
        "all_world": metrics.body_error_world(body_pos, ref_body_pos),
        "all_local": metrics.body_error_local(body_pos, root_pos, root_quat, ref_body_pos, ref_root_pos, ref_root_quat),
        "joint": metrics.joint_error(dof_pos, ref_dof_pos),
        "root_vel": metrics.root_vel_error(root_lin_vel, ref_root_vel),
    }


def env_step_errors(env) -> Dict[str, torch.Tensor]:
    """Per-step tracking errors (N,) of every env of a HumanoidMimic against its current reference."""
    ids = env._motion_body_ids
    return step_errors(
        env.root_states[:, 0:3],
        env.base_quat,
        env.root_states[:, 7:10],
        env.dof_pos,
        env._key_body_pos(),
        env.rigid_body_states[:, ids, 0:3],
        env._ref_root_pos,
        env._ref_root_rot,
        env._ref_root_vel,
        env._ref_dof_pos,
        env._ref_key_body_pos(),
        env._ref_body_pos[:, ids],
    )


class FirstEpisodeTracker:
    """Accumulates the errors of each env's first episode. `observe(env)` runs every step once the
    terminations are decided and before the resets (the env's `pre_reset_callback`), so the last step
    of an episode is measured on the state that ended it."""

    def __init__(self, num_envs: int, device, cause_names: Sequence[str] = FAILURE_CAUSES) -> None:
        """`cause_names`: the failure terms the task has on (the keys of its `failure_causes()`)."""
        zeros = lambda: torch.zeros(num_envs, device=device)  # noqa: E731
        self.active = torch.ones(num_envs, dtype=torch.bool, device=device)
        self.steps = zeros()
        self.measured_steps = zeros()  # the steps whose errors count (`observe_step`)
        self.sums = {name: zeros() for name in STEP_ERRORS}
        self.max_kb_local = zeros()
        self.finished_clip = torch.zeros(num_envs, dtype=torch.bool, device=device)  # ended by a time-out
        self.offset = torch.zeros(num_envs, 2, device=device)  # `metrics.root_offset` of the episode's last step
        self.heading = zeros()
        self.causes = {
            name: torch.zeros(num_envs, dtype=torch.bool, device=device) for name in tuple(cause_names) + (NON_FINITE,)
        }
        self.last_ref_rot: Optional[torch.Tensor] = None  # `observe`: the reference root rotation of the step before

    def observe(self, env) -> None:
        reset, time_out = env.reset_buf.bool(), env.time_out_buf.bool()
        # A clip played to its end times out at t = L, where the env's reference has looped to the clip's
        # first frame (`MotionLib.calc_motion_frame`, docs/decisions.md K5): that step would compare the
        # robot with the first pose and heading, so it is not measured (on a CMG env, whose reference does
        # not loop, one step of an episode's 500 is left out alike), and its root offset is split along the
        # heading of the step before (the looped root's xy is the last frame's, its yaw the first's).
        looped = reset & time_out
        ref_rot = env._ref_root_rot
        heading_rot = (
            ref_rot if self.last_ref_rot is None else torch.where(looped.unsqueeze(-1), self.last_ref_rot, ref_rot)
        )
        self.last_ref_rot = ref_rot.clone()
        self.observe_step(
            env_step_errors(env),
            reset,
            time_out,
            metrics.root_offset(env.root_states[:, 0:3], env._ref_root_pos, heading_rot),
            metrics.heading_error(env.base_quat, ref_rot),
            env.failure_causes(),
            measured=~looped,
        )

    def observe_step(
        self,
        errors: Dict[str, torch.Tensor],
        reset: torch.Tensor,
        time_out: torch.Tensor,
        offset: torch.Tensor,
        heading: torch.Tensor,
        causes: Optional[Dict[str, torch.Tensor]] = None,
        measured: Optional[torch.Tensor] = None,
    ) -> None:
        """One step of every env: its `step_errors`, whether its episode ends here (`reset`), by reaching
        the clip's end (`time_out`), its root offset from the reference (N, 2) m (`metrics.root_offset`) and
        heading error (rad, `metrics.heading_error`) now, and the failure terms that fire now
        (`terminations.failures`); (N,) each but the offset. `measured` (N,) bool, default all: the envs
        whose step counts for the errors, the key-body limit and the heading error (the others' stop at
        their step before); the offset (drift, lag, lateral drift) is the one of the episode's last step,
        and completion counts every step. A step with a non-finite error, offset or heading (a diverged
        simulation) ends the episode as a failure of cause `NON_FINITE`, unmeasured: the errors and the
        offset stay those of the step before."""
        active = self.active
        finite = torch.isfinite(offset).all(dim=-1) & torch.isfinite(heading)
        for value in errors.values():
            finite &= torch.isfinite(value)
        diverged = active & ~finite
        reset = reset | diverged
        failed = active & reset & (~time_out | diverged)
        for name, mask in (causes or {}).items():
            self.causes[name] |= failed & mask
        self.causes[NON_FINITE] |= diverged
        self.steps += active.float()
        measured = (active if measured is None else active & measured) & finite
        self.measured_steps += measured.float()
        for name, value in errors.items():
            self.sums[name] += torch.where(measured, value, torch.zeros_like(value))
        self.max_kb_local = torch.where(
            measured, torch.maximum(self.max_kb_local, errors["kb_local"]), self.max_kb_local
        )
        self.heading = torch.where(measured, heading, self.heading)
        ended = active & reset
        self.finished_clip |= ended & time_out & ~diverged
        self.offset = torch.where((active & finite).unsqueeze(-1), offset, self.offset)
        self.active = active & ~ended

    def per_env(self, clip_lengths: torch.Tensor, dt: float) -> Dict[str, torch.Tensor]:
        """The metric keys, one value per env; clip_lengths (N,) s of each env's clip. Completion is 1 for a
        clip played to its end (the env counts the time-out step at t >= L, the sim2sim benchmark ends on
        the clip's last frame before it), else the time played over the clip's length. An env without a
        measured step has NaN errors (left out of the means; eval.py refuses the clips that would have
        none: `clip_steps.check_playable`)."""
        drift = torch.linalg.norm(self.offset, dim=-1)
        out = {
            "completion": torch.where(self.finished_clip, torch.ones_like(self.steps), self.steps * dt / clip_lengths),
            "success_rate": (self.finished_clip & (self.max_kb_local <= SUCCESS_MAX_LOCAL_KEYBODY_ERROR)).float(),
            "root_drift_m": drift,
            "root_drift_per_10s_m": drift * DRIFT_PER_S / clip_lengths,
            "root_lag_m": -self.offset[:, 0],
            "root_drift_lateral_m": self.offset[:, 1].abs(),
            "root_heading_error_rad": self.heading,
        }
        for name, (key, scale) in STEP_ERRORS.items():
            out[key] = self.sums[name] / self.measured_steps * scale
        return out

    def failures_per_env(self) -> Dict[str, torch.Tensor]:
        """`FAILURE_KEYS` -> (N,) 0/1: the failure terms that ended each env's first episode, and
        `keybody_error` for a clip played to its end above the key-body error limit."""
        out = {name: mask.float() for name, mask in self.causes.items()}
        out["keybody_error"] = (self.finished_clip & (self.max_kb_local > SUCCESS_MAX_LOCAL_KEYBODY_ERROR)).float()
        return out


class OdometryTracker:
    """The odometry of a dead-reckoned student (`motion.student_odometry = "estimate"` or `"legs"`) over each
    env's first episode: the base-frame error of the velocity it is given (estimate - the simulator's
    `base_lin_vel`) summed over the steps it is given in (`estimate_given`, before each step), and the
    dead-reckoned position's distance from the simulator's on the episode's last step (`observe_end`,
    every step until the episode ends; `HumanoidMimic.odometry_error`). With `legs`, also the share of those
    steps whose velocity came from the legs' kinematics (`odometry.LegOdometry.from_legs`)."""

    KEYS = ("odometry_error_m", "estimate_bias_x_mps", "estimate_bias_y_mps", "estimate_bias_z_mps")
    LEGS_KEY = "leg_velocity_share"

    def __init__(self, num_envs: int, device, legs: bool = False) -> None:
        self.keys = self.KEYS + ((self.LEGS_KEY,) if legs else ())
        self.error_sum = torch.zeros(num_envs, 3, device=device)
        self.steps = torch.zeros(num_envs, device=device)
        self.leg_steps = torch.zeros(num_envs, device=device)
        self.position_error = torch.full((num_envs,), float("nan"), device=device)

    def estimate_given(
        self,
        estimate: torch.Tensor,
        base_lin_vel: torch.Tensor,
        active: torch.Tensor,
        from_legs: Optional[torch.Tensor] = None,
    ) -> None:
        """estimate, base_lin_vel (N, 3) base frame; active (N,) bool: the envs in their first episode;
        from_legs (N,) bool: the estimates taken from the legs' kinematics."""
        error = estimate - base_lin_vel
        self.error_sum += torch.where(active.unsqueeze(-1), error, torch.zeros_like(error))
        self.steps += active.float()
        if from_legs is not None:
            self.leg_steps += (active & from_legs).float()

    def observe_end(self, position_error: torch.Tensor, active: torch.Tensor) -> None:
        """position_error (N,) m now; active (N,) bool: the envs whose first episode had not ended before
        this step (a non-finite error keeps the step before's)."""
        keep = active & torch.isfinite(position_error)
        self.position_error = torch.where(keep, position_error, self.position_error)

    def per_env(self) -> Dict[str, torch.Tensor]:
        """`KEYS` -> (N,): NaN for an env that was given no estimate (left out of the means)."""
        bias = self.error_sum / self.steps.unsqueeze(-1)
        values = {
            "odometry_error_m": self.position_error,
            "estimate_bias_x_mps": bias[:, 0],
            "estimate_bias_y_mps": bias[:, 1],
            "estimate_bias_z_mps": bias[:, 2],
            self.LEGS_KEY: self.leg_steps / self.steps,
        }
        return {k: values[k] for k in self.keys}


class CommandTracker(FirstEpisodeTracker):
    """`FirstEpisodeTracker` of a CMG env, which also sums over each env's first episode its command
    errors against its current command (`get_commands`): |command (vx, vy) - pelvis velocity (x, y) in
    the pelvis frame| (`metrics.command_velocity_error`), the residual command (vx, vy) - heading-frame
    velocity (`metrics.heading_frame_velocity` of the world velocity that `base_lin_vel` was computed
    from, as `G1MimicCMG.compute_reward` sums it for metric_cmd_mean_vel_error, so eval and training
    agree), |wz - pelvis yaw rate| (`base_ang_vel` z, pelvis frame, as `rewards.tracking_cmd_yaw`) and
    the residual wz - pelvis yaw rate (for metric_cmd_mean_yaw_rate_error's counterpart).
    `settle_steps` > 0 leaves each episode's first steps out of the command errors (a start transient,
    e.g. a robot that starts standing: bench/bench_sim2sim_cmg.py --settle_s); an episode that ends
    within them has no command errors (NaN, left out of the means)."""

    def __init__(
        self, num_envs: int, device, cause_names: Sequence[str] = FAILURE_CAUSES, settle_steps: int = 0
    ) -> None:
        super().__init__(num_envs, device, cause_names)
        self.settle_steps = int(settle_steps)
        self.cmd_steps = torch.zeros(num_envs, device=device)  # the steps whose command errors count
        self.cmd_vel_sum = torch.zeros(num_envs, device=device)
        self.yaw_rate_sum = torch.zeros(num_envs, device=device)
        self.residual_sum = torch.zeros(num_envs, 3, device=device)  # (vx, vy) heading frame, yaw rate

    def observe(self, env) -> None:
        self.observe_commands(env.get_commands(), env.base_quat, env.base_lin_vel, env.base_ang_vel)
        super().observe(env)

    def observe_commands(
        self, commands: torch.Tensor, base_quat: torch.Tensor, base_lin_vel: torch.Tensor, base_ang_vel: torch.Tensor
    ) -> None:
        """The command errors of one step of every env, before `observe_step` of that step ends episodes:
        commands (N, 3), root quaternion xyzw (N, 4), pelvis-frame linear and angular velocities (N, 3)
        (the env's `base_*`; bench/bench_sim2sim_cmg.py passes those of a MuJoCo state)."""
        vel_error = metrics.command_velocity_error(commands, base_lin_vel)
        yaw_rate_error = (commands[:, 2] - base_ang_vel[:, 2]).abs()
        residual = metrics.command_residual(commands, base_quat, base_lin_vel, base_ang_vel)
        finite = torch.isfinite(vel_error) & torch.isfinite(yaw_rate_error) & torch.isfinite(residual).all(dim=-1)
        counted = self.active & (self.steps >= self.settle_steps) & finite  # a diverged step: `observe_step`
        self.cmd_steps += counted.float()
        self.cmd_vel_sum += torch.where(counted, vel_error, torch.zeros_like(vel_error))
        self.yaw_rate_sum += torch.where(counted, yaw_rate_error, torch.zeros_like(yaw_rate_error))
        self.residual_sum += torch.where(counted.unsqueeze(-1), residual, torch.zeros_like(residual))

    def per_env(self, clip_lengths: torch.Tensor, dt: float) -> Dict[str, torch.Tensor]:
        """The base's keys and the absolute CMG keys (the relative ones are per row: `summarize_commands`)."""
        out = super().per_env(clip_lengths, dt)
        steps = self.cmd_steps.clamp_min(1.0)
        uncounted = self.cmd_steps == 0  # NaN there: no step counted
        mean_vel_error, mean_yaw_rate_error = metrics.mean_command_errors(self.residual_sum, self.cmd_steps)
        errors = {
            "cmd_vel_error_mps": self.cmd_vel_sum / steps,
            "cmd_mean_vel_error_mps": mean_vel_error,
            "yaw_rate_error_radps": self.yaw_rate_sum / steps,
            "cmd_mean_yaw_rate_error_radps": mean_yaw_rate_error,
        }
        out.update((key, value.masked_fill(uncounted, math.nan)) for key, value in errors.items())
        return out


def clip_mean_and_spread(values: torch.Tensor) -> Tuple[Optional[float], Optional[float]]:
    """A clip's values over its envs, NaN left out: their mean (None when none is left) and their
    unbiased variance over their number, the squared standard error of that mean (None with fewer than
    2 values: --num_envs_per_clip 1)."""
    values = values[~torch.isnan(values)]
    if len(values) == 0:
        return None, None
    spread = float(values.double().var(unbiased=True)) / len(values) if len(values) >= 2 else None
    return float(values.mean()), spread


def standard_error(spreads: List[Optional[float]]) -> Optional[float]:
    """Standard error of a mean over n clips from their `clip_mean_and_spread` spreads (the clips with a
    value): sqrt(sum_i s_i^2 / k_i) / n; None where a clip has no spread. It is the evaluation's own
    sampling noise for this policy (the randomisation and reset noise of --rand play; 0 under --rand
    none, where a clip's envs play alike), not the spread between training runs."""
    if not spreads or any(v is None for v in spreads):
        return None
    return math.sqrt(sum(v for v in spreads if v is not None)) / len(spreads)


def over_clips(values: List[Optional[float]]) -> Optional[Dict[str, float]]:
    """The median, 90th percentile (linear between the sorted values, as numpy's default) and maximum of
    per-clip means, the clips without a value left out (None when none has one): where a mean over clips
    is carried by a few of them (the drift of a few fast segments), the median says what a typical clip
    does and the 90th percentile how heavy the tail is."""
    kept = [float(v) for v in values if v is not None]
    if not kept:
        return None
    q = torch.quantile(torch.tensor(kept, dtype=torch.float64), torch.tensor([0.5, 0.9], dtype=torch.float64))
    return {"median": float(q[0]), "p90": float(q[1]), "max": max(kept)}


def folder_groups(files: List[str]) -> List[str]:
    """Each clip file's folder, relative to the common parent of all of them ("." for that parent)."""
    folders = [os.path.dirname(os.path.abspath(f)) for f in files]
    root = os.path.commonpath(folders) if folders else ""
    return [os.path.relpath(f, root) for f in folders]


def summarize(
    per_env: Dict[str, torch.Tensor],
    clip_of_env: torch.Tensor,
    names: List[str],
    files: Optional[List[str]] = None,
    failures: Optional[Dict[str, torch.Tensor]] = None,
    keys: Sequence[str] = METRIC_KEYS,
) -> dict:
    """{"summary": mean over clips, "summary_standard_error": its `standard_error` per key,
    "summary_over_clips": {key: `over_clips` of the clip means}, "clips": [{"clip", "name", keys: mean
    over the clip's envs}]}, and "groups" {folder: {"clips": n, keys: mean over its clips}} when `files`
    lie in several folders.
    With `failures` (`FirstEpisodeTracker.failures_per_env`) every clip row and the summary also hold
    "failure_causes" {key: share of envs} (summary: mean over clips)."""
    clips: List[Dict[str, Any]] = []
    spreads: Dict[str, List[Optional[float]]] = {key: [] for key in keys}  # of the clips with a value
    for i, name in enumerate(names):
        mask = clip_of_env == i
        row: Dict[str, Any] = {"clip": i, "name": name}
        for key in keys:
            row[key], spread = clip_mean_and_spread(per_env[key][mask])
            if row[key] is not None:
                spreads[key].append(spread)
        if failures is not None:
            row["failure_causes"] = {key: float(value[mask].mean()) for key, value in failures.items()}
        clips.append(row)
    result: Dict[str, Any] = {
        "summary": mean_over(clips, keys),
        "summary_standard_error": {key: standard_error(spreads[key]) for key in keys},
        "summary_over_clips": {key: over_clips([r[key] for r in clips]) for key in keys},
        "clips": clips,
    }
    if failures is not None:
        result["summary"]["failure_causes"] = {
            key: sum(r["failure_causes"][key] for r in clips) / max(len(clips), 1) for key in failures
        }
    groups = folder_groups(files) if files else []
    if len(set(groups)) > 1:
        result["groups"] = {
            g: dict(clips=groups.count(g), **mean_over([r for r, h in zip(clips, groups) if h == g], keys))
            for g in dict.fromkeys(groups)
        }
    return result


def summarize_commands(
    per_env: Dict[str, torch.Tensor],
    row_of_env: torch.Tensor,
    commands: Sequence[Command],
    failures: Optional[Dict[str, torch.Tensor]] = None,
) -> dict:
    """{"summary": mean over the commands, "commands": [{"row", "name", "command": [vx, vy, wz], keys}]}
    of a CMG eval: `summarize`'s means over each row's envs of METRIC_KEYS and the absolute CMG keys
    (and "failure_causes" with `failures`); the relative keys are a row's absolute errors divided by its
    commanded speed |(vx, vy)|, None below MIN_RELATIVE_SPEED (in place or barely moving: no speed to be
    relative to) and left out of the summary's mean."""
    absolute = METRIC_KEYS + tuple(k for k in CMG_KEYS if k not in RELATIVE_KEYS)
    by_row = summarize(per_env, row_of_env, [command_name(c) for c in commands], failures=failures, keys=absolute)
    order = METRIC_KEYS + CMG_KEYS + ("failure_causes",)
    rows: List[Dict[str, Any]] = []
    for row, command in zip(by_row["clips"], commands):
        speed = math.hypot(command[0], command[1])
        for key, of in RELATIVE_KEYS.items():
            row[key] = row[of] / speed if speed >= MIN_RELATIVE_SPEED and row[of] is not None else None
        out: Dict[str, Any] = {"row": row["clip"], "name": row["name"], "command": [float(v) for v in command]}
        out.update((key, row[key]) for key in order if key in row)
        rows.append(out)
    summary = dict(by_row["summary"], **mean_over(rows, tuple(RELATIVE_KEYS)))
    return {
        "summary": {key: summary[key] for key in order if key in summary},
        "summary_standard_error": by_row["summary_standard_error"],  # the absolute keys
        "commands": rows,
    }


def evaluate(
    env,
    policy,
    num_envs_per_clip: int,
    commands: Optional[Sequence[Command]] = None,
    settle_s: float = 0.0,
    velocity_estimator=None,
) -> dict:
    """Play every clip of the env's motion library from t = 0 with K envs each (`summarize`), or on a
    CMG env every one of `commands` from frame 0 with K envs each (`summarize_commands`, the command
    errors from `settle_s` into each episode on: `CommandTracker`); measure first episodes.
    velocity_estimator, given: obs -> base-velocity estimate (N, 3), fed to `env.advance_odometry`
    before every step (`odometry.DeadReckoning`: checked against the legs' kinematics first where the env's
    `motion.student_odometry` is "legs"); the result then holds "odometry" (`OdometryTracker`, summarised
    per row like the metrics). A clip no step would measure (at most 0.02 s long) is refused before
    anything is played (`clip_steps.check_playable`)."""
    lib = env._motion_lib
    if commands is None:
        check_playable(lib)
    num_rows = lib.num_motions() if commands is None else len(commands)
    row_of_env = torch.arange(num_rows, device=env.device).repeat_interleave(num_envs_per_clip)
    assert env.num_envs == len(row_of_env), (env.num_envs, len(row_of_env))
    causes = tuple(env.failure_causes())
    if commands is None:
        tracker = FirstEpisodeTracker(env.num_envs, env.device, causes)
        env.reset_to_motions(env.all_env_ids, row_of_env)
        clip_lengths = lib.get_motion_length(row_of_env)
    else:
        tracker = CommandTracker(env.num_envs, env.device, causes, int(round(settle_s / env.dt)))
        env.reset_to_commands(env.all_env_ids, torch.tensor(commands, device=env.device)[row_of_env])
        clip_lengths = lib.get_motion_length(env.all_env_ids)  # the episode length: env i plays "motion" i
    max_steps = int(math.ceil(float(clip_lengths.max()) / env.dt)) + 2  # the longest clip ends before
    reckoning = None if velocity_estimator is None else odometry.DeadReckoning(env, velocity_estimator)
    odometry_tracker = (
        None if reckoning is None else OdometryTracker(env.num_envs, env.device, legs=reckoning.legs is not None)
    )

    def observe(env) -> None:
        if odometry_tracker is not None:  # before `tracker` ends this step's episodes
            odometry_tracker.observe_end(env.odometry_error(), tracker.active)
        tracker.observe(env)

    obs = env.get_observations()
    env.pre_reset_callback = observe
    progress = tqdm(total=max_steps, desc="eval", unit="step", dynamic_ncols=True)
    try:
        for _ in range(max_steps):
            with torch.no_grad():
                actions = policy(obs.detach())
                if reckoning is not None and odometry_tracker is not None:
                    estimate = reckoning.advance(obs.detach())
                    odometry_tracker.estimate_given(estimate, env.base_lin_vel, tracker.active, reckoning.from_legs)
            obs, _, _, _, _ = env.step(actions.detach())
            playing = int(tracker.active.sum())
            progress.set_postfix_str("{}/{} envs in their first episode".format(playing, env.num_envs), refresh=False)
            progress.update()
            if playing == 0:
                break
    finally:
        progress.close()
        env.pre_reset_callback = None
    per_env, failures = tracker.per_env(clip_lengths, env.dt), tracker.failures_per_env()
    files = lib.motion_files if commands is None else None  # the rows' folder groups
    if commands is not None:
        row_names = [command_name(c) for c in commands]
        result = summarize_commands(per_env, row_of_env, commands, failures)
    else:
        row_names = unique_clip_names(lib.motion_names, lib.motion_files)
        result = summarize(per_env, row_of_env, row_names, files, failures)
    if odometry_tracker is not None:  # no failures: summary, its errors and spread, the rows, the folders
        result["odometry"] = summarize(
            odometry_tracker.per_env(), row_of_env, row_names, files, keys=odometry_tracker.keys
        )
    return result


# --- script -------------------------------------------------------------------------------------------


def base_velocity_estimator(runner, device):
    """obs -> the student's estimate of its base-frame velocity (N, 3, m/s): the `base_lin_vel` entries
    of its state estimator (`policy.estimator_fields`), for the dead-reckoned drift feedback."""
    columns = LAYOUT.estimate_columns(runner.alg.actor_critic.estimator_target, "base_lin_vel")
    if columns is None:
        raise UsageError(
            'motion.student_odometry = "estimate" needs a student whose state estimator estimates base_lin_vel '
            "(train config policy.estimator_fields, e.g. legged_gym/recipes/student_state_estimator.yaml)"
        )
    estimate = runner.get_inference_estimator(device=device)
    index = torch.tensor(columns, device=device)
    return lambda obs: estimate(obs).index_select(-1, index)


def truth_reading_policy(runner, env):
    """obs -> action of a student whose actor reads the simulator's values of what its state estimator
    estimates (the env's privileged obs of the same step) in place of the estimate (--true_estimate)."""
    try:
        reading = runner.get_inference_policy_reading_truth(env.device)
    except ValueError as e:
        raise UsageError("--true_estimate: {}".format(e)) from e
    return lambda obs: reading(obs, env.get_privileged_observations())


def exported_base_velocity(model):
    """obs -> the base-velocity estimate of an exported student (its TorchScript method `base_velocity`,
    legged_gym/scripts/save_jit_stu_rlbc.py), the one the deploy servers dead-reckon with."""
    if not hasattr(model, "base_velocity"):
        raise UsageError(
            'motion.student_odometry = "estimate" with --use_jit needs an exported student with a base-velocity '
            "estimate (method base_velocity: a student whose state estimator estimates base_lin_vel)"
        )
    return model.base_velocity


def run_eval(args) -> dict:
    require_model_args(args)
    if args.true_estimate and args.use_jit:
        raise UsageError("--true_estimate: needs a checkpoint (--exptid); an exported model reads its own estimate")
    if not args.out:
        raise UsageError("--out DIR is required (eval.json and eval.png are written there)")
    if args.num_envs_per_clip < 1:
        raise UsageError("--num_envs_per_clip {}: expected at least 1".format(args.num_envs_per_clip))
    if args.no_rand and args.rand != "none":
        raise UsageError("--no_rand: use --rand none")
    args.no_rand = False  # --rand none configures it (keeping the privileged info of the nominal physics)
    compare = read_eval_result(args.compare, "--compare") if args.compare else None
    check_device(args.device)
    check_sim(args.sim)
    task_registry.ensure_registered(args.task)
    try:
        env_cfg, train_cfg = task_registry.get_cfgs(args.task)
    except KeyError as e:
        raise UsageError("--task {}".format(e)) from e
    env_cfg.seed = train_cfg.seed
    apply_overrides(args.overrides, env_cfg, train_cfg)  # the command band as --set leaves it (make_env: again)
    commands: Optional[List[Command]] = None
    if issubclass(task_registry.get(args.task).env_class, G1MimicCMG):
        if args.motion_file is not None:
            raise UsageError(
                "--motion_file: task {} generates its references from velocity commands (--commands)".format(args.task)
            )
        c = env_cfg.commands
        band = (c.lin_vel_x, c.lin_vel_y, c.ang_vel_yaw)
        commands = default_commands(*band) if args.commands is None else parse_commands(args.commands)
        for line in band_warnings(commands, band):
            print(line, flush=True)
    elif args.commands is not None:
        raise UsageError("--commands: task {} plays clips; commands are for the CMG tasks (g1_cmg_*)".format(args.task))
    else:
        check_motion_file(args.motion_file)
    # a missing model stops here; the observation settings it records join --set (play.adopt_trained_settings),
    # which make_env applies
    model_path = resolve_model(args, train_cfg)
    num_rows = count_clips(args.motion_file) if commands is None else len(commands)
    args.num_envs = num_rows * args.num_envs_per_clip
    args.headless = True  # episodes end at the clip's end (motion_end) only in headless mode
    configure_env_cfg(env_cfg, args.rand, args.num_envs)

    env, env_cfg = task_registry.make_env(name=args.task, args=args, env_cfg=env_cfg)
    dead_reckoned = odometry.from_estimate(env_cfg.motion)  # with the model's adopted settings (make_env)
    velocity_estimator = None
    if (dead_reckoned or args.true_estimate) and not args.use_jit:
        runner = checkpoint_runner(env, args)
        policy = truth_reading_policy(runner, env) if args.true_estimate else runner.get_inference_policy(env.device)
        if dead_reckoned:
            velocity_estimator = base_velocity_estimator(runner, env.device)
    else:
        policy = load_policy(env, args)
        if dead_reckoned:
            velocity_estimator = exported_base_velocity(policy)
    if commands is None:
        for warning in (window_rate_warning(env._motion_lib), repeated_files_warning(env._motion_lib.motion_files)):
            if warning is not None:
                print(warning, flush=True)
    print(
        "Evaluating {} on {} {} x {} envs ({}, --rand {})".format(
            model_path,
            num_rows,
            "clips" if commands is None else "commands",
            args.num_envs_per_clip,
            args.sim,
            args.rand,
        ),
        flush=True,
    )
    result = evaluate(env, policy, args.num_envs_per_clip, commands, velocity_estimator=velocity_estimator)

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    argv = args.argv if getattr(args, "argv", None) is not None else sys.argv[1:]
    iteration: Optional[int] = checkpoint_iteration(model_path)
    if iteration == -1:  # an export whose name has none (--policy_path FILE)
        iteration = None
    source: Dict[str, Any]
    if commands is None:
        source = {"motion_file": "embedded set (pose.synth)" if args.motion_file is None else str(args.motion_file)}
    else:
        c = env_cfg.commands
        source = {
            "cmg_model": str(env.cmg.model_path),
            "command_band": {"lin_vel_x": c.lin_vel_x, "lin_vel_y": c.lin_vel_y, "ang_vel_yaw": c.ang_vel_yaw},
            "episode_length_s": float(env_cfg.env.episode_length_s),
        }
    result.update(
        {
            "command": "python legged_gym/scripts/eval.py " + " ".join(shlex.quote(a) for a in argv),
            "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "checkpoint": str(model_path),
            "checkpoint_iteration": iteration,
            "task": args.task,
            "settings": list(args.overrides or []),  # the --set items played with, the model's adopted ones first
            "rand": args.rand,
            "true_estimate": bool(args.true_estimate),
            **source,
            "num_envs_per_clip": args.num_envs_per_clip,
            "sim": args.sim,
            "device": str(args.device),
        }
    )
    if compare is not None:
        result["compared_with"] = comparison_record(result, compare, str(Path(args.compare) / "eval.json"))
    (out_dir / "eval.json").write_text(json.dumps(result, indent=1) + "\n")
    plot(
        result,
        out_dir / "eval.png",
        "{} {} ({}, --rand {})".format(
            args.task,
            args.exptid or Path(model_path).name,
            "exported model" if iteration is None else "iteration {}".format(iteration),
            args.rand,
        ),
    )
    print(format_table(result))
    if "odometry" in result:
        print(odometry_lines(result["odometry"]))
    if compare is not None:
        print()
        print(format_comparison(result, compare, str(Path(args.compare) / "eval.json")))
    print("Wrote {} and {}".format(out_dir / "eval.json", out_dir / "eval.png"))
    return result


def odometry_lines(odometry: dict) -> str:
    """The console lines of eval.json's "odometry" (a dead-reckoned student's; "-" where no row has a value):
    the summary, then one line per folder group."""
    s, spread = odometry["summary"], odometry["summary_over_clips"]["odometry_error_m"]

    def value(v: Optional[float], sign: str = "") -> str:
        return "-" if v is None else ("{:" + sign + ".3f}").format(v)

    def bias(row: dict) -> str:
        return ", ".join(value(row["estimate_bias_{}_mps".format(axis)], "+") for axis in "xyz")

    legs = OdometryTracker.LEGS_KEY
    lines = [
        "odometry (dead-reckoned): position error at the episode's end {} m (median {} m), "
        "velocity estimate bias x, y, z {} m/s{}".format(
            value(s["odometry_error_m"]),
            value(None if spread is None else spread["median"]),
            bias(s),
            "" if legs not in s else "; the legs' velocity on {} of the steps".format(value(s[legs])),
        )
    ]
    for name, group in odometry.get("groups", {}).items():
        lines.append(
            "  {}/ ({} clips): position error {} m, bias x, y, z {} m/s".format(
                name, group["clips"], value(group["odometry_error_m"]), bias(group)
            )
        )
    return "\n".join(lines)


def parser():
    p = build_parser(__doc__.splitlines()[0])
    p.add_argument(
        "--num_envs_per_clip",
        type=int,
        default=1,
        help="envs playing each clip, or each command of a CMG task (K; num_envs = K x rows)",
    )
    p.add_argument(
        "--commands",
        default=None,
        metavar='"VX,VY,WZ;..."',
        help="CMG tasks: the velocity commands to evaluate, m/s, m/s, rad/s (default: a grid over the task's band)",
    )
    p.add_argument(
        "--rand",
        choices=RAND_MODES,
        default="play",
        help="randomisation: none (all off), play (play-mode overrides), train (training config)",
    )
    p.add_argument(
        "--true_estimate",
        action="store_true",
        help="a student with a state estimator: its actor reads the simulator's values of what it estimates "
        "instead of the estimate (what the estimate costs; the dead reckoning still integrates the estimate)",
    )
    p.add_argument("--out", default=None, help="folder of eval.json and eval.png")
    p.add_argument("--compare", default=None, help="folder of another eval.json to compare with")
    return p


def main(argv: Optional[List[str]] = None) -> dict:
    args = get_args(argv, parser=parser())
    args.argv = list(argv) if argv is not None else sys.argv[1:]
    return run_script("eval.py", run_eval, args)


if __name__ == "__main__":
    main()
