"""CLI defaults, checkpoint discovery and the task registry's errors."""

from pathlib import Path

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


def test_tasks_registered_with_config_instances_as_twist_does():
    """TWIST registers config instances (`register(name, Env, Cfg(), CfgPPO())`), possibly edited first:
    each `get_cfgs` gives a copy of them, edits kept, so one run's changes never reach the next; TWIST's
    package constants exist under their names."""
    from legged_gym import LEGGED_GYM_ENVS_DIR, LEGGED_GYM_ROOT_DIR
    from legged_gym.envs.g1.g1_mimic_distill_config import G1MimicPrivCfg, G1MimicPrivCfgPPO

    cfg = G1MimicPrivCfg()
    cfg.env.num_envs = 7
    reg = TaskRegistry()
    reg.register("my_task", object, cfg, G1MimicPrivCfgPPO())
    env_cfg, train_cfg = reg.get_cfgs("my_task")
    assert env_cfg.env.num_envs == 7 and isinstance(train_cfg, G1MimicPrivCfgPPO)
    env_cfg.env.num_envs = 3
    assert reg.get_cfgs("my_task")[0].env.num_envs == 7 and cfg.env.num_envs == 7
    assert Path(LEGGED_GYM_ENVS_DIR) == Path(LEGGED_GYM_ROOT_DIR) / "envs" and Path(LEGGED_GYM_ENVS_DIR).is_dir()


def test_set_seed_is_reproducible():
    import torch

    set_seed(3)
    a = torch.rand(3)
    set_seed(3)
    assert torch.equal(a, torch.rand(3))


def test_check_device_rejects_cuda_without_cuda(monkeypatch):
    import torch

    from legged_gym.gym_utils import helpers

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(helpers.UsageError) as err:
        helpers.check_device("cuda:0")
    assert str(err.value) == "--device cuda:0: CUDA is not available on this machine; use --device cpu"
    helpers.check_device("cpu")
    with pytest.raises(helpers.UsageError, match="not a device name"):
        helpers.check_device("gpu0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    helpers.check_device("cuda:1")
    with pytest.raises(helpers.UsageError, match="has 2 CUDA device"):
        helpers.check_device("cuda:2")


def test_check_motion_file_names_the_path_and_the_conversion(tmp_path):
    from legged_gym.gym_utils import helpers

    csv = tmp_path / "walk.csv"
    csv.write_text("0,0,0\n")
    for path in (csv, tmp_path / "missing.csv"):  # converted first, whether or not it exists
        with pytest.raises(helpers.UsageError) as err:
            helpers.check_motion_file(str(path))
        assert str(err.value).startswith(
            "--motion_file {}: a .csv motion must be converted first: python -m pose.convert {} ".format(path, path)
        )
    for suffix in (".bvh", ".fbx", ".BVH"):
        with pytest.raises(helpers.UsageError, match=r"retarget it to the G1 first.*python -m pose\.convert SRC DST"):
            helpers.check_motion_file(str(tmp_path / ("dance" + suffix)))
    missing = tmp_path / "data" / "twist.yaml"
    with pytest.raises(helpers.UsageError) as err:
        helpers.check_motion_file(str(missing))
    assert str(err.value) == "--motion_file {}: no such file".format(missing)
    with pytest.raises(helpers.UsageError, match="is a folder"):
        helpers.check_motion_file(str(tmp_path))
    other = tmp_path / "clip.txt"
    other.write_text("")
    with pytest.raises(helpers.UsageError, match="unknown format '.txt'"):
        helpers.check_motion_file(str(other))
    for name in ("m.yaml", "c.pkl", "c.npz"):
        (tmp_path / name).write_bytes(b"")
        helpers.check_motion_file(str(tmp_path / name))  # the content is checked when the env loads it
    helpers.check_motion_file(None)


def test_run_script_prints_user_mistakes_as_one_line(capsys):
    from argparse import Namespace

    from pose.formats import MotionFileError

    from legged_gym.gym_utils import helpers

    def fails(exc):
        def main(args):
            raise exc

        return main

    for exc in (helpers.UsageError("--device cuda:0: no CUDA"), MotionFileError("a.pkl: 'fps': missing\nsecond line")):
        with pytest.raises(SystemExit) as err:
            helpers.run_script("train.py", fails(exc), Namespace(debug=False))
        assert err.value.code == "train.py: " + " ".join(str(exc).split("\n"))
        assert "\n" not in err.value.code
        with pytest.raises(type(exc)):  # --debug: the exception and its traceback
            helpers.run_script("train.py", fails(exc), Namespace(debug=True))
    with pytest.raises(ZeroDivisionError):  # a bug is never turned into one line
        helpers.run_script("train.py", fails(ZeroDivisionError("x")), Namespace(debug=False))
    assert helpers.run_script("train.py", lambda args: 7, Namespace(debug=False)) == 7


def test_checkpoint_iteration_and_debug_flags():
    from legged_gym.gym_utils import helpers

    assert helpers.checkpoint_iteration("/a/b/model_1500.pt") == 1500
    assert helpers.checkpoint_iteration("/a/traced/S1-47500-jit.pt") == 47500
    assert helpers.checkpoint_iteration("/a/weights.pt") == -1

    class Cfg:
        seed = 1

        class runner:
            wandb = False
            max_iterations = 30002

    args = get_args(["--wandb", "--debug", "--sim", "mjwarp"])
    assert helpers.update_train_cfg_from_args(Cfg, args).runner.wandb is False  # --debug: no wandb
    assert helpers.update_train_cfg_from_args(Cfg, get_args(["--wandb", "--sim", "mjwarp"])).runner.wandb is True
    assert helpers.DEBUG_NUM_ENVS == 32


def test_runner_defaults_to_twists_max_iterations():
    from legged_gym.envs.base.humanoid_mimic_config import HumanoidMimicCfgPPO
    from legged_gym.envs.g1.g1_mimic_distill_config import G1MimicPrivCfgPPO, G1MimicStuRLCfgDAgger

    for cfg in (HumanoidMimicCfgPPO, G1MimicPrivCfgPPO, G1MimicStuRLCfgDAgger):
        assert cfg.runner.max_iterations == 30002
