"""Real retargeted LAFAN1 G1 clips (shared/data beside the checkout, skipped when absent) convert to TWIST clips whose
feet, measured with the training model's foot collision capsules, stay on the ground.

Converted files go to pytest's tmp_path only: the clips' licence forbids committing them or any
derivative (CC BY-NC-ND).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pose.convert import convert_file
from pose.formats import load_clip
from pose.g1_model import load_g1
from pose.kinematics import FootGeometry

CLIPS = ("walk1_subject1", "run1_subject2", "sprint1_subject2")
WRIST_COLUMNS_29 = [19, 20, 21, 26, 27, 28]  # real-motor order: left wrist 19-21, right 26-28


@pytest.fixture(scope="module")
def lowest_foot(lafan_dir, tmp_path_factory):
    """Per clip: the lowest world z over both feet's collision capsules, per frame."""
    out = tmp_path_factory.mktemp("lafan_converted")
    feet = FootGeometry()
    lowest = {}
    for name in CLIPS:
        src = lafan_dir / (name + ".csv")
        convert_file(src, out / (name + ".pkl"))
        clip = load_clip(out / (name + ".pkl"))
        raw = np.loadtxt(src, delimiter=",")
        assert clip["fps"] == 30.0 and clip["dof_pos"].shape == (raw.shape[0], load_g1().num_dofs)
        np.testing.assert_allclose(clip["dof_pos"], np.delete(raw[:, 7:], WRIST_COLUMNS_29, axis=1), atol=1e-6)
        with torch.no_grad():
            z = feet.lowest_points(
                torch.from_numpy(clip["root_pos"]),
                torch.from_numpy(clip["root_rot"]),
                torch.from_numpy(clip["dof_pos"]),
            )
        lowest[name] = z.min(dim=-1).values.numpy()
    return lowest


@pytest.mark.parametrize("name", CLIPS)
def test_feet_never_sink_below_ground(lowest_foot, name):
    z = lowest_foot[name]
    above = float(np.mean(z > -0.02))
    print(
        "{}: {} frames, lowest foot point > -2 cm on {:.2f} % (min {:.1f} mm, p1 {:.1f} mm)".format(
            name, len(z), 100 * above, 1000 * z.min(), 1000 * np.percentile(z, 1)
        )
    )
    assert above >= 0.99


def test_walk_feet_touch_ground(lowest_foot):
    z = lowest_foot["walk1_subject1"]
    on_ground = float(np.mean(np.abs(z) <= 0.02))
    print("walk1_subject1: lowest foot point within 2 cm of the ground on {:.2f} % of frames".format(100 * on_ground))
    assert on_ground >= 0.95
