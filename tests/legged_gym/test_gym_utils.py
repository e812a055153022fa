"""CLI defaults, checkpoint discovery and the task registry's errors."""
import pytest

from legged_gym.gym_utils.helpers import get_args, resolve_checkpoint, set_seed
from legged_gym.gym_utils.task_registry import TaskRegistry, UnknownTaskError


def test_proj_name_defaults_to_task_and_sim_is_validated():
    args = get_args(["--task", "g1_stu_rl", "--sim", "mjwarp", "--device", "cpu"])
    assert args.proj_name == "g1_stu_rl" and args.sim == "mjwarp" and args.device == "cpu"
    assert get_args(["--proj_name", "mine", "--sim", "mjwarp"]).proj_name == "mine"
    with pytest.raises(SystemExit):
        get_args(["--sim", "physx"])


def test_latest_checkpoint_sorts_by_iteration(tmp_path):
    for it in (2, 99, 100, 1500):
        (tmp_path / "model_{}.pt".format(it)).write_bytes(b"")
    (tmp_path / "events.out").write_bytes(b"")
    assert resolve_checkpoint(tmp_path).name == "model_1500.pt"
    assert resolve_checkpoint(tmp_path, 99).name == "model_99.pt"
    with pytest.raises(FileNotFoundError, match="model_7.pt"):
        resolve_checkpoint(tmp_path, 7)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        resolve_checkpoint(tmp_path / "missing")


def test_unknown_task_names_the_registered_ones():
    reg = TaskRegistry()
    reg.register("g1_priv_mimic", object, dict, dict)
    with pytest.raises(UnknownTaskError, match="unknown task 'g1_nope'; registered tasks: g1_priv_mimic"):
        reg.get("g1_nope")
    with pytest.raises(ValueError, match="already registered"):
        reg.register("g1_priv_mimic", object, dict, dict)
    env_cfg, train_cfg = reg.get_cfgs("g1_priv_mimic")
    assert env_cfg == {} and train_cfg == {}


def test_set_seed_is_reproducible():
    import torch

    set_seed(3)
    a = torch.rand(3)
    set_seed(3)
    assert torch.equal(a, torch.rand(3))
