"""The sim2sim server's loop in-process (`LowLevelSim`, the shipped student, no Redis): a pushed robot's
fall and tilt are logged when they happen and summarised, the tilt against the real robot's limit; the
joint error is scored only on the steps with a reference of the stream."""

import math

import numpy as np
import pytest
import yaml

pytest.importorskip("mujoco")

from deploy_real.contract import default_mimic_vector, encode_floats, encode_meta, split_wrist_rolls  # noqa: E402
from deploy_real.real_config import DEFAULT_CONFIG  # noqa: E402
from deploy_real.server_low_level_g1_sim import LowLevelSim, last_line, main  # noqa: E402

DT = 0.02


@pytest.fixture
def server():
    lines = []
    sim = LowLevelSim(engine="torch", log=lines.append)
    sim.lines = lines
    return sim


def pelvis_tilt(sim):
    """The pelvis z axis' angle from the vertical, from MuJoCo's body rotation matrix."""
    return math.acos(float(np.clip(sim.data.body("pelvis").xmat[8], -1.0, 1.0)))


def test_a_pushed_robot_falls_and_it_is_logged_once_with_its_time(server):
    limit = yaml.safe_load(DEFAULT_CONFIG.read_text())["max_tilt_rad"]
    sim, d = server.sim, server.sim.data
    heights, tilts, times = [], [], []
    for k in range(150):
        if k == 10:
            d.qvel[1] += 3.0  # a 3 m/s shove to the left: no stepping saves that
        server.policy_step(k * DT, k * DT * 1000.0)
        sim.mujoco.mj_kinematics(sim.model, d)  # xmat of the state after the step
        heights.append(float(d.qpos[2]))
        tilts.append(pelvis_tilt(sim))
        times.append(float(d.time))
    fell_at = times[next(i for i, h in enumerate(heights) if h < 0.4)]
    fault_at = times[next(i for i, t in enumerate(tilts) if t > limit)]
    result = server.summary(3.0)
    assert result["fell"] is True
    assert result["fell_at_s"] == pytest.approx(fell_at, abs=1e-6)
    assert 0.2 < fell_at < 2.9  # after the push, and the run went on after it
    assert result["tilt_limit_rad"] == limit
    assert result["tilt_fault_at_s"] == pytest.approx(fault_at, abs=1e-6)
    assert result["max_tilt_rad"] == pytest.approx(max(tilts), abs=1e-6)
    assert result["min_pelvis_height_m"] == pytest.approx(min(heights))
    falls = [line for line in server.lines if line.startswith("FELL")]
    faults = [line for line in server.lines if "the real server would have faulted here" in line]
    assert falls == [
        "FELL at {:.2f} s: pelvis {:.2f} m above the floor (below 0.4 m)".format(fell_at, heights[times.index(fell_at)])
    ]
    assert len(faults) == 1 and faults[0].startswith("pelvis tilt ")
    assert "at {:.2f} s, beyond the real robot's max_tilt_rad {:.2f} rad".format(fault_at, limit) in faults[0]
    result["overruns"] = 0
    assert "FELL at {:.2f} s".format(fell_at) in last_line(result)
    assert "beyond the real robot's {:.2f} rad at {:.2f} s: the real server would have faulted there".format(
        limit, fault_at
    ) in last_line(result)


def test_a_standing_robot_neither_falls_nor_reaches_the_tilt_limit(server):
    for k in range(50):
        server.policy_step(k * DT, k * DT * 1000.0)
    result = server.summary(1.0)
    assert not result["fell"] and result["fell_at_s"] is None and result["tilt_fault_at_s"] is None
    assert 0.0 < result["max_tilt_rad"] < 0.5
    assert server.lines == []
    result["overruns"] = 0
    assert "no fall; max tilt" in last_line(result)


def test_the_joint_error_is_scored_only_with_a_reference(server):
    """Without a stream the robot stands on the default: no joint error (None). Then a stream, then its
    last frame repeated (held for 0.1 s, then blended to the default): only the fresh and held steps count,
    not the 0.5 s of the stream's blend-in from the default."""
    statuses, errors = [], []
    step = server.student.step

    def spied(*args, **kwargs):  # the reference state of each step
        out = step(*args, **kwargs)
        statuses.append(out.status.value)
        return out

    server.student.step = spied
    for k in range(20):
        server.policy_step(k * DT, k * DT * 1000.0)  # no link, no raw: no reference at all
    none = server.summary(1.0)
    assert none["joint_err_rad"] is None and none["joint_err_steps"] == 0
    none["overruns"] = 0
    assert "no reference: no joint error" in last_line(none)

    ref = default_mimic_vector()
    ref[8 + 3] += 0.3  # left knee, away from the default
    ref[8 + 16] += 0.2  # left shoulder roll
    q_ref = split_wrist_rolls(ref)[0][8:]
    mimic = encode_floats(ref).encode()
    for k in range(20, 85):
        seq = min(k, 65)  # from step 66 on the same message: not fresh any more
        server.policy_step(k * DT, k * DT * 1000.0, raw=(mimic, encode_meta(seq, seq * DT * 1000.0)))
        errors.append(float(np.mean(np.abs(server.sim.state().dof_pos - q_ref))))
    statuses = statuses[20:]
    scored = [e for e, s in zip(errors, statuses) if s in ("fresh", "hold")]
    assert statuses.count("blend_in") == 25 and statuses.count("fresh") >= 21 and statuses.count("hold") >= 3
    assert "blend" in statuses
    result = server.summary(2.0)
    assert result["joint_err_steps"] == len(scored)
    assert result["joint_err_rad"] == pytest.approx(np.mean(scored), rel=1e-9)
    assert result["joint_err_rad"] != pytest.approx(np.mean(errors), rel=1e-3)  # the blend steps are left out


