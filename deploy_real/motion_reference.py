"""The 33-D reference of a motion clip (or of a CMG timeline) at a time: what the high-level server streams
(the policy steps that play a clip: `legged_gym.envs.mdp.clip_steps`).

The 31 reference entries are computed by the environment's own function
(`legged_gym.envs.mdp.observations.student_mimic_obs`), so the student sees at deploy what it saw in
training; the two wrist rolls (welded in training) are streamed as 0, as TWIST does.
"""

from __future__ import annotations


import numpy as np
import torch

from deploy_real.contract import insert_wrist_rolls
from legged_gym.envs.mdp.observations import POLICY_DT, student_mimic_obs

#: The reference sent at policy step k is the clip at time (k + 1) * 0.02 s: the next frame, as the student saw in training.
LOOKAHEAD_S = POLICY_DT


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
