"""Conformance of every simulator backend to `legged_gym.simulator.base.SimBackend`.

Each test runs once per backend that imports here (mjwarp on warp's CPU device in CI; isaacgym is
skipped where `import isaacgym` fails). Small N (2-3 worlds) so the suite runs on 2 CPU cores.
Set TWIST_TEST_DEVICE=cuda to run the mjwarp backend on a GPU instead.

What is checked: tensor shapes/dtypes/devices; quaternions xyzw and velocities in the world frame
(root and bodies); set state + forward() reproduces forward kinematics without advancing time; the PD
law of docs/conventions.md (motor strength, torque clip); free fall; contact forces of a standing robot; external
body forces for one substep; per-env friction, mass and CoM; resets of a subset of envs.
"""

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from legged_gym.simulator import SimConfig, available_backends, backend_names, default_backend_name, make_backend
from pose.g1_model import load_g1
from pose.kinematics import ForwardKinematics
from pose.utils.torch_utils import quat_conjugate, quat_from_axis_angle, quat_mul, quat_to_angle_axis, quat_to_matrix

G1 = load_g1()
REPO_ROOT = Path(__file__).resolve().parents[2]
GRAVITY = 9.81


def _unavailable(name):
    """Why backend `name` cannot run here (None when it can)."""
    if name == "isaacgym":
        if "isaacgym" in sys.modules:
            return None
        try:
            importlib.import_module("isaacgym")
            return None
        except Exception as e:  # ImportError, or the import-order error when torch came first
            return (
                "isaacgym backend skipped: `import isaacgym` fails here ({}: {}); it needs Isaac Gym Preview 4 "
                "(Python 3.8), imported before torch".format(type(e).__name__, e)
            )
    if name == "mjwarp":
        try:
            importlib.import_module("mujoco_warp")
            return None
        except Exception as e:
            return "mjwarp backend skipped: `import mujoco_warp` fails here ({})".format(e)
    return "unknown backend {}".format(name)


def _device(name):
    if name == "mjwarp":
        return os.environ.get("TWIST_TEST_DEVICE", "cpu")
    return "cuda:0" if torch.cuda.is_available() else "cpu"


@pytest.fixture(params=list(backend_names()))
def make(request):
    """Factory: make(num_envs, cfg=None) -> backend under test."""
    reason = _unavailable(request.param)
    if reason:
        pytest.skip(reason)
    name, device = request.param, _device(request.param)

    def _make(num_envs, cfg=None):
        return make_backend(name, num_envs, device, cfg)

    return _make


# --- helpers --------------------------------------------------------------------------------------
def _default_pose(sim):
    return torch.tensor(G1.default_dof_pos, dtype=torch.float32, device=sim.device).repeat(sim.num_envs, 1)


def _all_ids(sim):
    return torch.arange(sim.num_envs, device=sim.device)


def _place(sim, height, quat=None, lin_vel=None, ang_vel=None, dof_pos=None, dof_vel=None):
    """Put every env at (0, 0, height) with the given orientation/velocities/joints; forward()."""
    n, dev = sim.num_envs, sim.device
    rs = torch.zeros(n, 13, device=dev)
    rs[:, 2] = height
    rs[:, 3:7] = quat if quat is not None else torch.tensor([0.0, 0.0, 0.0, 1.0], device=dev)
    if lin_vel is not None:
        rs[:, 7:10] = lin_vel
    if ang_vel is not None:
        rs[:, 10:13] = ang_vel
    dp = dof_pos if dof_pos is not None else _default_pose(sim)
    dv = dof_vel if dof_vel is not None else torch.zeros_like(dp)
    sim.set_root_states(_all_ids(sim), rs)
    sim.set_dof_states(_all_ids(sim), dp, dv)
    sim.forward()
    return rs


def _stand(sim):
    """Default pose, feet 5 mm above the floor."""
    return _place(sim, G1.standing_pelvis_height + 0.005)


