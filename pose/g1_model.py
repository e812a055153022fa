"""The Unitree G1 description, loaded from the facts table `assets/g1/g1_table.yaml`.

Everything that needs a G1 number (model generator, forward kinematics, environments, deploy
servers) reads it from `load_g1()` so that the table stays the only source.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
ASSETS_DIR = REPO_ROOT / "assets"

#: (x, y, z) of a vector and of an axial vector (angular velocity, rotation axis, roll-pitch-yaw) under the
#: left-right mirror, the reflection through the sagittal (xz) plane.
VECTOR_SIGNS = (1.0, -1.0, 1.0)
AXIAL_SIGNS = (-1.0, 1.0, -1.0)
G1_TABLE = ASSETS_DIR / "g1" / "g1_table.yaml"


@dataclass(frozen=True)
class Joint:
    name: str
    type: str  # "hinge" or "fixed"
    axis: Tuple[float, float, float] = (0.0, 0.0, 1.0)
    range: Optional[Tuple[float, float]] = None
    effort: Optional[float] = None
    velocity: Optional[float] = None


@dataclass(frozen=True)
class Collision:
    shape: str
    radius: float
    length: float
    pos: Tuple[float, float, float]
    rpy: Tuple[float, float, float] = (0.0, 0.0, 0.0)


@dataclass(frozen=True)
class Body:
    name: str
    parent: Optional[str]
    pos: Tuple[float, float, float] = (0.0, 0.0, 0.0)
    rpy: Tuple[float, float, float] = (0.0, 0.0, 0.0)
    joint: Optional[Joint] = None
    mass: float = 0.0
    com: Tuple[float, float, float] = (0.0, 0.0, 0.0)
    inertia: Tuple[float, ...] = (0.0,) * 6  # ixx ixy ixz iyy iyz izz
    collisions: Tuple[Collision, ...] = ()


@dataclass(frozen=True)
class G1Model:
    """Parsed facts table. Arrays are float64 numpy in training joint order."""

    table_path: Path
    raw: dict = field(repr=False)
    bodies: Tuple[Body, ...]
    dof_names: Tuple[str, ...]
    default_dof_pos: np.ndarray
    kp: np.ndarray
    kd: np.ndarray
    armature: np.ndarray
    dof_err_w: np.ndarray
    dof_lower: np.ndarray
    dof_upper: np.ndarray
    effort: np.ndarray
    velocity_limit: np.ndarray
    torque_safety_limit: float
    motion_bodies: Tuple[str, ...]
    key_bodies: Tuple[str, ...]
    upper_key_bodies: Tuple[str, ...]
    lower_key_bodies: Tuple[str, ...]
    feet: Tuple[str, ...]
    hands: Tuple[str, ...]
    ankle_joints: Tuple[str, ...]
    real_motor_joints: Tuple[str, ...]
    wrist_roll_joints: Tuple[dict, ...]
    standing_pelvis_height: float

    @property
    def num_dofs(self) -> int:
        return len(self.dof_names)

    @property
    def body_names(self) -> Tuple[str, ...]:
        return tuple(b.name for b in self.bodies)

    @functools.cached_property
    def body_index(self) -> Dict[str, int]:
        return {b.name: i for i, b in enumerate(self.bodies)}

    def body(self, name: str) -> Body:
        return self.bodies[self.body_index[name]]

    @property
    def total_mass(self) -> float:
        return float(sum(b.mass for b in self.bodies))

    @property
    def torque_limit(self) -> np.ndarray:
        """Simulated torque clip of training: effort x torque_safety_limit (0.9; docs/conventions.md)."""
        return self.effort * self.torque_safety_limit

    def joint_by_name(self, name: str) -> Tuple[Body, Joint]:
        for b in self.bodies:
            if b.joint is not None and b.joint.name == name:
                return b, b.joint
        raise KeyError("{}: no joint named {!r}".format(self.table_path, name))

    def dof_index(self, names: Sequence[str]) -> Tuple[int, ...]:
        """Indices of the actuated joints `names` in training order."""
        return tuple(self.dof_names.index(n) for n in names)

    def key_body_index(self, names: Sequence[str]) -> Tuple[int, ...]:
        """Positions of the bodies `names` in the key-body list (`key_bodies`)."""
        return tuple(self.key_bodies.index(n) for n in names)

    def mirror_dofs(self) -> Tuple[Tuple[int, ...], Tuple[int, ...], Tuple[float, ...]]:
        """Left/right twins of the actuated joints in training order: (left ids, right ids, signs). Mirroring a
        pose puts sign x q of each left joint on its right twin, and the other way round.

        Twins are named alike but for the `left_` / `right_` prefix. The mirror is the reflection through the
        sagittal (xz) plane: it negates rotations about x and z (roll, yaw) and keeps those about y (pitch),
        read from the joint axes of the table."""
        left: List[int] = []
        right: List[int] = []
        signs: List[float] = []
        for i, name in enumerate(self.dof_names):
            if not name.startswith("left_"):
                continue
            twin = twin_name(name)
            a = np.array(self.joint_by_name(name)[1].axis)
            b = np.array(self.joint_by_name(twin)[1].axis)
            sign = float(np.dot(a * AXIAL_SIGNS, b))
            if abs(abs(sign) - 1.0) > 1e-9:
                raise ValueError("{}: the axes of {} and {} are not mirror images".format(self.table_path, name, twin))
            left.append(i)
            right.append(self.dof_names.index(twin))
            signs.append(sign)
        return tuple(left), tuple(right), tuple(signs)

    def dof_mirror_map(self) -> Tuple[Tuple[int, ...], Tuple[float, ...]]:
        """(permutation, signs) of all actuated joints in training order under the mirror: mirrored[i] =
        signs[i] x q[permutation[i]]. Twins swap (`mirror_dofs`); a joint without a twin (the waist) keeps its
        place and changes sign when it turns about x or z."""
        left, right, twin_signs = self.mirror_dofs()
        perm = list(range(len(self.dof_names)))
        signs = [1.0] * len(self.dof_names)
        for i, j, s in zip(left, right, twin_signs):
            perm[i], perm[j] = j, i
            signs[i] = signs[j] = s
        for i, name in enumerate(self.dof_names):
            if perm[i] == i:
                axis = np.array(self.joint_by_name(name)[1].axis)
                signs[i] = float(np.dot(axis * AXIAL_SIGNS, axis))
        return tuple(perm), tuple(signs)


def twin_name(name: str) -> str:
    """The left/right twin of a joint or body name (`left_x` <-> `right_x`); a name without either prefix is
    its own twin."""
    for side, other in (("left_", "right_"), ("right_", "left_")):
        if name.startswith(side):
            return other + name[len(side) :]
    return name


def _tuple(v, n=None):
    t = tuple(float(x) for x in v)
    if n is not None and len(t) != n:
        raise ValueError("expected {} numbers, got {}".format(n, len(t)))
    return t


def _parse_body(d: dict) -> Body:
    joint = None
    if "joint" in d:
        j = d["joint"]
        joint = Joint(
            name=j["name"],
            type=j["type"],
            axis=_tuple(j.get("axis", (0.0, 0.0, 1.0)), 3),
            range=_tuple(j["range"], 2) if "range" in j else None,
            effort=float(j["effort"]) if "effort" in j else None,
            velocity=float(j["velocity"]) if "velocity" in j else None,
        )
    return Body(
        name=d["name"],
        parent=d.get("parent"),
        pos=_tuple(d.get("pos", (0, 0, 0)), 3),
        rpy=_tuple(d.get("rpy", (0, 0, 0)), 3),
        joint=joint,
        mass=float(d.get("mass", 0.0)),
        com=_tuple(d.get("com", (0, 0, 0)), 3),
        inertia=_tuple(d.get("inertia", (0,) * 6), 6),
        collisions=tuple(
            Collision(
                shape=c["shape"],
                radius=float(c["radius"]),
                length=float(c["length"]),
                pos=_tuple(c["pos"], 3),
                rpy=_tuple(c.get("rpy", (0, 0, 0)), 3),
            )
            for c in d.get("collision", ())
        ),
    )


def parse_g1_table(path) -> G1Model:
    path = Path(path)
    with open(path) as f:
        raw = yaml.safe_load(f)
    bodies = tuple(_parse_body(b) for b in raw["bodies"])
    names = [b.name for b in bodies]
    for b in bodies:
        if b.parent is not None and b.parent not in names[: names.index(b.name)]:
            raise ValueError("{}: body {!r} must come after its parent {!r}".format(path, b.name, b.parent))
    joints = {b.joint.name: b.joint for b in bodies if b.joint is not None}
    act = raw["actuated_joints"]
    dof_names = tuple(a["name"] for a in act)
    for n in dof_names:
        if n not in joints or joints[n].type != "hinge":
            raise ValueError("{}: actuated joint {!r} is not a hinge joint of the tree".format(path, n))

    def col(key):
        return np.array([float(a[key]) for a in act])

    def joint_range(n: str) -> Tuple[float, float]:
        r = joints[n].range
        assert r is not None, "{}: hinge joint {!r} has no range".format(path, n)
        return r

    for group in ("motion_bodies", "key_bodies", "upper_key_bodies", "lower_key_bodies", "feet", "hands"):
        unknown = [n for n in raw[group] if n not in names]
        if unknown:
            raise ValueError("{}: {} names unknown bodies {}".format(path, group, unknown))
    for group in ("upper_key_bodies", "lower_key_bodies"):
        if not set(raw[group]) <= set(raw["key_bodies"]):
            raise ValueError("{}: {} must be key bodies".format(path, group))
    unknown = [n for n in raw["ankle_joints"] if n not in dof_names]
    if unknown:
        raise ValueError("{}: ankle_joints names joints that are not actuated: {}".format(path, unknown))
    return G1Model(
        table_path=path,
        raw=raw,
        bodies=bodies,
        dof_names=dof_names,
        default_dof_pos=col("default"),
        kp=col("kp"),
        kd=col("kd"),
        armature=col("armature"),
        dof_err_w=col("dof_err_w"),
        dof_lower=np.array([joint_range(n)[0] for n in dof_names]),
        dof_upper=np.array([joint_range(n)[1] for n in dof_names]),
        effort=np.array([joints[n].effort for n in dof_names]),
        velocity_limit=np.array([joints[n].velocity for n in dof_names]),
        torque_safety_limit=float(raw["torque_safety_limit"]),
        motion_bodies=tuple(raw["motion_bodies"]),
        key_bodies=tuple(raw["key_bodies"]),
        upper_key_bodies=tuple(raw["upper_key_bodies"]),
        lower_key_bodies=tuple(raw["lower_key_bodies"]),
        feet=tuple(raw["feet"]),
        hands=tuple(raw["hands"]),
        ankle_joints=tuple(raw["ankle_joints"]),
        real_motor_joints=tuple(raw["real_motor_joints"]),
        wrist_roll_joints=tuple(raw["wrist_roll_joints"]),
        standing_pelvis_height=float(raw["standing_pelvis_height"]),
    )


@functools.lru_cache(maxsize=None)
def load_g1(path: Optional[str] = None) -> G1Model:
    """The G1 model of the facts table (cached). `path` overrides the default table."""
    return parse_g1_table(path or G1_TABLE)
