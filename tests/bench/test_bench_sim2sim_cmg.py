"""bench/bench_sim2sim_cmg.py: the MuJoCo state's velocities in the frames eval.py's CMG metrics use, the
default command band within the CMG's range, the 20-% verdict, and the benchmark end to end (the shipped
student stands in for a CMG student: same observation layout; a small random CMG, 2 commands x 1 s) with
the sim2sim command errors recomputed from the recorded MuJoCo trajectory."""

import json
import math

import numpy as np
import pytest
import torch
from conftest import load_bench_script, tiny_cmg

pytest.importorskip("mujoco")
pytest.importorskip("mujoco_warp")
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def bench():
    return load_bench_script("bench_sim2sim_cmg")


def test_root_state_of_a_yawed_root_moving_sideways(bench):
    """Pelvis yawed +90 deg moving along world +y at 1.5 m/s, turning at 0.4 rad/s: forward 1.5 m/s in the
    pelvis and heading frames, so the command (1.5, 0, 0.4) has no error and (0, 1.5, 0) (the world
    velocity taken for the pelvis one) an error of 1.5 sqrt(2)."""
    from deploy_real.mujoco_g1 import G1MujocoSim
    from legged_gym.envs.mdp import metrics
    from legged_gym.scripts.eval import CommandTracker

    data = G1MujocoSim().data
    data.qpos[3:7] = [math.cos(math.pi / 4), 0.0, 0.0, math.sin(math.pi / 4)]  # wxyz
    data.qvel[0:6] = [0.0, 1.5, 0.0, 0.0, 0.0, 0.4]
    pos, quat, world_vel, lin_vel, ang_vel = bench.root_state(data)
    torch.testing.assert_close(quat, torch.tensor([[0.0, 0.0, math.sin(math.pi / 4), math.cos(math.pi / 4)]]))
    torch.testing.assert_close(world_vel, torch.tensor([[0.0, 1.5, 0.0]]))
    torch.testing.assert_close(lin_vel, torch.tensor([[1.5, 0.0, 0.0]]), atol=1e-6, rtol=0)
    torch.testing.assert_close(ang_vel, torch.tensor([[0.0, 0.0, 0.4]]))
    torch.testing.assert_close(
        metrics.heading_frame_velocity(quat, world_vel), torch.tensor([[1.5, 0.0]]), atol=1e-6, rtol=0
    )
    tracker = CommandTracker(2, "cpu")
    tracker.observe_commands(
        torch.tensor([[1.5, 0.0, 0.4], [0.0, 1.5, 0.0]]), quat.repeat(2, 1), lin_vel.repeat(2, 1), ang_vel.repeat(2, 1)
    )
    torch.testing.assert_close(tracker.cmd_vel_sum, torch.tensor([0.0, 1.5 * math.sqrt(2)]), atol=1e-6, rtol=0)
    torch.testing.assert_close(tracker.yaw_rate_sum, torch.tensor([0.0, 0.4]), atol=1e-6, rtol=0)


def test_default_band_within_the_cmg_range_and_the_verdict(bench):
    low, high = np.array([-0.40000007, -0.40000007, -0.8000001]), np.array([3.5000007, 0.40000007, 0.8000001])
    band = bench.cmg_command_band(([1.5, 2.5], [-0.5, 0.5], [-0.5, 0.5]), low, high)
    assert band == [(1.5, 2.5), (-0.4, 0.4), (-0.5, 0.5)]
    with pytest.raises(ValueError, match="vx band"):
        bench.cmg_command_band(([4.0, 5.0], [-0.5, 0.5], [-0.5, 0.5]), low, high)

    def verdict(tr, s2):
        keys = ("completion", "cmd_vel_error_rel")
        return bench.within_20_percent({"training_sim": dict(zip(keys, tr)), "sim2sim": dict(zip(keys, s2))})

    assert verdict((1.0, 0.10), (0.8, 0.13)) == {"completion": True, "cmd_vel_error_rel": True}  # 1.2 x 0.1 + 0.01
    assert verdict((1.0, 0.10), (0.79, 0.131)) == {"completion": False, "cmd_vel_error_rel": False}
    assert verdict((1.0, None), (1.0, 0.2))["cmd_vel_error_rel"] is None


