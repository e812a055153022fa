"""The left-right mirror maps of the observations and actions (legged_gym/envs/mdp/symmetry.py).

Checked against what they describe: the model's forward kinematics (a mirrored joint vector puts every
key body at its twin's mirrored place) and the observation builders fed with a physically mirrored state
(positions and linear velocities y -> -y, angular velocities (-x, y, -z), the quaternion reflected,
left and right feet, bodies and motor strengths swapped).
"""

from __future__ import annotations

import mujoco
import numpy as np
import pytest
import torch

from legged_gym.envs.mdp import observations as obs_terms
from legged_gym.envs.mdp import symmetry
from legged_gym.envs.mdp.layout import LAYOUT
from legged_gym.simulator.mjwarp_backend import TRAINING_MJCF
from pose.g1_model import load_g1, twin_name

G1 = load_g1()
VEC = torch.tensor([1.0, -1.0, 1.0])
AXIAL = torch.tensor([-1.0, 1.0, -1.0])


def apply(mirror, x: torch.Tensor) -> torch.Tensor:
    perm, signs = mirror
    return x[..., torch.tensor(perm)] * torch.tensor(signs, dtype=x.dtype)


def twin_ids(names):
    names = list(names)
    return torch.tensor([names.index(twin_name(n)) for n in names])


@pytest.mark.parametrize("obs_type", ["priv", "student"])
def test_observation_mirror_is_an_involution_over_the_whole_vector(obs_type):
    perm, signs = symmetry.obs_mirror(LAYOUT, obs_type)
    assert len(perm) == LAYOUT.obs(obs_type).size and sorted(perm) == list(range(len(perm)))
    assert set(signs) <= {1.0, -1.0}
    x = torch.randn(5, len(perm))
    assert torch.equal(apply((perm, signs), apply((perm, signs), x)), x)
    assert not torch.equal(apply((perm, signs), x), x)


def test_joint_mirror_matches_the_models_forward_kinematics():
    """q -> mirror(q) moves every key body to its twin's position reflected through the xz plane."""
    model = mujoco.MjModel.from_xml_path(str(TRAINING_MJCF))
    data = mujoco.MjData(model)
    rng = np.random.default_rng(0)
    adr = [model.jnt_qposadr[model.joint(n).id] for n in G1.dof_names]
    bodies = [model.body(n).id for n in G1.key_bodies if n != "head_mocap"] + [model.body("torso_link").id]
    names = [n for n in G1.key_bodies if n != "head_mocap"] + ["torso_link"]

    def key_positions(q):
        data.qpos[:] = model.qpos0
        data.qpos[adr] = q
        mujoco.mj_kinematics(model, data)
        return np.array([data.xpos[b] - data.xpos[model.body("pelvis").id] for b in bodies])

    for _ in range(3):
        q = rng.uniform(-0.5, 0.5, len(adr))
        q_m = apply(symmetry.dof_mirror(), torch.tensor(q)).numpy()
        p, p_m = key_positions(q), key_positions(q_m)
        expected = p[twin_ids(names).numpy()] * np.array([1.0, -1.0, 1.0])
        np.testing.assert_allclose(p_m, expected, atol=1e-4)  # the MJCF is symmetric to ~10 um
    # the waist's yaw and roll flip, its pitch does not
    _, signs = symmetry.dof_mirror()
    waist = {n: signs[i] for i, n in enumerate(G1.dof_names) if n.startswith("waist_")}
    assert waist == {"waist_yaw_joint": -1.0, "waist_roll_joint": -1.0, "waist_pitch_joint": 1.0}


def reflect_quat(q: torch.Tensor) -> torch.Tensor:
    """xyzw of R' = S R S, S = diag(1, -1, 1): the rotation of a mirrored body."""
    return q * torch.tensor([-1.0, 1.0, -1.0, 1.0])


def random_quat(n: int) -> torch.Tensor:
    q = torch.randn(n, 4)
    return q / q.norm(dim=-1, keepdim=True)


