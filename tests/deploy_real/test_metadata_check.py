"""An export whose metadata disagrees with the deploy server's own settings (action scale and clip, default
pose, joint order, policy period, observation layout and scales) is refused at start in one line naming the
model file, the key and both values; the exporter's own metadata and exports without any are accepted."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from deploy_helpers import real_config_copy, sim_student_step

from deploy_real.student_step import check_export_metadata

REFUSED = "the policy was trained for other settings"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A small random student exported by the project's exporter: s-3-jit.pt, s-3.onnx (if onnx), s-3.json."""
    from deploy_helpers import save_random_student
    from legged_gym.scripts.save_jit_stu_rlbc import export

    d = tmp_path_factory.mktemp("student")
    save_random_student(d / "model_3.pt")
    return export(d / "model_3.pt", d / "traced", "s")


def exported_metadata(exported):
    with open(exported["json"]) as f:
        return json.load(f)


def with_sidecar(exported, folder, edit=None):
    """A copy of the exported TorchScript file in `folder` with `s-3.json` beside it: the exporter's
    metadata, changed by `edit(meta)` if given. Returns the copy's path."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    jit = Path(folder) / "s-3-jit.pt"
    shutil.copy(exported["jit"], jit)
    meta = exported_metadata(exported)
    if edit is not None:
        edit(meta)
    (Path(folder) / "s-3.json").write_text(json.dumps(meta))
    return jit


def refusal(path, key_value, server_value, sidecar=True):
    return "{}: its export metadata{} says {}, but this server uses {}: {}".format(
        path, " (s-3.json beside it)" if sidecar else "", key_value, server_value, REFUSED
    )


def set_key(*keys_and_value):
    *keys, value = keys_and_value

    def edit(meta):
        d = meta
        for k in keys[:-1]:
            d = d[k]
        d[keys[-1]] = value

    return edit


def zero_pose(meta):
    meta["default_joint_pos"] = [0.0] * 23


def swap_first_joints(meta):
    names = meta["joint_names"]
    names[0], names[1] = names[1], names[0]


def drop_a_joint(meta):
    meta["default_joint_pos"] = meta["default_joint_pos"][:22]


G1_DEFAULT = [-0.2, 0.0, 0.0, 0.4, -0.2, 0.0, -0.2, 0.0, 0.0, 0.4, -0.2, 0.0]  # legs; then waist + arms
G1_DEFAULT += [0.0, 0.0, 0.0, 0.0, 0.4, 0.0, 1.2, 0.0, -0.4, 0.0, 1.2]


@pytest.mark.parametrize(
    "edit, key_value, server_value",
    [
        (set_key("action_scale", 0.25), "action_scale = 0.25", "0.5"),
        (set_key("action_scale", 0.5 + 1e-5), "action_scale = 0.50001", "0.5"),  # beyond the 1e-6 tolerance
        (set_key("action_scale", "0.5"), 'action_scale = "0.5"', "0.5"),  # a string is no number
        (set_key("action_clip", 5.0), "action_clip = 5.0", "10.0"),
        (zero_pose, "default_joint_pos[0] = 0.0", "-0.2"),
        (drop_a_joint, "default_joint_pos = {}".format(json.dumps(G1_DEFAULT[:22])), json.dumps(G1_DEFAULT)),
        (swap_first_joints, 'joint_names[0] = "left_hip_roll_joint"', '"left_hip_pitch_joint"'),
        (set_key("policy_dt", 0.01), "policy_dt = 0.01", "0.02"),
        (set_key("obs_layout", "history_len", 5), "obs_layout.history_len = 5", "10"),
        (set_key("obs_layout", "num_obs", 630), "obs_layout.num_obs = 630", "1155"),
        (set_key("obs_layout", "obs_scales", "dof_vel", 0.1), "obs_layout.obs_scales.dof_vel = 0.1", "0.05"),
        (set_key("obs_layout", "obs_clip", 5.0), "obs_layout.obs_clip = 5.0", "100.0"),
    ],
)
def test_a_sidecar_that_disagrees_with_the_server_is_refused(exported, tmp_path, edit, key_value, server_value):
    jit = with_sidecar(exported, tmp_path, edit)
    with pytest.raises(ValueError) as e:
        sim_student_step(jit)
    assert str(e.value) == refusal(jit, key_value, server_value)
    assert len(str(e.value).splitlines()) == 1


def test_the_exporters_metadata_is_accepted(exported, tmp_path):
    """The exporter's metadata unchanged (in a sidecar, or only inside the file), within the tolerance, or
    without the keys compared (an older or foreign export), and TWIST's exports without any."""
    meta = exported_metadata(exported)
    assert (meta["action_scale"], meta["action_clip"], meta["policy_dt"]) == (0.5, 10.0, 0.02)
    assert meta["default_joint_pos"] == G1_DEFAULT and meta["obs_layout"]["history_len"] == 10
    assert meta["kp"][0] == 100.0  # gains are carried, but never compared

    sim_student_step(with_sidecar(exported, tmp_path / "same"))
    sim_student_step(exported["jit"])  # the exporter's own files
    sim_student_step(with_sidecar(exported, tmp_path / "near", set_key("action_scale", 0.5 + 5e-7)))
    sim_student_step(with_sidecar(exported, tmp_path / "gains", set_key("kp", [1.0] * 23)))
    partial = with_sidecar(exported, tmp_path / "partial")
    (tmp_path / "partial" / "s-3.json").write_text(json.dumps({"reference_yaw": "absolute"}))
    sim_student_step(partial)

    twist = tmp_path / "twist_student.pt"  # no extra file, no sidecar: TWIST's own exports
    torch.jit.load(exported["jit"]).save(str(twist))
    step = sim_student_step(twist)
    assert step.policy.metadata() is None


