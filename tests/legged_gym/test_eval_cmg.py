"""legged_gym/scripts/eval.py on the CMG tasks (rows are velocity commands), on CPU (mjwarp on warp's CPU
device) with a small randomly initialised CMG (`tiny_cmg`): `G1MimicCMG.reset_to_commands`, the default
command grid, --commands parsing, the CMG metrics against an independent recomputation, and eval.py end
to end on a teacher trained for one iteration (2 commands x 2 envs, 1-s episodes)."""

import json
import math
import os
import subprocess
import sys

import pytest
import torch

pytest.importorskip("mujoco_warp")

from conftest import REPO_ROOT, tiny_cmg  # noqa: E402

TEACHER = "pytest_eval_cmg_teacher"
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def cmg_model(tmp_path_factory):
    return tiny_cmg(tmp_path_factory.mktemp("cmg") / "tiny_cmg.pt")


def make_env(cmg_model, num_envs, episode_length_s=10.0, **motion):
    """A g1_cmg_medium env as eval.py configures it (--rand none, headless), sampled episodes with a
    command switch 1-2 frames in."""
    from legged_gym.envs import task_registry
    from legged_gym.envs.g1.g1_mimic_cmg import G1MimicCMG
    from legged_gym.scripts.eval import configure_env_cfg

    cfg, _ = task_registry.get_cfgs("g1_cmg_medium")
    configure_env_cfg(cfg, "none", num_envs)
    cfg.env.episode_length_s = episode_length_s
    cfg.sim.backend = "mjwarp"
    cfg.env.sync_free_resets = False
    cfg.motion.cmg_model = str(cmg_model)
    cfg.commands.enable_cmd_switch = True
    cfg.commands.cmd_switch_time_range_s = [0.02, 0.04]
    for key, value in motion.items():
        setattr(cfg.motion, key, value)
    return G1MimicCMG(cfg, "cpu", True)


def test_reset_to_commands_generates_references_that_follow_the_commands(cmg_model):
    """Envs 0 and 2 start unmirrored episodes of the given commands with no switch (although every
    sampled episode here is mirrored and switches): the reference root advances by R(yaw) [vx, vy] dt
    per step with yaw = k wz dt. Their next episodes are sampled again; CMG envs have no clips."""
    env = make_env(cmg_model, 3, cmg_mirror_prob=1.0)
    lib, dt = env.cmg, env.dt
    commands = torch.tensor([[2.0, 0.3, 0.5], [1.5, -0.4, -0.3]])
    ids = torch.tensor([0, 2])
    env.reset_to_commands(ids, commands)
    assert env._forced_commands is None and env.episode_length_buf[ids].tolist() == [0, 0]
    assert lib.mirrored().tolist() == [False, True, False]
    torch.testing.assert_close(env.get_commands()[ids], commands)
    before = env.get_commands()[1].clone()
    pos = [env._ref_root_pos[ids].clone()]
    zero = torch.zeros(3, 23)
    for k in range(6):
        yaw = k * commands[:, 2] * dt
        rot = torch.stack([torch.cos(yaw), -torch.sin(yaw), torch.sin(yaw), torch.cos(yaw)], dim=-1).view(2, 2, 2)
        expected_vel = (rot @ commands[:, :2].unsqueeze(-1)).squeeze(-1)
        q = env._ref_root_rot[ids]  # xyzw
        ref_yaw = torch.atan2(2 * (q[:, 3] * q[:, 2] + q[:, 0] * q[:, 1]), 1 - 2 * (q[:, 1] ** 2 + q[:, 2] ** 2))
        torch.testing.assert_close(ref_yaw, yaw, atol=1e-5, rtol=0)
        torch.testing.assert_close(env._ref_root_vel[ids, :2], expected_vel, atol=1e-5, rtol=0)
        env.step(zero)
        assert env.episode_length_buf.tolist() == [k + 1] * 3, "no reset in these steps"
        pos.append(env._ref_root_pos[ids].clone())
        torch.testing.assert_close(pos[-1][:, :2] - pos[-2][:, :2], expected_vel * dt, atol=1e-5, rtol=0)
        torch.testing.assert_close(pos[-1][:, 2], pos[0][:, 2])
        torch.testing.assert_close(env.get_commands()[ids], commands)
    assert not torch.equal(env.get_commands()[1], before), "the sampled episode switched its command"
    env.reset_idx(ids)  # later episodes: sampled (mirrored, other commands)
    assert lib.mirrored().tolist() == [True, True, True]
    assert not torch.isclose(env.get_commands()[ids], commands).all(dim=-1).any()
    with pytest.raises(ValueError, match="no clips"):
        env.reset_to_motions(ids, ids)