def _assert_finite(sim):
    for name in ("root_states", "dof_pos", "dof_vel", "body_states", "contact_forces", "torques"):
        t = getattr(sim, name)
        assert torch.isfinite(t).all(), "{} has non-finite values".format(name)


def _same_quat(a, b, atol):
    """Quaternions equal up to sign."""
    d = torch.minimum((a - b).abs().amax(-1), (a + b).abs().amax(-1))
    return bool((d <= atol).all())


def _random_dof_pos(sim, gen, frac=0.6):
    lo = torch.tensor(G1.dof_lower, dtype=torch.float32)
    hi = torch.tensor(G1.dof_upper, dtype=torch.float32)
    mid, half = 0.5 * (lo + hi), 0.5 * (hi - lo) * frac
    u = torch.rand(sim.num_envs, len(G1.dof_names), generator=gen) * 2 - 1
    return (mid + half * u).to(sim.device)


def _linear_momentum(sim):
    """(N, 3) robot linear momentum from the body states and the facts table's masses/coms."""
    mass = torch.tensor([b.mass for b in G1.bodies], dtype=torch.float32, device=sim.device)
    com = torch.tensor([b.com for b in G1.bodies], dtype=torch.float32, device=sim.device)
    bs = sim.body_states
    r = (quat_to_matrix(bs[..., 3:7]) @ com.unsqueeze(-1)).squeeze(-1)
    v_com = bs[..., 7:10] + torch.cross(bs[..., 10:13], r, dim=-1)
    return (mass.unsqueeze(-1) * v_com).sum(-2)


# --- interface and factory ------------------------------------------------------------------------
def test_factory_names_and_lazy_imports():
    assert set(backend_names()) == {"mjwarp", "isaacgym"}
    assert set(available_backends()) <= set(backend_names())
    assert default_backend_name() in backend_names()
    if _unavailable("isaacgym"):
        assert default_backend_name() == "mjwarp"
    with pytest.raises(ValueError, match="mjwarp"):
        make_backend("physx", 2, "cpu")
    # In a fresh interpreter the package imports no torch (Isaac Gym must be imported before torch).
    code = "import sys, legged_gym.simulator as s; s.default_backend_name(); assert 'torch' not in sys.modules"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(REPO_ROOT))
    assert r.returncode == 0, r.stderr[-2000:]
    # Building the mjwarp backend does not import the Isaac Gym backend module.
    ig_module = "legged_gym.simulator.isaacgym_backend"
    if not _unavailable("mjwarp") and ig_module not in sys.modules:
        make_backend("mjwarp", 1, _device("mjwarp"))
        assert ig_module not in sys.modules


def test_state_tensors_shapes_dtypes_devices(make):
    sim = make(2)
    n, nd, nb = 2, 23, 52
    assert list(sim.dof_names) == list(G1.dof_names)
    assert list(sim.body_names) == list(G1.body_names)
    assert (sim.num_dofs, sim.num_bodies) == (nd, nb)
    assert sim.cfg.dt == 0.002 and sim.cfg.decimation == 10 and abs(sim.policy_dt - 0.02) < 1e-12
    shapes = {
        "root_states": (n, 13),
        "dof_pos": (n, nd),
        "dof_vel": (n, nd),
        "body_states": (n, nb, 13),
        "contact_forces": (n, nb, 3),
        "torques": (n, nd),
    }
    _stand(sim)
    sim.step(_default_pose(sim))
    for name, shape in shapes.items():
        t = getattr(sim, name)
        assert tuple(t.shape) == shape, name
        assert t.dtype == torch.float32, name
        assert t.device.type == sim.device.type, name
    _assert_finite(sim)
    assert sim.body_index("torso_link") == G1.body_names.index("torso_link")
    with pytest.raises(KeyError, match="nope"):
        sim.body_index("nope")