def test_the_metadata_inside_the_model_files_is_checked(exported, tmp_path):
    """Without a sidecar the TorchScript extra file and the ONNX metadata_props are compared."""
    from legged_gym.envs.mdp.layout import EXPORT_METADATA_FILE

    meta = exported_metadata(exported)
    meta["action_scale"] = 0.25
    jit = tmp_path / "inside-jit.pt"
    torch.jit.load(exported["jit"]).save(str(jit), _extra_files={EXPORT_METADATA_FILE: json.dumps(meta)})
    with pytest.raises(ValueError) as e:
        sim_student_step(jit)
    assert str(e.value) == refusal(jit, "action_scale = 0.25", "0.5", sidecar=False)

    if "onnx" not in exported:
        return
    import onnx

    proto = onnx.load(exported["onnx"])
    for entry in proto.metadata_props:
        if entry.key == "policy_dt":
            entry.value = "0.01"
    path = tmp_path / "inside.onnx"
    onnx.save(proto, str(path))
    with pytest.raises(ValueError) as e:
        sim_student_step(path)
    assert str(e.value) == refusal(path, "policy_dt = 0.01", "0.02", sidecar=False)


def test_check_export_metadata_compares_only_what_both_have(tmp_path):
    path = tmp_path / "m-jit.pt"
    server = {"action_scale": 0.5, "obs_layout": {"history_len": 10, "mimic": [0, 31]}, "joint_names": ["a", "b"]}
    check_export_metadata(path, None, server)
    check_export_metadata(path, {}, server)
    check_export_metadata(path, {"kp": [1.0], "obs_layout": {"history_len": 10}}, server)
    check_export_metadata(path, {"action_scale": 0.5000009, "joint_names": ["a", "b"]}, server)
    for meta, key_value, want in (
        ({"action_scale": 0.500002}, "action_scale = 0.500002", "0.5"),
        ({"action_scale": True}, "action_scale = true", "0.5"),
        ({"obs_layout": {"mimic": [0, 33]}}, "obs_layout.mimic[1] = 33", "31"),
        ({"obs_layout": 10}, "obs_layout = 10", json.dumps(server["obs_layout"])),
        ({"joint_names": ["b", "a"]}, 'joint_names[0] = "b"', '"a"'),
    ):
        with pytest.raises(ValueError) as e:
            check_export_metadata(path, meta, server)
        assert str(e.value) == "{}: its export metadata says {}, but this server uses {}: {}".format(
            path, key_value, want, REFUSED
        )


