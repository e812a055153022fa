"""The 33-D reference of a motion clip (or of a CMG timeline) at a time: what the high-level server streams;
and which policy steps play a clip from its start, shared by the server, eval.py and the sim2sim benchmark.

The 31 reference entries are computed by the environment's own function
(`legged_gym.envs.mdp.observations.student_mimic_obs`), so the student sees at deploy what it saw in
training; the two wrist rolls (welded in training) are streamed as 0, as TWIST does.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np
import torch

from deploy_real.contract import insert_wrist_rolls
from legged_gym.envs.mdp.observations import POLICY_DT, student_mimic_obs
from legged_gym.envs.mdp.terminations import motion_end
from pose.formats import MotionFileError

#: The reference sent at policy step k is the clip at time (k + 1) * 0.02 s: the next frame, as the student saw in training.
LOOKAHEAD_S = POLICY_DT
#: The frame rate the velocity window is meant for (`motion.vel_smooth_window`, TWIST's 19 taps: 0.38 s at 50 fps,
#: one frame per policy step); the window counts frames, so at another rate it spans another time
#: (docs/motion_data.md#reference-velocities).
WINDOW_FPS = 1.0 / POLICY_DT


def clip_step_times(length: float) -> torch.Tensor:
    """The clip times (s, float32) of the policy steps that play a clip of `length` s from its start, as an
    environment episode plays it: step k = 1, 2, ... at k x 0.02 s (as `HumanoidMimic._get_motion_times`
    computes it, in float32), every step before the one on which the episode times out at the clip's end
    (`terminations.motion_end`, against the motion library's float32 length). That step is never played for
    its reference: the motion library reads a time at or past the end as the next loop, the first frame
    again (docs/decisions.md K5). eval.py measures these steps, the high-level server streams their frames
    (`clip_frames`: step k - 1 sends time k x 0.02 s) and the sim2sim benchmark scores them on both sides.
    Empty for a clip of at most 0.02 s (`check_playable`)."""
    end = torch.tensor(float(length), dtype=torch.float32)
    steps = torch.arange(1, int(math.ceil(float(end) / POLICY_DT)) + 2)  # the last one has timed out
    return steps[~motion_end(steps, end)] * POLICY_DT


def check_playable(motion_lib, motion_ids: Optional[Sequence[int]] = None) -> None:
    """MotionFileError (a ValueError) naming every clip of `motion_ids` (default: all) that no policy step
    plays (`clip_step_times` empty): a clip of at most 0.02 s, e.g. 2 frames at 50 fps, ends on the first
    step, before any is measured or streamed."""
    ids = list(range(motion_lib.num_motions())) if motion_ids is None else [int(i) for i in motion_ids]
    lengths = motion_lib.get_motion_length(ids).cpu()
    ended_at_once = motion_end(torch.ones(len(ids), dtype=torch.long), lengths)  # clip_step_times(L) is empty
    short = [
        "{} ({}: {} frames at {:g} fps, {:.4f} s)".format(
            i,
            motion_lib.motion_files[i],
            int(motion_lib.get_motion_num_frames([i])[0]),
            float(motion_lib.get_motion_fps([i])[0]),
            float(length),
        )
        for i, length, ended in zip(ids, lengths.tolist(), ended_at_once.tolist())
        if ended
    ]
    if short:
        raise MotionFileError(
            "too short to play: clip {}; a clip must last longer than one policy step ({:g} s): "
            "leave it out of the motion set".format("; clip ".join(short), POLICY_DT)
        )


def window_rate_warning(motion_lib, motion_ids: Optional[Sequence[int]] = None) -> Optional[str]:
    """One warning line when the library smooths the velocities (a window of more than 1 tap) of clips of
    `motion_ids` (default: all) whose frame rate is not WINDOW_FPS: the window counts frames, so the same
    motion at another rate gets other reference velocities, in the observations and the streamed root
    velocity, than at the 50 fps the window is meant for; with the command that resamples a clip. None
    otherwise. Training keeps TWIST's recipe and does not warn."""
    window = int(motion_lib.smooth_window)
    ids = list(range(motion_lib.num_motions())) if motion_ids is None else [int(i) for i in motion_ids]
    fps = motion_lib.get_motion_fps().cpu().tolist()
    other = [i for i in ids if abs(fps[i] - WINDOW_FPS) > 1e-3 * WINDOW_FPS]
    if window == 1 or not other:
        return None
    rates = sorted({float(fps[i]) for i in other})
    return (
        "WARNING: {} of {} clips are not at {:g} fps ({} fps; e.g. {}): the velocity smoothing window counts "
        "frames ({} taps: {:.2f} s at {:g} fps, {} at theirs), so their reference velocities differ from those "
        "of the same motion at {:g} fps. Resample them: python -m pose.convert SRC DST --fps {:g} "
        "(docs/motion_data.md#reference-velocities)".format(
            len(other),
            len(ids),
            WINDOW_FPS,
            ", ".join("{:g}".format(f) for f in rates),
            motion_lib.motion_names[other[0]],
            window,
            window / WINDOW_FPS,
            WINDOW_FPS,
            ", ".join("{:.2f} s".format(window / f) for f in rates),
            WINDOW_FPS,
            WINDOW_FPS,
        )
    )


def reference_vectors(motion_lib, motion_id: int, times) -> np.ndarray:
    """(T, 33) reference vectors of clip `motion_id` at `times` (s, clip time of the frame wanted; passed on
    as float64, which a CMG timeline needs to stay exact without end)."""
    t = torch.as_tensor(np.atleast_1d(np.asarray(times, dtype=np.float64)))
    ids = torch.full_like(t, int(motion_id), dtype=torch.long)
    root_pos, root_rot, root_vel, root_ang_vel, dof_pos = motion_lib.calc_motion_frame(ids, t)[:5]
    mimic = student_mimic_obs(root_pos, root_rot, root_vel, root_ang_vel, dof_pos)
    return insert_wrist_rolls(mimic.double().cpu().numpy())


def mocap_qpos(motion_lib, motion_id: int, time: float) -> np.ndarray:
    """(7 + 25,) MuJoCo qpos of the kinematic model (root pos, quat wxyz, 25 joints, wrists 0) at `time`."""
    ids = torch.tensor([int(motion_id)])
    t = torch.tensor([float(time)], dtype=torch.float64)
    root_pos, root_rot, _, _, dof_pos = motion_lib.calc_motion_frame(ids, t)[:5]
    x, y, z, w = root_rot[0].tolist()
    q25 = insert_wrist_rolls(np.concatenate([np.zeros(8), dof_pos[0].double().numpy()]))[8:]
    return np.concatenate([root_pos[0].double().numpy(), [w, x, y, z], q25])