def test_benchmark_scores_both_sides_and_sim2sim_recomputes_from_the_trajectory(bench, tmp_path):
    from deploy_real.policy import SHIPPED_POLICY
    from legged_gym.scripts.eval_report import CMG_KEYS, METRIC_KEYS

    cmg = str(tiny_cmg(tmp_path / "tiny_cmg.pt"))
    out = tmp_path / "s2s.json"
    argv = ["--policy_path", str(SHIPPED_POLICY), "--task", "g1_stu_rl_cmg_slow", "--commands", "1.0,0.2,0.3;0.05,0,0"]
    result = bench.main(argv + ["--seconds", "1", "--cmg_model", cmg, "--out", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(result))
    assert result["task"] == "g1_stu_rl_cmg_slow" and result["cmg_model"] == cmg and result["foot_lock"] is False
    assert [(r["name"], r["command"]) for r in result["commands"]] == [
        ("vx1.00_vy0.20_wz0.30", [1.0, 0.2, 0.3]),
        ("vx0.05_vy0.00_wz0.00", [0.05, 0.0, 0.0]),
    ]
    keys = list(METRIC_KEYS + CMG_KEYS) + ["failure_causes"]
    for row in result["commands"]:
        for side in bench.SIDES:
            assert list(row[side]) == keys, side
            assert 0.0 < row[side]["completion"] <= 1.0
    walk, stand = result["commands"]
    for side in bench.SIDES:
        assert walk[side]["cmd_vel_error_rel"] == pytest.approx(walk[side]["cmd_vel_error_mps"] / math.hypot(1.0, 0.2))
        assert stand[side]["cmd_vel_error_rel"] is None
        assert result["summary"][side]["cmd_vel_error_rel"] == walk[side]["cmd_vel_error_rel"]
        mean = (walk[side]["completion"] + stand[side]["completion"]) / 2
        assert result["summary"][side]["completion"] == pytest.approx(mean)
    assert set(walk["sim2sim"]["failure_causes"]) == set(bench.SIM2SIM_CAUSES) | {"non_finite", "keybody_error"}
    assert set(result["summary"]["within_20_percent"]) == {"completion", "cmd_vel_error_rel"}

    # the sim2sim row again (deterministic), its errors recomputed from the MuJoCo qpos / qvel it measured
    trace = []
    per_env, _ = bench.sim2sim_command(SHIPPED_POLICY, (1.0, 0.2, 0.3), 1.0, cmg, trace=trace)
    for key in ("completion", "cmd_vel_error_mps", "yaw_rate_error_radps", "joint_error_rad", "root_drift_m"):
        assert float(per_env[key][0]) == pytest.approx(walk["sim2sim"][key], rel=1e-6), key
    t = np.array(trace, dtype=np.float64)
    assert walk["sim2sim"]["completion"] == pytest.approx(len(t) * 0.02, rel=1e-6)
    w, x, y, z = t[:, 3], t[:, 4], t[:, 5], t[:, 6]
    rot = np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
            np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
            np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
        ],
        axis=1,
    )
    world = t[:, 7:10]
    pelvis = np.einsum("nji,nj->ni", rot, world)  # R^T v
    command = np.array([1.0, 0.2])
    assert walk["sim2sim"]["cmd_vel_error_mps"] == pytest.approx(
        np.linalg.norm(command - pelvis[:, :2], axis=-1).mean(), rel=1e-4
    )
    # --settle_s: the same trajectory's command error from step 10 on
    settled, _ = bench.sim2sim_command(SHIPPED_POLICY, (1.0, 0.2, 0.3), 1.0, cmg, settle_s=0.2)
    assert len(t) > 10
    assert float(settled["cmd_vel_error_mps"][0]) == pytest.approx(
        np.linalg.norm(command - pelvis[10:, :2], axis=-1).mean(), rel=1e-4
    )
    assert float(settled["completion"][0]) == pytest.approx(walk["sim2sim"]["completion"], rel=1e-6)
    yaw = np.arctan2(rot[:, 1, 0], rot[:, 0, 0])
    heading = np.stack(
        [np.cos(yaw) * world[:, 0] + np.sin(yaw) * world[:, 1], np.cos(yaw) * world[:, 1] - np.sin(yaw) * world[:, 0]],
        -1,
    )
    assert walk["sim2sim"]["cmd_mean_vel_error_mps"] == pytest.approx(
        np.linalg.norm((command - heading).mean(axis=0)), rel=1e-4, abs=1e-5
    )
    assert walk["sim2sim"]["yaw_rate_error_radps"] == pytest.approx(np.abs(0.3 - t[:, 12]).mean(), rel=1e-4)
    assert walk["sim2sim"]["cmd_mean_yaw_rate_error_radps"] == pytest.approx(
        abs((0.3 - t[:, 12]).mean()), rel=1e-4, abs=1e-6
    )


@pytest.mark.parametrize(
    "task, message",
    [("g1_cmg_medium", "a teacher task; the deploy loop runs exported students"), ("g1_stu_rl", "not a CMG task")],
)
def test_a_task_that_is_not_a_cmg_student_is_refused(bench, task, message, capsys):
    from deploy_real.policy import SHIPPED_POLICY

    with pytest.raises(SystemExit):
        bench.main(["--policy_path", str(SHIPPED_POLICY), "--task", task])
    assert message in capsys.readouterr().err


def test_a_settle_time_beyond_the_episode_is_refused(bench, capsys):
    from deploy_real.policy import SHIPPED_POLICY

    with pytest.raises(SystemExit):
        bench.main(["--policy_path", str(SHIPPED_POLICY), "--seconds", "2", "--settle_s", "2"])
    assert "--settle_s 2.0: expected 0 <= settle_s < --seconds (2.0)" in capsys.readouterr().err


def test_the_task_of_the_export_metadata_is_used_and_a_contradiction_refused(bench, tmp_path, capsys):
    """An export recording its task (and CMG stream): --task defaults to it, another --task or a foot lock it
    was not trained with is refused before anything runs."""
    import shutil

    from deploy_real.policy import SHIPPED_POLICY, Policy
    from legged_gym.envs.mdp.layout import export_metadata_sidecar

    policy = tmp_path / "S-3-jit.pt"
    shutil.copy(SHIPPED_POLICY, policy)
    meta = dict(Policy(policy).metadata())
    meta.update(task="g1_stu_rl_cmg_slow", cmg={"foot_lock": False})
    export_metadata_sidecar(policy).write_text(json.dumps(meta))
    with pytest.raises(SystemExit):
        bench.main(["--policy_path", str(policy), "--task", "g1_stu_rl_cmg_medium"])
    assert "--task g1_stu_rl_cmg_medium: {} was trained on g1_stu_rl_cmg_slow".format(policy) in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench.main(["--policy_path", str(policy), "--cmg_foot_lock"])
    assert "--cmg_foot_lock: {} was trained without the foot lock".format(policy) in capsys.readouterr().err
    meta.update(task="g1_stu_rl")  # a clip student's export: without --task, its task is the one checked
    export_metadata_sidecar(policy).write_text(json.dumps(meta))
    with pytest.raises(SystemExit):
        bench.main(["--policy_path", str(policy)])
    assert "--task g1_stu_rl: not a CMG task" in capsys.readouterr().err
