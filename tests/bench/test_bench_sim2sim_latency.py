"""bench/bench_sim2sim_latency.py: the sweep runs the deploy loop at each latency and writes what it measured."""

import json

import pytest


def test_sweep_plays_a_clip_at_each_latency(tmp_path):
    pytest.importorskip("mujoco")
    from bench.bench_sim2sim_latency import main

    out = tmp_path / "latency.json"
    result = main(["--clips", "0", "--latencies_ms", "0", "20", "--out", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(result))
    assert [row["policy_latency_ms"] for row in result["sweep"]] == [0, 20]
    zero, late = (row["clips"] for row in result["sweep"])
    assert list(zero) == list(late) and len(zero) == 1
    (name,) = zero
    assert zero[name]["completion"] > 0.0 and late[name]["completion"] > 0.0
    assert zero[name]["joint_error_rad"] != late[name]["joint_error_rad"]  # the delay changed the motion
    assert result["sweep"][0]["summary"]["joint_error_rad"] == zero[name]["joint_error_rad"]  # one clip: its own


def test_latencies_beyond_the_period_are_refused(capsys):
    from bench.bench_sim2sim_latency import main

    with pytest.raises(SystemExit):
        main(["--latencies_ms", "0", "25"])
    assert "--latencies_ms: policy latency '25': expected a whole number of ms in [0, 20]" in capsys.readouterr().err
