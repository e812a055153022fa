"""The G1 facts table, its loader and the model files generated from it (pose/g1_generate.py).

The expected numbers below are typed in from TWIST's model and config (the tables of
docs/conventions.md; not read from the table), so they check the table, `pose.g1_model.load_g1()`
and the generator against an independent source.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import mujoco
import numpy as np
import pytest
import torch

from pose import g1_generate
from pose.g1_model import load_g1
from pose.kinematics import FootGeometry, ForwardKinematics, _mat_mat, _mat_vec
from pose.utils.torch_utils import wxyz_to_xyzw

G1_DIR = Path(__file__).resolve().parents[2] / "assets" / "g1"
TRAIN_XML = G1_DIR / "g1_custom_collision_with_fixed_hand.xml"
TRAIN_URDF = G1_DIR / "g1_custom_collision_with_fixed_hand.urdf"
SIM2SIM_XML = G1_DIR / "g1_sim2sim_with_wrist_roll.xml"
MOCAP_XML = G1_DIR / "g1_mocap_with_wrist_roll.xml"
GENERATED = [TRAIN_XML, TRAIN_URDF, SIM2SIM_XML, MOCAP_XML]

# TWIST's joint table: joint, default q, Kp, Kd, URDF range, effort, armature, dof_err_w (training order).
JOINT_TABLE = [
    ("left_hip_pitch", -0.2, 100, 2, -2.5307, 2.8798, 88, 0.0103, 1.0),
    ("left_hip_roll", 0.0, 100, 2, -0.5236, 2.9671, 139, 0.0251, 0.8),
    ("left_hip_yaw", 0.0, 100, 2, -2.7576, 2.7576, 88, 0.0103, 0.8),
    ("left_knee", 0.4, 150, 4, -0.087267, 2.8798, 139, 0.0251, 1.0),
    ("left_ankle_pitch", -0.2, 40, 2, -0.87267, 0.5236, 50, 0.003597, 0.5),
    ("left_ankle_roll", 0.0, 40, 2, -0.2618, 0.2618, 50, 0.003597, 0.5),
    ("right_hip_pitch", -0.2, 100, 2, -2.5307, 2.8798, 88, 0.0103, 1.0),
    ("right_hip_roll", 0.0, 100, 2, -2.9671, 0.5236, 139, 0.0251, 0.8),
    ("right_hip_yaw", 0.0, 100, 2, -2.7576, 2.7576, 88, 0.0103, 0.8),
    ("right_knee", 0.4, 150, 4, -0.087267, 2.8798, 139, 0.0251, 1.0),
    ("right_ankle_pitch", -0.2, 40, 2, -0.87267, 0.5236, 50, 0.003597, 0.5),
    ("right_ankle_roll", 0.0, 40, 2, -0.2618, 0.2618, 50, 0.003597, 0.5),
    ("waist_yaw", 0.0, 150, 4, -2.618, 2.618, 88, 0.0103, 0.6),
    ("waist_roll", 0.0, 150, 4, -0.52, 0.52, 50, 0.0103, 0.6),
    ("waist_pitch", 0.0, 150, 4, -0.52, 0.52, 50, 0.0103, 0.6),
    ("left_shoulder_pitch", 0.0, 40, 5, -3.0892, 2.6704, 25, 0.003597, 0.8),
    ("left_shoulder_roll", 0.4, 40, 5, -1.5882, 2.2515, 25, 0.003597, 0.8),
    ("left_shoulder_yaw", 0.0, 40, 5, -2.618, 2.618, 25, 0.003597, 0.8),
    ("left_elbow", 1.2, 40, 5, -1.0472, 2.0944, 25, 0.003597, 1.0),
    ("right_shoulder_pitch", 0.0, 40, 5, -3.0892, 2.6704, 25, 0.003597, 0.8),
    ("right_shoulder_roll", -0.4, 40, 5, -2.2515, 1.5882, 25, 0.003597, 0.8),
    ("right_shoulder_yaw", 0.0, 40, 5, -2.618, 2.618, 25, 0.003597, 0.8),
    ("right_elbow", 1.2, 40, 5, -1.0472, 2.0944, 25, 0.003597, 1.0),
]
JOINTS = [r[0] + "_joint" for r in JOINT_TABLE]
DEFAULT, KP, KD, LOWER, UPPER, EFFORT, ARMATURE, DOF_ERR_W = (
    np.array([r[i] for r in JOINT_TABLE], float) for i in range(1, 9)
)
TORQUE_CLIP = np.array([79.2, 125.1, 79.2, 125.1, 45, 45] * 2 + [79.2, 45, 45] + [22.5] * 8)  # 0.9 x effort
TOTAL_MASS = 34.393234  # kg, sum of the reference URDF's 48 inertials (TWIST: ~34.39)
# Deploy order = training order with the wrist rolls at 19 and 24.
DEPLOY_JOINTS = JOINTS[:19] + ["left_wrist_roll_joint"] + JOINTS[19:] + ["right_wrist_roll_joint"]
# Simulator body indices of named bodies (52 bodies, depth first; docs/conventions.md, Bodies).
SIM_BODY_IDS = {
    "pelvis": 0,
    "pelvis_contour_link": 1,
    "left_knee_link": 5,
    "left_ankle_roll_link": 7,
    "left_toe_link": 8,
    "right_knee_link": 12,
    "right_ankle_roll_link": 14,
    "torso_link": 18,
    "head_mocap": 20,
    "imu_in_torso": 21,
    "left_elbow_link": 25,
    "left_rubber_hand": 29,
    "right_shoulder_pitch_link": 37,
    "right_elbow_link": 40,
    "right_rubber_hand": 44,
}
FEET = ("left_ankle_roll_link", "right_ankle_roll_link")


def _names(m, obj, ids):
    return [mujoco.mj_id2name(m, obj, int(i)) for i in ids]


@pytest.fixture(scope="module")
def g1():
    return load_g1()


@pytest.fixture(scope="module")
def train():
    return mujoco.MjModel.from_xml_path(str(TRAIN_XML))


@pytest.fixture(scope="module")
def sim2sim():
    return mujoco.MjModel.from_xml_path(str(SIM2SIM_XML))


# ----------------------------------------------------------------------------- table vs TWIST
def test_table_matches_twist(g1):
    assert list(g1.dof_names) == JOINTS
    for got, want in [
        (g1.default_dof_pos, DEFAULT),
        (g1.kp, KP),
        (g1.kd, KD),
        (g1.dof_lower, LOWER),
        (g1.dof_upper, UPPER),
        (g1.effort, EFFORT),
        (g1.armature, ARMATURE),
        (g1.dof_err_w, DOF_ERR_W),
    ]:
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    np.testing.assert_allclose(g1.torque_limit, TORQUE_CLIP, atol=1e-9)
    assert g1.total_mass == pytest.approx(TOTAL_MASS, rel=1e-9)
    assert len(g1.bodies) == 52 and sum(b.mass > 0 for b in g1.bodies) == 48
    for name, i in SIM_BODY_IDS.items():
        assert g1.body_names[i] == name
    assert g1.standing_pelvis_height == 0.793


# ----------------------------------------------------------------------------- training MJCF
def test_training_mjcf_matches_twist(g1, train):
    m = train
    assert m.opt.timestep == 0.002 and m.nq == 7 + 23 and m.nv == 6 + 23 and m.nu == 23
    assert _names(m, mujoco.mjtObj.mjOBJ_BODY, range(1, m.nbody)) == list(g1.body_names)  # 52, table order
    for name, i in SIM_BODY_IDS.items():
        assert mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, name) == i + 1  # +1: MuJoCo's world body
    assert m.jnt_type[0] == mujoco.mjtJoint.mjJNT_FREE
    assert _names(m, mujoco.mjtObj.mjOBJ_JOINT, range(1, m.njnt)) == JOINTS
    np.testing.assert_allclose(m.jnt_range[1:], np.stack([LOWER, UPPER], 1), atol=1e-12)
    assert m.jnt_limited[1:].all()
    np.testing.assert_allclose(m.dof_armature[6:], ARMATURE, atol=1e-12)
    assert not m.dof_damping.any() and not m.dof_frictionloss.any()
    # motors in training order on the joints, gear 1, clipped at 0.9 x effort
    np.testing.assert_array_equal(m.actuator_trnid[:, 0], np.arange(1, 24))
    np.testing.assert_allclose(m.actuator_gear[:, 0], 1.0)
    np.testing.assert_allclose(m.actuator_ctrlrange, np.stack([-TORQUE_CLIP, TORQUE_CLIP], 1), atol=1e-9)
    assert m.actuator_ctrllimited.all()
    # start state: Isaac Gym's init pos (0, 0, 1.0), identity orientation
    np.testing.assert_allclose(m.qpos0[:7], [0, 0, 1.0, 1, 0, 0, 0])


def test_training_collision_capsules(g1, train):
    """Every table cylinder is a capsule (same radius, half the cylinder length), friction 1, condim 3."""
    m = train
    col = [i for i in range(m.ngeom) if m.geom_contype[i] or m.geom_conaffinity[i]]
    floor = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, "floor")
    assert floor in col and m.geom_type[floor] == mujoco.mjtGeom.mjGEOM_PLANE and m.geom_friction[floor, 0] == 1.0
    col.remove(floor)
    assert len(col) == 15  # 13 links: 2 per foot, 1 on the others
    bodies = set(_names(m, mujoco.mjtObj.mjOBJ_BODY, m.geom_bodyid[col]))
    assert bodies == {
        s + "_" + n + "_link"
        for s in ("left", "right")
        for n in ("hip_yaw", "knee", "ankle_roll", "shoulder_roll", "shoulder_yaw", "elbow")
    } | {"torso_link"}
    for i in col:
        assert m.geom_type[i] == mujoco.mjtGeom.mjGEOM_CAPSULE
        assert m.geom_condim[i] == 3 and m.geom_friction[i, 0] == 1.0
    size = {
        n: tuple(np.round(m.geom_size[i, :2], 9))
        for n, i in zip(_names(m, mujoco.mjtObj.mjOBJ_BODY, m.geom_bodyid[col]), col)
    }
    assert size["left_ankle_roll_link"] == (0.02, 0.075) and size["torso_link"] == (0.08, 0.175)
    assert size["right_hip_yaw_link"] == (0.03, 0.1) and size["left_knee_link"] == (0.03, 0.075)
    assert size["left_elbow_link"] == (0.03, 0.075) and size["right_shoulder_roll_link"] == (0.03, 0.015)
    # foot capsules lie along the foot's x axis (cylinder rpy (0, 1.5708, 0))
    d = mujoco.MjData(m)
    mujoco.mj_kinematics(m, d)
    foot = [i for i in col if m.geom_bodyid[i] == mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, FEET[0])]
    np.testing.assert_allclose(d.geom_xmat[foot[0]].reshape(3, 3)[:, 2], [1, 0, 0], atol=1e-5)


def test_self_collision_filtering(g1, train):
    """Non-adjacent bodies collide (self_collisions on); bodies joined by a joint do not."""
    m, d = train, mujoco.MjData(train)
    ix = {n: 7 + i for i, n in enumerate(JOINTS)}

    def contact_pairs(**q):
        d.qpos[:7] = [0, 0, 1.0, 1, 0, 0, 0]
        d.qpos[7:] = DEFAULT
        for k, v in q.items():
            d.qpos[ix[k + "_joint"]] = v
        mujoco.mj_forward(m, d)
        return {frozenset(_names(m, mujoco.mjtObj.mjOBJ_BODY, m.geom_bodyid[d.contact.geom[k]])) for k in range(d.ncon)}

    assert contact_pairs() == set()  # default pose in the air: no contact at all
    assert frozenset({"torso_link", "left_shoulder_yaw_link"}) in contact_pairs(left_shoulder_roll=-1.0)
    # elbow folded: upper-arm and forearm capsules overlap, but parent/child pairs are filtered
    assert contact_pairs(left_elbow=2.0) == set()
    upper, fore = (
        next(i for i in range(m.ngeom) if m.geom_contype[i] and m.geom_bodyid[i] == m.body(b).id)
        for b in ("left_shoulder_yaw_link", "left_elbow_link")
    )
    assert mujoco.mj_geomDistance(m, d, upper, fore, 0.1, None) < -0.005


# ----------------------------------------------------------------------------- URDF
def test_urdf_matches_twist(g1):
    root = ET.parse(TRAIN_URDF).getroot()
    links = [l.get("name") for l in root.findall("link")]
    assert links == list(g1.body_names)
    joints = root.findall("joint")
    assert len(joints) == 51
    rev = [j for j in joints if j.get("type") == "revolute"]
    assert [j.get("name") for j in rev] == JOINTS
    assert all(j.get("type") == "fixed" for j in joints if j not in rev)
    lim = np.array([[float(j.find("limit").get(k)) for k in ("lower", "upper", "effort")] for j in rev])
    np.testing.assert_allclose(lim, np.stack([LOWER, UPPER, EFFORT], 1), atol=1e-12)
    assert all(float(j.find("limit").get("velocity")) > 0 for j in rev)
    assert sum(l.find("inertial") is not None for l in root.findall("link")) == 48
    cyl = [c.find("geometry/cylinder") for l in root.findall("link") for c in l.findall("collision")]
    assert len(cyl) == 15 and all(c is not None for c in cyl)
    foot = [l for l in root.findall("link") if l.get("name") == FEET[1]][0]
    feet = sorted(
        (
            c.find("origin").get("xyz"),
            c.find("origin").get("rpy"),
            c.find("geometry/cylinder").get("radius"),
            c.find("geometry/cylinder").get("length"),
        )
        for c in foot.findall("collision")
    )
    assert feet == [
        ("0.05 -0.02 -0.02", "0 1.5708 0", "0.02", "0.15"),
        ("0.05 0.02 -0.02", "0 1.5708 0", "0.02", "0.15"),
    ]


def test_urdf_compiled_by_mujoco(g1):
    m = mujoco.MjModel.from_xml_path(str(TRAIN_URDF))
    assert _names(m, mujoco.mjtObj.mjOBJ_BODY, range(1, m.nbody)) == list(g1.body_names)
    assert _names(m, mujoco.mjtObj.mjOBJ_JOINT, range(m.njnt)) == JOINTS
    np.testing.assert_allclose(m.jnt_range, np.stack([LOWER, UPPER], 1), atol=1e-12)


# ----------------------------------------------------------------------------- all files
@pytest.mark.parametrize("path", GENERATED, ids=lambda p: p.name)
def test_compiles_with_table_mass(path):
    m = mujoco.MjModel.from_xml_path(str(path))
    assert m.nbody == 53
    assert m.body_mass.sum() == pytest.approx(TOTAL_MASS, rel=1e-6)


def test_training_mjcf_accepted_by_mujoco_warp(train):
    mjw = pytest.importorskip("mujoco_warp")
    wp = pytest.importorskip("warp")
    with wp.ScopedDevice("cpu"):
        mw = mjw.put_model(train)
    assert mw.nq == 30 and mw.nu == 23


def test_regeneration_is_byte_identical(tmp_path):
    g1_generate.main(["--out", str(tmp_path)])
    for path in GENERATED:
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), (
            "{} is stale: run python -m pose.g1_generate".format(path.name)
        )


# ----------------------------------------------------------------------------- deploy models
def test_sim2sim_model(g1, sim2sim):
    m = sim2sim
    assert m.opt.timestep == 0.001 and m.opt.solver == mujoco.mjtSolver.mjSOL_PGS and m.opt.iterations == 50
    assert m.nq == 7 + 25 and m.nu == 25
    assert _names(m, mujoco.mjtObj.mjOBJ_JOINT, range(1, m.njnt)) == DEPLOY_JOINTS
    assert _names(m, mujoco.mjtObj.mjOBJ_JOINT, m.actuator_trnid[:, 0]) == DEPLOY_JOINTS
    np.testing.assert_allclose(m.qpos0[:7], [0, 0, 0.793, 1, 0, 0, 0])  # standing, facing +x (docs/decisions.md D7)
    wrist = [19, 24]
    effort = np.insert(EFFORT, [19, 23], 25.0)
    np.testing.assert_allclose(m.jnt_actfrcrange[1:], np.stack([-effort, effort], 1))
    assert m.jnt_actfrclimited[1:].all()
    arm = np.insert(ARMATURE, [19, 23], 0.0)
    arm[DEPLOY_JOINTS.index("waist_pitch_joint")] = 0.0  # none on waist_pitch, wrist rolls (docs/decisions.md K6)
    np.testing.assert_allclose(m.dof_armature[6:], arm)
    limited = np.ones(25, bool)
    limited[wrist] = False
    np.testing.assert_array_equal(m.actuator_ctrllimited.astype(bool), limited)
    np.testing.assert_allclose(m.actuator_ctrlrange[limited], [[-200, 200]] * 23)
    np.testing.assert_allclose(m.jnt_range[[20, 25]], [[-1.972222054, 1.972222054]] * 2)
    # sensors on the pelvis IMU site
    site = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, "imu_in_pelvis")
    assert _names(m, mujoco.mjtObj.mjOBJ_BODY, [m.site_bodyid[site]]) == ["pelvis"]
    np.testing.assert_allclose(m.site_pos[site], [0.04525, 0, -0.08339])
    quat = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SENSOR, "orientation")
    gyro = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SENSOR, "angular-velocity")
    assert m.sensor_type[quat] == mujoco.mjtSensor.mjSENS_FRAMEQUAT and m.sensor_objid[quat] == site
    assert m.sensor_type[gyro] == mujoco.mjtSensor.mjSENS_GYRO and m.sensor_objid[gyro] == site
    np.testing.assert_allclose(m.sensor_noise[[quat, gyro]], [0.001, 0.005])
    assert m.sensor_cutoff[gyro] == pytest.approx(34.9)
    # contacts: 4 spheres under each foot instead of the foot capsules; limbs as in training
    col = [i for i in range(m.ngeom) if m.geom_contype[i] and m.geom_bodyid[i] > 0]
    for foot in FEET:
        fid = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, foot)
        types = [m.geom_type[i] for i in col if m.geom_bodyid[i] == fid]
        assert types == [mujoco.mjtGeom.mjGEOM_SPHERE] * 4
    assert len(col) == 15 - 4 + 8
    visual = [i for i in range(m.ngeom) if m.geom_group[i] == 1]
    assert visual and not m.geom_contype[visual].any() and not m.geom_conaffinity[visual].any()


def test_mocap_model(g1):
    m = mujoco.MjModel.from_xml_path(str(MOCAP_XML))
    assert _names(m, mujoco.mjtObj.mjOBJ_JOINT, range(1, m.njnt)) == DEPLOY_JOINTS
    assert m.jnt_type[0] == mujoco.mjtJoint.mjJNT_FREE and m.nu == 0
    assert not m.geom_contype.any() and not m.geom_conaffinity.any()
    assert mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, "floor") >= 0
    assert (m.geom_group == 1).sum() > 40  # bone capsules to render


# ----------------------------------------------------------------------------- kinematics
def test_fk_matches_mujoco(g1, train):
    """pose.kinematics FK == MuJoCo body frames on the training MJCF (validates both)."""
    m, d = train, mujoco.MjData(train)
    fk = ForwardKinematics(bodies=g1.body_names, dtype=torch.float64)
    rng = np.random.default_rng(0)
    n = 10
    root_pos = rng.uniform(-1, 1, (n, 3))
    root_quat = rng.normal(size=(n, 4))
    root_quat /= np.linalg.norm(root_quat, axis=1, keepdims=True)
    q = rng.uniform(LOWER, UPPER, (n, 23))
    pos, rot = fk(torch.tensor(root_pos), wxyz_to_xyzw(torch.tensor(root_quat)), torch.tensor(q))
    for k in range(n):
        d.qpos[:3], d.qpos[3:7], d.qpos[7:] = root_pos[k], root_quat[k], q[k]
        mujoco.mj_kinematics(m, d)
        np.testing.assert_allclose(pos[k].numpy(), d.xpos[1:], atol=1e-5)
        np.testing.assert_allclose(rot[k].numpy(), d.xmat[1:].reshape(-1, 3, 3), atol=1e-5)


def test_fk_products_as_sums_equal_matrix_products(g1):
    """The CUDA default (3 x 3 products as element-wise sums) gives the CPU default's chain
    (batched matrix products, checked against MuJoCo above), to float64 rounding."""
    fk = ForwardKinematics(bodies=g1.body_names, dtype=torch.float64)
    q = torch.tensor(np.random.default_rng(1).uniform(LOWER, UPPER, (7, 23)))
    pos_mm, rot_mm = fk._chain(q, elementwise=False)
    pos_sum, rot_sum = fk._chain(q, elementwise=True)
    assert pos_mm.shape == pos_sum.shape and rot_mm.shape == rot_sum.shape
    torch.testing.assert_close(pos_sum, pos_mm, rtol=0, atol=1e-12)
    torch.testing.assert_close(rot_sum, rot_mm, rtol=0, atol=1e-12)
    assert float((pos_mm - pos_mm[0]).abs().max()) > 0.1  # the poses differ: a real comparison
    # the root transform of __call__, with its broadcast of one root rotation over the bodies
    r_root = rot_mm[:, :1]  # (7, 1, 3, 3)
    torch.testing.assert_close(_mat_vec(r_root, pos_mm, True), (r_root @ pos_mm.unsqueeze(-1)).squeeze(-1))
    torch.testing.assert_close(_mat_mat(r_root, rot_mm, True), r_root @ rot_mm)


# ----------------------------------------------------------------------------- physics (training PD law)
def _pd(q, qd):
    return np.clip(KP * (DEFAULT - q) - KD * qd, -TORQUE_CLIP, TORQUE_CLIP)


def test_pd_holds_default_pose_with_fixed_pelvis():
    spec = mujoco.MjSpec.from_file(str(TRAIN_XML))
    pelvis = spec.body("pelvis")
    for j in list(pelvis.joints):
        spec.delete(j)  # weld the pelvis to the world
    pelvis.pos = [0.0, 0.0, 1.5]  # feet well above the floor
    m = spec.compile()
    d = mujoco.MjData(m)
    assert m.nq == 23
    d.qpos[:] = DEFAULT
    for _ in range(500):  # 1 s at 0.002 s
        d.ctrl[:] = _pd(d.qpos, d.qvel)
        mujoco.mj_step(m, d)
    assert np.isfinite(d.qpos).all() and np.isfinite(d.qvel).all()
    assert np.abs(d.qpos - DEFAULT).max() < 0.1
    assert d.ncon == 0


def test_first_floor_contact_is_feet(train):
    m, d = train, mujoco.MjData(train)
    feet = FootGeometry(dtype=torch.float64)
    rot = torch.tensor([[0.0, 0.0, 0.0, 1.0]], dtype=torch.float64)
    low = feet.lowest_points(torch.tensor([[0.0, 0.0, 1.0]], dtype=torch.float64), rot, torch.tensor(DEFAULT)[None])
    z0 = 1.0 - float(low.min()) + 0.02  # lowest foot point 2 cm above the floor
    d.qpos[:7] = [0, 0, z0, 1, 0, 0, 0]
    d.qpos[7:] = DEFAULT
    mujoco.mj_forward(m, d)
    # FootGeometry agrees with MuJoCo's capsules: lowest capsule point of the feet is at 2 cm
    foot_ids = [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, f) for f in FEET]
    z = [
        d.geom_xpos[i, 2] - abs(d.geom_xmat[i, 8]) * m.geom_size[i, 1] - m.geom_size[i, 0]
        for i in range(m.ngeom)
        if m.geom_bodyid[i] in foot_ids and m.geom_contype[i]
    ]
    assert min(z) == pytest.approx(0.02, abs=1e-6)
    assert d.ncon == 0
    for step in range(200):
        d.ctrl[:] = _pd(d.qpos[7:], d.qvel[6:])
        mujoco.mj_step(m, d)
        if d.ncon:
            break
    assert d.ncon > 0, "no contact after 0.4 s"
    assert 0.05 < d.time < 0.08  # free fall of 2 cm takes 0.064 s
    floor = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, "floor")
    for k in range(d.ncon):
        g = sorted(d.contact.geom[k])
        assert g[0] == floor and m.geom_bodyid[g[1]] in foot_ids
