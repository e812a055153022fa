"""Reward terms of legged_gym.envs.mdp.rewards on crafted states.

Expected numbers are written by hand (or computed with numpy / scipy Rotation) from the formulas of
docs/rewards_and_terminations.md, never by calling the function under test.
"""

import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation as R

from legged_gym.envs.base.reward_terms import TERMS
from legged_gym.envs.g1.g1_mimic_cmg_config import G1MimicCMGCfg, G1MimicStuRLCMGCfg
from legged_gym.envs.g1.g1_mimic_distill_config import G1MimicPrivCfg, G1MimicStuRLCfg
from legged_gym.envs.mdp import rewards as rw
from legged_gym.gym_utils.helpers import class_to_dict
from pose.g1_model import load_g1

G1 = load_g1()
W = torch.as_tensor(G1.dof_err_w)
# TWIST's kernel parameters (the configs' `rewards.params`)
ROOT_POSE = dict(coef=5.0, rot_weight=0.1, height_only=True)
ROOT_VEL = dict(coef=1.0, ang_weight=0.5)
AIR_TIME = dict(target=0.5, contact_threshold=5.0, min_ref_speed=0.05)


def t64(x):
    return torch.tensor(np.asarray(x), dtype=torch.float64)  # a copy: no shared memory


def approx(x, expected, tol=1e-9):
    np.testing.assert_allclose(np.asarray(x, dtype=np.float64), expected, atol=tol, rtol=0)


# --- the robot exactly on the reference ------------------------------------------------------------


@pytest.fixture
def on_reference():
    rng = np.random.default_rng(0)
    n = 8
    rpy = rng.uniform(-0.4, 0.4, size=(n, 3))
    rpy[:, 2] = rng.uniform(-3, 3, n)
    r = R.from_euler("xyz", rpy)
    root = rng.uniform(-2, 2, size=(n, 3))
    root[:, 2] = 0.8
    kb = root[:, None] + rng.uniform(-1, 1, size=(n, 9, 3))
    v, w = rng.normal(size=(n, 3)), rng.normal(size=(n, 3))
    s = dict(
        root_pos=t64(root),
        root_quat=t64(r.as_quat()),
        key_body_pos=t64(kb),
        v_world=t64(v),
        w_world=t64(w),
        v_local=t64(r.inv().apply(v)),
        w_local=t64(r.inv().apply(w)),
        dof_pos=t64(rng.uniform(-1, 1, (n, 23))),
        dof_vel=t64(rng.uniform(-3, 3, (n, 23))),
    )
    return s


def test_every_tracking_reward_is_one_on_the_reference(on_reference):
    s = on_reference
    w = W.double()
    ones = np.ones(s["root_pos"].shape[0])
    approx(rw.tracking_joint_dof(s["dof_pos"], s["dof_pos"].clone(), w, coef=0.15), ones)
    approx(rw.tracking_joint_vel(s["dof_vel"], s["dof_vel"].clone(), w, coef=0.01), ones)
    approx(
        rw.tracking_root_pose(
            s["root_pos"], s["root_quat"], s["root_pos"].clone(), s["root_quat"].clone(), **ROOT_POSE
        ),
        ones,
    )
    approx(
        rw.tracking_root_vel(s["v_local"], s["w_local"], s["root_quat"], s["v_world"], s["w_world"], **ROOT_VEL), ones
    )
    kb_args = (
        s["key_body_pos"],
        s["root_pos"],
        s["root_quat"],
        s["key_body_pos"].clone(),
        s["root_pos"].clone(),
        s["root_quat"].clone(),
    )
    approx(rw.tracking_keybody_pos(*kb_args, coef=10.0), ones)
    approx(rw.tracking_keybody_pos(*kb_args, body_ids=rw.LOWER_KEY_BODY_IDS, coef=10.0), ones)
    approx(rw.tracking_keybody_pos_upper(*kb_args, coef=5.0), ones)
    cmd = torch.cat([s["v_local"][:, :2], s["w_local"][:, 2:3]], dim=-1)
    approx(rw.tracking_cmd_vel(cmd, s["v_local"], coef=2.0), ones)
    approx(rw.tracking_cmd_yaw(cmd, s["w_local"], coef=1.0), ones)
    a_right = torch.randn(8, 10, dtype=torch.float64)
    actions = torch.zeros(8, 23, dtype=torch.float64)
    actions[:, list(rw.SYMMETRY_RIGHT_IDS)] = a_right
    actions[:, list(rw.SYMMETRY_LEFT_IDS)] = a_right * torch.tensor(rw.SYMMETRY_SIGNS, dtype=torch.float64)
    approx(rw.action_symmetry(actions, coef=0.5), ones)


