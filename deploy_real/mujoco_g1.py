"""The G1 in plain MuJoCo for sim2sim (TWIST's sim2sim server): the 25-DOF model, 1 kHz physics, PD torques.

`G1MujocoSim` owns a `mujoco.MjModel`/`MjData` of `assets/g1/g1_sim2sim_with_wrist_roll.xml` (23 training
joints + 2 wrist rolls), computes tau = Kp (q* - q) - Kd qdot every physics step with the deploy gains
(training Kp/Kd, wrist rolls Kp 20 / Kd 1) clipped to the full joint efforts (the robot's limits; training
clips at 0.9 of them), and reads what the robot's sensors give: the pelvis IMU (orientation,
gyro) and the joint encoders. The robot starts standing at the default pose, facing +x (TWIST's server
started it yawed by 180 degrees).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple, Optional, Tuple

import numpy as np

from deploy_real.contract import default_mimic_vector, deploy_joints, split_wrist_rolls
from pose.g1_model import ASSETS_DIR, load_g1

SIM2SIM_XML = ASSETS_DIR / "g1" / "g1_sim2sim_with_wrist_roll.xml"
PHYSICS_DT = 0.001
DECIMATION = 20  # 20 x 1 ms = the 50 Hz policy step
FALL_HEIGHT = 0.4  # m: the pelvis below this counts as a fall (the sim servers and the DDS test robot)


class RobotState(NamedTuple):
    base_ang_vel: np.ndarray  # (3,) gyro, pelvis frame
    base_quat_xyzw: np.ndarray  # (4,) IMU orientation
    dof_pos: np.ndarray  # (23,) training joints
    dof_vel: np.ndarray  # (23,)
    wrist_pos: np.ndarray  # (2,) wrist rolls
    pelvis_height: float


class G1MujocoSim:
    def __init__(self, xml_path: Optional[str] = None) -> None:
        import mujoco

        self.mujoco = mujoco
        self.xml_path = Path(xml_path or SIM2SIM_XML)
        if not self.xml_path.is_file():
            raise FileNotFoundError(
                "--xml_file {}: no such file (the default is {})".format(self.xml_path, SIM2SIM_XML)
            )
        self.model = mujoco.MjModel.from_xml_path(str(self.xml_path))
        self.model.opt.timestep = PHYSICS_DT
        self.data = mujoco.MjData(self.model)
        g1, joints = load_g1(), deploy_joints()
        self.joints = joints
        m = self.model
        try:
            jids = [m.joint(n).id for n in joints.names]
            self._act = np.array([m.actuator(n).id for n in joints.names])
            self._quat_adr = m.sensor_adr[m.sensor("orientation").id]
            self._gyro_adr = m.sensor_adr[m.sensor("angular-velocity").id]
            self._imu_site = int(m.sensor_objid[m.sensor("orientation").id])
        except KeyError as e:
            raise ValueError(
                "{}: not a 25-DOF G1 sim2sim model ({}): expected joints and motors {} and the sensors "
                "'orientation' and 'angular-velocity'".format(self.xml_path, e, list(joints.names))
            )
        self._qadr = np.array([m.jnt_qposadr[j] for j in jids])
        self._vadr = np.array([m.jnt_dofadr[j] for j in jids])
        wrists = {w["name"]: w for w in g1.wrist_roll_joints}
        kp = np.zeros(25)
        kd = np.zeros(25)
        effort = np.zeros(25)
        kp[joints.body_ids], kd[joints.body_ids], effort[joints.body_ids] = g1.kp, g1.kd, g1.effort
        for i in joints.wrist_ids:
            w = wrists[joints.names[i]]
            kp[i], kd[i], effort[i] = w["kp"], w["kd"], w["effort"]
        self.kp, self.kd, self.torque_limit = kp, kd, effort
        self.standing_qpos = self._standing_qpos(g1.standing_pelvis_height)
        self.reset()

    def _standing_qpos(self, height: float) -> np.ndarray:
        q = self.model.qpos0.copy()
        q[0:3] = [0.0, 0.0, height]
        q[3:7] = [1.0, 0.0, 0.0, 0.0]  # wxyz identity: facing +x
        q31, wrists = split_wrist_rolls(default_mimic_vector())
        q25 = np.zeros(25)
        q25[self.joints.body_ids], q25[self.joints.wrist_ids] = q31[8:], wrists
        q[self._qadr] = q25
        return q

    def reset(self, heading: float = 0.0) -> None:
        """Standing on the default pose at the origin, facing `heading` (rad about z; 0: +x)."""
        self.mujoco.mj_resetData(self.model, self.data)
        self.data.qpos[:] = self.standing_qpos
        self.data.qpos[3:7] = [np.cos(0.5 * heading), 0.0, 0.0, np.sin(0.5 * heading)]  # wxyz
        self.mujoco.mj_forward(self.model, self.data)

    def state(self) -> RobotState:
        d = self.data
        w, x, y, z = d.sensordata[self._quat_adr : self._quat_adr + 4]
        q = d.qpos[self._qadr]
        v = d.qvel[self._vadr]
        b, wr = self.joints.body_ids, self.joints.wrist_ids
        return RobotState(
            d.sensordata[self._gyro_adr : self._gyro_adr + 3].copy(),
            np.array([x, y, z, w]),
            q[b].copy(),
            v[b].copy(),
            q[wr].copy(),
            float(d.qpos[2]),
        )

    def pelvis_height_and_joints(self):
        """(pelvis height (m), the 23 training joint positions): what the server scores after a step."""
        return float(self.data.qpos[2]), self.data.qpos[self._qadr[self.joints.body_ids]]

    def pelvis_quat_wxyz(self) -> np.ndarray:
        """The pelvis orientation now (wxyz, world frame): what its IMU reads (the IMU site is not rotated
        on the pelvis; the sensor's value lags one physics step behind the state after `step`)."""
        return self.data.qpos[3:7].copy()

    def torques(self, target25: np.ndarray) -> np.ndarray:
        d = self.data
        tau = self.kp * (target25 - d.qpos[self._qadr]) - self.kd * d.qvel[self._vadr]
        return np.clip(tau, -self.torque_limit, self.torque_limit)

    def joint_pos_vel(self) -> Tuple[np.ndarray, np.ndarray]:
        """(positions, velocities) of the 25 joints in deploy order (training joints + wrist rolls)."""
        return self.data.qpos[self._qadr].copy(), self.data.qvel[self._vadr].copy()

    def imu(self) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The pelvis IMU: (orientation quaternion wxyz, gyro (rad/s), accelerometer (m/s^2, +9.81 up at
        rest)), in the IMU frame, as the robot's IMU reports them."""
        m, d = self.model, self.data
        self.mujoco.mj_rnePostConstraint(m, d)  # body accelerations (what MuJoCo's accelerometer reads)
        acc = np.zeros(6)
        self.mujoco.mj_objectAcceleration(m, d, self.mujoco.mjtObj.mjOBJ_SITE, self._imu_site, acc, 1)
        return (
            d.sensordata[self._quat_adr : self._quat_adr + 4].copy(),
            d.sensordata[self._gyro_adr : self._gyro_adr + 3].copy(),
            acc[3:6].copy(),
        )

    def physics_step(self, tau25: np.ndarray) -> None:
        """One 1-ms physics step with the 25 joint torques `tau25` (clipped to the joint efforts)."""
        self.data.ctrl[self._act] = np.clip(tau25, -self.torque_limit, self.torque_limit)
        self.mujoco.mj_step(self.model, self.data)

    def step(self, target25: np.ndarray, substeps: int = DECIMATION) -> None:
        """`substeps` physics steps of 1 ms with the PD law recomputed at each."""
        for _ in range(substeps):
            self.data.ctrl[self._act] = self.torques(target25)
            self.mujoco.mj_step(self.model, self.data)
