"""The real G1's config (deploy_real/configs/g1.yaml): TWIST's numbers, consistent with the training
environment and the G1 facts table; broken configs are refused with the key named."""

import numpy as np
import pytest
import yaml

from deploy_real.real_config import (
    DEFAULT_CONFIG,
    ConfigError,
    describe_mode_machine,
    load_real_config,
    mode_machine_problem,
)
from pose.g1_model import load_g1


def test_shipped_config_is_twists_numbers():
    cfg = load_real_config()
    legs_kp, legs_kd = [100, 100, 100, 150, 40, 40] * 2, [2, 2, 2, 4, 2, 2] * 2
    # motor order: 12 leg motors, waist 12-14, left arm 15-18, left wrist 19-21, right arm 22-25, right wrist 26-28
    kp = legs_kp + [150, 150, 150] + [40] * 4 + [20] * 3 + [40] * 4 + [20] * 3
    kd = legs_kd + [4, 4, 4] + [5] * 4 + [1] * 3 + [5] * 4 + [1] * 3
    pose = [-0.2, 0, 0, 0.4, -0.2, 0] * 2 + [0, 0, 0] + [0, 0.4, 0, 1.2] + [0, 0, 0] + [0, -0.4, 0, 1.2] + [0, 0, 0]
    np.testing.assert_array_equal(cfg.kp, kp)
    np.testing.assert_array_equal(cfg.kd, kd)
    np.testing.assert_allclose(cfg.default_pose, pose)
    assert cfg.wrist_roll_motor_idx == (19, 26)
    np.testing.assert_array_equal(cfg.body_motor_idx, list(range(19)) + [22, 23, 24, 25])
    assert (cfg.control_dt, cfg.action_scale, cfg.action_clip, cfg.damping_kd) == (0.02, 0.5, 10.0, 8.0)
    assert (cfg.lowstate_timeout_s, cfg.max_tilt_rad, cfg.move_to_default_s) == (0.05, 1.0, 2.0)
    assert cfg.lowstate_tick_timeout_s == 0.1


def test_config_agrees_with_the_training_environment_and_the_facts_table():
    cfg, g1 = load_real_config(), load_g1()
    b = cfg.body_motor_idx
    assert [cfg.motor_names[m] for m in b] == list(g1.dof_names)
    np.testing.assert_allclose(cfg.default_dof_pos, g1.default_dof_pos)  # the policy's default pose
    np.testing.assert_allclose(cfg.kp[b], g1.kp)
    np.testing.assert_allclose(cfg.kd[b], g1.kd)
    np.testing.assert_allclose(cfg.lower[b], g1.dof_lower)
    np.testing.assert_allclose(cfg.upper[b], g1.dof_upper)
    assert np.all(cfg.lower < cfg.upper) and np.all((cfg.default_pose >= cfg.lower) & (cfg.default_pose <= cfg.upper))


def _write(tmp_path, **changes):
    with open(DEFAULT_CONFIG) as f:
        raw = yaml.safe_load(f)
    raw.update(changes)
    path = tmp_path / "g1.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize(
    "changes, key",
    [
        ({"arm_waist_joint2motor_idx": [12, 13, 14, 15, 16, 17, 18, 19, 23, 24, 25]}, "arm_waist_joint2motor_idx"),
        ({"leg_joint2motor_idx": [6, 7, 8, 9, 10, 11, 0, 1, 2, 3, 4, 5]}, "leg_joint2motor_idx"),
        ({"kps": [100, 100, 100, 150, 40, float("nan")] + [100, 100, 100, 150, 40, 40]}, "kps[5]"),
        ({"kds": [2, 2, 2, 4, 2, -2] * 2}, "kds[5]"),
        ({"dof_vel_scale": 0.1}, "dof_vel_scale"),
        ({"control_dt": 0.01}, "control_dt"),
        ({"default_angles": [-0.2, 0, 0, 3.5, -0.2, 0] * 2}, "left_knee_joint"),
        ({"msg_type": "go"}, "msg_type"),
        ({"wrist_kps": [20] * 5}, "wrist_kps"),
    ],
)
def test_broken_configs_are_refused(tmp_path, changes, key):
    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
        load_real_config(_write(tmp_path, **changes))


def test_mode_machine_is_read_defaulted_and_checked(tmp_path):
    assert load_real_config().mode_machine == (5, 11, 13, 15)  # the shipped config's list
    assert load_real_config(_write(tmp_path, mode_machine=[5, 42])).mode_machine == (5, 42)
    with open(DEFAULT_CONFIG) as f:
        raw = yaml.safe_load(f)
    del raw["mode_machine"]  # a config without the key (TWIST's own g1.yaml): the same default list
    path = tmp_path / "twist_g1.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert load_real_config(path).mode_machine == (5, 11, 13, 15)
    for bad in ([], 5, [5, 256], [5, -1], [5.0], ["5"], [True], None):
        with pytest.raises(ConfigError, match="mode_machine: expected a non-empty list of integers 0..255"):
            load_real_config(_write(tmp_path, mode_machine=bad))


def test_mode_machine_problem_names_the_robot_and_how_to_allow_it():
    allowed = (5, 11, 13, 15)
    for ok in allowed:
        assert mode_machine_problem(ok, allowed) is None
    for value, kind in (
        (4, "23-DoF"),
        (10, "23-DoF"),
        (6, "waist locked"),
        (12, "waist locked"),
        (16, "waist locked"),
        (9, "dual-arm"),
        (42, "unknown robot type"),
    ):
        problem = mode_machine_problem(value, allowed)
        assert problem is not None and "\n" not in problem
        assert "mode_machine is {} (".format(value) in problem and kind in problem
        assert "add {} to `mode_machine` in the config".format(value) in problem
        assert "29 motors and the waist unlocked" in problem
    assert mode_machine_problem(42, (5, 42)) is None  # allowed once the config lists it
    assert describe_mode_machine(5).startswith("g1_29dof_rev_1_0: ")
    assert describe_mode_machine(4).startswith("g1_23dof_rev_1_0: ")
    assert "unitree_mujoco" in mode_machine_problem(0, allowed)  # its bridge never sets mode_machine


def test_missing_config_file():
    with pytest.raises(FileNotFoundError, match="--config"):
        load_real_config("/nonexistent/g1.yaml")
