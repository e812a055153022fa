"""Quaternion helpers of pose.utils.torch_utils against scipy.spatial.transform (xyzw, scalar last)."""

import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation as R
from scipy.spatial.transform import Slerp

from pose.utils import torch_utils as tu

N = 256


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def random_quats(rng, n=N):
    q = rng.normal(size=(n, 4))
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def t64(x):
    return torch.as_tensor(np.asarray(x), dtype=torch.float64)


def assert_same_rotation(q_torch, q_ref, atol=1e-9):
    """Quaternions equal up to the sign (q and -q are the same rotation)."""
    q = q_torch.numpy()
    q_ref = np.asarray(q_ref)
    err = np.minimum(np.abs(q - q_ref).max(-1), np.abs(q + q_ref).max(-1))
    assert err.max() < atol, err.max()


def test_wxyz_round_trip(rng):
    q = random_quats(rng)
    wxyz = tu.xyzw_to_wxyz(t64(q)).numpy()
    np.testing.assert_array_equal(wxyz, q[:, [3, 0, 1, 2]])
    np.testing.assert_array_equal(tu.wxyz_to_xyzw(t64(wxyz)).numpy(), q)


def test_quat_mul_matches_scipy_composition(rng):
    a, b = random_quats(rng), random_quats(rng)
    ref = (R.from_quat(a) * R.from_quat(b)).as_quat()
    assert_same_rotation(tu.quat_mul(t64(a), t64(b)), ref)
    # Hamilton product written out for the first pair (sign-exact, not only the rotation).
    (x1, y1, z1, w1), (x2, y2, z2, w2) = a[0], b[0]
    exact = [
        w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
        w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
        w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
        w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
    ]
    np.testing.assert_allclose(tu.quat_mul(t64(a[:1]), t64(b[:1])).numpy()[0], exact, atol=1e-12)


def test_conjugate_is_inverse(rng):
    q = random_quats(rng)
    assert_same_rotation(tu.quat_conjugate(t64(q)), R.from_quat(q).inv().as_quat())


def test_quat_rotate_and_inverse(rng):
    q = random_quats(rng)
    v = rng.normal(size=(N, 3))
    np.testing.assert_allclose(tu.quat_rotate(t64(q), t64(v)).numpy(), R.from_quat(q).apply(v), atol=1e-12)
    np.testing.assert_allclose(
        tu.quat_rotate_inverse(t64(q), t64(v)).numpy(), R.from_quat(q).apply(v, inverse=True), atol=1e-12
    )


def test_quat_rotate_broadcasts_over_leading_dims(rng):
    q = random_quats(rng, 6).reshape(2, 3, 4)
    v = rng.normal(size=(2, 3, 3))
    out = tu.quat_rotate(t64(q), t64(v)).numpy()
    np.testing.assert_allclose(out.reshape(6, 3), R.from_quat(q.reshape(6, 4)).apply(v.reshape(6, 3)), atol=1e-12)


def reference_euler(q):
    """The formulas of docs/conventions.md (Euler angles) written with numpy."""
    x, y, z, w = q.T
    roll = np.arctan2(2 * (w * x + y * z), 1 - 2 * (x * x + y * y))
    pitch = np.arcsin(np.clip(2 * (w * y - z * x), -1, 1))
    yaw = np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
    return roll, pitch, yaw


def test_get_euler_xyz_formulas_and_scipy(rng):
    q = random_quats(rng)
    roll, pitch, yaw = (t.numpy() for t in tu.get_euler_xyz(t64(q)))
    r_ref, p_ref, y_ref = reference_euler(q)
    np.testing.assert_allclose(roll, r_ref, atol=1e-12)
    np.testing.assert_allclose(pitch, p_ref, atol=1e-12)
    np.testing.assert_allclose(yaw, y_ref, atol=1e-12)
    # Same angles as scipy's extrinsic x-y-z (R = Rz(yaw) Ry(pitch) Rx(roll)) away from gimbal lock.
    eul = R.from_quat(q).as_euler("xyz")
    ok = np.abs(eul[:, 1]) < 1.5
    np.testing.assert_allclose(roll[ok], eul[ok, 0], atol=1e-9)
    np.testing.assert_allclose(pitch[ok], eul[ok, 1], atol=1e-9)
    np.testing.assert_allclose(yaw[ok], eul[ok, 2], atol=1e-9)


def test_pitch_is_clipped_at_gimbal_lock():
    # 90 degrees about y, slightly denormalised so 2(wy - zx) exceeds 1.
    q = t64([[0.0, math.sqrt(0.5) + 1e-9, 0.0, math.sqrt(0.5) + 1e-9]])
    _, pitch, _ = tu.get_euler_xyz(q)
    assert torch.isfinite(pitch).all()
    assert abs(float(pitch) - math.pi / 2) < 1e-4


def test_quat_from_euler_xyz_matches_scipy(rng):
    rpy = rng.uniform(-math.pi, math.pi, size=(N, 3))
    rpy[:, 1] /= 2
    q = tu.quat_from_euler_xyz(t64(rpy[:, 0]), t64(rpy[:, 1]), t64(rpy[:, 2]))
    assert_same_rotation(q, R.from_euler("xyz", rpy).as_quat())
    np.testing.assert_allclose(tu.rpy_to_matrix(t64(rpy)).numpy(), R.from_euler("xyz", rpy).as_matrix(), atol=1e-12)


