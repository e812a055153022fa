"""Terminations and the motion-difficulty curriculum (docs/rewards_and_terminations.md) on crafted states."""

import numpy as np
import torch
from scipy.spatial.transform import Rotation as R

from legged_gym.envs.mdp import curriculum as cur
from legged_gym.envs.mdp import terminations as term

N_KEY = 9


def t64(x):
    return torch.tensor(np.asarray(x), dtype=torch.float64)  # a copy: no shared memory


def reference_state(n=4, seed=0):
    """Robot exactly on the reference: a tilted, yawed root with key bodies around it."""
    rng = np.random.default_rng(seed)
    rpy = np.stack([rng.uniform(-0.5, 0.5, n), rng.uniform(-0.5, 0.5, n), rng.uniform(-3, 3, n)], -1)
    q = R.from_euler("xyz", rpy).as_quat()
    root = np.concatenate([rng.uniform(-5, 5, (n, 2)), np.full((n, 1), 0.79)], -1)
    kb = root[:, None] + rng.uniform(-0.8, 0.8, (n, N_KEY, 3))
    return dict(
        torso_contact_forces=torch.zeros(n, 1, 3, dtype=torch.float64),
        root_pos=t64(root),
        root_quat=t64(q),
        root_lin_vel=t64(rng.uniform(-1, 1, (n, 3))),
        key_body_pos=t64(kb),
        ref_root_pos=t64(root),
        ref_root_quat=t64(q),
        ref_key_body_pos=t64(kb),
        episode_length=torch.full((n,), 10, dtype=torch.long),
        motion_length=t64(np.full(n, 5.0)),
        max_episode_length=1000,
    )


def check(s, **kw):
    reset, time_out = term.check_termination(**s, **kw)
    return reset.tolist(), time_out.tolist()


def test_no_termination_on_the_reference_state():
    assert check(reference_state()) == ([False] * 4, [False] * 4)


def test_torso_contact_above_1n():
    s = reference_state()
    s["torso_contact_forces"][1, 0] = t64([0.0, 0.0, 1.5])
    s["torso_contact_forces"][2, 0] = t64([0.6, 0.0, 0.6])  # norm 0.85 < 1
    assert check(s) == ([False, True, False, False], [False] * 4)
    assert term.torso_contact(t64([[0.0, 1.01, 0.0]])).tolist() == [True]


def test_roll_pitch_beyond_1_rad():
    s = reference_state(n=5)
    for i, rpy in enumerate([(1.1, 0.0, 0.3), (0.0, -1.05, 2.0), (0.95, 0.95, 0.0), (-1.2, 0.0, -3.0)]):
        q = t64(R.from_euler("xyz", rpy).as_quat())
        s["root_quat"][i] = q
        s["ref_root_quat"][i] = q  # same rotation for the reference: only the tilt test can fire
    assert term.bad_orientation(s["root_quat"]).tolist() == [True, True, False, True, False]
    assert check(s)[0] == [True, True, False, True, False]


def test_height_deviation_beyond_0_2_m():
    s = reference_state()
    s["root_pos"][0, 2] += 0.25
    s["key_body_pos"][0, :, 2] += 0.25  # keep the pose identical relative to the root
    s["root_pos"][1, 2] -= 0.15
    s["key_body_pos"][1, :, 2] -= 0.15
    assert check(s)[0] == [True, False, False, False]


def test_root_speed_beyond_5_mps():
    s = reference_state()
    s["root_lin_vel"][0] = t64([3.0, 4.0, 0.5])  # 5.02
    s["root_lin_vel"][1] = t64([3.0, 4.0, 0.0])  # exactly 5: not > 5
    assert check(s)[0] == [True, False, False, False]


def test_root_drift_beyond_max_root_drift_when_set():
    """Whole-body shifts (pose unchanged): 0.6 m in x, 0.3 m in x and y (0.42 m), 1 m in z only."""
    s = reference_state()
    for i, shift in enumerate([(0.6, 0.0, 0.0), (0.3, 0.3, 0.0), (0.0, 0.0, 0.0), (0.0, 0.0, 0.0)]):
        s["root_pos"][i] += t64(shift)
        s["key_body_pos"][i] += t64(shift)
    assert check(s)[0] == [False, False, False, False]  # off by default, as in TWIST
    reset, time_out = term.check_termination(**s, max_root_drift=0.5)
    assert reset.tolist() == [True, False, False, False] and not time_out.any()
    assert term.check_termination(**s, max_root_drift=0.4)[0].tolist() == [True, True, False, False]
    s["ref_root_pos"][3, 2] -= 0.1  # height alone is not drift (0.1 m is within the height limit too)
    assert term.check_termination(**s, max_root_drift=0.05)[0].tolist() == [True, True, False, False]
    # a curriculum's limit: a 0-dim tensor, the same comparisons
    for limit, expected in ((0.5, [True, False, False, False]), (0.4, [True, True, False, False]), (1.0, [False] * 4)):
        assert term.check_termination(**s, max_root_drift=torch.tensor(limit))[0].tolist() == expected