class State:
    """A random physical state (robot, reference frames, privileged values) and its mirror image."""

    def __init__(self, n: int, k: int, seed: int):
        g = torch.Generator().manual_seed(seed)
        r = lambda *shape: torch.randn(*shape, generator=g)  # noqa: E731
        nd, nk = LAYOUT.num_dofs, LAYOUT.num_key_bodies
        self.ref = dict(
            root_pos=r(n, k, 3),
            root_rot=random_quat(n * k).reshape(n, k, 4),
            root_lin_vel=r(n, k, 3),
            root_ang_vel=r(n, k, 3),
            dof_pos=r(n, k, nd),
            key_body_pos_local=r(n, k, nk, 3),
        )
        self.robot_yaw = r(n)
        self.proprio = dict(
            base_ang_vel_local=r(n, 3),
            base_quat=random_quat(n),
            dof_pos=r(n, nd),
            dof_vel=r(n, nd),
            last_action=r(n, nd),
        )
        self.priv = dict(
            base_lin_vel_local=r(n, 3),
            root_pos=r(n, 3),
            root_quat=random_quat(n),
            key_body_pos=r(n, nk, 3),
            feet_contact_forces=torch.stack([r(n, 3), r(n, 3)], 1) * 20.0,
            mass_params=r(n, 4),
            friction=r(n, 1),
            kp_strength=r(n, nd),
            kd_strength=r(n, nd),
        )

    def mirrored(self) -> "State":
        m = object.__new__(State)
        kb = twin_ids(G1.key_bodies)
        dof = symmetry.dof_mirror()
        dof_swap = symmetry.dof_mirror(with_signs=False)
        ref = self.ref
        m.ref = dict(
            root_pos=ref["root_pos"] * VEC,
            root_rot=reflect_quat(ref["root_rot"]),
            root_lin_vel=ref["root_lin_vel"] * VEC,
            root_ang_vel=ref["root_ang_vel"] * AXIAL,
            dof_pos=apply(dof, ref["dof_pos"]),
            key_body_pos_local=ref["key_body_pos_local"][..., kb, :] * VEC,
        )
        m.robot_yaw = -self.robot_yaw
        p = self.proprio
        m.proprio = dict(
            base_ang_vel_local=p["base_ang_vel_local"] * AXIAL,
            base_quat=reflect_quat(p["base_quat"]),
            dof_pos=apply(dof, p["dof_pos"]),
            dof_vel=apply(dof, p["dof_vel"]),
            last_action=apply(dof, p["last_action"]),
        )
        v = self.priv
        m.priv = dict(
            base_lin_vel_local=v["base_lin_vel_local"] * VEC,
            root_pos=v["root_pos"] * VEC,
            root_quat=reflect_quat(v["root_quat"]),
            key_body_pos=v["key_body_pos"][:, kb] * VEC,
            feet_contact_forces=v["feet_contact_forces"][:, [1, 0]] * VEC,
            mass_params=v["mass_params"] * torch.tensor([1.0, 1.0, -1.0, 1.0]),  # added mass, CoM offset xyz
            friction=v["friction"],
            kp_strength=apply(dof_swap, v["kp_strength"]),
            kd_strength=apply(dof_swap, v["kd_strength"]),
        )
        return m

    def proprio_obs(self) -> torch.Tensor:
        # the default pose is the G1's standing pose: the mirror must leave it unchanged
        return obs_terms.proprio_obs(**self.proprio, default_dof_pos=torch.tensor(G1.default_dof_pos))

    def teacher_obs(self, relative_yaw: bool) -> torch.Tensor:
        priv_mimic = obs_terms.priv_mimic_obs(**self.ref, robot_yaw=self.robot_yaw if relative_yaw else None)
        priv_info = obs_terms.priv_info_obs(**self.priv)
        return obs_terms.teacher_obs(priv_mimic, self.proprio_obs(), priv_info, LAYOUT)

    def student_frame(self) -> torch.Tensor:
        ref = {k: v[:, 0] for k, v in self.ref.items() if k != "key_body_pos_local"}
        mimic = obs_terms.student_mimic_obs(
            ref["root_pos"], ref["root_rot"], ref["root_lin_vel"], ref["root_ang_vel"], ref["dof_pos"]
        )
        return mimic, self.proprio_obs()


def assert_mirrors(obs, obs_of_mirror, mirror):
    # angles near +-pi may wrap to the other end: compare on the circle where the two differ by 2 pi
    diff = apply(mirror, obs) - obs_of_mirror
    diff = torch.where(diff.abs() > 6.0, diff.abs() - 2 * np.pi, diff)
    assert diff.abs().max().item() < 1e-5


@pytest.mark.parametrize("relative_yaw", [False, True])
def test_teacher_observation_of_a_mirrored_state_is_the_mirrored_observation(relative_yaw):
    state = State(n=7, k=LAYOUT.num_future_steps, seed=1)
    obs, obs_m = state.teacher_obs(relative_yaw), state.mirrored().teacher_obs(relative_yaw)
    assert_mirrors(obs, obs_m, symmetry.obs_mirror(LAYOUT, "priv"))


def test_student_observation_of_a_mirrored_state_is_the_mirrored_observation():
    frames = [State(n=4, k=1, seed=s) for s in range(LAYOUT.history_len + 1)]

    def student(states):
        singles = [torch.cat(s.student_frame(), -1) for s in states[:-1]]
        history = torch.stack(singles, 1)  # oldest first
        mimic, proprio = states[-1].student_frame()
        return obs_terms.student_obs(mimic, proprio, history, LAYOUT)

    obs, obs_m = student(frames), student([s.mirrored() for s in frames])
    assert_mirrors(obs, obs_m, symmetry.obs_mirror(LAYOUT, "student"))


def test_actions_mirror_like_joint_targets():
    assert symmetry.action_mirror() == symmetry.dof_mirror()


def test_unknown_fields_and_missing_twins_are_named():
    from legged_gym.envs.mdp.layout import Block

    with pytest.raises(ValueError, match="no mirror known for the field 'mystery'"):
        symmetry.block_mirror(Block("test", [("root_z", 1), ("mystery", 2)]), {}, symmetry.field_mirrors([]))
    with pytest.raises(ValueError, match="right_knee_link"):
        symmetry.key_body_mirror(["left_knee_link", "pelvis"])
