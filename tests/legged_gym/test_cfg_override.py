"""`--set GROUP.NAME=VALUE` (legged_gym/gym_utils/cfg_override.py) on the task's real configs."""

import pytest

from legged_gym.gym_utils.cfg_override import OverrideError, apply_overrides, parse_overrides, unrepeated_env_items
from legged_gym.gym_utils.task_registry import task_registry


@pytest.fixture
def cfgs():
    return task_registry.get_cfgs("g1_priv_mimic")


def test_values_reach_both_configs_with_their_types(cfgs):
    env_cfg, train_cfg = cfgs
    items = [
        "motion.adaptive_sampling=true",
        "algorithm.learning_rate=1e-4",
        "rewards.scales.tracking_keybody_pos=3",
        "env.num_envs=64",
        "motion.motion_file=clips/a.yaml",
        "policy.actor_hidden_dims=[256, 128]",
        "env.compile_mdp=aot_eager",  # off by default (None): a word or a switch
        "algorithm.fast_update=false",  # "auto" by default: a switch stays a bool, not the text "False"
    ]
    assert apply_overrides(items, env_cfg, train_cfg) == [items[0], items[2], items[3], items[4], items[6]]
    assert apply_overrides(items, train_cfg, env_cfg, "train", "env") == [items[1], items[5], items[7]]
    assert env_cfg.env.compile_mdp == "aot_eager" and train_cfg.algorithm.fast_update is False
    assert env_cfg.motion.adaptive_sampling is True
    assert train_cfg.algorithm.learning_rate == 1e-4 and isinstance(train_cfg.algorithm.learning_rate, float)
    assert env_cfg.rewards.scales.tracking_keybody_pos == 3.0 and isinstance(
        env_cfg.rewards.scales.tracking_keybody_pos, float
    )
    assert env_cfg.env.num_envs == 64 and env_cfg.motion.motion_file == "clips/a.yaml"
    assert train_cfg.policy.actor_hidden_dims == [256, 128]
    # the class other configs inherit from is untouched
    fresh, _ = task_registry.get_cfgs("g1_priv_mimic")
    assert fresh.motion.adaptive_sampling is False


@pytest.mark.parametrize(
    "item,message",
    [
        ("motion.adaptive_sampling=3", "expected a bool"),
        ("env.num_envs=1.5", "expected a int"),
        ("algorithm.learning_rate=fast", "expected a float"),
        ("motion.no_such_setting=1", "no setting 'no_such_setting' in motion"),
        ("nogroup.x=1", "no settings group 'nogroup' in the env config"),
        ("rewards.scales=1", "is a group of settings"),
        ("rewards.params.tracking_joint_dof.coef=wide", "expected a float"),
        ("rewards.params.tracking_joint_dof.cof=0.2", "no setting 'cof' in rewards.params.tracking_joint_dof"),
        ("motion.adaptive_sampling", "expected GROUP.NAME=VALUE"),
        ("seed=3", "expected GROUP.NAME=VALUE"),
    ],
)
def test_bad_items_name_the_setting(cfgs, item, message):
    env_cfg, train_cfg = cfgs
    with pytest.raises(OverrideError, match=message) as e:
        apply_overrides([item], env_cfg, train_cfg)
        apply_overrides([item], train_cfg, env_cfg, "train", "env")
    assert item.split("=")[0] in str(e.value)


def test_unknown_group_lists_both_configs(cfgs):
    env_cfg, train_cfg = cfgs
    with pytest.raises(OverrideError) as e:
        apply_overrides(["agorithm.learning_rate=1"], env_cfg, train_cfg)
    assert "motion" in str(e.value) and "algorithm" in str(e.value)


def test_parse_keeps_text_and_nulls():
    assert parse_overrides(["a.b=null", "a.c=some text", "a.d="]) == [
        (["a", "b"], None, "a.b=null"),
        (["a", "c"], "some text", "a.c=some text"),
        (["a", "d"], "", "a.d="),
    ]


def test_set_reaches_the_env_and_the_learner(tmp_path):
    """Through the CLI parser and the task registry, as train.py builds them."""
    pytest.importorskip("mujoco_warp")
    from legged_gym.gym_utils.helpers import get_args

    args = get_args(
        [
            "--task",
            "g1_priv_mimic",
            "--num_envs",
            "2",
            "--sim",
            "mjwarp",
            "--device",
            "cpu",
            "--set",
            "motion.adaptive_sampling=true",
            "--set",
            "algorithm.learning_rate=1e-4",
            "--set",
            "motion.adaptive_bin_s=1",
        ]
    )
    env, env_cfg = task_registry.make_env("g1_priv_mimic", args)
    assert env_cfg.motion.adaptive_sampling is True and env._start_sampler is not None
    assert env._start_sampler.bin_seconds == 1.0
    runner, train_cfg = task_registry.make_alg_runner(env, "g1_priv_mimic", args, log_root=None)
    assert train_cfg.algorithm.learning_rate == 1e-4 and runner.alg.learning_rate == 1e-4


def test_unrepeated_env_items_are_the_env_settings_a_command_leaves_out(cfgs):
    env_cfg, _ = cfgs
    trained = [
        "motion.ref_correction.pos_gain=1.0",
        "motion.ref_correction.yaw_gain=1.0",
        "rewards.scales.tracking_root_vel=2.0",  # training only
        "algorithm.learning_rate=1e-4",  # the train config
        "domain_rand.push_robots=false",
    ]
    given = ["motion.ref_correction.pos_gain=1.0", "motion.ref_correction.yaw_gain=0.5"]  # one repeated, one changed
    assert unrepeated_env_items(trained, given, env_cfg) == [
        "motion.ref_correction.yaw_gain=1.0",
        "domain_rand.push_robots=false",
    ]
    assert unrepeated_env_items(trained, trained, env_cfg) == [] and unrepeated_env_items([], given, env_cfg) == []
