"""Failure-adaptive start times (legged_gym/envs/mdp/adaptive_sampling.py): the probabilities against
values worked out by hand, the draws against them, and the env wiring (off by default: TWIST's draws)."""

import numpy as np
import pytest
import torch

from legged_gym.envs.mdp.adaptive_sampling import AdaptiveStartSampler

LENGTHS = torch.tensor([1.2, 2.0])  # clip 0: bins [0, .5) [.5, 1) [1, 1.2); clip 1: four full bins


def test_no_failures_is_uniform_in_time():
    s = AdaptiveStartSampler(LENGTHS, bin_seconds=0.5)
    p = s.probabilities().numpy()
    np.testing.assert_allclose(p[0], [0.5 / 1.2, 0.5 / 1.2, 0.2 / 1.2, 0.0], rtol=1e-6)
    np.testing.assert_allclose(p[1], [0.25] * 4, rtol=1e-6)
    g = torch.Generator().manual_seed(0)
    t = s.sample_time(torch.zeros(200000, dtype=torch.long), generator=g).numpy()
    assert t.min() >= 0.0 and t.max() < 1.2
    hist, _ = np.histogram(t, bins=6, range=(0.0, 1.2))
    np.testing.assert_allclose(hist / len(t), [1 / 6] * 6, atol=0.005)


def test_failures_raise_the_bins_before_them():
    s = AdaptiveStartSampler(LENGTHS, bin_seconds=0.5, uniform_ratio=0.1, alpha=0.5, kernel_size=3, kernel_decay=0.8)
    ids = torch.tensor([1, 1, 1, 0])
    times = torch.tensor([1.7, 1.6, 0.2, 1.2])  # clip 1 bin 3 twice, bin 0 once; clip 0 at its end -> last bin
    failed = torch.tensor([True, True, True, False])
    s.update(ids, times, failed)
    f = s.failures.numpy()
    np.testing.assert_allclose(f[1], [0.5, 0.0, 0.0, 1.0])  # alpha x counts
    np.testing.assert_allclose(f[0], 0.0)
    # smoothed: bin b gets f[b] + 0.8 f[b+1] + 0.64 f[b+2]
    smoothed = np.array([0.5, 0.64 * 1.0, 0.8 * 1.0, 1.0])
    expected = 0.9 * smoothed / smoothed.sum() + 0.1 * 0.25
    p = s.probabilities().numpy()
    np.testing.assert_allclose(p[1], expected, rtol=1e-6)
    np.testing.assert_allclose(p[0], [0.5 / 1.2, 0.5 / 1.2, 0.2 / 1.2, 0.0], rtol=1e-6)  # no failures: uniform
    # a second step without failures decays the average
    s.update(ids, times, torch.zeros(4, dtype=torch.bool))
    np.testing.assert_allclose(s.failures.numpy()[1], [0.25, 0.0, 0.0, 0.5])
    # draws follow the probabilities: bin frequencies of clip 1
    g = torch.Generator().manual_seed(1)
    t = s.sample_time(torch.ones(200000, dtype=torch.long), generator=g).numpy()
    freq = np.bincount((t // 0.5).astype(int), minlength=4) / len(t)
    np.testing.assert_allclose(freq, s.probabilities().numpy()[1], atol=0.005)


def test_bin_of_clamps_to_the_clip():
    s = AdaptiveStartSampler(LENGTHS, bin_seconds=0.5)
    b = s.bin_of(torch.tensor([0, 0, 0, 1, 1]), torch.tensor([0.0, 1.19, 1.5, 1.99, 7.0]))
    assert b.tolist() == [0, 2, 2, 3, 3]


@pytest.mark.parametrize("bad", [dict(bin_seconds=0.0), dict(uniform_ratio=1.5), dict(alpha=0.0), dict(kernel_size=0)])
def test_bad_settings_are_refused(bad):
    with pytest.raises(ValueError, match="adaptive sampling"):
        AdaptiveStartSampler(LENGTHS, **bad)


def test_env_counts_failures_not_clip_ends():
    """Wired into the env: an episode that fails counts in the bin of its clip time (a motion-end or
    time-limit reset does not); off by default."""
    pytest.importorskip("mujoco_warp")
    from legged_gym.envs import task_registry

    cfg, _ = task_registry.get_cfgs("g1_priv_mimic")
    assert cfg.motion.adaptive_sampling is False
    cfg.env.num_envs = 4
    cfg.sim.backend = "mjwarp"
    cfg.motion.adaptive_sampling = True
    env = task_registry.get("g1_priv_mimic").env_class(cfg, "cpu", True)
    sampler = env._start_sampler
    ids = env._motion_ids.clone()
    t_fail = (env.episode_length_buf + 1) * env.dt + env._motion_time_offsets  # clip time at the next check
    rs = env.sim.root_states.clone()
    rs[:2, 2] -= 0.5  # two robots dropped half a metre below their reference: height termination
    env.sim.set_root_states(env.all_env_ids, rs)
    env.step(torch.zeros(env.num_envs, env.num_actions))
    failed = env.reset_buf & ~env.time_out_buf
    assert failed[:2].all() and not failed[2:].any()
    expected = torch.zeros_like(sampler.failures)
    for i in range(2):
        expected[ids[i], int(sampler.bin_of(ids[i : i + 1], t_fail[i : i + 1]))] += sampler.alpha
    torch.testing.assert_close(sampler.failures, expected)


def test_env_counts_a_drift_once_per_episode():
    """motion.adaptive_drift_m: an env whose root is farther from the reference root than that counts as a
    failure in the bin of its clip time, once per episode (not again while it stays away), and goes on; a
    reset lets it count again. Refused without adaptive_sampling."""
    pytest.importorskip("mujoco_warp")
    from legged_gym.envs import task_registry

    cfg, _ = task_registry.get_cfgs("g1_priv_mimic")
    assert cfg.motion.adaptive_drift_m == 0.0
    cfg.env.num_envs = 4
    cfg.sim.backend = "mjwarp"
    cfg.motion.adaptive_drift_m = 0.3
    env_class = task_registry.get("g1_priv_mimic").env_class
    with pytest.raises(ValueError, match="adaptive_drift_m = 0.3 .*needs motion.adaptive_sampling = true"):
        env_class(cfg, "cpu", True)
    cfg.motion.adaptive_sampling = True
    env = env_class(cfg, "cpu", True)
    sampler = env._start_sampler
    ids = env._motion_ids.clone()
    t_next = (env.episode_length_buf + 1) * env.dt + env._motion_time_offsets  # clip time at the next check
    rs = env.sim.root_states.clone()
    rs[1, 0] += 0.6  # env 1 half a metre ahead of its reference, at its height: no termination
    env.sim.set_root_states(env.all_env_ids, rs)
    zero = torch.zeros(env.num_envs, env.num_actions)
    env.step(zero)
    assert not env.reset_buf.any()
    expected = torch.zeros_like(sampler.failures)
    expected[ids[1], int(sampler.bin_of(ids[1:2], t_next[1:2]))] = sampler.alpha
    torch.testing.assert_close(sampler.failures, expected)
    env.step(zero)  # still away: not counted again, the average only decays
    torch.testing.assert_close(sampler.failures, expected * (1.0 - sampler.alpha))
    assert env._drift_counted.tolist() == [False, True, False, False]
    env.reset_idx(torch.tensor([1]))
    assert not env._drift_counted.any()