def test_latency_runs_part_of_each_period_on_the_previous_targets():
    """policy_latency_ms 6: after the first period (no earlier targets: all 20 physics steps on its own),
    each period runs 6 physics steps of 1 ms on the previous step's targets, then 14 on its own; the periods
    stay 20 ms, and the shipped student still stands."""
    lines = []
    server = LowLevelSim(engine="torch", log=lines.append, policy_latency_ms=6)
    calls = []
    step = server.sim.step

    def spied(target, substeps=20):
        calls.append((np.array(target), substeps))
        step(target, substeps)

    server.sim.step = spied
    targets = [server.policy_step(k * DT, k * DT * 1000.0) for k in range(50)]
    assert len(calls) == 1 + 2 * 49
    assert calls[0][1] == 20 and np.array_equal(calls[0][0], targets[0])
    for k in range(1, 50):
        (held, n_held), (new, n_new) = calls[2 * k - 1], calls[2 * k]
        assert (n_held, n_new) == (6, 14)
        assert np.array_equal(held, targets[k - 1]) and np.array_equal(new, targets[k])
    assert server.sim.data.time == pytest.approx(50 * DT, abs=1e-9)
    result = server.summary(1.0)
    assert result["policy_latency_ms"] == 6 and not result["fell"] and lines == []
    with pytest.raises(ValueError, match=r"policy latency 25: expected a whole number of ms in \[0, 20\]"):
        LowLevelSim(engine="torch", policy_latency_ms=25)


def test_the_server_refuses_a_latency_beyond_the_period(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--policy_latency_ms", "21"])
    assert (
        e.value.code == 2
        and "--policy_latency_ms: policy latency '21': expected a whole number of ms in [0, 20]"
        in capsys.readouterr().err
    )


def test_a_policy_latency_is_a_whole_number_of_ms_within_one_period():
    from deploy_real.server_low_level_g1_sim import policy_latency

    assert [policy_latency(v) for v in (0, 20, 6.0, "7")] == [0, 20, 6, 7]
    for bad in (-1, 21, 6.5, "x", None, float("nan"), float("inf"), True):
        with pytest.raises(ValueError, match=r"expected a whole number of ms in \[0, 20\]"):
            policy_latency(bad)


def test_wrist_roll_targets_follow_the_reference_at_a_bounded_rate():
    """The wrist rolls go from the reference to the motors without the policy: a stream jumping between +-0.9 rad
    every step (valid, fresh frames) moves their targets by at most WRIST_ROLL_MAX_STEP_RAD a step; a steady
    reference is reached; a restart starts again from the default pose's 0."""
    from deploy_helpers import sim_student_step

    from deploy_real.policy import SHIPPED_POLICY
    from deploy_real.student_step import WRIST_ROLL_MAX_STEP_RAD
    from pose.g1_model import load_g1

    g1 = load_g1()
    step = sim_student_step(SHIPPED_POLICY)
    proprio = (np.zeros(3), np.array([0.0, 0.0, 0.0, 1.0]), g1.default_dof_pos, np.zeros(23))

    def run(wrists_of_step, steps, start):
        out = []
        for k in range(start, start + steps):
            v = default_mimic_vector()
            v[[27, 32]] = wrists_of_step(k)
            v[8] += 1e-4 * k  # a changing stream: fresh every step
            t = k * DT
            out.append(step.step(*proprio, t, t * 1000.0, raw=(encode_floats(v), encode_meta(k, t * 1000.0))).wrists)
        return np.array(out)

    steady = run(lambda k: (0.0, 0.0), 40, 0)  # blended in from the default
    np.testing.assert_allclose(steady[-1], 0.0, atol=1e-9)
    jumps = run(lambda k: (0.9, -0.9) if k % 2 else (-0.9, 0.9), 20, 40)
    moves = np.abs(np.diff(np.vstack([steady[-1:], jumps]), axis=0))
    assert moves.max() <= WRIST_ROLL_MAX_STEP_RAD + 1e-9 and moves.max() > 0.5 * WRIST_ROLL_MAX_STEP_RAD
    held = run(lambda k: (0.9, -0.9), 30, 60)
    np.testing.assert_allclose(held[-1], [0.9, -0.9], atol=1e-9)  # reached, then kept
    steps_to_reach = int(np.argmax(np.all(np.isclose(held, [0.9, -0.9]), axis=1))) + 1
    assert steps_to_reach <= int(np.ceil(1.8 / WRIST_ROLL_MAX_STEP_RAD)) + 1
    step.restart()
    first = run(lambda k: (0.9, -0.9), 1, 100)[0]
    assert np.all(np.abs(first) <= WRIST_ROLL_MAX_STEP_RAD + 1e-9)
