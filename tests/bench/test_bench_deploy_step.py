"""bench/bench_deploy_step.py: the step is timed with a real redis-server, and --background_load keeps N other
processes busy for exactly the measurement."""

import json
import shutil

import pytest


def test_busy_processes_run_inside_the_block_and_are_gone_after():
    from bench.bench_deploy_step import busy_processes

    with busy_processes(2) as procs:
        assert len(procs) == 2 and all(p.poll() is None for p in procs)
    assert all(p.poll() is not None for p in procs)
    with pytest.raises(RuntimeError):  # a measurement that fails leaves no busy process behind
        with busy_processes(1) as procs:
            raise RuntimeError
    assert procs[0].poll() is not None


def test_the_step_is_measured_under_the_asked_load(tmp_path):
    pytest.importorskip("mujoco")
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server")
    from bench.bench_deploy_step import main

    out = tmp_path / "step.json"
    result = main(["--steps", "20", "--background_load", "1", "--out", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(result))
    assert result["background_load_processes"] == 1 and result["steps"] == 20
    for key in ("policy_step_ms", "policy_step_ms_without_physics_in_process", "policy_inference_ms"):
        stats = result[key]
        assert 0 < stats["p50"] <= stats["p99"] <= stats["max"]
    with pytest.raises(SystemExit):
        main(["--background_load", "-1"])