# --- frames and conventions -----------------------------------------------------------------------
def test_root_state_xyzw_and_world_velocities(make):
    """A tilted root with an angular velocity about a tilted axis reads back unchanged; the pelvis
    body state equals the root state; every body moves as a rigid body with that world-frame
    angular velocity (joint velocities zero)."""
    sim = make(2)
    dev = sim.device
    axis = torch.tensor([[1.0, 1.0, 0.3], [0.0, -1.0, 1.0]], device=dev)
    quat = quat_from_axis_angle(axis / axis.norm(dim=-1, keepdim=True), torch.tensor([0.7, -1.1], device=dev))
    lin = torch.tensor([[0.1, 0.2, 0.3], [-0.4, 0.0, 0.5]], device=dev)
    ang = torch.tensor([[0.6, -1.0, 1.6], [-2.0, 0.5, 0.3]], device=dev)
    rs = _place(sim, 2.0, quat=quat, lin_vel=lin, ang_vel=ang)
    got = sim.root_states
    assert torch.allclose(got[:, 0:3], rs[:, 0:3], atol=1e-5)
    assert _same_quat(got[:, 3:7], quat, 1e-5)
    assert torch.allclose(got[:, 7:13], rs[:, 7:13], atol=1e-4)
    pelvis = sim.body_states[:, sim.body_index("pelvis")]
    assert torch.allclose(pelvis[:, 0:3], got[:, 0:3], atol=1e-5)
    assert _same_quat(pelvis[:, 3:7], got[:, 3:7], 1e-5)
    assert torch.allclose(pelvis[:, 7:13], got[:, 7:13], atol=1e-4)
    bs = sim.body_states
    expect_v = lin.unsqueeze(1) + torch.cross(
        ang.unsqueeze(1).expand_as(bs[..., :3]), bs[..., :3] - rs[:, None, 0:3], dim=-1
    )
    assert torch.allclose(bs[..., 7:10], expect_v, atol=1e-4)
    assert torch.allclose(bs[..., 10:13], ang.unsqueeze(1).expand_as(bs[..., 10:13]), atol=1e-4)


def test_angular_velocity_is_world_frame_in_flight(make):
    """Without gravity, the root orientation after one policy step has turned by omega_world * t."""
    sim = make(2, SimConfig(gravity=(0.0, 0.0, 0.0)))
    dev = sim.device
    axis = torch.tensor([[1.0, 1.0, 0.3], [0.2, -1.0, 1.0]], device=dev)
    q0 = quat_from_axis_angle(axis / axis.norm(dim=-1, keepdim=True), torch.tensor([0.7, 1.2], device=dev))
    ang = torch.tensor([[0.6, -1.0, 1.6], [-1.5, 0.4, 0.8]], device=dev)
    _place(sim, 2.0, quat=q0, ang_vel=ang)
    sim.step(_default_pose(sim))
    angle, ax = quat_to_angle_axis(quat_mul(sim.root_states[:, 3:7], quat_conjugate(q0)))
    omega = ax * angle.unsqueeze(-1) / sim.policy_dt
    assert torch.allclose(omega, ang, atol=0.03), (omega, ang)
    _assert_finite(sim)


def test_set_states_and_forward_match_forward_kinematics_without_advancing_time(make):
    sim = make(3)
    gen = torch.Generator().manual_seed(0)
    dev = sim.device
    dof_pos = _random_dof_pos(sim, gen)
    dof_vel = (torch.rand(3, 23, generator=gen) * 2 - 1).to(dev)
    axis = torch.nn.functional.normalize(torch.randn(3, 3, generator=gen), dim=-1).to(dev)
    quat = quat_from_axis_angle(axis, torch.tensor([0.3, -2.0, 2.8], device=dev))
    rs = torch.zeros(3, 13, device=dev)
    rs[:, 0:3] = torch.tensor([[0.5, -1.0, 1.5], [2.0, 3.0, 2.5], [-1.0, 0.2, 3.0]], device=dev)
    rs[:, 3:7] = quat
    rs[:, 7:13] = torch.tensor([0.3, -0.2, 0.1, 0.5, 0.4, -0.3], device=dev)
    sim.set_root_states(_all_ids(sim), rs)
    sim.set_dof_states(_all_ids(sim), dof_pos, dof_vel)
    sim.forward()
    # nothing advanced: the state reads back as written
    assert torch.allclose(sim.dof_pos, dof_pos, atol=1e-6)
    assert torch.allclose(sim.dof_vel, dof_vel, atol=1e-6)
    assert torch.allclose(sim.root_states[:, 0:3], rs[:, 0:3], atol=1e-6)
    assert torch.allclose(sim.root_states[:, 7:13], rs[:, 7:13], atol=1e-4)
    fk = ForwardKinematics(bodies=G1.body_names, device=dev)
    pos, rot = fk(rs[:, 0:3], quat, dof_pos)
    bs = sim.body_states
    assert torch.allclose(bs[..., 0:3], pos, atol=1e-4), (bs[..., 0:3] - pos).abs().max()
    assert torch.allclose(quat_to_matrix(bs[..., 3:7]), rot, atol=1e-4)


