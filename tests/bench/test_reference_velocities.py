"""bench/bench_reference_velocities.py: agreement of smoothed reference velocities with the frames."""

import json

import numpy as np
import torch

from conftest import load_bench_script


def test_agreement_of_a_sine_and_its_moving_average():
    """A 1.5 Hz sine at 50 fps: a 19-tap (0.38 s) centred average keeps sinc(1.5 x 0.38) of it, in phase."""
    bench = load_bench_script("bench_reference_velocities")
    fps, f, taps = 50.0, 1.5, 19
    t = torch.arange(1000, dtype=torch.float64) / fps
    raw = torch.sin(2 * np.pi * f * t)
    kernel = torch.ones(taps, dtype=torch.float64) / taps
    smoothed = torch.nn.functional.conv1d(raw.view(1, 1, -1), kernel.view(1, 1, -1), padding=taps // 2).view(-1)
    inner = slice(taps, -taps)  # away from the zero padding
    a = bench.agreement(smoothed[inner], raw[inner])
    gain = np.sin(np.pi * f * taps / fps) / (taps * np.sin(np.pi * f / fps))  # the moving average's response
    assert abs(a["corr"] - 1.0) < 1e-3
    assert abs(a["ratio"] - gain) < 0.01
    assert bench.agreement(raw, torch.zeros_like(raw)) == {"corr": None, "ratio": None}


def test_embedded_set_unsmoothed_agrees_and_twist_window_loses_the_walks(tmp_path):
    bench = load_bench_script("bench_reference_velocities")
    out = tmp_path / "rv.json"
    bench.main(["--windows", "19", "1", "--out", str(out)])
    result = json.loads(out.read_text())["windows"]
    for key in ("joint_vel", "root_ang_vel"):
        for measure in ("corr", "ratio"):
            assert abs(result["1"]["median"][key][measure] - 1.0) < 1e-6
    walks = [r for r in result["19"]["clips"] if r["clip"].startswith("walk_forward")]
    assert len(walks) == 3
    for r in walks:  # the legs' ~1-2 Hz swing is cut by the 0.38-s average
        assert r["joint_vel"]["ratio"] < 0.6
