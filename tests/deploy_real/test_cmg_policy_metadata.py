"""A student of the CMG tasks carries the CMG stream it was trained on in its export metadata (`cmg`: command
band, generator, foot lock, reference height), and the high-level server's `--cmg --policy_path` streams
that (docs/observations.md, Export metadata; deploy_real/cmg_reference.py)."""

import json

import numpy as np
import pytest
from conftest import tiny_cmg
from deploy_helpers import save_random_student

from deploy_real.cmg_reference import POLICY_BAND, CMGReference
from deploy_real.policy import Policy
from deploy_real.server_high_level_motion_lib import build_parser, cmg_settings
from legged_gym.envs.g1.g1_mimic_cmg_config import G1MimicCMGCfg, G1MimicCMGMediumCfg
from legged_gym.scripts.save_jit_stu_rlbc import export
from pose.utils.cmg_motion_lib import load_generator

pytestmark = pytest.mark.usefixtures("one_thread")


def exported(tmp_path, infos, name="model_3.pt"):
    """The TorchScript export of a random student checkpoint recording `infos` (the --set items and the task)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    save_random_student(tmp_path / name, infos=infos)
    return export(tmp_path / name, tmp_path / "traced", "s")


def band_of(commands):
    return [[float(r[i]) for r in (commands.lin_vel_x, commands.lin_vel_y, commands.ang_vel_yaw)] for i in (0, 1)]


def test_export_records_the_cmg_stream_of_a_cmg_student(tmp_path):
    out = exported(
        tmp_path, {"set": ["motion.cmg_foot_lock=true", "motion.cmg_height=0.78"], "task": "g1_stu_rl_cmg_slow"}
    )
    meta = Policy(out["jit"], engine="torch").metadata()
    low, high = band_of(G1MimicCMGCfg.commands)  # the slow band: symmetric in vy and yaw rate
    assert meta["cmg"] == {
        "command_low": low,
        "command_high": high,
        "model": None,
        "foot_lock": True,
        "height": 0.78,
        "height_from_fk": False,
    }
    with open(out["json"]) as f:
        assert json.load(f)["cmg"] == meta["cmg"]


def test_the_band_is_the_episodes_commands_mirrored_or_not(tmp_path):
    """A one-sided band (vy [0.0, 0.2], yaw rate [0.1, 0.3]) with the tasks' mirroring (motion.cmg_mirror_prob
    0.5): a mirrored episode's generator runs under (vx, -vy, -yaw rate), but its output is mirrored back, so
    the reference moves at the episode's own command (tests/pose/test_cmg_motion_lib.py): the band stays
    one-sided. The medium task's vx band is kept."""
    vx = [float(v) for v in G1MimicCMGMediumCfg.commands.lin_vel_x]
    items = ["commands.lin_vel_y=[0.0,0.2]", "commands.ang_vel_yaw=[0.1,0.3]"]
    mirrored = exported(tmp_path / "a", {"set": items, "task": "g1_stu_rl_cmg_medium"})
    cmg = Policy(mirrored["jit"], engine="torch").metadata()["cmg"]
    assert (cmg["command_low"], cmg["command_high"]) == ([vx[0], 0.0, 0.1], [vx[1], 0.2, 0.3])


@pytest.mark.parametrize("infos", [{"set": [], "task": "g1_stu_rl"}, {"set": []}, None, {"set": [], "task": "unknown"}])
def test_no_cmg_entry_for_a_clip_student_or_an_unknown_task(tmp_path, infos):
    out = exported(tmp_path, infos)
    assert Policy(out["jit"], engine="torch").metadata()["cmg"] is None


def settings(*flags):
    return cmg_settings(build_parser().parse_args(["--cmg"] + [str(f) for f in flags]))


def with_cmg_entry(out, **changes):
    """The export's JSON beside the model, its `cmg` entry changed (the JSON is what metadata() reads)."""
    with open(out["json"]) as f:
        meta = json.load(f)
    meta["cmg"].update(changes)
    with open(out["json"], "w") as f:
        json.dump(meta, f)


def test_policy_path_sets_the_stream_of_its_training(tmp_path, capsys):
    out = exported(
        tmp_path, {"set": ["motion.cmg_foot_lock=true", "motion.cmg_height=0.78"], "task": "g1_stu_rl_cmg_slow"}
    )
    low, high = band_of(G1MimicCMGCfg.commands)
    got = settings("--policy_path", out["jit"])
    assert got == {"model": None, "foot_lock": True, "band": (low, high), "height": 0.78, "height_from_fk": False}
    assert settings("--policy_path", out["jit"], "--cmg_foot_lock")["foot_lock"] is True  # the same: fine

    clip = exported(tmp_path / "clip", {"set": [], "task": "g1_stu_rl"})
    assert settings("--policy_path", clip["jit"], "--cmg_foot_lock") == {"model": None, "foot_lock": True}
    assert "records no CMG training" in capsys.readouterr().out
    assert settings() == {"model": None, "foot_lock": False}  # no policy: the flags alone


def test_policy_path_refuses_flags_that_contradict_its_training(tmp_path, capsys):
    out = exported(tmp_path, {"set": [], "task": "g1_stu_rl_cmg_slow"})
    with pytest.raises(ValueError, match="--cmg_foot_lock: .* was trained without the foot lock"):
        settings("--policy_path", out["jit"], "--cmg_foot_lock")
    with_cmg_entry(out, model=str(tmp_path / "elsewhere" / "cmg.pt"))
    with pytest.raises(
        ValueError, match=r"trained on the CMG .*elsewhere/cmg.pt, not here: pass its copy as --cmg_model"
    ):
        settings("--policy_path", out["jit"])
    model = str(tiny_cmg(tmp_path / "tiny_cmg.pt"))
    assert settings("--policy_path", out["jit"], "--cmg_model", model)["model"] == model
    with_cmg_entry(out, model=model)
    assert settings("--policy_path", out["jit"])["model"] == model  # the generator of its training, found
    with_cmg_entry(out, model=None)
    assert settings("--policy_path", out["jit"], "--cmg_model", model)["model"] == model
    assert "was trained on the shipped CMG; streaming --cmg_model" in capsys.readouterr().out


def test_the_band_limits_the_commands_and_stop_is_always_accepted(tmp_path):
    model = tiny_cmg(tmp_path / "tiny_cmg.pt")
    band = ([0.5, -0.3, -0.5], [1.5, 0.3, 0.5])
    cmg = CMGReference(model, band=band)  # at 0: stop, outside the band, accepted
    assert cmg.range_name == POLICY_BAND and cmg.command.tolist() == [0.0, 0.0, 0.0]
    np.testing.assert_allclose(cmg.low, band[0]) and np.testing.assert_allclose(cmg.high, band[1])
    with pytest.raises(ValueError, match=r"vx 0.3 m/s outside the policy's command band \[0.500, 1.500\] m/s"):
        CMGReference(model, (0.3, 0.0, 0.0), band=band)
    with pytest.raises(ValueError, match=r"the policy's command band of vx \[9, 10\] m/s is outside the CMG's range"):
        CMGReference(model, band=([9.0, -0.3, -0.5], [10.0, 0.3, 0.5]))
    stats = load_generator(model).stats
    wide = CMGReference(model, (1.0, 0.0, 0.0), band=([0.5, -9.0, -0.5], [1.5, 9.0, 0.5]))  # vy: the CMG's range
    assert (wide.low[1], wide.high[1]) == (float(stats.command_min[1]), float(stats.command_max[1]))