# --- control --------------------------------------------------------------------------------------
def test_pd_torques_follow_pd_law_with_motor_strength_and_clip(make):
    """With one substep per step, the returned torques are the PD law on the pre-step state."""
    sim = make(3, SimConfig(decimation=1))
    gen = torch.Generator().manual_seed(1)
    dev = sim.device
    dof_pos = _random_dof_pos(sim, gen, frac=0.5)
    dof_vel = (torch.rand(3, 23, generator=gen) * 6 - 3).to(dev)
    _place(sim, 3.0, dof_pos=dof_pos, dof_vel=dof_vel)
    kp_s = (0.8 + 0.4 * torch.rand(3, 23, generator=gen)).to(dev)
    kd_s = (0.8 + 0.4 * torch.rand(3, 23, generator=gen)).to(dev)
    sim.set_motor_strength(kp_s, kd_s)
    targets = _default_pose(sim) + (torch.rand(3, 23, generator=gen) * 2.4 - 1.2).to(dev)
    q, qd = sim.dof_pos.clone(), sim.dof_vel.clone()
    sim.step(targets)
    kp = torch.tensor(G1.kp, dtype=torch.float32, device=dev)
    kd = torch.tensor(G1.kd, dtype=torch.float32, device=dev)
    lim = torch.tensor(G1.effort * 0.9, dtype=torch.float32, device=dev)
    raw = kp_s * kp * (targets - q) - kd_s * kd * qd
    expect = torch.maximum(torch.minimum(raw, lim), -lim)
    clipped = raw.abs() > lim
    assert clipped.any() and (~clipped).any(), "test data should exercise both branches"
    assert torch.allclose(sim.torques, expect, atol=1e-3, rtol=1e-5), (sim.torques - expect).abs().max()
    _assert_finite(sim)

    sim10 = make(2)  # full policy step: the torques stay within the clip
    _place(sim10, 3.0)
    sim10.step(_default_pose(sim10) + 2.0)
    lim2 = lim.expand(2, 23)
    assert (sim10.torques.abs() <= lim2 + 1e-4).all() and (sim10.torques.abs() > 0).any()


def test_free_fall_one_policy_step(make):
    sim = make(2)
    _place(sim, 3.0)
    before = sim.root_states.clone()
    sim.step(_default_pose(sim))
    after = sim.root_states
    t = sim.policy_dt
    drop = float((before[:, 2] - after[:, 2]).mean())
    # semi-implicit integration gives g dt^2 n (n + 1) / 2 = 1.1 x g t^2 / 2 at 10 substeps
    assert abs(drop - 0.5 * GRAVITY * t * t) < 0.15 * 0.5 * GRAVITY * t * t, drop
    assert torch.allclose(after[:, 9], torch.full_like(after[:, 9], -GRAVITY * t), atol=2e-3)
    assert torch.allclose(after[:, 0:2], before[:, 0:2], atol=1e-5)
    assert torch.allclose(after[:, 7:9], before[:, 7:9], atol=1e-3)
    assert torch.allclose(after[:, 10:13], before[:, 10:13], atol=1e-2)
    assert sim.contact_forces.abs().max() == 0
    _assert_finite(sim)


