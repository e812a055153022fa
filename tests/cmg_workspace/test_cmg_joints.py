"""The CMG's 29-joint layout: mirror map, mirroring as an involution, 29 -> 23 mapping."""

import numpy as np
import torch

from pose.cmg import joints
from pose.g1_model import load_g1

# Real-robot order: swap left leg 0-5 with right leg 6-11 and left arm + wrist 15-21 with 22-28,
# negate leg roll/yaw/ankle roll, waist yaw/roll, shoulder roll/yaw, wrist roll/yaw.
EXPECTED_PERM = list(range(6, 12)) + list(range(0, 6)) + [12, 13, 14] + list(range(22, 29)) + list(range(15, 22))
EXPECTED_NEGATED = {1, 2, 5, 7, 8, 11, 12, 13, 16, 17, 19, 21, 23, 24, 26, 28}
EXPECTED_23_IN_29 = list(range(19)) + [22, 23, 24, 25]


def test_mirror_map_is_the_documented_one():
    perm, signs = joints.mirror_map()
    assert perm == EXPECTED_PERM
    assert {i for i, s in enumerate(signs) if s < 0} == EXPECTED_NEGATED


def test_mirror_twice_is_identity_and_swaps_named_joints():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 7, 58))
    m = joints.mirror_motion(x)
    np.testing.assert_array_equal(joints.mirror_motion(m), x)
    names = joints.joint_names()
    li, ri = names.index("left_hip_roll_joint"), names.index("right_hip_roll_joint")
    lk, rk = names.index("left_knee_joint"), names.index("right_knee_joint")
    np.testing.assert_array_equal(m[..., li], -x[..., ri])
    np.testing.assert_array_equal(m[..., 29 + lk], x[..., 29 + rk])  # velocities follow the positions
    w = names.index("waist_pitch_joint")
    np.testing.assert_array_equal(m[..., w], x[..., w])
    t = torch.as_tensor(x)
    np.testing.assert_array_equal(joints.mirror_motion(t).numpy(), m)
    c = rng.standard_normal((4, 3))
    mc = joints.mirror_command(c)
    np.testing.assert_array_equal(mc, c * [1, -1, -1])
    np.testing.assert_array_equal(joints.mirror_command(mc), c)


def test_mirrored_joint_ranges_match():
    """A pose within the joint ranges stays within them when mirrored (the ranges are mirror images)."""
    model = load_g1()
    perm, signs = joints.mirror_map()
    idx = joints.index_23_in_29()
    lo = np.zeros(29)
    hi = np.zeros(29)
    lo[idx], hi[idx] = model.dof_lower, model.dof_upper
    for i in idx:
        j = perm[i]
        mapped = sorted([signs[i] * lo[j], signs[i] * hi[j]])
        np.testing.assert_allclose(mapped, [lo[i], hi[i]], atol=1e-9, err_msg=joints.joint_names()[i])


def test_29_to_23_and_back():
    assert joints.index_23_in_29() == EXPECTED_23_IN_29
    assert joints.wrist_indices() == [19, 20, 21, 26, 27, 28]
    q = np.arange(29.0)
    np.testing.assert_array_equal(joints.to_23(q), EXPECTED_23_IN_29)
    q23 = np.arange(23.0)[None] + 1
    q29 = joints.from_23(q23)
    assert q29.shape == (1, 29) and (q29[0, [19, 20, 21, 26, 27, 28]] == 0).all()
    np.testing.assert_array_equal(joints.to_23(q29), q23)
    assert [joints.joint_names()[i] for i in EXPECTED_23_IN_29] == list(load_g1().dof_names)