# --- tracking kernels off the reference -----------------------------------------------------------


def test_tracking_joint_dof_and_vel_kernels():
    q_ref = torch.zeros(1, 23, dtype=torch.float64)
    q = q_ref.clone()
    q[0, 0] = 0.2  # w = 1.0
    q[0, 4] = -0.4  # w = 0.5 (ankle pitch)
    approx(rw.tracking_joint_dof(q, q_ref, W.double(), coef=0.15), [math.exp(-0.15 * (0.04 + 0.5 * 0.16))])
    qd = q_ref.clone()
    qd[0, 12] = 2.0  # waist yaw, w = 0.6
    approx(rw.tracking_joint_vel(qd, q_ref, W.double(), coef=0.01), [math.exp(-0.01 * 0.6 * 4.0)])


def test_tracking_root_pose_height_and_angle_including_yaw():
    ref_pos = t64([[1.0, 2.0, 0.8]])
    pos = t64([[5.0, -3.0, 0.7]])  # xy is ignored (global_obs False), z off by 0.1
    ref_q = t64([R.from_euler("xyz", [0.0, 0.0, 0.5]).as_quat()])
    q = t64([R.from_euler("xyz", [0.0, 0.0, 0.8]).as_quat()])  # 0.3 rad yaw error counts
    approx(rw.tracking_root_pose(pos, q, ref_pos, ref_q, **ROOT_POSE), [math.exp(-5.0 * (0.01 + 0.1 * 0.09))])
    # Quaternion sign must not matter (w made non-negative).
    approx(rw.tracking_root_pose(pos, -q, ref_pos, ref_q, **ROOT_POSE), [math.exp(-5.0 * (0.01 + 0.1 * 0.09))])
    # TWIST's global_obs: the xy error counts too.
    approx(
        rw.tracking_root_pose(pos, q, ref_pos, ref_q, coef=5.0, rot_weight=0.1, height_only=False),
        [math.exp(-5.0 * (16.0 + 25.0 + 0.01 + 0.1 * 0.09))],
    )


def test_tracking_root_yaw_rate_compares_world_yaw_rates_only():
    w_robot = t64([[5.0, -3.0, 0.1], [0.0, 0.0, -0.3]])  # roll and pitch rates do not count
    w_ref = t64([[0.0, 0.0, 0.3], [1.0, 2.0, -0.3]])
    approx(rw.tracking_root_yaw_rate(w_robot, w_ref, coef=4.0), [math.exp(-4.0 * 0.2**2), 1.0])


def test_tracking_root_vel_reference_rotated_into_its_frame():
    ref_q = t64([[0.0, 0.0, math.sin(math.pi / 4), math.cos(math.pi / 4)]])  # yaw +90 deg
    ref_v = t64([[1.0, 0.0, 0.0]])  # world +x = root-frame -y
    ref_w = t64([[0.0, 0.0, 0.4]])
    approx(
        rw.tracking_root_vel(t64([[0.0, -1.0, 0.0]]), t64([[0.0, 0.0, 0.4]]), ref_q, ref_v, ref_w, **ROOT_VEL), [1.0]
    )
    approx(
        rw.tracking_root_vel(t64([[0.5, -1.0, 0.0]]), t64([[0.0, 0.0, 0.0]]), ref_q, ref_v, ref_w, **ROOT_VEL),
        [math.exp(-(0.25 + 0.5 * 0.16))],
    )