def test_set_gravity_changes_free_fall(make):
    sim = make(2)
    assert torch.allclose(sim.gravity.cpu(), torch.tensor([0.0, 0.0, -GRAVITY]), atol=1e-6)
    g = torch.tensor([0.5, -0.25, -5.0])
    sim.set_gravity(g)
    assert torch.allclose(sim.gravity.cpu(), g, atol=1e-6)
    _place(sim, 3.0)
    sim.step(_default_pose(sim))
    t = sim.policy_dt
    expected = (g * t).to(sim.device)  # velocity after one policy step of free fall
    assert torch.allclose(sim.root_states[:, 7:10], expected.expand(2, 3), atol=2e-3), sim.root_states[:, 7:10]


# --- contacts -------------------------------------------------------------------------------------
def _settle_and_average(sim, settle=15, average=5):
    targets = _default_pose(sim)
    for _ in range(settle):
        sim.step(targets)
    acc = torch.zeros_like(sim.contact_forces)
    for _ in range(average):
        sim.step(targets)
        acc += sim.contact_forces
    return acc / average


def test_standing_robot_contact_forces_support_its_weight(make):
    sim = make(2)
    _stand(sim)
    cf = _settle_and_average(sim)
    weight = G1.total_mass * GRAVITY
    fz = cf[..., 2].sum(-1)
    assert ((fz - weight).abs() < 0.3 * weight).all(), (fz, weight)
    feet = [sim.body_index(n) for n in G1.feet]
    assert (cf[:, feet, 2] > 0.2 * weight / 2).all(), cf[:, feet]
    assert (cf[:, sim.body_index("torso_link")].norm(dim=-1) == 0).all()
    others = [i for i in range(sim.num_bodies) if i not in feet]
    assert (cf[:, others].norm(dim=-1) < 1e-3).all()
    assert (sim.root_states[:, 2] > 0.6).all(), "should still be standing"
    _assert_finite(sim)


def test_self_contact_forces_are_equal_and_opposite(make):
    """In the air, thighs pressed together (env 0) or an arm into the torso (env 1): the touching
    bodies get nonzero, opposite forces, and the robot's net contact force is zero."""
    sim = make(2)
    names = list(G1.dof_names)
    dp = _default_pose(sim)
    dp[0, names.index("left_hip_roll_joint")] = -0.5
    dp[0, names.index("right_hip_roll_joint")] = 0.5
    dp[1, names.index("left_shoulder_roll_joint")] = -0.6
    dp[1, names.index("left_elbow_joint")] = 0.0
    _place(sim, 3.0, dof_pos=dp)
    sim.step(dp)
    cf = sim.contact_forces
    pairs = [("left_hip_yaw_link", "right_hip_yaw_link"), ("torso_link", "left_shoulder_yaw_link")]
    for env, (a, b) in enumerate(pairs):
        fa, fb = cf[env, sim.body_index(a)], cf[env, sim.body_index(b)]
        assert fa.norm() > 1.0, (env, a, fa)
        assert torch.allclose(fa, -fb, atol=1e-3 * float(fa.norm())), (fa, fb)
        assert cf[env].sum(0).norm() < 1e-3 * float(fa.norm())
    _assert_finite(sim)


