"""The deploy servers' observation equals the training environment's (README, "Deploy").

The env `g1_stu_rl` runs on the mjwarp CPU backend for 50 steps from a reset (the first 10 included,
where the history convention matters). At every step the deploy side gets what a deploy server gets:
the robot state (gyro, IMU quaternion, joint encoders), its last raw action, and the 33-D reference
made by the high-level server's function and sent through the JSON wire format and the validator;
its 1155-D observation must equal the env's, with either engine that runs the deploy graphs; also for a
student trained with `motion.student_relative_ref_yaw`, whose deploy side computes the yaw entry from the
IMU quaternion (`RelativeRefYaw`, its IMU frame here the env's world frame: offset 0).
"""

from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("mujoco_warp")

from deploy_real.contract import encode_floats, split_wrist_rolls, validate_mimic  # noqa: E402
from deploy_real.motion_reference import LOOKAHEAD_S, reference_vectors  # noqa: E402
from deploy_real.observation import StudentObsBuilder  # noqa: E402
from deploy_real.safety import RefStatus  # noqa: E402
from deploy_real.student_step import RelativeRefYaw  # noqa: E402
from legged_gym.envs import task_registry  # noqa: E402
from legged_gym.envs.base.humanoid_mimic_config import disable_randomization  # noqa: E402
from pose.g1_model import load_g1  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("engine,relative_yaw", [("torch", False), ("onnxruntime", False), ("torch", True)])
def test_deploy_observation_matches_the_environment_for_50_steps_from_reset(engine, relative_yaw):
    if engine == "onnxruntime":
        pytest.importorskip("onnxruntime")
    cfg, _ = task_registry.get_cfgs("g1_stu_rl")
    cfg.env.num_envs = 1
    cfg.sim.backend = "mjwarp"
    cfg.motion.student_relative_ref_yaw = relative_yaw
    disable_randomization(cfg)
    heading = RelativeRefYaw()
    heading.offset = 0.0  # the IMU's yaw is the world yaw of the env
    env = task_registry.get("g1_stu_rl").env_class(cfg, "cpu", True)
    builder = StudentObsBuilder(load_g1().default_dof_pos, engine=engine)
    assert builder.engine == engine
    gen = torch.Generator().manual_seed(3)
    checked_history = yaw_differs = 0
    episode_steps = []
    for step in range(50):
        if step > 0:
            action = 0.3 * torch.randn(1, 23, generator=gen)
            env.step(action)
        episode_steps.append(int(env.episode_length_buf[0]))
        if episode_steps[-1] == 0:
            builder.reset()  # the env reset this episode (the deploy server starts once)
        t = float(env._get_motion_times()[0])
        wire = encode_floats(reference_vectors(env._motion_lib, int(env._motion_ids[0]), [t + LOOKAHEAD_S])[0])
        mimic31, _ = split_wrist_rolls(validate_mimic(wire))
        if relative_yaw:
            absolute_yaw = float(mimic31[3])
            mimic31 = heading(mimic31, env.base_quat[0].numpy(), RefStatus.FRESH)
            yaw_differs += int(abs(float(mimic31[3]) - absolute_yaw) > 1e-3)
        builder.set_last_action(env.action_history_buf[0, -1].numpy())
        obs, proprio = builder.build(
            mimic31,
            env.base_ang_vel[0].numpy(),
            env.base_quat[0].numpy(),
            env.dof_pos[0].numpy(),
            env.dof_vel[0].numpy(),
        )
        expected = env.obs_buf[0].numpy()
        assert obs.shape == expected.shape == (1155,)
        diff = np.abs(obs - expected)
        assert diff.max() < 1e-5, "step {}: max |deploy - env| = {:.3g} at index {}".format(
            step, diff.max(), diff.argmax()
        )
        checked_history += int(np.any(expected[105:] != 0))
    assert checked_history >= 45  # the history part was non-trivial (not only the zeros of the reset step)
    assert episode_steps[:10] == list(range(10))  # the first 10 steps of an episode were compared
    assert yaw_differs >= (25 if relative_yaw else 0)  # the relative yaw was not the absolute one


@pytest.mark.parametrize("clip", ["walk_turn", "turn_in_place"])
def test_dead_reckoned_drift_feedback_steers_the_block_as_the_environment_does(clip):
    """A student trained with the drift feedback (`motion.student_ref_correction`), played as a robot runs it
    (`motion.student_odometry = "estimate"`): the env's feedback reads its reference now and its odometry,
    the deploy side (`deploy_real.drift_feedback.DeadReckonedFeedback`) dead-reckons both positions from the
    stream and the same velocity estimate, here off by (0.15, -0.1) m/s so that the robot's position drifts.
    The steered root velocities of the block (vx, vy, vz, yaw rate) agree within 0.02 m/s and 0.003 rad/s
    over 1.2 s (the yaw-rate entries differed by 0.012 rad/s when the deploy side read the next frame)."""
    from deploy_real.drift_feedback import DeadReckonedFeedback
    from legged_gym.envs.mdp.drift_feedback import SETTINGS
    from legged_gym.envs.mdp.layout import LAYOUT

    cfg, _ = task_registry.get_cfgs("g1_stu_rl")
    cfg.env.num_envs = 1
    cfg.sim.backend = "mjwarp"
    disable_randomization(cfg)
    cfg.motion.motion_file = str(REPO_ROOT / "assets" / "motions" / "synth" / "{}.pkl".format(clip))
    c = cfg.motion.ref_correction
    c.pos_gain, c.yaw_gain, c.max_speed, c.max_yaw_rate, c.full_speed = 1.0, 1.0, 1.0, 1.0, 0.0
    cfg.motion.student_ref_correction = True
    cfg.motion.student_odometry = "estimate"
    env = task_registry.get("g1_stu_rl").env_class(cfg, "cpu", True)
    env.reset_to_motions(env.all_env_ids, torch.zeros(1, dtype=torch.long))
    feedback = DeadReckonedFeedback({k: float(getattr(c, k)) for k in SETTINGS}, env.dt)
    bias = torch.tensor([[0.15, -0.1, 0.0]])
    worst, steered = np.zeros(4), 0
    for step in range(60):
        t = float(env._get_motion_times()[0])
        block, _ = split_wrist_rolls(reference_vectors(env._motion_lib, 0, [t + LOOKAHEAD_S])[0])
        deployed = feedback.steer(block, env.base_quat[0].double().numpy(), RefStatus.FRESH)
        expected = env.obs_buf[0, LAYOUT.student.slices["mimic"]].numpy()
        worst = np.maximum(worst, np.abs(deployed[4:8] - expected[4:8]))
        steered += int(np.abs(deployed[4:8] - block[4:8]).max() > 0.02)
        estimate = env.base_lin_vel + bias
        feedback.advance(estimate[0].double().numpy())
        env.advance_odometry(estimate)
        env.step(torch.zeros(1, 23))
        assert not bool(env.reset_buf[0]), step
    assert steered >= 30  # the feedback did act: the estimate's error moved the robot's dead-reckoned position
    assert worst[:3].max() < 0.02 and worst[3] < 0.003, worst