def test_default_commands_cover_the_band():
    from legged_gym.scripts.eval import command_name, default_commands

    assert default_commands([1.5, 2.5], [-0.5, 0.5], [-0.5, 0.5]) == [
        (1.5, 0.0, 0.0),
        (2.0, 0.0, 0.0),
        (2.5, 0.0, 0.0),
        (2.0, 0.5, 0.0),
        (2.0, -0.5, 0.0),
        (2.0, 0.0, 0.5),
        (2.0, 0.0, -0.5),
    ]
    # no lateral band, a one-sided yaw band, a single vx: the nonzero bounds only, no repeated rows
    assert default_commands([1.0, 1.0], [0.0, 0.0], [0.0, 0.4]) == [(1.0, 0.0, 0.0), (1.0, 0.0, 0.4)]
    assert [command_name(c) for c in default_commands([0.5, 1.5], [-0.3, 0.3], [-0.5, 0.5])] == [
        "vx0.50_vy0.00_wz0.00",
        "vx1.00_vy0.00_wz0.00",
        "vx1.50_vy0.00_wz0.00",
        "vx1.00_vy0.30_wz0.00",
        "vx1.00_vy-0.30_wz0.00",
        "vx1.00_vy0.00_wz0.50",
        "vx1.00_vy0.00_wz-0.50",
    ]
    assert command_name((-0.0, 2.005, -0.25)) == "vx0.00_vy2.00_wz-0.25"


def test_commands_are_parsed_and_checked(capsys):
    from legged_gym.gym_utils.helpers import UsageError
    from legged_gym.scripts.eval import COMMANDS_FORMAT, band_warnings, main, parse_commands

    assert parse_commands("2.0,0,0; 2.5, 0.1 ,-0.3;") == [(2.0, 0.0, 0.0), (2.5, 0.1, -0.3)]
    for text in ("", ";", "2,0", "1,2,3,4", "a,b,c", "nan,0,0", "2,0,0;1 0 0"):
        with pytest.raises(UsageError) as e:
            parse_commands(text)
        assert COMMANDS_FORMAT in str(e.value), text
    band = ([1.5, 2.5], [-0.5, 0.5], [-0.5, 0.5])
    assert band_warnings([(1.5, -0.5, 0.5), (2.0, 0.0, 0.0)], band) == []
    (line,) = band_warnings([(2.0, 0.0, 0.0), (3.0, 0.0, -0.6)], band)
    assert line.startswith("WARNING: --commands vx3.00_vy0.00_wz-0.60: vx 3 not in [1.5, 2.5], wz -0.6 not in")
    # the command line: a bad --commands, --commands for a clip task, --motion_file for a CMG task
    base = ["--exptid", "x", "--device", "cpu", "--sim", "mjwarp", "--out", "unused"]
    for argv, message in (
        (["--task", "g1_cmg_medium", "--commands", "2,0"], "is not three numbers"),
        (["--task", "g1_priv_mimic", "--commands", "2,0,0"], "commands are for the CMG tasks"),
        (["--task", "g1_stu_rl_cmg_fast", "--motion_file", "m.yaml"], "generates its references"),
    ):
        with pytest.raises(SystemExit) as e:
            main(base + argv)
        assert str(e.value).startswith("eval.py: ") and message in str(e.value), str(e.value)


