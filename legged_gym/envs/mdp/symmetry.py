"""Left-right mirror maps of the G1's observations and actions (docs/learning.md, Symmetry loss).

The mirror is the reflection through the robot's sagittal (xz) plane. Each observation field transforms
by a permutation of its entries and a sign per entry, read from the field's meaning:

- vectors (linear velocities, positions): (x, y, z) -> (x, -y, z);
- angular velocities and roll / pitch / yaw: (x, y, z) -> (-x, y, -z); a yaw rate or yaw entry changes sign;
- joint values (positions, velocities, actions): left and right twins swap, roll and yaw joints change
  sign (`G1Model.mirror_dofs`, from the joint axes); the waist's roll and yaw change sign too;
- per-joint factors (motor strengths): twins swap, no sign;
- key bodies: left and right twins swap, each a vector; foot contacts swap;
- scalars (heights, friction, the added mass) stay.

`obs_mirror(layout, obs_type, key_bodies)` and `action_mirror()` give (permutation, signs) with
mirrored[i] = signs[i] * x[permutation[i]] over a whole observation or action vector; applying a map
twice gives the vector back. `tests/legged_gym/test_symmetry.py` checks them against the observation
builders fed with mirrored physical states and against the model's forward kinematics.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional, Sequence, Tuple

from legged_gym.envs.mdp.layout import Block, ObsLayout
from pose.g1_model import AXIAL_SIGNS, VECTOR_SIGNS, load_g1, twin_name

Mirror = Tuple[List[int], List[float]]


def dof_mirror(with_signs: bool = True) -> Mirror:
    """(permutation, signs) of the actuated joints in training order (`G1Model.dof_mirror_map`); without
    signs for per-joint factors."""
    perm, signs = load_g1().dof_mirror_map()
    return list(perm), (list(signs) if with_signs else [1.0] * len(perm))


def key_body_mirror(key_bodies: Sequence[str]) -> Mirror:
    """(permutation, signs) of the key-body positions (bodies x xyz, flattened); every body's twin must be
    a key body too."""
    bodies = list(key_bodies)
    missing = [twin_name(b) for b in bodies if twin_name(b) not in bodies]
    if missing:
        raise ValueError("key bodies {}: their mirror needs the twins {} too".format(bodies, missing))
    perm: List[int] = []
    signs: List[float] = []
    for name in bodies:
        k = bodies.index(twin_name(name))
        perm += [3 * k + c for c in range(3)]
        signs += list(VECTOR_SIGNS)
    return perm, signs


def _fixed(signs) -> Callable[[int], Mirror]:
    return lambda n: (list(range(n)), [float(s) for s in signs])


def _even(n: int) -> Mirror:
    return list(range(n)), [1.0] * n


def field_mirrors(key_bodies: Sequence[str]) -> Dict[str, Callable[[int], Mirror]]:
    """Field name -> (width -> its mirror), for every field of the layout's blocks."""
    return {
        "root_z": _even,
        "friction": _even,
        "root_rpy": _fixed(AXIAL_SIGNS),
        "root_lin_vel": _fixed(VECTOR_SIGNS),
        "base_lin_vel": _fixed(VECTOR_SIGNS),
        "root_yaw_rate": _fixed((-1.0,)),
        "ang_vel": _fixed(AXIAL_SIGNS),
        "roll_pitch": _fixed(AXIAL_SIGNS[:2]),
        "dof_pos": lambda n: dof_mirror(),
        "dof_vel": lambda n: dof_mirror(),
        "last_action": lambda n: dof_mirror(),
        "kp_strength": lambda n: dof_mirror(with_signs=False),
        "kd_strength": lambda n: dof_mirror(with_signs=False),
        "key_body_pos": lambda n: key_body_mirror(key_bodies),
        "foot_contacts": lambda n: ([1, 0], [1.0, 1.0]),  # (left, right)
        "mass_params": _fixed((1.0, 1.0, -1.0, 1.0)),  # added pelvis mass, CoM offset xyz
    }


def block_mirror(
    block: Block, parts: Dict[str, Tuple[Block, int]], fields: Dict[str, Callable[[int], Mirror]]
) -> Mirror:
    """The mirror of `block`: each field from `fields` (`field_mirrors`), or, for a field named in `parts`, a sub-block
    repeated (block, count) times. Raises ValueError for a field without a known mirror or a width that
    disagrees with it."""
    perm: List[int] = []
    signs: List[float] = []
    for name, width in block.fields:
        start = block[name].start
        if name in parts:
            sub, count = parts[name]
            p, s = block_mirror(sub, parts, fields)
            p = [k * sub.size + i for k in range(count) for i in p]
            s = s * count
        elif name in fields:
            p, s = fields[name](width)
        else:
            raise ValueError("{}: no mirror known for the field {!r}".format(block.name, name))
        if len(p) != width or sorted(p) != list(range(width)):
            raise ValueError("{}: the mirror of {!r} does not permute its {} entries".format(block.name, name, width))
        perm += [start + i for i in p]
        signs += list(s)
    return perm, signs


def obs_mirror(layout: ObsLayout, obs_type: str, key_bodies: Optional[Sequence[str]] = None) -> Mirror:
    """(permutation, signs) of the policy observation `obs_type` ("priv": the teacher's, "student");
    key_bodies: the names behind the layout's key-body entries (default: the G1's)."""
    key_bodies = list(load_g1().key_bodies if key_bodies is None else key_bodies)
    if len(key_bodies) != layout.num_key_bodies:
        raise ValueError("{} key bodies for a layout of {}".format(len(key_bodies), layout.num_key_bodies))
    parts = {
        "priv_mimic": (layout.mimic_step, layout.num_future_steps),
        "proprio": (layout.proprio, 1),
        "priv_info": (layout.priv_info, 1),
        "mimic": (layout.mimic, 1),
        "history": (layout.student_frame, layout.history_len),
    }
    return block_mirror(layout.obs(obs_type), parts, field_mirrors(key_bodies))


def action_mirror() -> Mirror:
    """(permutation, signs) of the actions (joint targets in training order)."""
    return dof_mirror()
