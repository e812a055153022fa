"""ONNX export of a CMG: raw inputs and outputs (normalisation inside), equal to torch within 1e-5,
metadata with the statistics."""

import json

import numpy as np
import pytest
import torch

from cmg_workspace import export
from cmg_workspace.checkpoint import save_checkpoint
from pose.cmg.checkpoint import load_cmg
from pose.cmg.model import CMG, CMGConfig
from pose.cmg.stats import Stats

ort = pytest.importorskip("onnxruntime")


def _checkpoint(path, hidden_dim):
    """A randomly initialised CMG with made-up statistics, saved as a checkpoint."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = CMG(CMGConfig(hidden_dim=hidden_dim))
    stats = Stats(
        rng.normal(0, 0.5, 58).astype(np.float32),
        rng.uniform(0.1, 3.0, 58).astype(np.float32),
        np.array([-0.5, -1.0, -1.5], np.float32),
        np.array([3.5, 1.0, 1.5], np.float32),
    )
    save_checkpoint(
        path,
        {
            "epoch": 0,
            "model_config": model.config.to_dict(),
            "model_state_dict": model.state_dict(),
            "stats": stats.to_dict(),
            "standing_pose": [float(v) for v in stats.motion_mean],
            "fps": 50.0,
        },
    )
    return path


@pytest.mark.parametrize("hidden_dim", [512, 48])
def test_onnx_equals_torch(tmp_path, hidden_dim):
    ckpt = _checkpoint(tmp_path / "cmg.pt", hidden_dim)
    out = tmp_path / "cmg.onnx"
    assert export.main([str(ckpt), "--out", str(out)]) == 0
    cmg = load_cmg(ckpt)
    s = cmg.stats
    rng = np.random.default_rng(1)
    x = (s.motion_mean + s.motion_std * rng.standard_normal((33, 58))).astype(np.float32)
    c = rng.uniform(s.command_min, s.command_max, (33, 3)).astype(np.float32)
    # torch reference computed here from the definition of the normalisation
    with torch.no_grad():
        x_hat = (torch.from_numpy(x) - torch.from_numpy(s.motion_mean)) / torch.from_numpy(s.motion_std)
        c_hat = (
            2
            * (torch.from_numpy(c) - torch.from_numpy(s.command_min))
            / torch.from_numpy(s.command_max - s.command_min)
            - 1
        )
        expected = (cmg.model(x_hat, c_hat) * torch.from_numpy(s.motion_std) + torch.from_numpy(s.motion_mean)).numpy()
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["prev_motion", "command"]
    got = session.run(["motion"], {"prev_motion": x, "command": c})[0]
    assert got.shape == (33, 58)
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)
    one = session.run(["motion"], {"prev_motion": x[:1], "command": c[:1]})[0]  # dynamic batch
    np.testing.assert_allclose(one, expected[:1], atol=1e-5, rtol=0)
    meta = {k: json.loads(v) for k, v in session.get_modelmeta().custom_metadata_map.items()}
    assert meta["normalisation"].startswith("inside")
    np.testing.assert_allclose(meta["stats"]["motion_std"], s.motion_std, rtol=1e-6)
    assert len(meta["joint_names"]) == 29 and meta["fps"] == 50.0
    assert json.loads(out.with_suffix(".json").read_text())["stats"] == meta["stats"]


def test_release_checkpoint_is_the_float16_generator(tmp_path):
    """`--out X.pt`: no optimiser or scheduler, float16 weights, loads into the float32 network as
    the rounded weights; statistics and standing pose kept."""
    ckpt = _checkpoint(tmp_path / "cmg.pt", 48)
    full = torch.load(ckpt, weights_only=True)
    full["optimizer_state_dict"] = {"state": {}, "param_groups": []}
    torch.save(full, ckpt)
    out = tmp_path / "release" / "cmg.pt"
    assert export.main([str(ckpt), "--out", str(out)]) == 0
    release = torch.load(out, weights_only=True)
    assert "optimizer_state_dict" not in release and release["release"]["weights_dtype"] == "float16"
    assert all(v.dtype == torch.float16 for v in release["model_state_dict"].values() if v.is_floating_point())
    assert release["stats"] == full["stats"] and release["standing_pose"] == full["standing_pose"]
    loaded = load_cmg(out)
    for name, p in loaded.model.state_dict().items():
        assert p.dtype == torch.float32
        assert torch.equal(p, full["model_state_dict"][name].half().float())
    assert out.stat().st_size < 0.6 * ckpt.stat().st_size


def test_release_of_a_missing_checkpoint_is_one_line(tmp_path, capsys):
    assert export.main([str(tmp_path / "none.pt"), "--out", str(tmp_path / "x.pt")]) == 2
    assert "none.pt" in capsys.readouterr().err


def test_unreadable_or_foreign_checkpoints_are_one_line_errors(tmp_path, capsys):
    """A truncated file, a bare state dict (the weights alone) and a {model_state_dict, stats} dict of
    another layout are refused naming the file and what was found, by export and evaluate alike."""
    from cmg_workspace import evaluate

    good = _checkpoint(tmp_path / "good.pt", 32)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    state = torch.load(good, weights_only=True)["model_state_dict"]
    torch.save(state, tmp_path / "weights_only.pt")
    torch.save({"model_state_dict": state, "stats": {"mean": torch.zeros(58)}}, tmp_path / "other_layout.pt")
    expected = {
        "truncated.pt": "cannot read as a CMG checkpoint",
        "weights_only.pt": "a bare state dict of {} tensors".format(len(CMG(CMGConfig(hidden_dim=32)).state_dict())),
        "other_layout.pt": "found a dict with the keys ['model_state_dict', 'stats']",
    }
    for name, what in expected.items():
        for run in (
            lambda: export.main([str(tmp_path / name), "--out", str(tmp_path / "x.onnx")]),
            lambda: export.main([str(tmp_path / name), "--out", str(tmp_path / "x.pt")]),
            lambda: evaluate.main([str(tmp_path / name), "--out", str(tmp_path / "e"), "--baseline", "none"]),
        ):
            assert run() == 2
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and name in err and what in err, err
    assert not (tmp_path / "x.onnx").exists() and not (tmp_path / "x.pt").exists()
