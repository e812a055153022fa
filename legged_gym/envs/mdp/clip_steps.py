"""Which policy steps play a motion clip from its start, as an environment episode plays it: shared by
eval.py, the deploy high-level server (`deploy_real.motion_reference.clip_frames`) and the sim2sim benchmark,
so that all three play and score the same steps; and the checks of a motion set for them (clips too short
to play; clips whose frame rate is not the one the velocity window is meant for).
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import torch

from legged_gym.envs.mdp.observations import POLICY_DT
from legged_gym.envs.mdp.terminations import motion_end
from pose.formats import MotionFileError

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
