"""Quaternion and rotation helpers in torch, batched over leading dimensions.

Convention (docs/conventions.md, Quaternions): quaternions are (x, y, z, w) everywhere in training code and clip files;
MuJoCo and the Unitree IMU use (w, x, y, z): convert at the boundary with `xyzw_to_wxyz` /
`wxyz_to_xyzw`. "Rotate into frame q" is q^-1 v q (`quat_rotate_inverse`).
"""

from __future__ import annotations

import math

import torch


def normalize(x: torch.Tensor, eps: float = 1e-9) -> torch.Tensor:
    return x / x.norm(dim=-1, keepdim=True).clamp_min(eps)


def xyzw_to_wxyz(q: torch.Tensor) -> torch.Tensor:
    return torch.cat([q[..., 3:4], q[..., :3]], dim=-1)


def wxyz_to_xyzw(q: torch.Tensor) -> torch.Tensor:
    return torch.cat([q[..., 1:4], q[..., 0:1]], dim=-1)


def quat_conjugate(q: torch.Tensor) -> torch.Tensor:
    return torch.cat([-q[..., :3], q[..., 3:4]], dim=-1)


def quat_mul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Hamilton product a * b (apply b first, then a)."""
    ax, ay, az, aw = a.unbind(-1)
    bx, by, bz, bw = b.unbind(-1)
    return torch.stack(
        [
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
            aw * bw - ax * bx - ay * by - az * bz,
        ],
        dim=-1,
    )


def quat_rotate(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Rotate vectors v by unit quaternions q (q v q^-1)."""
    qv, w = q[..., :3], q[..., 3:4]
    t = 2.0 * torch.cross(qv, v, dim=-1)
    return v + w * t + torch.cross(qv, t, dim=-1)