def test_yaw_quat(rng):
    q = random_quats(rng)
    yaw = R.from_quat(q).as_euler("xyz")[:, 2]
    ref = R.from_euler("z", yaw[:, None]).as_quat()
    out = tu.yaw_quat(t64(q))
    assert_same_rotation(out, ref, atol=1e-9)
    np.testing.assert_allclose(out.numpy()[:, :2], 0.0, atol=1e-12)  # rotation about z only


def test_slerp_matches_scipy(rng):
    q0, q1 = random_quats(rng), random_quats(rng)
    t = rng.uniform(0, 1, size=N)
    out = tu.slerp(t64(q0), t64(q1), t64(t[:, None]))
    ref = np.stack([Slerp([0.0, 1.0], R.from_quat([a, b]))([s]).as_quat()[0] for a, b, s in zip(q0, q1, t)])
    assert_same_rotation(out, ref, atol=1e-9)
    # End points, and the shortest path when q1 is given with the opposite sign.
    assert_same_rotation(tu.slerp(t64(q0), t64(q1), t64(np.zeros((N, 1)))), q0)
    assert_same_rotation(tu.slerp(t64(q0), t64(q1), t64(np.ones((N, 1)))), q1)
    assert_same_rotation(tu.slerp(t64(q0), t64(-q1), t64(t[:, None])), ref, atol=1e-9)


def test_slerp_fallbacks():
    q = t64([[0.0, 0.0, 0.0, 1.0]])
    assert_same_rotation(tu.slerp(q, q, t64([[0.3]])), q.numpy())  # identical: q0
    # sin(half angle) < 1e-3: the plain average (close to the exact slerp).
    q1 = t64([R.from_rotvec([0.0, 0.0, 1e-3]).as_quat()])
    out = tu.slerp(q, q1, t64([[0.9]])).numpy()
    np.testing.assert_allclose(out, 0.5 * (q.numpy() + q1.numpy()), atol=1e-12)


def test_exp_map_matches_scipy_rotvec(rng):
    q = random_quats(rng)  # half of them with w < 0: the wrapped angle gives the short rotation
    np.testing.assert_allclose(tu.quat_to_exp_map(t64(q)).numpy(), R.from_quat(q).as_rotvec(), atol=1e-9)
    v = rng.normal(size=(N, 3))
    v *= rng.uniform(0, math.pi, size=(N, 1)) / np.linalg.norm(v, axis=1, keepdims=True)
    assert_same_rotation(tu.exp_map_to_quat(t64(v)), R.from_rotvec(v).as_quat(), atol=1e-12)
    np.testing.assert_allclose(tu.quat_to_exp_map(tu.exp_map_to_quat(t64(v))).numpy(), v, atol=1e-9)


def test_angle_axis_identity_and_small_angles():
    q = t64([[0.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.0, -1.0], R.from_rotvec([0.0, 0.02, 0.0]).as_quat()])
    angle, axis = tu.quat_to_angle_axis(q)
    np.testing.assert_allclose(angle.numpy()[:2], 0.0, atol=1e-12)
    np.testing.assert_allclose(axis.numpy()[:2], [[0, 0, 1], [0, 0, 1]])
    np.testing.assert_allclose(tu.quat_to_exp_map(q).numpy()[2], [0.0, 0.02, 0.0], atol=1e-9)
    np.testing.assert_allclose(tu.exp_map_to_quat(t64([[0.0, 0.0, 0.0]])).numpy(), [[0, 0, 0, 1]])


def test_quat_angle_matches_scipy_magnitude(rng):
    q = random_quats(rng)
    np.testing.assert_allclose(tu.quat_angle(t64(q)).numpy(), R.from_quat(q).magnitude(), atol=1e-9)


def test_matrix_quat_round_trip(rng):
    q = random_quats(rng)
    # Include the hard cases for the branch choice: 180 degrees about each axis.
    q = np.concatenate([q, [[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 1.0, 0]]])
    m = tu.quat_to_matrix(t64(q)).numpy()
    np.testing.assert_allclose(m, R.from_quat(q).as_matrix(), atol=1e-12)
    back = tu.matrix_to_quat(t64(R.from_quat(q).as_matrix()))
    assert_same_rotation(back, q, atol=1e-9)
    assert (back.numpy()[:, 3] >= 0).all()


def test_axis_angle_to_matrix(rng):
    axis = rng.normal(size=(N, 3))
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    angle = rng.uniform(-math.pi, math.pi, size=N)
    out = tu.axis_angle_to_matrix(t64(axis), t64(angle)).numpy()
    np.testing.assert_allclose(out, R.from_rotvec(axis * angle[:, None]).as_matrix(), atol=1e-12)
    q = tu.quat_from_axis_angle(t64(axis), t64(angle))
    assert_same_rotation(q, R.from_rotvec(axis * angle[:, None]).as_quat(), atol=1e-12)


def test_float32_inputs_keep_dtype(rng):
    q = torch.as_tensor(random_quats(rng), dtype=torch.float32)
    v = torch.randn(N, 3)
    for out in (
        tu.quat_mul(q, q),
        tu.quat_rotate(q, v),
        tu.slerp(q, q, torch.full((N, 1), 0.5)),
        tu.quat_to_exp_map(q),
    ):
        assert out.dtype == torch.float32
