"""Observation dimensions and slice ranges of the G1 policies (docs/observations.md).

`DIMS` is the table for the G1 (23 DOFs, 9 key bodies, 20 future frames, history 10); the
`*_SLICES` dicts name the ranges inside each block and each assembled vector, so that the
environment, the networks, the deploy servers and the tests index the same way.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Dict, Sequence, Tuple

import torch

#: Future reference step offsets of the teacher (x 0.02 s): 1, 5, 10, ..., 95 (20 entries).
TAR_OBS_STEPS: Tuple[int, ...] = (1,) + tuple(range(5, 100, 5))

#: Ankle DOFs (left pitch/roll, right pitch/roll) in training order.
ANKLE_DOF_IDS: Tuple[int, ...] = (4, 5, 10, 11)


@dataclass(frozen=True)
class ObsDims:
    """Dimension constants (docs/observations.md, Dimensions; values for the G1 by default)."""

    num_actions: int = 23
    num_key_bodies: int = 9
    tar_obs_steps: Tuple[int, ...] = TAR_OBS_STEPS
    history_len: int = 10

    @property
    def num_dofs(self) -> int:
        return self.num_actions

    @property
    def num_future_steps(self) -> int:
        return len(self.tar_obs_steps)

    @property
    def n_mimic_step(self) -> int:
        """Per-future-step teacher reference block: 1 + 3 + 3 + 1 + 23 + 9*3 = 58."""
        return 8 + self.num_dofs + 3 * self.num_key_bodies

    @property
    def n_priv_mimic_obs(self) -> int:
        """20 x 58 = 1160."""
        return self.num_future_steps * self.n_mimic_step

    @property
    def n_mimic_obs(self) -> int:
        """Student reference block: 8 + 23 = 31."""
        return 8 + self.num_dofs

    @property
    def n_proprio(self) -> int:
        """3 + 2 + 3*23 = 74."""
        return 5 + 3 * self.num_dofs

    @property
    def n_priv_info(self) -> int:
        """3 + 1 + 27 + 2 + 4 + 1 + 2*23 = 84."""
        return 3 + 1 + 3 * self.num_key_bodies + 2 + 4 + 1 + 2 * self.num_dofs

    @property
    def n_priv_latent(self) -> int:
        """Declared in TWIST (4 + 1 + 2*23 = 51), unused by the G1 observations."""
        return 4 + 1 + 2 * self.num_dofs

    @property
    def n_teacher_obs(self) -> int:
        """Teacher obs = privileged obs = 1160 + 74 + 84 = 1318."""
        return self.n_priv_mimic_obs + self.n_proprio + self.n_priv_info

    @property
    def n_priv_obs(self) -> int:
        return self.n_teacher_obs

    @property
    def n_student_single(self) -> int:
        """31 + 74 = 105."""
        return self.n_mimic_obs + self.n_proprio

    @property
    def n_student_obs(self) -> int:
        """105 x (10 + 1) = 1155."""
        return self.n_student_single * (self.history_len + 1)


DIMS = ObsDims()


def _ranges(sizes) -> Dict[str, slice]:
    out, start = {}, 0
    for name, n in sizes:
        out[name] = slice(start, start + n)
        start += n
    return out


def mimic_step_slices(d: ObsDims = DIMS) -> Dict[str, slice]:
    """Inside one 58-D teacher reference block (the student 31-D block is its first 31 entries)."""
    return _ranges([("root_z", 1), ("root_rpy", 3), ("root_lin_vel", 3), ("root_yaw_rate", 1),
                    ("dof_pos", d.num_dofs), ("key_body_pos", 3 * d.num_key_bodies)])


def proprio_slices(d: ObsDims = DIMS) -> Dict[str, slice]:
    """Inside the 74-D proprioception block (docs/observations.md, Proprioception)."""
    return _ranges([("ang_vel", 3), ("roll_pitch", 2), ("dof_pos", d.num_dofs),
                    ("dof_vel", d.num_dofs), ("last_action", d.num_actions)])


def priv_info_slices(d: ObsDims = DIMS) -> Dict[str, slice]:
    """Inside the 84-D privileged-info block (docs/observations.md, Privileged info)."""
    return _ranges([("base_lin_vel", 3), ("root_z", 1), ("key_body_pos", 3 * d.num_key_bodies),
                    ("foot_contacts", 2), ("mass_params", 4), ("friction", 1),
                    ("kp_strength", d.num_dofs), ("kd_strength", d.num_dofs)])


def teacher_slices(d: ObsDims = DIMS) -> Dict[str, slice]:
    """Teacher / privileged vector: mimic [0,1160), proprio [1160,1234), priv info [1234,1318)."""
    return _ranges([("priv_mimic", d.n_priv_mimic_obs), ("proprio", d.n_proprio),
                    ("priv_info", d.n_priv_info)])


def student_slices(d: ObsDims = DIMS) -> Dict[str, slice]:
    """Student vector: mimic [0,31), proprio [31,105), history [105,1155) oldest first."""
    return _ranges([("mimic", d.n_mimic_obs), ("proprio", d.n_proprio),
                    ("history", d.history_len * d.n_student_single)])


MIMIC_STEP_SLICES = mimic_step_slices()
PROPRIO_SLICES = proprio_slices()
PRIV_INFO_SLICES = priv_info_slices()
TEACHER_SLICES = teacher_slices()
STUDENT_SLICES = student_slices()


@functools.lru_cache(maxsize=None)
def _cached_index(ids: Tuple[int, ...], device: torch.device) -> torch.Tensor:
    return torch.tensor(ids, dtype=torch.long, device=device)


def index_tensor(ids: Sequence[int], device) -> torch.Tensor:
    """A long tensor of `ids` on `device`, made once and cached: indexing with a Python list would
    copy it to the GPU (and synchronise) on every call of the env step."""
    return _cached_index(tuple(int(i) for i in ids), torch.device(device))
