"""Loading exported students for deployment: TorchScript and ONNX give the same actions; clear errors."""

from pathlib import Path

import numpy as np
import pytest
import torch

from deploy_real.policy import SHIPPED_POLICY, Policy, load_policy


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A small random student exported by the project's exporter (TorchScript + ONNX)."""
    pytest.importorskip("onnxruntime")
    from deploy_helpers import save_random_student
    from legged_gym.scripts.save_jit_stu_rlbc import export

    d = tmp_path_factory.mktemp("student")
    save_random_student(d / "model_3.pt", record_normaliser=True)
    return export(d / "model_3.pt", d / "traced", "s")


def test_torchscript_and_onnx_policies_agree(exported):
    """The exported ONNX file, the TorchScript file run by TorchScript and the TorchScript file run by ONNX
    Runtime (converted at load) give the eager model's actions."""
    jit, jit_ort, onnx = (
        Policy(exported["jit"], engine="torch"),
        Policy(exported["jit"], engine="onnxruntime"),
        Policy(exported["onnx"]),
    )
    assert (jit.engine, jit_ort.engine, onnx.engine) == ("torch", "onnxruntime", "onnxruntime")
    eager = torch.jit.load(exported["jit"])
    rng = np.random.default_rng(1)
    for scale in (1.0, 30.0, 300.0):  # 300: beyond the +-100 clip inside the model
        obs = (scale * rng.normal(size=1155)).astype(np.float32)
        with torch.no_grad():
            expected = eager(torch.from_numpy(obs).reshape(1, -1))[0].numpy()
        for policy in (jit, jit_ort, onnx):
            a = policy(obs)
            assert a.shape == (23,) and np.all(np.isfinite(a))
            np.testing.assert_allclose(a, expected, atol=1e-5)
    assert jit.metadata()["obs_layout"]["num_obs"] == 1155
    with pytest.raises(ValueError, match="1155 entries"):
        jit(np.zeros(1154, dtype=np.float32))


def test_export_metadata_is_the_observation_layouts():
    """The exporter's `obs_layout` is the layout object's student metadata plus scales, ankle ids and clip."""
    from legged_gym.envs.mdp.layout import LAYOUT
    from legged_gym.scripts.save_jit_stu_rlbc import ROBOTS, deploy_metadata

    meta = deploy_metadata("g1")
    assert ROBOTS["g1"] is LAYOUT
    assert meta["input"]["shape"] == ["batch", LAYOUT.n_student_obs] and meta["output"]["shape"] == ["batch", 23]
    root = {"root_z": [0, 1], "root_rpy": [1, 4], "root_lin_vel": [4, 7], "root_yaw_rate": [7, 8]}
    assert meta["obs_layout"] == dict(
        LAYOUT.student_metadata(),
        obs_scales={"ang_vel": 0.25, "dof_pos": 1.0, "dof_vel": 0.05},
        zero_dof_vel_ids=[4, 5, 10, 11],
        obs_clip=100.0,
    )
    assert meta["obs_layout"] == {  # the values written before the layout object, by hand
        "num_obs": 1155,
        "frame": 105,
        "mimic": [0, 31],
        "proprio": [31, 105],
        "history": [105, 1155],
        "history_len": 10,
        "history_order": "oldest first; each entry is a previous (mimic 31 | proprio 74) frame",
        "mimic_fields": dict(root, dof_pos=[8, 31]),
        "proprio_fields": {
            "ang_vel": [0, 3],
            "roll_pitch": [3, 5],
            "dof_pos": [5, 28],
            "dof_vel": [28, 51],
            "last_action": [51, 74],
        },
        "obs_scales": {"ang_vel": 0.25, "dof_pos": 1.0, "dof_vel": 0.05},
        "zero_dof_vel_ids": [4, 5, 10, 11],
        "obs_clip": 100.0,
    }


def test_shipped_policy_is_the_default():
    assert SHIPPED_POLICY.is_file() and SHIPPED_POLICY.stat().st_size < 5 * 2**20
    policy = load_policy()
    assert policy.path == SHIPPED_POLICY
    assert np.all(np.isfinite(policy(np.zeros(1155, dtype=np.float32))))


