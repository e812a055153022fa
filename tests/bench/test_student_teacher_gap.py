"""bench/student_teacher_gap.py: its joint groups and per-step gap (the end-to-end run on a trained
student: tests/legged_gym/test_scripts.py)."""

import numpy as np
import pytest
import torch

from conftest import load_bench_script
from pose.g1_model import load_g1

gap = load_bench_script("student_teacher_gap")


def test_every_g1_joint_is_in_exactly_one_group():
    names = load_g1().dof_names
    groups = gap.joint_groups(names)
    assert sorted(i for ids in groups.values() for i in ids) == list(range(len(names)))
    assert [len(groups[g]) for g in ("legs", "waist", "arms")] == [12, 3, 8]
    assert all("ankle" in names[i] or "knee" in names[i] or "hip" in names[i] for i in groups["legs"])


def test_a_joint_of_no_group_is_named():
    with pytest.raises(ValueError, match="'left_tail_joint'"):
        gap.joint_groups(["left_hip_pitch_joint", "left_tail_joint"])


def test_step_record_is_the_mean_over_envs_of_the_l2_gaps():
    rng = np.random.default_rng(3)
    a_s, a_t = rng.normal(size=(5, 6)), rng.normal(size=(5, 6))
    groups = {"legs": [0, 1, 2], "waist": [3], "arms": [4, 5]}
    rec = gap.step_record(torch.tensor(a_s), torch.tensor(a_t), groups)
    d = a_s - a_t
    assert rec["gap"] == pytest.approx(np.mean(np.sqrt((d**2).sum(axis=1))))
    assert rec["teacher_action"] == pytest.approx(np.mean(np.sqrt((a_t**2).sum(axis=1))))
    for g, ids in groups.items():
        assert rec["gap_" + g] == pytest.approx(np.mean(np.sqrt((d[:, ids] ** 2).sum(axis=1))))
    one = gap.step_record(torch.tensor(a_s[:1]), torch.tensor(a_t[:1]), groups)  # one env: the groups split the gap
    assert one["gap"] ** 2 == pytest.approx(sum(one["gap_" + g] ** 2 for g in groups))
