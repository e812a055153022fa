"""pose.manifest: clips, folders and manifests combined into one manifest that MotionLib loads."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from pose import manifest
from pose.formats import load_manifest
from pose.synth import default_motion_file
from pose.utils.motion_lib_pkl import MotionLib


@pytest.fixture(scope="module")
def embedded() -> Path:
    return default_motion_file()


def test_sources_are_listed_in_order_with_their_weights_and_relative_paths(embedded, tmp_path):
    # a manifest of two embedded clips, one with weight 3
    set_a = tmp_path / "a"
    set_a.mkdir()
    for name in ("stand", "squat"):
        shutil.copy(embedded.parent / (name + ".pkl"), set_a / (name + ".pkl"))
    (set_a / "list.yaml").write_text(
        yaml.safe_dump(
            {
                "root_path": ".",
                "motions": [
                    {"file": "squat.pkl", "weight": 3.0, "description": "two squats"},
                    {"file": "stand.pkl", "weight": 1.0, "description": "standing"},
                ],
            }
        )
    )
    # a folder with clips in a subfolder, and one clip file
    (tmp_path / "b" / "sub").mkdir(parents=True)
    shutil.copy(embedded.parent / "walk_turn.pkl", tmp_path / "b" / "sub" / "z_turn.pkl")
    shutil.copy(embedded.parent / "arm_swing.pkl", tmp_path / "b" / "a_swing.pkl")
    single = tmp_path / "walk.pkl"
    shutil.copy(embedded.parent / "walk_forward_1p0.pkl", single)

    out = tmp_path / "elsewhere" / "set.yaml"
    assert manifest.main([str(out), str(set_a / "list.yaml"), str(tmp_path / "b"), str(single)]) == 0

    entries = load_manifest(out)
    expected = [
        set_a / "squat.pkl",
        set_a / "stand.pkl",
        tmp_path / "b/a_swing.pkl",
        tmp_path / "b/sub/z_turn.pkl",
        single,
    ]
    assert [e.file.resolve() for e in entries] == [p.resolve() for p in expected]
    assert [e.weight for e in entries] == [3.0, 1.0, 1.0, 1.0, 1.0]
    assert entries[0].description == "two squats"
    written = yaml.safe_load(out.read_text())
    assert written["root_path"] == "." and all(m["file"].startswith("../") for m in written["motions"])
    lib = MotionLib(out)
    assert lib.num_motions() == 5


@pytest.mark.parametrize("case", ["twice", "missing", "not_a_clip", "empty_folder", "out_not_yaml"])
def test_bad_sources_fail_with_one_line_naming_them(embedded, tmp_path, capsys, case):
    clip = tmp_path / "stand.pkl"
    shutil.copy(embedded.parent / "stand.pkl", clip)
    out = tmp_path / "set.yaml"
    if case == "twice":
        args, words = [str(out), str(clip), str(tmp_path)], ["stand.pkl", "listed twice"]
    elif case == "missing":
        args, words = [str(out), str(tmp_path / "nope.pkl")], ["nope.pkl", "does not exist"]
    elif case == "not_a_clip":
        (tmp_path / "notes.txt").write_text("x")
        args, words = [str(out), str(tmp_path / "notes.txt")], ["notes.txt", "expected a manifest"]
    elif case == "empty_folder":
        (tmp_path / "empty").mkdir()
        args, words = [str(out), str(tmp_path / "empty")], ["empty", "no clips"]
    else:
        args, words = [str(tmp_path / "set.txt"), str(clip)], ["set.txt", ".yaml"]
    assert manifest.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and all(w in err for w in words)
    assert not out.exists()


def test_root_path_with_home_variables_or_twists_working_directory_reading(embedded, tmp_path, monkeypatch):
    """`~` and environment variables in root_path are expanded; a relative root_path is the manifest's
    folder's, or, where only that folder exists, the working directory's (how TWIST reads it); a root_path
    that is not text is refused naming the key."""
    from pose.formats import MotionFileError

    clips = tmp_path / "home" / "data" / "clips"
    clips.mkdir(parents=True)
    shutil.copy(embedded.parent / "stand.pkl", clips / "stand.pkl")
    lists = tmp_path / "lists"
    lists.mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CLIPS", str(clips))
    for root in ("~/data/clips", "$CLIPS"):
        (lists / "m.yaml").write_text("root_path: {}\nmotions:\n- {{file: stand.pkl}}\n".format(root))
        assert [e.file for e in load_manifest(lists / "m.yaml")] == [clips / "stand.pkl"]
    (lists / "m.yaml").write_text("root_path: data/clips\nmotions:\n- {file: stand.pkl}\n")
    monkeypatch.chdir(tmp_path / "home")  # lists/data/clips does not exist; home/data/clips does
    assert [e.file for e in load_manifest(lists / "m.yaml")] == [clips / "stand.pkl"]
    (lists / "data" / "clips").mkdir(parents=True)  # now the manifest's folder has it: that one is read
    with pytest.raises(MotionFileError, match=r"lists/data/clips/stand.pkl does not exist"):
        load_manifest(lists / "m.yaml")
    (lists / "m.yaml").write_text("root_path: [a]\nmotions:\n- {file: stand.pkl}\n")
    with pytest.raises(MotionFileError, match=r"key 'root_path': expected a folder path, got \['a'\]"):
        load_manifest(lists / "m.yaml")