def test_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        Policy(tmp_path / "missing.pt")
    bad = tmp_path / "model.txt"
    bad.write_text("x")
    with pytest.raises(ValueError, match="TorchScript .pt or an .onnx"):
        Policy(bad)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match="not a TorchScript model"):
        Policy(junk)


def test_metadata_of_model_files_without_the_json(exported, tmp_path):
    """Each model file carries the export metadata; an ONNX file's foreign (non-JSON) properties are kept
    as text, and a TorchScript file whose metadata is not a JSON object stops with its name."""
    import shutil

    import onnx
    import torch

    from legged_gym.envs.mdp.layout import EXPORT_METADATA_FILE

    for kind in ("jit", "onnx"):
        shutil.copy(exported[kind], tmp_path)
    jit, onnx_path = tmp_path / "s-3-jit.pt", tmp_path / "s-3.onnx"  # no s-3.json beside them
    assert Policy(jit, engine="torch").metadata()["obs_layout"]["num_obs"] == 1155
    proto = onnx.load(str(onnx_path))
    entry = proto.metadata_props.add()
    entry.key, entry.value = "producer_note", "made elsewhere"
    onnx.save(proto, str(onnx_path))
    meta = Policy(onnx_path).metadata()
    assert meta["producer_note"] == "made elsewhere" and meta["reference_yaw"] == "absolute"
    broken = tmp_path / "broken-jit.pt"
    torch.jit.load(str(jit)).save(str(broken), _extra_files={EXPORT_METADATA_FILE: "[1, 2"})
    with pytest.raises(ValueError, match="broken-jit.pt: its deploy_metadata.json is not a JSON object"):
        Policy(broken, engine="torch")


WIDTH = "this server builds 1155 = 31 reference + 74 proprioception + 10 x 105 history (the student's observation)"


