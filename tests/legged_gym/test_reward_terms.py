"""The reward term table of a task config drives the env's reward (legged_gym/envs/base/reward_terms.py,
docs/rewards_and_terminations.md, The term table): weights and kernel parameters set in the config (here
through `--set`) reach the terms, a weight of 0 removes a term, and bad tables stop at start-up."""

from types import SimpleNamespace

import pytest
import torch

from legged_gym.envs import task_registry
from legged_gym.envs.base.legged_robot import LeggedRobot
from legged_gym.envs.mdp import rewards
from legged_gym.gym_utils.cfg_override import apply_overrides
from pose.g1_model import load_g1


def build_terms(cfg, **env):
    """`LeggedRobot._prepare_reward_function` on a stand-in env (no simulator): what it builds or raises."""
    fake = SimpleNamespace(cfg=cfg, dt=0.02, device="cpu", num_envs=2, model=load_g1(), **env)
    LeggedRobot._prepare_reward_function(fake)
    return fake


@pytest.fixture
def cfg():
    return task_registry.get_cfgs("g1_priv_mimic")[0]


def test_the_table_gives_the_terms_in_scale_order_with_their_parameters(cfg):
    env = build_terms(cfg, key_body_names=list(load_g1().key_bodies))
    assert [t.name for t in env.reward_terms] == list(env.reward_scales) == sorted(env.reward_scales)
    terms = {t.name: t for t in env.reward_terms}
    assert terms["tracking_joint_dof"].params == {"coef": 0.15}
    assert terms["tracking_root_pose"].params == {"coef": 5.0, "rot_weight": 0.1, "height_only": True}
    assert terms["dof_vel"].params == {} and terms["dof_vel"].scale == pytest.approx(-1e-4 * 0.02)
    assert env.reward_scale_vec.tolist() == pytest.approx([t.scale for t in env.reward_terms])


def fresh_cfg():
    return task_registry.get_cfgs("g1_priv_mimic")[0]


def test_unknown_terms_and_parameters_stop_at_start_up(cfg):
    cfg.rewards.scales.tracking_nope = 1.0
    with pytest.raises(
        ValueError,
        match=r"cfg\.rewards\.scales: no reward term named \['tracking_nope'\] "
        r"\(known terms: action_rate, action_symmetry, ang_vel_xy",
    ):
        build_terms(cfg)
    cfg = fresh_cfg()
    cfg.rewards.params.nope = SimpleNamespace(coef=1.0)
    with pytest.raises(ValueError, match=r"cfg\.rewards\.params: no reward term named \['nope'\]"):
        build_terms(cfg)
    cfg = fresh_cfg()
    cfg.rewards.params.tracking_joint_dof.cof = 0.1
    with pytest.raises(ValueError, match=r"cfg\.rewards\.params\.tracking_joint_dof: .*'cof'.*takes \['coef'\]"):
        build_terms(cfg)
    cfg = fresh_cfg()
    cfg.rewards.params.tracking_joint_dof = SimpleNamespace()
    with pytest.raises(ValueError, match=r"cfg\.rewards\.params\.tracking_joint_dof: missing .*'coef'"):
        build_terms(cfg)


def test_terms_that_the_env_cannot_feed_stop_at_start_up(cfg):
    cfg.rewards.scales.tracking_cmd_vel = 1.0  # a CMG term (commands) on an env without commands
    cfg.rewards.params.tracking_cmd_vel = SimpleNamespace(coef=2.0)
    with pytest.raises(ValueError, match=r"term 'tracking_cmd_vel' on SimpleNamespace: .*get_commands"):
        build_terms(cfg)
    cfg.rewards.scales.tracking_cmd_vel = 0.0  # weight 0: not built
    cfg.rewards.params.tracking_keybody_pos.key_bodies = "lower_key_bodies"
    with pytest.raises(ValueError, match=r"term 'tracking_keybody_pos'.*needs the key bodies \['left_knee_link'\]"):
        build_terms(cfg, key_body_names=[b for b in load_g1().key_bodies if b != "left_knee_link"])
    cfg.rewards.params.tracking_keybody_pos.key_bodies = "feet"
    with pytest.raises(ValueError, match=r"key_bodies = 'feet': expected None"):
        build_terms(cfg, key_body_names=list(load_g1().key_bodies))


def test_set_weights_and_kernel_parameters_drive_the_env_reward(cfg):
    pytest.importorskip("mujoco_warp")
    cfg.env.num_envs, cfg.sim.backend = 2, "mjwarp"
    items = [
        "rewards.params.tracking_joint_dof.coef=0.3",
        "rewards.params.tracking_root_pose.height_only=false",
        "rewards.params.tracking_keybody_pos.key_bodies=upper_key_bodies",
        "rewards.scales.feet_stumble=-2.5",
        "rewards.scales.dof_vel=0",
    ]
    assert apply_overrides(items, cfg) == items
    env = task_registry.get("g1_priv_mimic").env_class(cfg, "cpu", True)
    assert "dof_vel" not in env.reward_scales and "dof_vel" not in [t.name for t in env.reward_terms]
    assert env.reward_scales["feet_stumble"] == pytest.approx(-2.5 * env.dt)
    # a step's reward is the table's terms weighted by the table's scales
    seen = {}

    def recording(t):
        def fn():
            seen[t.name] = t.fn()
            return seen[t.name]

        return fn

    env.reward_terms = [t._replace(fn=recording(t)) for t in env.reward_terms]
    done = env.step(0.3 * torch.randn(2, 23, generator=torch.Generator().manual_seed(0)))[3]
    assert not done.any()  # the state below is the one the terms read
    assert list(seen) == list(env.reward_scales)
    f = torch.stack([seen[name] for name in env.reward_scales], dim=-1)
    assert torch.equal(env.rew_buf, rewards.total_reward(f, env.reward_scale_vec))
    # ... computed exactly as the pure functions with the configured parameters
    assert torch.equal(
        seen["tracking_joint_dof"], rewards.tracking_joint_dof(env.dof_pos, env._ref_dof_pos, env.dof_err_w, coef=0.3)
    )
    assert not torch.equal(
        seen["tracking_joint_dof"], rewards.tracking_joint_dof(env.dof_pos, env._ref_dof_pos, env.dof_err_w, coef=0.15)
    )
    root = (env.root_states[:, 0:3], env.base_quat, env._ref_root_pos, env._ref_root_rot)
    assert torch.equal(
        seen["tracking_root_pose"], rewards.tracking_root_pose(*root, coef=5.0, rot_weight=0.1, height_only=False)
    )
    keybody = (env._key_body_pos(), env.root_states[:, 0:3], env.base_quat, env._ref_key_body_pos())
    upper = rewards.tracking_keybody_pos(*keybody, *root[2:], body_ids=rewards.UPPER_KEY_BODY_IDS, coef=10.0)
    torch.testing.assert_close(seen["tracking_keybody_pos"], upper, atol=1e-6, rtol=0)
