"""bench/cmg_stance_anatomy.py: heel and toe stance measures of a constructed gait."""

import numpy as np
import pytest

from conftest import load_bench_script


def test_a_planted_heel_then_a_toe_that_stops_under_the_pelvis():
    """Each stance: the heel planted for 10 frames (moving back at the command speed, no slide), then
    4 frames on the toe standing still under the pelvis (sliding at the command speed); the other
    foot 5 cm up the whole time, then the feet swap."""
    dt, v, heel_frames, toe_frames, foot_len = 0.02, 1.0, 10, 4, 0.14
    frames = []
    for stance in range(6):
        f = stance % 2
        for k in range(heel_frames + toe_frames):
            pts = np.zeros((8, 3))
            pts[:, 2] = 0.05  # swing foot up
            x_heel = 0.1 - v * dt * min(k, heel_frames - 1)
            planted = slice(4 * f, 4 * f + 4)
            pts[planted, 0] = [x_heel, x_heel, x_heel + foot_len, x_heel + foot_len]
            pts[planted, 2] = [0.0, 0.0, 0.002, 0.002] if k < heel_frames else [0.01, 0.01, 0.0, 0.0]
            frames.append(pts)
    points = np.stack(frames)
    foot_of = np.repeat([0, 1], 4)
    commands = np.tile([v, 0.0, 0.0], (len(points), 1))
    out = load_bench_script("cmg_stance_anatomy").anatomy(points, foot_of, commands, dt, skip=0)
    # 13 stance transitions per stance (its last frame's goes to the other foot), 3 of them on the toe
    assert out["stance_transitions"] == 6 * 13
    assert out["toe_share"] == pytest.approx((toe_frames - 1) / 13)
    assert out["slide_mps_median_heel"] == pytest.approx(0.0, abs=1e-9)
    assert out["slide_mps_median_toe"] == pytest.approx(v)
    assert out["heel_strike_x_m"] == pytest.approx(0.1)
    assert out["heel_off_x_m"] == pytest.approx(0.1 - v * dt * (heel_frames - 1))
    assert out["heel_travel_m"] == pytest.approx(v * dt * (heel_frames - 1))
