"""The observation layout of the G1 policies: one object, `ObsLayout`, with named slices (docs/observations.md).

A `Block` is a vector made of named fields laid end to end: its `slices` tile [0, size) in field order.
`ObsLayout` holds the robot's dimensions (actions, key bodies, future steps, history length) and every
block built from them: the reference blocks, the proprioception, the privileged info, and the assembled
teacher, student-frame and student vectors. Each block is defined once, here, and the rest reads it:

- the observation builders (`mdp.observations`) concatenate their terms in the block's field order
  (`Block.concat`, which also checks each term's width) and take offsets from it (the ankle velocities);
- the noise amplitudes are a per-field vector of the proprioception block (`Block.per_field`);
- the sizes of the env config (`cfg.env.n_proprio`, `num_observations`, ...) are `LAYOUT`'s;
- the runner's policy config gets its sizes from `ObsLayout.policy_sizes` (filled in by the train entry,
  `legged_gym.gym_utils.task_registry.policy_cfg_with_obs_sizes`);
- the exporter writes `ObsLayout.student_metadata()`; the deploy builder sizes itself from the layout.

`LAYOUT` is the G1's layout (23 actions, 9 key bodies, 20 future frames, history 10).
"""

from __future__ import annotations

import functools
import json
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import torch

from pose.g1_model import load_g1

#: Future reference step offsets of the teacher (x 0.02 s): 1, 5, 10, ..., 95 (20 entries).
TAR_OBS_STEPS: Tuple[int, ...] = (1,) + tuple(range(5, 100, 5))

#: Ankle DOFs (the table's `ankle_joints`) in training order: their proprioceptive velocities are 0.
ANKLE_DOF_IDS: Tuple[int, ...] = load_g1().dof_index(load_g1().ankle_joints)