def test_command_metrics_are_those_of_the_first_episodes(cmg_model, monkeypatch):
    """evaluate() on 2 commands x 2 envs with a fixed random policy: each row's CMG keys recomputed from
    the states its envs were measured on (recorded by a spy on the tracker), up to each env's first reset;
    a command slower than 0.1 m/s has no relative errors, and the summary's mean leaves it out."""
    from legged_gym.scripts import eval as ev
    from pose.utils.torch_utils import quat_to_matrix

    env = make_env(cmg_model, 4, episode_length_s=1.0)
    states = []

    def spy(self, e):
        states.append(
            [x.clone().double() for x in (e.get_commands(), e.base_quat, e.base_lin_vel, e.base_ang_vel)]
            + [e.reset_buf.clone()]
        )
        observe(self, e)

    observe = ev.CommandTracker.observe
    monkeypatch.setattr(ev.CommandTracker, "observe", spy)
    weights = torch.randn(env.num_obs, 23, generator=torch.Generator().manual_seed(0)) * 0.05
    commands = [(2.0, 0.3, 0.2), (0.05, 0.0, -0.3)]
    result = ev.evaluate(env, lambda obs: obs @ weights, 2, commands)

    assert [(r["row"], r["name"], r["command"]) for r in result["commands"]] == [
        (0, "vx2.00_vy0.30_wz0.20", [2.0, 0.3, 0.2]),
        (1, "vx0.05_vy0.00_wz-0.30", [0.05, 0.0, -0.3]),
    ]
    n, active = 4, torch.ones(4, dtype=torch.bool)
    steps, vel_err, yaw_err, residual = torch.zeros(n), torch.zeros(n), torch.zeros(n), torch.zeros(n, 2).double()
    yaw_residual = torch.zeros(n).double()
    for cmd, quat, lin_vel, ang_vel, reset in states:
        rot = quat_to_matrix(quat.float()).double()
        world = (rot @ lin_vel.unsqueeze(-1)).squeeze(-1)
        yaw = torch.atan2(rot[:, 1, 0], rot[:, 0, 0])
        heading = torch.stack(
            [
                torch.cos(yaw) * world[:, 0] + torch.sin(yaw) * world[:, 1],
                torch.cos(yaw) * world[:, 1] - torch.sin(yaw) * world[:, 0],
            ],
            dim=-1,
        )
        w = active.double()
        torch.testing.assert_close(cmd[active].float(), torch.tensor(commands).repeat_interleave(2, 0)[active])
        steps += w.float()
        vel_err += (w * (cmd[:, :2] - lin_vel[:, :2]).norm(dim=-1)).float()
        yaw_err += (w * (cmd[:, 2] - ang_vel[:, 2]).abs()).float()
        residual += w.unsqueeze(-1) * (cmd[:, :2] - heading)
        yaw_residual += w * (cmd[:, 2] - ang_vel[:, 2])
        active &= ~reset
    # the envs' first episodes end at different steps (falls): later episodes' steps are left out
    assert 0 < steps.min() < steps.max() == len(states), (steps, len(states))
    mean_err = (residual / steps.double().unsqueeze(-1)).norm(dim=-1).float()
    for i, row in enumerate(result["commands"]):
        envs = slice(2 * i, 2 * i + 2)
        assert row["cmd_vel_error_mps"] == pytest.approx(float((vel_err / steps)[envs].mean()), rel=1e-4)
        assert row["cmd_mean_vel_error_mps"] == pytest.approx(float(mean_err[envs].mean()), rel=1e-4, abs=1e-5)
        assert row["yaw_rate_error_radps"] == pytest.approx(float((yaw_err / steps)[envs].mean()), rel=1e-4)
        mean_yaw = (yaw_residual / steps.double()).abs()[envs].mean()
        assert row["cmd_mean_yaw_rate_error_radps"] == pytest.approx(float(mean_yaw), rel=1e-4, abs=1e-6)
    fast, slow = result["commands"]
    speed = math.hypot(2.0, 0.3)
    assert fast["cmd_vel_error_rel"] == pytest.approx(fast["cmd_vel_error_mps"] / speed)
    assert fast["cmd_mean_vel_error_rel"] == pytest.approx(fast["cmd_mean_vel_error_mps"] / speed)
    assert slow["cmd_vel_error_rel"] is None and slow["cmd_mean_vel_error_rel"] is None
    summary = result["summary"]
    assert summary["cmd_vel_error_rel"] == fast["cmd_vel_error_rel"]
    assert summary["cmd_vel_error_mps"] == pytest.approx((fast["cmd_vel_error_mps"] + slow["cmd_vel_error_mps"]) / 2)
    assert summary["completion"] == pytest.approx((fast["completion"] + slow["completion"]) / 2)