def test_the_sim_server_says_it_in_one_line(exported, tmp_path, redis_server, capsys):
    from deploy_real.server_low_level_g1_sim import main

    jit = with_sidecar(exported, tmp_path, set_key("obs_layout", "history_len", 5))
    args = ["--policy_path", str(jit), "--headless", "--redis_url", redis_server.url, "--engine", "torch"]
    assert main(args + ["--duration", "1"]) == 2  # accepted, it would run for 1 s and return 0
    err = capsys.readouterr().err
    assert err == "server_low_level_g1_sim.py: {}\n".format(refusal(jit, "obs_layout.history_len = 5", "10"))


def real_config(tmp_path, old, new):
    from deploy_real.real_config import load_real_config

    return load_real_config(real_config_copy(tmp_path, old, new))


def test_the_real_server_compares_with_its_config(exported, tmp_path):
    """The real server's values are its config's: an export for another action scale or default pose than
    the config's is refused; other Kp/Kd in the config are not (deploy gains may differ from training's)."""
    from deploy_real.real_config import load_real_config
    from deploy_real.server_low_level_g1_real import LowLevelReal

    jit = exported["jit"]
    LowLevelReal(load_real_config(), jit, engine="torch")
    gains = real_config(tmp_path, "kps: [100, 100, 100, 150,", "kps: [80, 80, 80, 120,")
    assert gains.kp[0] == 80.0
    LowLevelReal(gains, jit, engine="torch")

    scale = real_config(tmp_path, "action_scale: 0.5", "action_scale: 0.25")
    with pytest.raises(ValueError) as e:
        LowLevelReal(scale, jit, engine="torch")
    assert str(
        e.value
    ) == "{}: its export metadata (s-3.json beside it) says action_scale = 0.5, but this server uses 0.25: {}".format(
        jit, REFUSED
    )

    knee = real_config(tmp_path, "default_angles: [-0.2, 0.0, 0.0, 0.4,", "default_angles: [-0.2, 0.0, 0.0, 0.5,")
    assert np.isclose(knee.default_dof_pos[3], 0.5)
    with pytest.raises(ValueError) as e:
        LowLevelReal(knee, jit, engine="torch")
    assert str(e.value) == (
        "{}: its export metadata (s-3.json beside it) says default_joint_pos[3] = 0.4, but this server uses 0.5: "
        "{}".format(jit, REFUSED)
    )

    twist = tmp_path / "twist_student.pt"  # no metadata: the config's numbers, as TWIST's server
    torch.jit.load(jit).save(str(twist))
    LowLevelReal(scale, str(twist), engine="torch")


def test_a_sidecar_that_differs_from_the_metadata_inside_is_named(exported, tmp_path):
    """The JSON beside a model wins over the metadata inside it; where the two differ (an edited copy, or
    one left from another export under this name) the server names the keys once at start."""
    from deploy_real.policy import Policy

    same = with_sidecar(exported, tmp_path / "same")
    assert Policy(str(same), engine="torch").sidecar_overrides() == []

    def stale(meta):
        meta["reference_yaw"] = "relative"
        meta["iteration"] = 7

    other = with_sidecar(exported, tmp_path / "other", stale)
    assert Policy(str(other), engine="torch").sidecar_overrides() == ["iteration", "reference_yaw"]
    lines = []
    step = sim_student_step(other, log=lines.append)
    assert step.reference_yaw == "relative"  # the JSON beside it wins
    named = [line for line in lines if "overrides" in line]
    assert named == [
        "{}: the metadata beside it (s-3.json) overrides the one inside it for iteration, reference_yaw".format(other)
    ]
    assert Policy(exported["jit"], engine="torch").sidecar_overrides() == []  # the exporter's own pair agrees