def test_tracking_keybody_yaw_only_frames():
    rng = np.random.default_rng(1)
    rel = rng.uniform(-1, 1, size=(9, 3))
    ref_root = np.array([0.0, 0.0, 0.8])
    ref_q = R.identity()
    # Robot elsewhere, yawed by 0.7 rad, bodies rigidly yawed with it: zero error in yaw frames.
    root = np.array([4.0, -2.0, 0.8])
    q = R.from_euler("z", 0.7)
    args_ref = (t64([ref_root + rel]), t64([ref_root]), t64([ref_q.as_quat()]))
    kb = root + q.apply(rel)
    approx(rw.tracking_keybody_pos(t64([kb]), t64([root]), t64([q.as_quat()]), *args_ref, coef=10.0), [1.0])
    # The robot's roll/pitch do not rotate its frame (yaw-only): same bodies, tilted root quat.
    q_tilt = R.from_euler("xyz", [0.3, -0.2, 0.7])
    approx(rw.tracking_keybody_pos(t64([kb]), t64([root]), t64([q_tilt.as_quat()]), *args_ref, coef=10.0), [1.0])
    # Move the head (index 8) by 0.1 m and a knee (index 4) by 0.2 m in the robot's heading frame.
    rel2 = rel.copy()
    rel2[8] += [0.1, 0.0, 0.0]
    rel2[4] += [0.0, 0.0, 0.2]
    kb2 = t64([root + q.apply(rel2)])
    robot = (kb2, t64([root]), t64([q.as_quat()]))
    approx(rw.tracking_keybody_pos(*robot, *args_ref, coef=10.0), [math.exp(-10 * (0.01 + 0.04))])
    approx(
        rw.tracking_keybody_pos(*robot, *args_ref, body_ids=rw.LOWER_KEY_BODY_IDS, coef=10.0), [math.exp(-10 * 0.04)]
    )
    approx(rw.tracking_keybody_pos_upper(*robot, *args_ref, coef=5.0), [math.exp(-5 * 0.01)])
    approx(rw.tracking_keybody_pos_upper(*robot, *args_ref, lower_body_only_tracking=True, coef=5.0), [0.0])
    # keybody_kernel of the delta computed once: the same values
    delta = rw.keybody_delta(*robot, *args_ref)
    approx(rw.keybody_kernel(delta, coef=10.0), [math.exp(-10 * (0.01 + 0.04))])
    approx(rw.keybody_kernel(delta, torch.tensor(rw.LOWER_KEY_BODY_IDS), coef=10.0), [math.exp(-10 * 0.04)])


def test_command_and_symmetry_kernels():
    cmd = t64([[1.0, 0.2, 0.3]])
    approx(rw.tracking_cmd_vel(cmd, t64([[0.8, 0.0, 5.0]]), coef=2.0), [math.exp(-2.0 * (0.04 + 0.04))])
    approx(rw.tracking_cmd_yaw(cmd, t64([[9.0, 9.0, 0.1]]), coef=1.0), [math.exp(-(0.2**2))])
    a = torch.zeros(1, 23, dtype=torch.float64)
    a[0, 1] = 0.2  # left hip roll vs right hip roll 7 (sign -1): diff 0.2 in one of 10 pairs
    approx(rw.action_symmetry(a, coef=0.5), [math.exp(-0.5 * 0.04 / 10)])
    a = torch.zeros(1, 23, dtype=torch.float64)
    a[0, 1], a[0, 7] = 0.3, -0.3  # mirrored: a_L = -a_R
    approx(rw.action_symmetry(a, coef=0.5), [1.0])


# --- penalties ------------------------------------------------------------------------------------


def test_feet_slip():
    vel = t64([[[3.0, 4.0, 9.0], [0.0, 1.0, 0.0]]])
    forces = t64([[[0.0, 0.0, 10.0], [0.0, 0.0, 3.0]]])  # only the left foot is in contact
    approx(rw.feet_slip(vel, forces, contact_threshold=5.0), [math.sqrt(5.0)])


def test_feet_contact_forces_norm_over_feet_above_100n():
    def f(fl, fr):
        return rw.feet_contact_forces(t64([[[0.0, 0.0, fl], [0.0, 0.0, fr]]]), max_contact_force=100.0).item()

    assert f(30.0, 40.0) == 0.0  # norm 50 < 100
    assert f(60.0, 80.0) == pytest.approx(0.0)  # norm 100 (continuous form: 0)
    assert f(90.0, 120.0) == pytest.approx(50.0)  # norm 150, sum would be 210
    assert f(0.0, 99.0) == 0.0
    forces = t64([[[500.0, 0.0, 0.0], [0.0, 0.0, 101.0]]])
    assert rw.feet_contact_forces(forces, max_contact_force=100.0).item() == pytest.approx(1.0)