def test_what_is_not_a_student_export_is_named(exported, tmp_path):
    """A folder, a training checkpoint, a teacher-width model (TorchScript or ONNX, its width read or found by
    running it), a model that fails on the observation, a truncated or foreign .pt, a broken ONNX file: one
    ValueError naming the file and what it is, no traceback. A float64 observation is no error: converted."""
    import shutil

    from legged_gym.scripts.save_jit_stu_rlbc import CheckedPolicy

    run = tmp_path / "run"
    (run / "traced").mkdir(parents=True)
    shutil.copy(exported["jit"], run / "traced")
    with pytest.raises(ValueError) as e:
        Policy(run)
    assert str(e.value) == "--policy_path {}: a folder; give an exported model file: {}".format(
        run, run / "traced" / "s-3-jit.pt"
    )
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="a folder; give an exported model file \\(export a run with `bash to_jit.sh"):
        Policy(tmp_path / "empty")

    checkpoint = Path(exported["jit"]).parents[1] / "model_3.pt"
    with pytest.raises(ValueError) as e:
        Policy(checkpoint)
    assert str(e.value).startswith(
        "{}: a training checkpoint (torch.save), not an exported model: export it with ".format(checkpoint)
    )
    assert "bash to_jit.sh <exptid>" in str(e.value)

    teacher = torch.nn.Linear(1318, 23)  # a teacher's width
    traced = torch.jit.trace(teacher, torch.zeros(2, 1318))
    torch.jit.script(CheckedPolicy(traced, 1318)).save(str(tmp_path / "teacher-jit.pt"))
    with pytest.raises(ValueError) as e:
        Policy(tmp_path / "teacher-jit.pt")
    assert str(e.value) == "{}: the model expects 1318 inputs, {}; a teacher export?".format(
        tmp_path / "teacher-jit.pt", WIDTH
    )
    traced.save(str(tmp_path / "twist_teacher.pt"))  # no num_obs to read: it runs on the teacher's width
    for engine in ("torch", "auto"):
        with pytest.raises(ValueError) as e:
            Policy(tmp_path / "twist_teacher.pt", engine=engine)
        assert str(e.value) == "{}: the model expects 1318 inputs, {}; a teacher export?".format(
            tmp_path / "twist_teacher.pt", WIDTH
        )
    other = torch.jit.trace(torch.nn.Linear(1200, 23), torch.zeros(2, 1200))  # neither width: torch's error
    other.save(str(tmp_path / "other.pt"))
    with pytest.raises(ValueError) as e:
        Policy(tmp_path / "other.pt", engine="torch")
    assert str(e.value) == (
        "{}: the model fails on the 1155-D observation (RuntimeError: mat1 and mat2 shapes cannot be multiplied "
        "(1x1155 and 1200x23)), {}".format(tmp_path / "other.pt", WIDTH)
    )

    class Raises(torch.nn.Module):
        def forward(self, obs: torch.Tensor) -> torch.Tensor:
            if obs.size(1) > 0:
                raise RuntimeError("not this observation")
            return obs

    torch.jit.script(Raises()).save(str(tmp_path / "raises.pt"))  # raises a torch.jit.Error
    with pytest.raises(ValueError) as e:
        Policy(tmp_path / "raises.pt")
    assert str(e.value).startswith(
        "{}: the model fails on the 1155-D observation (builtins.RuntimeError: not this observation)".format(
            tmp_path / "raises.pt"
        )
    )

    torch.onnx.export(
        teacher, (torch.zeros(1, 1318),), str(tmp_path / "teacher.onnx"), input_names=["obs"], dynamo=False
    )
    with pytest.raises(ValueError) as e:
        Policy(tmp_path / "teacher.onnx")
    assert str(e.value) == "{}: the model expects 1318 inputs, {}; a teacher export?".format(
        tmp_path / "teacher.onnx", WIDTH
    )
    dynamic = tmp_path / "teacher_dynamic.onnx"  # a width the file does not say
    torch.onnx.export(
        teacher,
        (torch.zeros(1, 1318),),
        str(dynamic),
        input_names=["obs"],
        dynamic_axes={"obs": {0: "batch", 1: "width"}},
        dynamo=False,
    )
    with pytest.raises(ValueError) as e:
        Policy(dynamic)
    assert str(e.value) == "{}: the model expects 1318 inputs, {}; a teacher export?".format(dynamic, WIDTH)

    data = open(exported["jit"], "rb").read()
    for name, content in (("truncated-jit.pt", data[: len(data) // 2]), ("cut-jit.pt", data[:100])):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError) as e:
            Policy(tmp_path / name)
        assert str(e.value) == (
            "{}: not a TorchScript model (the file is truncated or damaged: PytorchStreamReader failed "
            "reading zip archive: failed finding central directory)".format(tmp_path / name)
        )
    (tmp_path / "zeros.pt").write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError) as e:
        Policy(tmp_path / "zeros.pt")
    assert str(e.value) == (
        "{}: not a TorchScript model (the file is truncated or damaged, or no zip archive as TorchScript files "
        "are: PytorchStreamReader failed reading zip archive: failed finding central directory)".format(
            tmp_path / "zeros.pt"
        )
    )

    obs64 = np.random.default_rng(2).normal(size=1155)  # float64, as numpy makes them
    with torch.no_grad():
        want = torch.jit.load(exported["jit"])(torch.from_numpy(obs64.astype(np.float32))[None])[0].numpy()
    for policy in (Policy(exported["jit"], engine="torch"), Policy(exported["jit"]), Policy(exported["onnx"])):
        for obs in (obs64, torch.from_numpy(obs64), obs64.tolist()):
            a = policy(obs)
            assert a.dtype == np.float32
            np.testing.assert_allclose(a, want, atol=1e-5)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(open(exported["onnx"], "rb").read()[:300])
    with pytest.raises(ValueError) as e:
        Policy(broken)
    assert str(e.value).startswith("{}: ONNX Runtime cannot load it (".format(broken))


def test_the_server_says_it_in_one_line(exported, redis_server, capsys):
    from deploy_real.server_low_level_g1_sim import main

    checkpoint = Path(exported["jit"]).parents[1] / "model_3.pt"
    assert main(["--policy_path", str(checkpoint), "--headless", "--redis_url", redis_server.url]) == 2
    err = capsys.readouterr().err
    assert err.startswith("server_low_level_g1_sim.py: {}: a training checkpoint".format(checkpoint))
    assert len(err.splitlines()) == 1