def test_settle_steps_leave_each_episodes_start_out_of_the_command_errors():
    """CommandTracker with settle_steps = 2 on 3 envs of commands (1, 0, 0.5), pelvis velocities
    (k / 4, 0, 0) and yaw rate k / 10 at step k (upright, unyawed): the command errors are the means over
    steps 2.. of each env's first episode only. Env 1's episode ends at step 1 (inside the settle
    window): no command errors (NaN), so its row has None and the summary leaves it out."""
    from legged_gym.scripts.eval import CommandTracker, STEP_ERRORS, summarize_commands
    from legged_gym.scripts.eval_report import CMG_KEYS, METRIC_KEYS

    n = 3
    tracker = CommandTracker(n, "cpu", ("height",), settle_steps=2)
    commands = torch.tensor([[1.0, 0.0, 0.5]]).repeat(n, 1)
    quat = torch.tensor([[0.0, 0.0, 0.0, 1.0]]).repeat(n, 1)
    errors = {name: torch.zeros(n) for name in STEP_ERRORS}
    for k in range(5):
        lin = torch.tensor([[k / 4, 0.0, 0.0]]).repeat(n, 1)
        ang = torch.tensor([[0.0, 0.0, k / 10]]).repeat(n, 1)
        tracker.observe_commands(commands, quat, lin, ang)
        reset = torch.tensor([k == 4, k == 1, k == 4])
        tracker.observe_step(errors, reset, reset & (k == 4), torch.zeros(n, 2), torch.zeros(n), {"height": reset})
    per_env = tracker.per_env(torch.full((n,), 0.1), 0.02)
    vel = [abs(1.0 - k / 4) for k in (2, 3, 4)]  # 0.5, 0.25, 0.0
    yaw = [0.5 - k / 10 for k in (2, 3, 4)]  # 0.3, 0.2, 0.1
    for env in (0, 2):
        assert float(per_env["cmd_vel_error_mps"][env]) == pytest.approx(sum(vel) / 3)
        assert float(per_env["cmd_mean_vel_error_mps"][env]) == pytest.approx(sum(vel) / 3)  # one sign
        assert float(per_env["yaw_rate_error_radps"][env]) == pytest.approx(sum(yaw) / 3)
        assert float(per_env["cmd_mean_yaw_rate_error_radps"][env]) == pytest.approx(sum(yaw) / 3)
    assert all(math.isnan(float(per_env[key][1])) for key in CMG_KEYS if key in per_env)
    assert float(per_env["completion"][1]) == pytest.approx(0.4)  # the other metrics count every step

    result = summarize_commands(per_env, torch.tensor([0, 1, 2]), [(1.0, 0.0, 0.5)] * 3)
    rows = result["commands"]
    assert rows[1]["cmd_vel_error_mps"] is None and rows[1]["cmd_vel_error_rel"] is None
    assert rows[0]["cmd_vel_error_rel"] == pytest.approx(0.25)
    assert result["summary"]["cmd_vel_error_mps"] == pytest.approx(0.25)  # rows 0 and 2
    assert result["summary"]["completion"] == pytest.approx((1.0 + 0.4 + 1.0) / 3)
    assert set(METRIC_KEYS) <= set(result["summary"])