def test_feet_stumble():
    approx(rw.feet_stumble(t64([[[3.0, 4.0, 1.0], [0.0, 0.0, 100.0]]]), ratio=4.0), [1.0])  # |F_xy| 5 > 4
    approx(rw.feet_stumble(t64([[[3.0, 0.0, 1.0], [0.0, 0.0, 100.0]]]), ratio=4.0), [0.0])
    approx(rw.feet_stumble(t64([[[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]), ratio=4.0), [0.0])


def test_soft_dof_pos_limits_95_percent():
    lo, hi = rw.soft_dof_pos_limits(t64([-0.2618, -0.087267]), t64([0.2618, 2.8798]), soft_limit=0.95)
    approx(lo, [-0.2618 * 0.95, 1.3962665 - 0.95 * 1.4835335])
    approx(hi, [0.2618 * 0.95, 1.3962665 + 0.95 * 1.4835335])


def test_dof_pos_limits_at_fractions_of_range():
    lower, upper = t64(G1.dof_lower), t64(G1.dof_upper)
    soft_lo, soft_hi = rw.soft_dof_pos_limits(lower, upper, soft_limit=0.95)
    rng_ = upper - lower
    # 96 % of the range from the lower limit is inside the soft band (97.5 %): no penalty.
    approx(rw.dof_pos_limits((lower + 0.96 * rng_)[None], soft_lo, soft_hi), [0.0])
    approx(rw.dof_pos_limits((lower + 0.5 * rng_)[None], soft_lo, soft_hi), [0.0])
    # Knee (3) at 99 % of its range: 0.015 x 2.967067 over; ankle roll (5) at -1 %: 0.035 x 0.5236.
    q = (lower + 0.5 * rng_)[None].clone()
    q[0, 3] = -0.087267 + 0.99 * 2.967067
    q[0, 5] = -0.2618 - 0.01 * 0.5236
    approx(rw.dof_pos_limits(q, soft_lo, soft_hi), [0.015 * 2.967067 + 0.035 * 0.5236], tol=1e-9)


def test_dof_torque_limits():
    lim = t64(G1.torque_limit)
    assert lim[0].item() == pytest.approx(79.2) and lim[3].item() == pytest.approx(125.1)
    tau = torch.zeros(1, 23, dtype=torch.float64)
    tau[0, 0] = 0.98 * 79.2  # 0.03 over
    tau[0, 3] = -125.1  # 0.05 over
    tau[0, 15] = 0.9 * 22.5  # below 95 %
    approx(rw.dof_torque_limits(tau, lim, soft_limit=0.95), [0.03 + 0.05])


def test_dof_vel_acc_and_ankle_variants():
    qd = torch.zeros(1, 23, dtype=torch.float64)
    qd[0, 0], qd[0, 4], qd[0, 11] = 2.0, 1.0, -3.0
    approx(rw.dof_vel(qd), [4.0 + 1.0 + 9.0])
    approx(rw.ankle_dof_vel(qd), [1.0 + 9.0])
    last = qd.clone()
    last[0, 0] += 0.02  # (0.02 / 0.02)^2 = 1
    last[0, 10] -= 0.04  # ankle pitch right: 2^2 = 4
    approx(rw.dof_acc(qd, last), [5.0])
    approx(rw.ankle_dof_acc(qd, last), [4.0])


def test_action_rate_unsquared_and_ang_vel_xy():
    a = torch.zeros(1, 23, dtype=torch.float64)
    a[0, 0], a[0, 22] = 3.0, 4.0
    approx(rw.action_rate(a, torch.zeros_like(a)), [5.0])  # not 25
    approx(rw.ang_vel_xy(t64([[1.0, 2.0, 30.0]])), [5.0])


def test_feet_air_time_short_swing_penalised_and_state():
    """Left foot swings 10 steps (0.2 s) then lands: reward min(0.22 - 0.5, 0) = -0.28."""
    air = torch.zeros(1, 2, dtype=torch.float64)
    last = torch.zeros(1, 2, dtype=torch.bool)
    ref_v = t64([[0.6, 0.0, 0.0]])
    swing = t64([[[0.0, 0.0, 0.0], [0.0, 0.0, 300.0]]])
    stance = t64([[[0.0, 0.0, 300.0], [0.0, 0.0, 300.0]]])
    for k in range(10):
        rew, air, last = rw.feet_air_time(swing, ref_v, air, last, **AIR_TIME)
        assert rew.item() == 0.0
    approx(air, [[0.2, 0.0]])
    assert last.tolist() == [[False, True]]
    rew, air2, last2 = rw.feet_air_time(stance, ref_v, air, last, **AIR_TIME)
    approx(rew, [-0.28])
    approx(air2, [[0.0, 0.0]])
    assert last2.tolist() == [[True, True]]
    # Same landing with a standing reference (|v_ref,xy| <= 0.05): no reward.
    approx(rw.feet_air_time(stance, t64([[0.03, 0.0, 1.0]]), air, last, **AIR_TIME)[0], [0.0])
    # A long swing (0.6 s) is not rewarded (f <= 0 despite the positive scale).
    approx(rw.feet_air_time(stance, ref_v, t64([[0.6, 0.0]]), last, **AIR_TIME)[0], [0.0])


def test_feet_air_time_contact_memory_quirk():
    """One step without contact after contact: contact_filt uses last_contacts, so air time is
    reset (0, not 0.02), and the new last_contacts is the raw 5 N test."""
    air = torch.zeros(1, 2, dtype=torch.float64)
    last = torch.tensor([[True, True]])
    forces = t64([[[0.0, 0.0, 4.0], [0.0, 0.0, 0.0]]])  # 4 N: below 5 N, "no contact"
    rew, air, last = rw.feet_air_time(forces, t64([[1.0, 0.0, 0.0]]), air, last, **AIR_TIME)
    approx(air, [[0.0, 0.0]])
    assert last.tolist() == [[False, False]]
    rew, air, last = rw.feet_air_time(forces, t64([[1.0, 0.0, 0.0]]), air, last, **AIR_TIME)
    approx(air, [[0.02, 0.02]])


def test_total_angular_momentum():
    pos = t64([[[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]]])
    vel = t64([[[0.0, 1.0, 0.0], [0.0, -1.0, 0.0]]])
    m = t64([1.0, 1.0])
    approx(rw.total_angular_momentum(pos, vel, m), [1.0])  # L = (0,0,2), M = 2
    # Invariant to a common translation and a common velocity.
    approx(rw.total_angular_momentum(pos + t64([5.0, -2.0, 1.0]), vel + t64([3.0, 3.0, 3.0]), m), [1.0])
    # Random bodies against numpy.
    rng = np.random.default_rng(2)
    p, v, mass = rng.normal(size=(3, 52, 3)), rng.normal(size=(3, 52, 3)), rng.uniform(0.1, 5, size=(3, 52))
    M = mass.sum(1, keepdims=True)
    pc = (mass[..., None] * p).sum(1, keepdims=True) / M[..., None]
    vc = (mass[..., None] * v).sum(1, keepdims=True) / M[..., None]
    L = (mass[..., None] * np.cross(p - pc, v - vc)).sum(1) / M
    approx(rw.total_angular_momentum(t64(p), t64(v), t64(mass)), (L**2).sum(-1), tol=1e-10)


# --- the term tables of the task configs, aggregation -------------------------------------------------

TWIST_SCALES = {
    "tracking_joint_dof": 0.6,
    "tracking_joint_vel": 0.2,
    "tracking_root_pose": 0.6,
    "tracking_root_vel": 1.0,
    "tracking_keybody_pos": 2.0,
    "feet_slip": -0.1,
    "feet_contact_forces": -5e-4,
    "feet_stumble": -1.25,
    "dof_pos_limits": -5.0,
    "dof_torque_limits": -1.0,
    "dof_vel": -1e-4,
    "dof_acc": -5e-8,
    "action_rate": -0.01,
    "feet_air_time": 5.0,
    "ang_vel_xy": -0.01,
    "ankle_dof_acc": -1e-7,
    "ankle_dof_vel": -2e-4,
    "tracking_root_yaw_rate": 0.0,  # not TWIST's: off
}
TWIST_PARAMS = {
    "tracking_joint_dof": {"coef": 0.15},
    "tracking_joint_vel": {"coef": 0.01},
    "tracking_root_pose": ROOT_POSE,
    "tracking_root_vel": ROOT_VEL,
    "tracking_root_yaw_rate": {"coef": 4.0},
    "tracking_keybody_pos": {"coef": 10.0, "key_bodies": None},
    "feet_slip": {"contact_threshold": 5.0},
    "feet_stumble": {"ratio": 4.0},
    "feet_air_time": {"contact_threshold": 5.0, "min_ref_speed": 0.05},
}


def table(cfg):
    return class_to_dict(cfg.rewards.scales), class_to_dict(cfg.rewards.params)


def test_twist_term_tables():
    for cfg in (G1MimicPrivCfg(), G1MimicStuRLCfg()):
        assert table(cfg) == (TWIST_SCALES, TWIST_PARAMS)
        r = cfg.rewards
        assert (r.soft_dof_pos_limit, r.soft_torque_limit, r.max_contact_force, r.feet_air_time_target) == (
            0.95,
            0.95,
            100.0,
            0.5,
        )


def test_cmg_term_table():
    scales = dict(TWIST_SCALES)
    scales.update(
        {
            "tracking_root_pose": 0.2,
            "tracking_root_vel": 0.8,
            "tracking_keybody_pos_upper": 0.3,
            "tracking_cmd_vel": 1.5,
            "tracking_cmd_yaw": 1.0,
            "action_symmetry": 0.1,
            "total_angular_momentum": -0.01,
        }
    )
    params = dict(TWIST_PARAMS)
    params.update(
        {
            "tracking_keybody_pos": {"coef": 10.0, "key_bodies": "lower_key_bodies"},
            "tracking_keybody_pos_upper": {"coef": 5.0, "key_bodies": "upper_key_bodies"},
            "tracking_cmd_vel": {"coef": 2.0},
            "tracking_cmd_yaw": {"coef": 1.0},
            "action_symmetry": {"coef": 0.5},
        }
    )
    for cfg in (G1MimicCMGCfg(), G1MimicStuRLCMGCfg()):
        assert table(cfg) == (scales, params)
        assert cfg.rewards.lower_body_only_tracking is False


def test_every_term_of_the_tables_is_registered_over_its_pure_function():
    assert set(TERMS) == set(table(G1MimicCMGCfg())[0])
    for name in TERMS:
        assert callable(getattr(rw, name)), name


def test_aggregation_scale_times_dt():
    eff = rw.effective_scales({"a": 2.0, "b": -0.5, "c": 0.0})
    assert eff == pytest.approx({"a": 0.04, "b": -0.01})
    terms = {"a": t64([1.0, 0.5]), "b": t64([10.0, 0.0])}
    stacked = torch.stack([terms[name] for name in eff], dim=-1)
    approx(rw.total_reward(stacked, t64([eff[name] for name in eff])), [0.04 - 0.1, 0.02])


def test_mean_keybody_distance_in_metres():
    # Robot yawed by 90 degrees, reference not: distances are taken in each one's heading frame.
    yaw90 = t64([[0.0, 0.0, math.sin(math.pi / 4), math.cos(math.pi / 4)]])
    identity = t64([[0.0, 0.0, 0.0, 1.0]])
    ref_local = t64([[[0.1, 0.0, 0.2], [0.0, -0.3, 0.5]]])
    ref = ref_local + t64([[[1.0, 2.0, 0.0]]])
    # the robot's bodies are the reference's local offsets rotated by 90 degrees, plus (0.3, 0.4, 0)
    # in its heading frame, i.e. (-0.4, 0.3, 0) in the world
    rot = t64([[[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]])
    robot = (rot @ ref_local.transpose(1, 2)).transpose(1, 2) + t64([[[-0.4, 0.3, 0.0]]])
    d = rw.mean_keybody_distance(robot, t64([[0.0, 0.0, 0.0]]), yaw90, ref, t64([[1.0, 2.0, 0.0]]), identity)
    approx(d, [0.5])