def quat_rotate_inverse(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Express world vectors v in the frame of q (q^-1 v q)."""
    return quat_rotate(quat_conjugate(q), v)


def quat_from_axis_angle(axis: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    half = 0.5 * angle.unsqueeze(-1)
    return torch.cat([normalize(axis) * torch.sin(half), torch.cos(half)], dim=-1)


def quat_from_euler_xyz(roll: torch.Tensor, pitch: torch.Tensor, yaw: torch.Tensor) -> torch.Tensor:
    """Quaternion of the fixed-axis rotation roll about x, then pitch about y, then yaw about z."""
    cr, sr = torch.cos(roll * 0.5), torch.sin(roll * 0.5)
    cp, sp = torch.cos(pitch * 0.5), torch.sin(pitch * 0.5)
    cy, sy = torch.cos(yaw * 0.5), torch.sin(yaw * 0.5)
    return torch.stack(
        [
            sr * cp * cy - cr * sp * sy,
            cr * sp * cy + sr * cp * sy,
            cr * cp * sy - sr * sp * cy,
            cr * cp * cy + sr * sp * sy,
        ],
        dim=-1,
    )


def get_euler_xyz(q: torch.Tensor):
    """(roll, pitch, yaw) of xyzw quaternions (docs/conventions.md, Euler angles; pitch argument clipped)."""
    x, y, z, w = q.unbind(-1)
    roll = torch.atan2(2.0 * (w * x + y * z), 1.0 - 2.0 * (x * x + y * y))
    pitch = torch.asin(torch.clamp(2.0 * (w * y - z * x), -1.0, 1.0))
    yaw = torch.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))
    return roll, pitch, yaw


def yaw_to_quat(yaw: torch.Tensor) -> torch.Tensor:
    """(...,) yaw -> (..., 4) xyzw quaternion of the rotation about z."""
    half = 0.5 * yaw
    zero = torch.zeros_like(yaw)
    return torch.stack([zero, zero, torch.sin(half), torch.cos(half)], dim=-1)


def wrap_angle(angle: torch.Tensor) -> torch.Tensor:
    """Angles wrapped into [-pi, pi)."""
    return torch.remainder(angle + math.pi, 2.0 * math.pi) - math.pi


def yaw_quat(q: torch.Tensor) -> torch.Tensor:
    """The heading-only part of q (roll = pitch = 0): quat_from_euler_xyz(0, 0, yaw), which is
    (0, 0, sin(yaw / 2), cos(yaw / 2)), written out (a few kernels instead of sixty)."""
    x, y, z, w = q.unbind(-1)
    half = 0.5 * torch.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))
    zero = torch.zeros_like(half)
    return torch.stack([zero, zero, torch.sin(half), torch.cos(half)], dim=-1)


def quat_to_matrix(q: torch.Tensor) -> torch.Tensor:
    x, y, z, w = normalize(q).unbind(-1)
    return torch.stack(
        [
            1 - 2 * (y * y + z * z),
            2 * (x * y - z * w),
            2 * (x * z + y * w),
            2 * (x * y + z * w),
            1 - 2 * (x * x + z * z),
            2 * (y * z - x * w),
            2 * (x * z - y * w),
            2 * (y * z + x * w),
            1 - 2 * (x * x + y * y),
        ],
        dim=-1,
    ).reshape(q.shape[:-1] + (3, 3))


def matrix_to_quat(m: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (..., 3, 3) to xyzw quaternions with w >= 0 (numerically stable branch choice)."""
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    # Four candidate quaternions, each accurate when its largest component is large.
    cands = torch.stack(
        [
            torch.stack([1 + m00 - m11 - m22, m01 + m10, m02 + m20, m21 - m12], -1),
            torch.stack([m01 + m10, 1 - m00 + m11 - m22, m12 + m21, m02 - m20], -1),
            torch.stack([m02 + m20, m12 + m21, 1 - m00 - m11 + m22, m10 - m01], -1),
            torch.stack([m21 - m12, m02 - m20, m10 - m01, 1 + m00 + m11 + m22], -1),
        ],
        dim=-2,
    )
    diag = torch.stack([m00 - m11 - m22, -m00 + m11 - m22, -m00 - m11 + m22, m00 + m11 + m22], -1)
    best = diag.argmax(dim=-1)
    q = torch.gather(cands, -2, best[..., None, None].expand(best.shape + (1, 4))).squeeze(-2)
    q = normalize(q)
    return torch.where(q[..., 3:4] < 0, -q, q)


def quat_to_angle_axis(q: torch.Tensor, eps: float = 1e-5):
    """Angle in (-pi, pi] and unit axis of xyzw quaternions (angle = 2 acos(w) wrapped,
    axis = v / sqrt(1 - w^2), zero rotation when that sine is below eps)."""
    w = q[..., 3].clamp(-1.0, 1.0)
    angle = 2.0 * torch.acos(w)
    angle = torch.where(angle > math.pi, angle - 2.0 * math.pi, angle)
    sin_half = torch.sqrt((1.0 - w * w).clamp_min(0.0))
    valid = sin_half > eps
    axis = q[..., :3] / torch.where(valid, sin_half, torch.ones_like(sin_half)).unsqueeze(-1)
    default_axis = torch.zeros_like(axis)
    default_axis[..., 2] = 1.0
    axis = torch.where(valid.unsqueeze(-1), axis, default_axis)
    angle = torch.where(valid, angle, torch.zeros_like(angle))
    return angle, axis


def quat_to_exp_map(q: torch.Tensor) -> torch.Tensor:
    angle, axis = quat_to_angle_axis(q)
    return axis * angle.unsqueeze(-1)


def exp_map_to_quat(v: torch.Tensor, eps: float = 1e-9) -> torch.Tensor:
    angle = v.norm(dim=-1)
    axis = v / angle.clamp_min(eps).unsqueeze(-1)
    q = quat_from_axis_angle(axis, angle)
    identity = torch.zeros_like(q)
    identity[..., 3] = 1.0
    return torch.where((angle > eps).unsqueeze(-1), q, identity)


def quat_angle(q: torch.Tensor) -> torch.Tensor:
    """Geodesic rotation angle of q in [0, pi]: 2 atan2(|v|, w) with q flipped to w >= 0."""
    q = torch.where(q[..., 3:4] < 0, -q, q)
    return 2.0 * torch.atan2(q[..., :3].norm(dim=-1), q[..., 3])


def slerp(q0: torch.Tensor, q1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Shortest-path spherical interpolation between xyzw quaternions; t broadcasts as (..., 1)."""
    cos_half = (q0 * q1).sum(-1, keepdim=True)
    q1 = torch.where(cos_half < 0, -q1, q1)
    cos_half = cos_half.abs()
    half = torch.acos(cos_half.clamp(-1.0, 1.0))
    sin_half = torch.sqrt((1.0 - cos_half * cos_half).clamp_min(0.0))
    safe_sin = torch.where(sin_half.abs() < 1e-3, torch.ones_like(sin_half), sin_half)
    ra = torch.sin((1 - t) * half) / safe_sin
    rb = torch.sin(t * half) / safe_sin
    out = ra * q0 + rb * q1
    # TWIST's fallbacks: average when the half-angle sine is tiny, q0 when identical.
    out = torch.where(sin_half.abs() < 1e-3, 0.5 * q0 + 0.5 * q1, out)
    out = torch.where(cos_half >= 1.0, q0, out)
    return out


def rpy_to_matrix(rpy: torch.Tensor) -> torch.Tensor:
    """URDF fixed-axis roll-pitch-yaw to rotation matrix: R = Rz(yaw) Ry(pitch) Rx(roll)."""
    return quat_to_matrix(quat_from_euler_xyz(rpy[..., 0], rpy[..., 1], rpy[..., 2]))


def axis_angle_to_matrix(axis: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula; axis (..., 3) unit, angle (...)."""
    x, y, z = axis.unbind(-1)
    c, s = torch.cos(angle), torch.sin(angle)
    C = 1.0 - c
    return torch.stack(
        [
            c + x * x * C,
            x * y * C - z * s,
            x * z * C + y * s,
            y * x * C + z * s,
            c + y * y * C,
            y * z * C - x * s,
            z * x * C - y * s,
            z * y * C + x * s,
            c + z * z * C,
        ],
        dim=-1,
    ).reshape(angle.shape + (3, 3))
