"""Helpers of the deploy tests: the servers as separate processes (the Redis fixtures are in tests/conftest.py)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
LOW_LEVEL = REPO_ROOT / "deploy_real" / "server_low_level_g1_sim.py"
HIGH_LEVEL = REPO_ROOT / "deploy_real" / "server_high_level_motion_lib.py"


def start_server(script, args, cwd, log_path, env=None):
    """A deploy server as a separate process, as the README starts it (from any directory); `env`: its
    environment (default: this one's)."""
    log = open(log_path, "w")
    return subprocess.Popen(
        [sys.executable, str(script)] + [str(a) for a in args],
        cwd=str(cwd),
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    ), log


REAL_SERVER = REPO_ROOT / "deploy_real" / "server_low_level_g1_real.py"


def start_module(module, args, cwd, log_path):
    """`python -m module args` as a separate process, from any directory (the repository on PYTHONPATH)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    log = open(log_path, "w")
    return subprocess.Popen(
        [sys.executable, "-m", module] + [str(a) for a in args],
        cwd=str(cwd),
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    ), log


def stop(proc, log, timeout=60):
    """SIGINT (Ctrl-C) to a server still running, then its exit status; closes its log."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        rc = proc.wait(timeout=timeout)
    finally:
        log.close()
    return rc


def wait_for(predicate, timeout, what, poll=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(poll)
    raise AssertionError("timed out waiting for " + what)


def save_random_student(path, infos=None, record_normaliser=False, estimator_target=None):
    """A small random student checkpoint as training writes one (iteration 3), for the exporter:
    `infos` as the runner records them (the --set items), the normaliser fed random data if asked;
    with `estimator_target` (critic-obs indices) a state estimator and a critic normaliser fed random data."""
    import torch

    from rsl_rl.modules import ActorCriticMimic
    from rsl_rl.utils.normalizer import Normalizer

    cfg = dict(
        num_observations=1155,
        num_critic_observations=1318,
        num_motion_observations=31,
        num_motion_steps=1,
        num_actions=23,
    )
    torch.manual_seed(0)
    normalizer = Normalizer(1155)
    if record_normaliser:
        normalizer.record(torch.randn(64, 1155) * 2.0 + 0.5)
        normalizer.update()
    if estimator_target is not None:
        cfg["estimator_target"] = list(estimator_target)
    ckpt = {
        "model_state_dict": ActorCriticMimic(**cfg).state_dict(),
        "normalizer": normalizer.state_dict(),
        "policy_cfg": cfg,
        "iter": 3,
    }
    if estimator_target is not None:
        critic = Normalizer(1318)
        critic.record(torch.randn(64, 1318) * 0.5 - 0.3)
        critic.update()
        ckpt["critic_normalizer"] = critic.state_dict()
    if infos is not None:
        ckpt["infos"] = infos
    torch.save(ckpt, str(path))


def sim_student_step(policy_path, **kwargs):
    """StudentStep with the sim2sim server's settings (the G1's default pose and joint order, TWIST's action
    scale 0.5 and clip 10, 0.02 s, wrist rolls within +-1 rad) on the torch engine; `kwargs` go to it."""
    from deploy_real.student_step import StudentStep
    from pose.g1_model import load_g1

    g1 = load_g1()
    return StudentStep(
        g1.default_dof_pos, g1.dof_lower, g1.dof_upper, [-1.0, -1.0], [1.0, 1.0], policy_path, engine="torch", **kwargs
    )


def real_config_copy(tmp_path, old, new):
    """A copy of the real server's default config (deploy_real/configs/g1.yaml) with the text `old`, which it
    must hold, replaced by `new`; its path."""
    from deploy_real.real_config import DEFAULT_CONFIG

    text = DEFAULT_CONFIG.read_text()
    assert old in text
    path = tmp_path / "g1.yaml"
    path.write_text(text.replace(old, new))
    return path