def test_root_drift_limit_curriculum_falls_linearly_then_holds():
    limits = [cur.root_drift_limit(k, 3.0, 0.5, 100) for k in (0, 20, 50, 100, 1000)]
    np.testing.assert_allclose(limits, [3.0, 2.5, 1.75, 0.5, 0.5])
    assert cur.root_drift_limit(-5, 3.0, 0.5, 100) == 3.0 and cur.root_drift_limit(7, 3.0, 0.5, 0) == 0.5


def test_pose_termination_full_root_rotation():
    s = reference_state()
    s["key_body_pos"][0, 3] += t64([0.75, 0.0, 0.0])  # 0.75 m > 0.7 m
    s["key_body_pos"][1, 8] += t64([0.0, 0.65, 0.0])  # 0.65 m < 0.7 m
    assert check(s)[0] == [True, False, False, False]
    assert check(s, pose_termination=False)[0] == [False] * 4
    # The robot tilted by 0.5 rad with its key bodies rigidly tilted too: no pose failure, because
    # the comparison uses the full root rotation (a yaw-only frame would see ~0.4-0.8 m errors).
    s = reference_state(seed=3)
    tilt = R.from_euler("x", 0.5)
    r_ref = R.from_quat(s["ref_root_quat"].numpy())
    rel = s["ref_key_body_pos"].numpy() - s["ref_root_pos"].numpy()[:, None]
    local = np.stack([r_ref[i].inv().apply(rel[i]) for i in range(4)])
    r_rob = r_ref * tilt
    kb = s["root_pos"].numpy()[:, None] + np.stack([r_rob[i].apply(local[i]) for i in range(4)])
    assert np.linalg.norm(kb - s["ref_key_body_pos"].numpy(), axis=-1).max() > 0.2  # bodies did move
    assert not term.pose_deviation(
        t64(kb), s["root_pos"], t64(r_rob.as_quat()), s["ref_key_body_pos"], s["ref_root_pos"], s["ref_root_quat"]
    ).any()


def test_time_outs_motion_end_and_episode_length():
    s = reference_state()
    s["episode_length"] = torch.tensor([250, 249, 1001, 10])  # 250 x 0.02 = 5.0 s = clip length
    reset, time_out = check(s)
    assert time_out == [True, False, True, False]
    assert reset == [True, False, True, False]
    # With a viewer the motion end is not a termination (clips loop).
    assert check(s, motion_end_terminates=False) == ([False, False, True, False], [False, False, True, False])


def test_motion_end_at_the_clip_end_counts_from_the_episode_start_in_the_clip():
    """TWIST's motion end comes after the clip's length of play; with the episodes' start times in their clips
    (`termination.motion_end_at_clip_end`) it comes at the clip's end: for 5-s clips started at 0, 2, 3.5
    and 4.98 s, after 250, 150, 75 and 1 steps of 0.02 s."""
    s = reference_state()
    start = t64([0.0, 2.0, 3.5, 4.98])
    s["episode_length"] = torch.tensor([250, 150, 75, 1])
    assert check(s, motion_start_time=start) == ([True] * 4, [True] * 4)
    assert check(s)[1] == [True, False, False, False]  # TWIST's: 5 s of play each
    s["episode_length"] = torch.tensor([249, 149, 74, 1])
    assert check(s, motion_start_time=start)[1] == [False, False, False, True]
    # the curriculum's completion: the share of the clip's rest after the start that was played
    np.testing.assert_allclose(
        cur.motion_completion(torch.tensor([250, 75, 25, 1]), t64([5.0] * 4), start_time=start).numpy(),
        [1.0, 0.5, 1.0 / 3.0, 1.0],
    )


def test_failures_are_not_time_outs_and_step_zero_is_suppressed():
    s = reference_state()
    s["root_lin_vel"][0] = t64([10.0, 0.0, 0.0])
    s["root_lin_vel"][1] = t64([10.0, 0.0, 0.0])
    s["episode_length"][1] = 0
    reset, time_out = check(s)
    assert reset == [True, False, False, False]
    assert time_out == [False] * 4


