"""EpisodeStats: finished episodes and the per-iteration means of the env's extras["episode"]."""

import math

import pytest
import torch

from rsl_rl.utils.episode_stats import EpisodeStats

NAN = float("nan")


def run(steps):
    """steps: (rewards, dones, episode dict or None) per step, 3 envs."""
    stats = EpisodeStats(3, "cpu")
    for rewards, dones, episode in steps:
        infos = {} if episode is None else {"episode": {k: torch.tensor(v) for k, v in episode.items()}}
        stats.step(torch.tensor(rewards), torch.tensor(dones), infos)
    return stats, stats.end_rollout()


def test_episode_means_over_the_steps_that_report_and_finished_episodes():
    stats, means = run(
        [
            ([1.0, 2.0, 3.0], [False, True, False], {"metric_a": 0.5, "rew_b": 2.0}),
            ([1.0, 1.0, 1.0], [False, False, False], None),
            ([1.0, 1.0, 1.0], [True, False, False], {"metric_a": 0.25, "rew_b": [1.0, 3.0]}),
        ]
    )
    assert means == {"metric_a": pytest.approx(0.375), "rew_b": pytest.approx(2.0)}
    assert list(stats.reward_buffer) == [2.0, 3.0] and list(stats.length_buffer) == [1.0, 3.0]


def test_nan_reports_count_as_no_report_and_all_nan_keys_are_dropped():
    # an env that resets by mask reports every step, NaN where no episode ended
    _, masked = run(
        [
            ([0.0] * 3, [False, True, False], {"metric_a": 0.5, "metric_c": NAN}),
            ([0.0] * 3, [False] * 3, {"metric_a": NAN, "metric_c": NAN}),
            ([0.0] * 3, [True, False, False], {"metric_a": 0.25, "metric_c": NAN}),
        ]
    )
    _, plain = run(
        [
            ([0.0] * 3, [False, True, False], {"metric_a": 0.5}),
            ([0.0] * 3, [False] * 3, None),
            ([0.0] * 3, [True, False, False], {"metric_a": 0.25}),
        ]
    )
    assert masked == plain == {"metric_a": pytest.approx(0.375)}
    assert not any(math.isnan(v) for v in masked.values())