def test_apply_body_forces_acts_for_one_substep(make):
    """A force on a hand changes its velocity along the force, and the robot's momentum by F dt."""
    sim = make(2)
    _place(sim, 3.0)
    hand = sim.body_index("right_rubber_hand")
    force = torch.zeros(2, sim.num_bodies, 3, device=sim.device)
    force[0, hand] = torch.tensor([0.0, 100.0, 0.0], device=sim.device)
    sim.apply_body_forces(force)
    sim.step(_default_pose(sim))
    dv = sim.body_states[0, hand, 7:10] - sim.body_states[1, hand, 7:10]
    assert dv[1] > 0.03 and dv[1] > 0.8 * dv.norm(), dv  # mostly along +y
    expect = 100.0 * sim.cfg.dt  # one substep, not decimation of them
    dp = _linear_momentum(sim)[0] - _linear_momentum(sim)[1]
    assert abs(float(dp[1]) - expect) < 0.1 * expect, dp
    assert dp[[0, 2]].abs().max() < 0.1 * expect, dp
    sim.step(_default_pose(sim))  # no new call: no new force
    dp2 = _linear_momentum(sim)[0] - _linear_momentum(sim)[1]
    assert abs(float(dp2[1]) - expect) < 0.1 * expect, dp2
    _assert_finite(sim)


# --- domain randomisation -------------------------------------------------------------------------
def test_friction_per_env_changes_sliding(make):
    """Robots standing, then shoved at 1 m/s: feet slide farther on the low-friction env."""
    sim = make(2)
    _stand(sim)
    sim.set_friction(torch.tensor([0.1, 2.0], device=sim.device))
    targets = _default_pose(sim)
    for _ in range(10):
        sim.step(targets)
    rs = sim.root_states.clone()
    rs[:, 7] = 1.0
    sim.set_root_states(_all_ids(sim), rs)
    sim.forward()
    sim.step(targets)
    feet = [sim.body_index(n) for n in G1.feet]
    v = sim.body_states[:, feet, 7].mean(-1)
    assert v[0] > v[1] + 0.1, v
    _assert_finite(sim)


def test_body_mass_offset_per_env_changes_support_force(make):
    sim = make(3)
    _stand(sim)
    added = torch.tensor([0.0, 3.0, -3.0], device=sim.device)
    sim.set_body_mass_offset("pelvis", added)
    fz = _settle_and_average(sim)[..., 2].sum(-1)
    diff = fz - fz[0]
    assert torch.allclose(diff, added * GRAVITY, rtol=0.2, atol=2.0), (diff, added * GRAVITY)
    _assert_finite(sim)


def test_body_com_offset_per_env_shifts_foot_load(make):
    sim = make(2)
    _stand(sim)
    sim.set_body_com_offset("pelvis", torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.05, 0.0]], device=sim.device))
    cf = _settle_and_average(sim)
    left, right = sim.body_index("left_ankle_roll_link"), sim.body_index("right_ankle_roll_link")
    shift = cf[:, left, 2] - cf[:, right, 2]  # +y com: more load on the left (+y) foot
    assert abs(float(shift[0])) < 3.0 and float(shift[1] - shift[0]) > 8.0, shift
    _assert_finite(sim)


# --- resets ---------------------------------------------------------------------------------------
def test_reset_of_a_subset_leaves_the_other_envs_untouched(make):
    sim = make(3)
    gen = torch.Generator().manual_seed(2)
    _stand(sim)
    for _ in range(3):
        sim.step(_default_pose(sim) + (0.3 * torch.randn(3, 23, generator=gen)).to(sim.device))
    names = ("root_states", "dof_pos", "dof_vel", "body_states", "contact_forces", "torques")
    before = {k: getattr(sim, k).clone() for k in names}
    ids = torch.tensor([1], device=sim.device)
    new_root = torch.tensor(
        [[1.0, 2.0, 0.9, 0.0, 0.0, 0.7071068, 0.7071068, 0.1, 0.0, 0.0, 0.0, 0.0, 0.2]], device=sim.device
    )
    new_dof = _random_dof_pos(sim, gen)[:1]
    sim.set_root_states(ids, new_root)
    sim.set_dof_states(ids, new_dof, torch.zeros_like(new_dof))
    sim.forward()
    keep = [0, 2]
    for k in names:
        assert torch.allclose(getattr(sim, k)[keep], before[k][keep], atol=1e-5), k
    assert torch.allclose(sim.root_states[1], new_root[0], atol=1e-5)
    assert torch.allclose(sim.dof_pos[1], new_dof[0], atol=1e-6)
    assert torch.allclose(sim.body_states[1, 0, 0:3], new_root[0, 0:3], atol=1e-5)
    sim.step(_default_pose(sim))
    _assert_finite(sim)