class Block:
    """A vector of named fields laid end to end, in order; `slices` tile [0, size) with no gap or overlap."""

    def __init__(self, name: str, fields: Sequence[Tuple[str, int]]) -> None:
        self.name = str(name)
        self.fields = tuple((str(f), int(n)) for f, n in fields)  # type: Tuple[Tuple[str, int], ...]
        names = [f for f, _ in self.fields]
        if len(set(names)) != len(names):
            raise ValueError("{}: field names repeat: {}".format(self.name, names))
        if any(n < 0 for _, n in self.fields):
            raise ValueError("{}: negative field size in {}".format(self.name, self.fields))
        slices = {}  # type: Dict[str, slice]
        start = 0
        for f, n in self.fields:
            slices[f] = slice(start, start + n)
            start += n
        self.slices = types.MappingProxyType(slices)  # type: Mapping[str, slice]
        self.size = start

    @property
    def names(self) -> Tuple[str, ...]:
        return tuple(f for f, _ in self.fields)

    def __getitem__(self, field: str) -> slice:
        return self.slices[field]

    def __contains__(self, field: object) -> bool:
        return field in self.slices

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Block) and (self.name, self.fields) == (other.name, other.fields)

    def __hash__(self) -> int:
        return hash((self.name, self.fields))

    def __reduce__(self):  # copy and pickle by the definition (the slices are a read-only view)
        return (Block, (self.name, self.fields))

    def __repr__(self) -> str:
        return "Block({!r}, {} = {})".format(
            self.name, " | ".join("{} {}".format(f, n) for f, n in self.fields), self.size
        )

    def spans(self) -> Dict[str, List[int]]:
        """{field: [start, stop]} (plain lists, for JSON)."""
        return {f: [s.start, s.stop] for f, s in self.slices.items()}

    def concat(self, parts: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The block from one tensor per field, joined along the last dimension in field order.

        Every field must be given, with exactly its width; anything else raises ValueError."""
        if len(parts) != len(self.fields) or any(f not in parts for f, _ in self.fields):
            raise ValueError("{}: expected the fields {}, got {}".format(self.name, list(self.names), sorted(parts)))
        for f, n in self.fields:
            width = parts[f].shape[-1]
            if width != n:
                raise ValueError("{}: field {!r} has {} entries, the layout says {}".format(self.name, f, width, n))
        return torch.cat([parts[f] for f, _ in self.fields], dim=-1)

    def per_field(self, values: Mapping[str, float], device=None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """(size,) vector holding `values[field]` on each field's entries and 0 on fields not named."""
        unknown = [f for f in values if f not in self.slices]
        if unknown:
            raise ValueError("{}: no fields {} (fields: {})".format(self.name, unknown, list(self.names)))
        vec = torch.zeros(self.size, device=device, dtype=dtype)
        for f, value in values.items():
            vec[self.slices[f]] = value
        return vec


# --- the blocks, each defined once (cached: the builders ask for them at every call) --------------------


@functools.lru_cache(maxsize=None)
def ref_root_block() -> Block:
    """The 8 root entries that open every reference block (docs/observations.md, Teacher reference block)."""
    return Block("reference root", [("root_z", 1), ("root_rpy", 3), ("root_lin_vel", 3), ("root_yaw_rate", 1)])


@functools.lru_cache(maxsize=None)
def mimic_step_block(num_dofs: int, num_key_bodies: int) -> Block:
    """One teacher reference block per future step: root 8 | dof_pos | key-body positions (58 on the G1)."""
    return Block(
        "teacher reference block",
        ref_root_block().fields + (("dof_pos", num_dofs), ("key_body_pos", 3 * num_key_bodies)),
    )


@functools.lru_cache(maxsize=None)
def mimic_block(num_dofs: int) -> Block:
    """The student reference block: the teacher block without key bodies (31 on the G1)."""
    return Block("student reference block", ref_root_block().fields + (("dof_pos", num_dofs),))


@functools.lru_cache(maxsize=None)
def proprio_block(num_dofs: int) -> Block:
    """The proprioception (74 on the G1; docs/observations.md, Proprioception)."""
    return Block(
        "proprioception",
        [("ang_vel", 3), ("roll_pitch", 2), ("dof_pos", num_dofs), ("dof_vel", num_dofs), ("last_action", num_dofs)],
    )


@functools.lru_cache(maxsize=None)
def priv_info_block(num_dofs: int, num_key_bodies: int) -> Block:
    """The privileged info (84 on the G1; docs/observations.md, Privileged info)."""
    return Block(
        "privileged info",
        [
            ("base_lin_vel", 3),
            ("root_z", 1),
            ("key_body_pos", 3 * num_key_bodies),
            ("foot_contacts", 2),
            ("mass_params", 4),
            ("friction", 1),
            ("kp_strength", num_dofs),
            ("kd_strength", num_dofs),
        ],
    )


OBS_TYPES = ("priv", "student")


@dataclass(frozen=True)
class ObsLayout:
    """Every observation vector of one robot: dimensions, blocks and their slices, and the sizes derived."""

    num_actions: int = 23
    num_key_bodies: int = 9
    tar_obs_steps: Tuple[int, ...] = TAR_OBS_STEPS
    history_len: int = 10

    # --- dimensions ---------------------------------------------------------------------------------
    @property
    def num_dofs(self) -> int:
        return self.num_actions

    @property
    def num_future_steps(self) -> int:
        return len(self.tar_obs_steps)

    # --- blocks -------------------------------------------------------------------------------------
    @property
    def mimic_step(self) -> Block:
        """One teacher reference block: [root_z, root_rpy, root_lin_vel, root_yaw_rate, dof_pos, key_body_pos]."""
        return mimic_step_block(self.num_dofs, self.num_key_bodies)

    @property
    def mimic(self) -> Block:
        """The student reference block: the first fields of `mimic_step`, without key bodies."""
        return mimic_block(self.num_dofs)

    @property
    def proprio(self) -> Block:
        """[ang_vel 3, roll_pitch 2, dof_pos, dof_vel, last_action]."""
        return proprio_block(self.num_dofs)

    @property
    def priv_info(self) -> Block:
        return priv_info_block(self.num_dofs, self.num_key_bodies)

    @functools.cached_property
    def teacher(self) -> Block:
        """Teacher obs = privileged obs: [priv_mimic (future steps x mimic_step), proprio, priv_info]."""
        return Block(
            "teacher obs",
            [("priv_mimic", self.n_priv_mimic_obs), ("proprio", self.proprio.size), ("priv_info", self.priv_info.size)],
        )

    @functools.cached_property
    def student_frame(self) -> Block:
        """One student frame, the unit of the history: [mimic, proprio]."""
        return Block("student frame", [("mimic", self.mimic.size), ("proprio", self.proprio.size)])

    @functools.cached_property
    def student(self) -> Block:
        """Student obs: [mimic, proprio, history (history_len frames, oldest first)]."""
        frame = self.student_frame
        return Block("student obs", frame.fields + (("history", self.history_len * frame.size),))

    def obs(self, obs_type: str) -> Block:
        """The policy's observation for cfg.env.obs_type: "priv" (the teacher) or "student"."""
        if obs_type not in OBS_TYPES:
            raise ValueError("obs_type {!r}: expected one of {}".format(obs_type, OBS_TYPES))
        return self.teacher if obs_type == "priv" else self.student

    # --- sizes (TWIST's cfg.env names) --------------------------------------------------------------
    @property
    def n_mimic_step(self) -> int:
        """58 on the G1."""
        return self.mimic_step.size

    @property
    def n_priv_mimic_obs(self) -> int:
        """20 x 58 = 1160."""
        return self.num_future_steps * self.mimic_step.size

    @property
    def n_mimic_obs(self) -> int:
        """31."""
        return self.mimic.size

    @property
    def n_proprio(self) -> int:
        """74."""
        return self.proprio.size

    @property
    def n_priv_info(self) -> int:
        """84."""
        return self.priv_info.size

    @property
    def n_priv_latent(self) -> int:
        """Declared in TWIST (4 + 1 + 2*23 = 51), unused by the G1 observations."""
        return 4 + 1 + 2 * self.num_dofs

    @property
    def n_teacher_obs(self) -> int:
        """1160 + 74 + 84 = 1318."""
        return self.teacher.size

    @property
    def n_priv_obs(self) -> int:
        """The privileged (critic, teacher-input) obs: the teacher obs, 1318."""
        return self.teacher.size

    @property
    def n_student_single(self) -> int:
        """31 + 74 = 105."""
        return self.student_frame.size

    @property
    def n_student_obs(self) -> int:
        """105 x (10 + 1) = 1155."""
        return self.student.size

    # --- what other parts need ----------------------------------------------------------------------
    def policy_sizes(self, obs_type: str) -> Dict[str, int]:
        """The sizes an ActorCriticMimic for this observation needs, as policy-config entries: the input and
        critic widths, and the reference (motion) part at the start of the input: all future frames for
        the teacher, the one student frame for the student. The critic reads the privileged obs."""
        if obs_type == "priv":
            motion, steps = self.n_priv_mimic_obs, self.num_future_steps
        else:
            motion, steps = self.n_mimic_obs, 1
        return {
            "num_observations": self.obs(obs_type).size,
            "num_critic_observations": self.n_priv_obs,
            "num_motion_observations": motion,
            "num_motion_steps": steps,
        }

    def priv_info_indices(self, fields: Sequence[str]) -> List[int]:
        """The privileged obs' indices of these privileged-info fields, in the order given (the targets
        of a student's state estimator, `policy.estimator_fields`; docs/learning.md#state-estimator)."""
        unknown = [f for f in fields if f not in self.priv_info]
        if unknown or not fields:
            raise ValueError(
                "estimator fields {}: expected names of the privileged info {}".format(
                    list(fields), list(self.priv_info.names)
                )
            )
        start = self.teacher["priv_info"].start
        return [start + i for f in fields for i in range(self.priv_info[f].start, self.priv_info[f].stop)]

    def estimate_columns(self, estimator_target: Optional[Sequence[int]], field: str) -> Optional[List[int]]:
        """The columns of a state estimate (`estimator_target`'s order) that hold privileged-info `field`,
        or None when the estimator does not estimate all of it."""
        target = list(estimator_target or [])
        wanted = self.priv_info_indices([field])
        return [target.index(i) for i in wanted] if set(wanted) <= set(target) else None

    def student_metadata(self) -> Dict[str, object]:
        """The student observation's layout as plain JSON values (the exporter's `obs_layout`)."""
        s = self.student
        return {
            "num_obs": s.size,
            "frame": self.student_frame.size,
            "mimic": [s["mimic"].start, s["mimic"].stop],
            "proprio": [s["proprio"].start, s["proprio"].stop],
            "history": [s["history"].start, s["history"].stop],
            "history_len": self.history_len,
            "history_order": "oldest first; each entry is a previous (mimic {} | proprio {}) frame".format(
                self.n_mimic_obs, self.n_proprio
            ),
            "mimic_fields": self.mimic.spans(),
            "proprio_fields": self.proprio.spans(),
        }


#: The G1's observation layout.
LAYOUT = ObsLayout()

#: The export metadata's name inside an exported TorchScript policy (its `_extra_files` entry): written by
#: legged_gym/scripts/save_jit_stu_rlbc.py, read by deploy_real/policy.py.
EXPORT_METADATA_FILE = "deploy_metadata.json"


def export_metadata_sidecar(model_path) -> Path:
    """The JSON copy of an export's metadata beside the model: `<exptid>-<iteration>.json` for
    `<exptid>-<iteration>-jit.pt` and `<exptid>-<iteration>.onnx` (to_jit.sh writes all three). Readers
    take it before the metadata inside the model file, so an edited copy overrides the exported one."""
    path = Path(model_path)
    stem = path.name[: -len("-jit.pt")] if path.name.endswith("-jit.pt") else path.stem
    return path.with_name(stem + ".json")


def read_export_sidecar(model_path) -> Optional[dict]:
    """The metadata JSON beside an exported model (`export_metadata_sidecar`), or None when there is none;
    a ValueError naming the file when it is not a JSON object."""
    side = export_metadata_sidecar(model_path)
    if not side.is_file():
        return None
    return export_metadata_json(side.read_text(), str(side))


def export_metadata_json(text: str, source: str) -> dict:
    """Export metadata parsed from `text`; a ValueError naming `source` when it is not a JSON object."""
    try:
        meta = json.loads(text)
    except ValueError as e:
        raise ValueError("{}: the export metadata is not JSON ({})".format(source, e)) from None
    if not isinstance(meta, dict):
        raise ValueError("{}: the export metadata is not a JSON object".format(source))
    return meta


@functools.lru_cache(maxsize=None)
def _cached_index(ids: Tuple[int, ...], device: torch.device) -> torch.Tensor:
    return torch.tensor(ids, dtype=torch.long, device=device)


def index_tensor(ids: Sequence[int], device) -> torch.Tensor:
    """A long tensor of `ids` on `device`, made once and cached: indexing with a Python list would
    copy it to the GPU (and synchronise) on every call of the env step."""
    return _cached_index(tuple(int(i) for i in ids), torch.device(device))
