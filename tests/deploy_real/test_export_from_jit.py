"""`save_jit_stu_rlbc.py --from_jit`: an exported TorchScript student (this project's, TWIST's, the shipped
one) exported again with its metadata inside, an ONNX twin and the JSON; the same actions from every file."""

import json

import numpy as np
import pytest
import torch

from deploy_real.policy import SHIPPED_POLICY, Policy
from legged_gym.envs.mdp.layout import EXPORT_METADATA_FILE
from legged_gym.scripts import save_jit_stu_rlbc
from legged_gym.scripts.save_jit_stu_rlbc import ASSUMED_METADATA, deploy_metadata, export, export_from_jit

pytest.importorskip("onnxruntime")


def embedded_metadata(path):
    extra = {EXPORT_METADATA_FILE: ""}
    torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    return json.loads(extra[EXPORT_METADATA_FILE]) if extra[EXPORT_METADATA_FILE] else None


def observations(n, seed):
    rng = np.random.default_rng(seed)
    return [(scale * rng.normal(size=1155)).astype(np.float32) for scale in np.geomspace(1.0, 300.0, n)]


def test_the_shipped_student_carries_its_metadata_and_exports_to_onnx(tmp_path):
    """The shipped file holds the metadata of a student trained with the defaults; its ONNX twin and the
    re-saved TorchScript give its actions (TorchScript run as TorchScript: no conversion in between)."""
    meta = embedded_metadata(SHIPPED_POLICY)
    assert meta is not None, "the shipped student carries no deploy metadata"
    expected = deploy_metadata("g1")
    for key in ("obs_layout", "default_joint_pos", "action_scale", "action_clip", "joint_names", "policy_dt"):
        assert meta[key] == expected[key], key
    assert (meta["reference_yaw"], meta["drift_feedback"]) == ("absolute", None)
    out = save_jit_stu_rlbc.main(["--from_jit", str(SHIPPED_POLICY), "--out_dir", str(tmp_path)])
    assert embedded_metadata(out["jit"])["obs_layout"] == meta["obs_layout"]
    assert json.loads(open(out["json"]).read())["iteration"] == meta["iteration"]
    shipped = torch.jit.load(str(SHIPPED_POLICY), map_location="cpu")
    onnx = Policy(out["onnx"])
    again = Policy(out["jit"], engine="torch")
    for obs in observations(4, 0):
        with torch.no_grad():
            want = shipped(torch.from_numpy(obs)[None])[0].numpy()
        np.testing.assert_allclose(onnx(obs), want, atol=1e-5)
        np.testing.assert_array_equal(again(obs), want)


def test_a_file_without_metadata_gets_twists_defaults_marked_as_assumed(tmp_path):
    """A TWIST-style export (no extra file, no sidecar) of a student with a state estimator: the metadata
    is marked assumed; both ONNX outputs equal the TorchScript module's."""
    from deploy_helpers import save_random_student

    from legged_gym.envs.mdp.layout import LAYOUT

    target = LAYOUT.priv_info_indices(["base_lin_vel"])
    save_random_student(tmp_path / "model_3.pt", record_normaliser=True, estimator_target=target)
    first = export(tmp_path / "model_3.pt", tmp_path / "traced", "s")
    bare = tmp_path / "twist" / "policy.pt"
    bare.parent.mkdir()
    torch.jit.load(first["jit"]).save(str(bare))  # no extra file, no sidecar: as TWIST exports
    assert embedded_metadata(bare) is None
    out = export_from_jit(bare, tmp_path / "out")
    meta = embedded_metadata(out["jit"])
    assert meta["metadata"] == ASSUMED_METADATA and meta["source_file"] == "policy.pt"
    assert meta["obs_layout"] == deploy_metadata("g1")["obs_layout"]
    module = torch.jit.load(str(bare))
    onnx = Policy(out["onnx"])
    for obs in observations(3, 1):
        with torch.no_grad():
            x = torch.from_numpy(obs)[None]
            want, want_velocity = module(x)[0].numpy(), module.base_velocity(x)[0].numpy()
        np.testing.assert_allclose(onnx(obs), want, atol=1e-5)
        np.testing.assert_allclose(onnx.base_velocity, want_velocity, atol=1e-5)


def test_from_jit_errors_name_the_file(tmp_path, capsys):
    teacher_like = torch.jit.script(torch.nn.Linear(1318, 23))
    teacher_like.save(str(tmp_path / "teacher-jit.pt"))
    (tmp_path / "cut-jit.pt").write_bytes(SHIPPED_POLICY.read_bytes()[:100000])
    for name, expected in (("teacher-jit.pt", "a teacher export"), ("cut-jit.pt", "not an exported TorchScript")):
        with pytest.raises(SystemExit, match=r"{}.*{}".format(name.replace(".", r"\."), expected)):
            save_jit_stu_rlbc.main(["--from_jit", str(tmp_path / name), "--out_dir", str(tmp_path / "o")])
    with pytest.raises(ValueError, match="its own folder"):
        export_from_jit(tmp_path / "teacher-jit.pt", tmp_path)
    with pytest.raises(SystemExit, match="--out_dir"):
        save_jit_stu_rlbc.main(["--from_jit", str(SHIPPED_POLICY)])