# --- mjwarp specifics -----------------------------------------------------------------------------
def test_mjwarp_model_fields_are_per_world(make):
    sim = make(2)
    if sim.name != "mjwarp":
        pytest.skip("mjwarp model fields")
    pelvis = sim.body_index("pelvis")
    m0 = G1.body("pelvis").mass
    sim.set_body_mass_offset("pelvis", torch.tensor([1.5, -2.0], device=sim.device))
    sim.set_body_com_offset("pelvis", torch.tensor([[0.01, 0.02, 0.03], [0.0, 0.0, 0.0]], device=sim.device))
    sim.set_friction(torch.tensor([0.3, 1.7], device=sim.device))
    mass = sim.body_mass
    assert torch.allclose(mass[:, pelvis], torch.tensor([m0 + 1.5, m0 - 2.0], device=sim.device))
    assert torch.allclose(mass[:, 1:], mass[:1, 1:].expand(2, -1))
    totals = mass.sum(-1)
    assert torch.allclose(
        totals, torch.tensor([G1.total_mass + 1.5, G1.total_mass - 2.0], device=sim.device), atol=1e-4
    )
    b = sim._body_ids[pelvis]
    inertia = sim._body_inertia[:, b]
    assert torch.allclose(
        inertia[0] / inertia[1], torch.full((3,), (m0 + 1.5) / (m0 - 2.0), device=sim.device), rtol=1e-5
    )
    com0 = torch.tensor(G1.body("pelvis").com, dtype=torch.float32, device=sim.device)
    assert torch.allclose(
        sim.body_com[:, pelvis],
        torch.stack([com0 + torch.tensor([0.01, 0.02, 0.03], device=sim.device), com0]),
        atol=1e-6,
    )
    # contact friction = average with the ground's 1.0 (PhysX's rule), on every geom of the world
    assert torch.allclose(
        sim._geom_friction[:, :, 0],
        torch.tensor([[0.65], [1.35]], device=sim.device).expand(2, sim._geom_friction.shape[1]),
    )
    # external forces are cleared after the first substep
    f = torch.ones(2, sim.num_bodies, 3, device=sim.device)
    sim.apply_body_forces(f)
    assert sim._xfrc.abs().sum() > 0
    _place(sim, 3.0)
    sim.step(_default_pose(sim))
    assert sim._xfrc.abs().sum() == 0


def test_mjwarp_reports_and_clears_solver_iteration_limit_hits(make):
    sim = make(2)
    if sim.name != "mjwarp":
        pytest.skip("mjwarp solver records")
    ids = _all_ids(sim)
    # World 0 sunk 10 cm into the floor (many active contacts), world 1 high in the air (none).
    rs = _place(sim, 3.0)
    rs[0, 2] = G1.standing_pelvis_height - 0.1
    sim.set_root_states(ids, rs)
    sim.forward()
    sim.take_solver_limit_hits(ids)  # start from a clean record
    sim.step(_default_pose(sim))
    assert sim.take_solver_limit_hits(ids).tolist() == [False, False]  # 10 Newton iterations converge
    sim.m.opt.iterations = 1  # one iteration cannot resolve the deep penetration
    if sim._use_graph:
        sim._capture()  # the captured CUDA graph holds the iteration limit: capture again
    sim.set_root_states(ids, rs)
    sim.forward()
    sim.take_solver_limit_hits(ids)
    sim.step(_default_pose(sim))
    assert sim.take_solver_limit_hits(ids).tolist() == [True, False]
    assert sim.take_solver_limit_hits(ids).tolist() == [False, False]  # taking clears the record
    sim.step(_default_pose(sim))
    assert sim.take_solver_limit_hits(ids[1:]).tolist() == [False]  # per env: world 0 keeps its record
    assert sim.take_solver_limit_hits(ids[:1]).tolist() == [True]