# --- motion curriculum --------------------------------------------------------------------------


def test_initial_difficulty_and_completion():
    assert cur.initial_motion_difficulty(3).tolist() == [9.0, 9.0, 9.0]
    c = cur.motion_completion(torch.tensor([100, 250]), t64([4.0, 5.0]))
    np.testing.assert_allclose(c.numpy(), [0.5, 1.0])


def test_difficulty_update_rule():
    d = t64([5.0, 5.0, 5.0, 5.0, 5.0, 8.95, 1.005])
    ids = torch.tensor([0, 0, 1, 2, 2, 3, 5, 6])
    completion = t64([0.4, 0.6, 0.95, 0.96, 1.0, 0.7, 0.1, 1.0])
    new = cur.update_motion_difficulty(d, ids, completion).numpy()
    # motion 0: mean 0.5 -> x1.01; 1: 0.95 -> x0.99; 2: 0.98 -> x0.99; 3: 0.7 -> unchanged;
    # 4: no reset -> unchanged; 5: 8.95 x 1.01 = 9.0395 -> clamped to 9; 6: 1.005 x 0.99 -> clamped to 1.
    np.testing.assert_allclose(new, [5.05, 4.95, 4.95, 5.0, 5.0, 9.0, 1.0], atol=1e-12)


def test_difficulty_unchanged_without_resets():
    d = t64([9.0, 3.0, 1.0])
    empty = torch.zeros(0, dtype=torch.long)
    assert torch.equal(cur.update_motion_difficulty(d, empty, torch.zeros(0, dtype=torch.float64)), d)


def test_difficulty_update_over_all_envs_with_a_mask_equals_the_update_of_the_masked_rows():
    d = t64([5.0, 5.0, 5.0, 5.0, 5.0, 8.95, 1.005])
    ids = torch.tensor([0, 0, 1, 2, 2, 3, 5, 6, 1, 4, 0])
    completion = t64([0.4, 0.6, 0.95, 0.96, 1.0, 0.7, 0.1, 1.0, 0.0, 0.0, float("inf")])
    valid = torch.tensor([True] * 8 + [False] * 3)  # the last rows would move motions 1, 4 and 0
    masked = cur.update_motion_difficulty(d, ids, completion, valid=valid)
    np.testing.assert_allclose(masked.numpy(), [5.05, 4.95, 4.95, 5.0, 5.0, 9.0, 1.0], atol=1e-12)
    assert torch.equal(masked, cur.update_motion_difficulty(d, ids[:8], completion[:8]))
    none = cur.update_motion_difficulty(d, ids, completion, valid=torch.zeros(11, dtype=torch.bool))
    np.testing.assert_allclose(none.numpy(), d.clamp(1.0, 9.0).numpy(), atol=0)


def test_failures_name_each_term_that_fires():
    """One crafted cause per env; `failures` names it, and check_termination fails exactly those envs."""
    s = reference_state(n=6)
    s["torso_contact_forces"][0, 0] = t64([0.0, 0.0, 2.0])
    q = t64(R.from_euler("xyz", (1.2, 0.0, 0.0)).as_quat())
    s["root_quat"][1] = q
    s["ref_root_quat"][1] = q
    s["root_pos"][2, 2] += 0.3
    s["key_body_pos"][2, :, 2] += 0.3
    s["root_lin_vel"][3] = t64([6.0, 0.0, 0.0])
    s["key_body_pos"][4, 0] += t64([0.8, 0.0, 0.0])  # one key body 0.8 m off: pose
    s["root_pos"][5] += t64([0.6, 0.0, 0.0])
    s["key_body_pos"][5] += t64([0.6, 0.0, 0.0])  # whole body shifted: drift only
    state = {k: v for k, v in s.items() if k not in ("episode_length", "motion_length", "max_episode_length")}
    causes = term.failures(**state, max_root_drift=0.5)
    assert tuple(causes) == term.FAILURE_CAUSES
    expected = {name: [i == k for i in range(6)] for k, name in enumerate(term.FAILURE_CAUSES)}
    assert {name: mask.tolist() for name, mask in causes.items()} == expected
    assert term.check_termination(**s, max_root_drift=0.5)[0].tolist() == [True] * 6
    # terms that are off are not reported
    assert tuple(term.failures(**state, pose_termination=False)) == term.FAILURE_CAUSES[:4]
    assert tuple(term.failures(**state, max_root_drift=torch.tensor(9.0))) == term.FAILURE_CAUSES
