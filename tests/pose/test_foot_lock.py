"""Foot lock (pose.cmg.foot_lock) on constructed motion: a pose dragged by the root, whose planted
foot is checked against shifts computed by hand and against independent forward kinematics."""

import numpy as np
import pytest
import torch

from pose.cmg.foot_lock import FootLock
from pose.g1_model import load_g1
from pose.kinematics import ForwardKinematics
from pose.utils.torch_utils import yaw_to_quat

pytestmark = pytest.mark.usefixtures("one_thread")

G1 = load_g1()
DT = 0.02
SPEED = 0.5  # m/s of the root along x
SWITCH = 20  # frame at which the lifted foot changes sides
FRAMES = 32
LEGS = [i for i, n in enumerate(G1.dof_names) if n.startswith(("left_hip", "left_knee", "left_ankle"))] + [
    i for i, n in enumerate(G1.dof_names) if n.startswith(("right_hip", "right_knee", "right_ankle"))
]


def lifted(side: str) -> torch.Tensor:
    """The default pose with the hip and knee of `side` bent: that foot is off the ground."""
    q = torch.tensor(G1.default_dof_pos, dtype=torch.float64)
    q[G1.dof_names.index(side + "_hip_pitch_joint")] -= 0.3
    q[G1.dof_names.index(side + "_knee_joint")] += 0.6
    return q


def dragged(yaw_rate: float = 0.0, sway: float = 0.0):
    """(root_pos, yaw, dof_pos, dof_vel) of one stream: the right foot lifted until SWITCH, then the left;
    the root carried at SPEED along its heading, turning at yaw_rate; `sway` adds a hip oscillation."""
    k = torch.arange(FRAMES, dtype=torch.float64)
    q = torch.stack([lifted("right") if i < SWITCH else lifted("left") for i in range(FRAMES)])
    q[:, G1.dof_names.index("left_hip_roll_joint")] += sway * torch.sin(0.7 * k)
    yaw = yaw_rate * DT * k
    step = torch.stack([torch.cos(yaw), torch.sin(yaw)], -1) * SPEED * DT
    xy = torch.cat([torch.zeros(1, 2, dtype=torch.float64), torch.cumsum(step[:-1], 0)])
    root = torch.cat([xy, torch.full((FRAMES, 1), 0.75, dtype=torch.float64)], -1)
    vel = torch.zeros_like(q)
    return root[None], yaw[None], q[None], vel[None]


def feet(root, yaw, q):
    """World positions and rotations of the feet bodies (independent FK)."""
    fk = ForwardKinematics(G1, bodies=list(G1.feet), dtype=torch.float64)
    return fk(root, yaw_to_quat(yaw), q)


def test_a_dragged_stance_foot_is_held_up_to_the_shift_limit_then_released_in_swing():
    root, yaw, q, vel = dragged()
    lock = FootLock(dtype=torch.float64)
    q_out, v_out, _, info = lock(root, yaw, q, vel, DT)
    # the shifts by hand: the stance foot takes up the root's 0.01 m per frame up to 0.08 m, the
    # foot that lifts decays by 0.8 per frame; at SWITCH neither foot is in stance (the lowest point
    # changes feet), so both decay
    drag = SPEED * DT
    left = np.zeros(FRAMES)
    right = np.zeros(FRAMES)
    for k in range(1, FRAMES):
        left[k] = max(left[k - 1] - drag, -0.08) if k < SWITCH else 0.8 * left[k - 1]
        right[k] = max(right[k - 1] - drag, -0.08) if k > SWITCH else 0.8 * right[k - 1]
    shift = info["shift"][0]
    np.testing.assert_allclose(shift[:, 0, 0].numpy(), left, atol=1e-12)
    np.testing.assert_allclose(shift[:, 1, 0].numpy(), right, atol=1e-12)
    assert float(shift[..., 1].abs().max()) < 1e-12
    # the locked joints put each foot at its dragged pose moved by the shift, with its rotation
    pos_in, rot_in = feet(root, yaw, q)
    pos_out, rot_out = feet(root, yaw, q_out)
    np.testing.assert_allclose((pos_out - pos_in)[0, :, :, 0].numpy(), np.stack([left, right], -1), atol=1e-6)
    np.testing.assert_allclose((pos_out - pos_in)[0, :, :, 1:].numpy(), 0.0, atol=1e-6)
    np.testing.assert_allclose(rot_out.numpy(), rot_in.numpy(), atol=1e-6)
    assert float(info["ik_error"].max()) < 1e-6
    # so the left foot stands still in the world for 8 frames, then moves with the root again
    x = pos_out[0, :SWITCH, 0, 0].numpy()
    np.testing.assert_allclose(x[:9], x[0], atol=1e-6)
    np.testing.assert_allclose(np.diff(x[8:]), drag, atol=1e-6)
    # only leg joints change; the right leg not while its shift is 0
    others = [i for i in range(len(G1.dof_names)) if i not in LEGS]
    assert torch.equal(q_out[..., others], q[..., others])
    right_leg = LEGS[6:]
    assert float((q_out - q)[0, : SWITCH + 1][:, right_leg].abs().max()) < 1e-12
    # joint velocities: the generated ones plus the change of the correction per frame
    dq = (q_out - q)[0]
    expected = torch.diff(dq, dim=0, prepend=torch.zeros(1, dq.shape[1], dtype=dq.dtype)) / DT
    torch.testing.assert_close(v_out[0] - vel[0], expected, atol=1e-9, rtol=0)


def test_a_stream_cut_into_chunks_gives_the_frames_of_one_call():
    root, yaw, q, vel = dragged(yaw_rate=0.6, sway=0.2)
    lock = FootLock(dtype=torch.float64)
    q_one, v_one, _, info_one = lock(root, yaw, q, vel, DT)
    parts, state = [], None
    for a, b in ((0, 3), (3, 14), (14, 15), (15, FRAMES)):
        q_k, v_k, state, info = lock(root[:, a:b], yaw[:, a:b], q[:, a:b], vel[:, a:b], DT, state)
        parts.append((q_k, v_k, info["shift"]))
    for i, whole in enumerate((q_one, v_one, info_one["shift"])):
        torch.testing.assert_close(torch.cat([p[i] for p in parts], dim=1), whole, atol=1e-12, rtol=0)
    assert float((q_one - q).abs().max()) > 1e-3  # the lock did move the legs
    # the packed state reads back as it was
    again = lock.unpack(state.packed())
    for name in ("shift", "points", "lowest", "dq"):
        torch.testing.assert_close(getattr(again, name), getattr(state, name), atol=0, rtol=0)
    assert state.packed().shape == (1, lock.state_width)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="decay"):
        FootLock(decay=1.5)
    with pytest.raises(ValueError, match="max_shift"):
        FootLock(max_shift=-0.1)
