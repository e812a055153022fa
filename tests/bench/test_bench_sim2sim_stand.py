"""bench/bench_sim2sim_stand.py: the held references, the touch-down count, and the measures of the
deploy loop on the shipped student (a held standing frame, a walk)."""

import numpy as np
import pytest

from bench.bench_sim2sim_stand import GROUPS, held, touch_downs
from deploy_real.contract import NUM_MIMIC_DEPLOY


def test_groups_split_the_reference_vector():
    entries = sorted(i for e in GROUPS.values() for i in e)
    assert entries == list(range(NUM_MIMIC_DEPLOY))


def test_held_keeps_the_first_frame_of_the_given_entries_only():
    refs = np.random.default_rng(0).normal(size=(6, NUM_MIMIC_DEPLOY))
    out = held(refs, GROUPS["velocities"])
    cols = GROUPS["velocities"]
    assert np.array_equal(out[:, cols], np.repeat(refs[:1, cols], 6, axis=0))
    others = [i for i in range(NUM_MIMIC_DEPLOY) if i not in cols]
    assert np.array_equal(out[:, others], refs[:, others])
    assert not np.array_equal(out, refs)  # the input is left as it was
    assert np.array_equal(held(refs), np.repeat(refs[:1], 6, axis=0))


def test_touch_downs_count_contacts_regained():
    left = [1, 1, 0, 0, 1, 1, 0, 1]  # lifted twice, down again twice
    right = [0, 1, 1, 0, 1, 1, 1, 1]  # starts in the air: its landing is not a step; one touch-down
    assert touch_downs(np.array([left, right]).T).tolist() == [2, 1]
    assert touch_downs(np.array([[0, 0], [1, 1], [1, 1]])).tolist() == [0, 0]


def test_shipped_student_stands_on_a_held_frame_and_walks_with_a_walk():
    """A held standing frame: the robot stays within 10 cm, upright, facing its start. The first second
    three seconds of the 0.5 m/s walk (1.0 m in the clip): the robot walks (it lags the clip, as the
    tracking benchmark reports for walks), forward, with both feet."""
    pytest.importorskip("mujoco")
    import torch

    from bench.bench_sim2sim_stand import play
    from deploy_real.policy import SHIPPED_POLICY
    from deploy_real.server_high_level_motion_lib import clip_frames
    from pose.synth import default_motion_file
    from pose.utils.motion_lib_pkl import MotionLib

    lib = MotionLib(str(default_motion_file()), device="cpu")
    stand, _ = clip_frames(lib, lib.motion_names.index("stand"))
    r = play(SHIPPED_POLICY, held(stand[:50]), start_heading=0.0)
    assert r["seconds"] == 1.0 and not r["fell"]
    assert r["drift_m_end"] < 0.1 and abs(r["heading_change_rad"]) < 0.1

    walk_id = lib.motion_names.index("walk_forward_0p5")
    walk, times = clip_frames(lib, walk_id)
    root = lib.calc_motion_frame(torch.tensor([walk_id] * 2), torch.tensor([0.0, float(times[149])]))[0]
    clip_move = float(torch.linalg.norm(root[1, :2] - root[0, :2]))
    r = play(SHIPPED_POLICY, walk[:150], start_heading=0.0)
    assert not r["fell"] and min(r["touch_downs"]) >= 1
    assert clip_move == pytest.approx(1.0, abs=0.05)
    assert 0.3 < r["drift_m_end"] < clip_move + 0.1 and abs(r["heading_change_rad"]) < 0.3


def test_a_push_moves_the_robot_the_same_whichever_way_it_faces():
    """A 0.5 m/s forward push at 1 s on a held standing frame: the shipped student is carried off and
    steps; the push is given in the robot's start frame, so facing 0 or 1 rad the same happens (the
    MuJoCo model and the policy's observations are invariant to the heading; the held reference's
    absolute yaw is not observed by a TWIST-yaw student)."""
    pytest.importorskip("mujoco")
    from bench.bench_sim2sim_stand import play
    from deploy_real.policy import SHIPPED_POLICY
    from deploy_real.server_high_level_motion_lib import clip_frames
    from pose.synth import default_motion_file
    from pose.utils.motion_lib_pkl import MotionLib

    lib = MotionLib(str(default_motion_file()), device="cpu")
    stand = held(clip_frames(lib, lib.motion_names.index("stand"))[0][:100])
    quiet = play(SHIPPED_POLICY, stand, start_heading=0.0)
    pushed = [play(SHIPPED_POLICY, stand, start_heading=h, push=(0.5, 0.0)) for h in (0.0, 1.0)]
    assert quiet["drift_m_end"] < 0.05 and quiet["touch_downs"] == [0, 0]
    assert pushed[0]["drift_m_end"] > 0.3 and min(pushed[0]["touch_downs"]) >= 1
    assert pushed[1]["drift_m_end"] == pytest.approx(pushed[0]["drift_m_end"], abs=0.03)


def test_verdict_reads_the_clip_the_held_frame_and_the_pushes_only():
    from bench.bench_sim2sim_stand import STAY_LIMIT_M, VERDICT_CASES, failed_cases

    def case(drift, fell=False):
        return {"drift_m_end": drift, "fell": fell}

    cases = {name: case(0.1) for name in VERDICT_CASES}
    cases["held_joints"] = case(5.0, fell=True)  # a diagnostic case: not in the verdict
    assert failed_cases(cases) == []
    cases["clip"] = case(STAY_LIMIT_M + 0.01)
    cases["held_push_forward"] = case(0.0, fell=True)
    assert failed_cases(cases) == ["clip", "held_push_forward"]


def test_the_servers_drift_feedback_flags_reach_the_sim_server(tmp_path):
    """--drift_feedback_gains and --leg_odometry go to the low-level sim server as the real server gets them:
    for the shipped student, trained without the drift feedback, each is refused there by name (before any
    step), and no JSON is written."""
    pytest.importorskip("mujoco")
    from bench.bench_sim2sim_stand import main
    from deploy_real.policy import SHIPPED_POLICY

    out = tmp_path / "stand.json"
    for flags, refusal in (
        (["--drift_feedback_gains", "2", "2"], "--drift_feedback_gains, but its metadata has no drift_feedback"),
        (["--leg_odometry"], "--leg_odometry, but there is no drift feedback to dead-reckon"),
    ):
        with pytest.raises(ValueError, match=refusal):
            main(["--policy_path", str(SHIPPED_POLICY), "--out", str(out)] + flags)
    assert not out.exists()