def test_command_tables_comparison_and_plot(tmp_path):
    """The table and the comparison show the CMG keys ("-" for None); the plot draws None as no bar."""
    from legged_gym.scripts.eval import summarize_commands
    from legged_gym.scripts.eval_report import CMG_KEYS, METRIC_KEYS, format_comparison, format_table, plot

    per_env = {key: torch.tensor([1.0, 3.0, 5.0, 7.0]) for key in METRIC_KEYS + CMG_KEYS}
    result = summarize_commands(per_env, torch.tensor([0, 0, 1, 1]), [(2.0, 0.0, 0.0), (0.0, -0.5, 0.5)])
    assert result["commands"][0]["cmd_vel_error_rel"] == 1.0 and result["commands"][1]["cmd_vel_error_rel"] == 12.0
    table = format_table(result).splitlines()
    assert table[0].split()[:2] == ["row", "name"] and "cmdmn_rel" in table[0]
    assert table[3].split()[:2] == ["1", "vx0.00_vy-0.50_wz0.50"]
    clip = {"summary": {key: 1.0 for key in METRIC_KEYS}}
    result["commands"][1]["cmd_vel_error_rel"] = None
    result["summary"]["cmd_vel_error_rel"] = None
    column = table[0].split().index("cmd_rel")  # the header's words: row, name, then one per value
    assert format_table(result).splitlines()[3].split()[column] == "-"
    lines = format_comparison(result, clip, "clips/eval.json").splitlines()
    assert [line.split()[0] for line in lines[3:-1]] == list(METRIC_KEYS + CMG_KEYS)
    assert lines[-1].startswith("within 25% on ")  # the verdict line
    assert lines[3 + len(METRIC_KEYS)].split()[1:] == ["4.000", "-", "-", "-", "-", "-", "-"]
    # the standard errors of the absolute keys: rows of two envs, values 1, 3 and 5, 7
    se = result["summary_standard_error"]
    assert se["mpkpe_local_mm"] == pytest.approx(math.sqrt(2.0 / 2 + 2.0 / 2) / 2)
    assert "cmd_vel_error_rel" not in se
    plot(result, tmp_path / "eval.png", "title")
    assert (tmp_path / "eval.png").stat().st_size > 0


def run(cmd, logs):
    env = dict(os.environ, LEGGED_GYM_LOG_DIR=str(logs), OMP_NUM_THREADS="1")
    out = subprocess.run(cmd, cwd=str(logs), env=env, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise AssertionError(
            "{} failed ({}):\n{}\n{}".format(
                " ".join(map(str, cmd)), out.returncode, out.stdout[-3000:], out.stderr[-5000:]
            )
        )
    return out


def test_eval_script_scores_commands(cmg_model, tmp_path):
    """A g1_cmg_medium teacher trained for one iteration, evaluated on 2 commands x 2 envs."""
    common = ["--device", "cpu", "--sim", "mjwarp", "--cmg_model", str(cmg_model)]
    train = [sys.executable, str(REPO_ROOT / "legged_gym/scripts/train.py"), "--task", "g1_cmg_medium"]
    run(train + ["--exptid", TEACHER, "--num_envs", "2", "--max_iterations", "1"] + common, tmp_path)
    out = run(
        [sys.executable, str(REPO_ROOT / "legged_gym/scripts/eval.py"), "--task", "g1_cmg_medium", "--exptid", TEACHER]
        + common
        + ["--commands", "2.0,0,0;2.2,0.3,-0.2", "--num_envs_per_clip", "2", "--set", "env.episode_length_s=1.0"]
        + ["--out", str(tmp_path / "eval")],
        tmp_path,
    )
    result = json.loads((tmp_path / "eval" / "eval.json").read_text())
    assert (tmp_path / "eval" / "eval.png").stat().st_size > 0
    assert "clips" not in result and result["episode_length_s"] == 1.0
    assert result["command_band"] == {"lin_vel_x": [1.5, 2.5], "lin_vel_y": [-0.5, 0.5], "ang_vel_yaw": [-0.5, 0.5]}
    assert "--commands '2.0,0,0;2.2,0.3,-0.2'" in result["command"]
    assert [(r["name"], r["command"]) for r in result["commands"]] == [
        ("vx2.00_vy0.00_wz0.00", [2.0, 0.0, 0.0]),
        ("vx2.20_vy0.30_wz-0.20", [2.2, 0.3, -0.2]),
    ]
    from legged_gym.scripts.eval_report import CMG_KEYS, METRIC_KEYS

    for row in result["commands"]:
        assert list(row)[3:] == list(METRIC_KEYS + CMG_KEYS) + ["failure_causes"]
        assert 0.0 < row["completion"] <= 1.0 and row["cmd_vel_error_mps"] > 0.0
        speed = math.hypot(row["command"][0], row["command"][1])
        assert row["cmd_mean_vel_error_rel"] == pytest.approx(row["cmd_mean_vel_error_mps"] / speed)
    for key in METRIC_KEYS + CMG_KEYS:
        assert result["summary"][key] == pytest.approx(sum(r[key] for r in result["commands"]) / 2)
    assert "Evaluating" in out.stdout and "2 commands x 2 envs" in out.stdout
    assert "vx2.20_vy0.30_wz-0.20" in out.stdout and "mean over commands" in out.stdout
