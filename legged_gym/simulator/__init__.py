"""Simulator backends behind one interface (`base.SimBackend`).

    from legged_gym.simulator import make_backend, default_backend_name
    sim = make_backend(default_backend_name(), num_envs=4096, device="cuda:0")

Backends are imported lazily, only when asked for: `mjwarp` needs MuJoCo Warp (Python >= 3.11),
`isaacgym` needs Isaac Gym Preview 4 (Python 3.8), and a machine usually has only one of them.
Isaac Gym refuses to import after torch, so a script that wants it must `import isaacgym` before
torch (as TWIST's scripts do); this module imports no torch itself until a backend or `SimBackend` /
`SimConfig` is asked for.
"""

import importlib
import importlib.util
import sys
import warnings

# name -> (module, class)
_BACKENDS = {
    "mjwarp": ("legged_gym.simulator.mjwarp_backend", "MjWarpBackend"),
    "isaacgym": ("legged_gym.simulator.isaacgym_backend", "IsaacGymBackend"),
}
_REQUIRES = {"mjwarp": "mujoco_warp", "isaacgym": "isaacgym"}

__all__ = ["SimBackend", "SimConfig", "make_backend", "available_backends", "default_backend_name", "backend_names"]


def __getattr__(name):  # PEP 562: keep `import legged_gym.simulator` free of torch
    if name in ("SimBackend", "SimConfig"):
        from legged_gym.simulator import base

        return getattr(base, name)
    raise AttributeError("module {!r} has no attribute {!r}".format(__name__, name))


def backend_names():
    """Every backend this project knows, available here or not."""
    return tuple(_BACKENDS)


def _isaacgym_importable():
    if "isaacgym" in sys.modules:
        return True
    if importlib.util.find_spec("isaacgym") is None:
        return False
    if "torch" in sys.modules:
        # Isaac Gym is installed but cannot be imported any more in this process (torch came first).
        return False
    try:
        importlib.import_module("isaacgym")
        return True
    except Exception:
        return False


def _importable(name):
    if name == "isaacgym":
        return _isaacgym_importable()
    try:
        importlib.import_module(_REQUIRES[name])
        return True
    except Exception:
        return False


def available_backends():
    """Names of the backends whose simulator imports in this process."""
    return [n for n in _BACKENDS if _importable(n)]


def default_backend_name():
    """`isaacgym` when `import isaacgym` works (or already happened), else `mjwarp`."""
    if _isaacgym_importable():
        return "isaacgym"
    if importlib.util.find_spec("isaacgym") is not None and "torch" in sys.modules:
        if importlib.util.find_spec("mujoco_warp") is None:
            return "isaacgym"  # make_backend will name the import-order problem
        warnings.warn(
            "Isaac Gym is installed but torch was imported first, so it cannot be imported; "
            "using mjwarp (import isaacgym before torch to use it)"
        )
    return "mjwarp"


def make_backend(name, num_envs, device, cfg=None, **kwargs):
    """Build backend `name` with `num_envs` worlds on `device` (`cfg`: a `SimConfig`).

    Extra keyword arguments go to the backend class (e.g. mjwarp's `njmax`, `nconmax`)."""
    if name not in _BACKENDS:
        raise ValueError("unknown simulator backend {!r}; choose one of {}".format(name, ", ".join(_BACKENDS)))
    module_name, class_name = _BACKENDS[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        hint = {
            "mjwarp": "install mujoco-warp (Python >= 3.11: pip install -e .)",
            "isaacgym": "install Isaac Gym Preview 4 (Python 3.8) and import isaacgym before torch",
        }[name]
        raise ImportError("simulator backend {!r} is not available: {} ({})".format(name, e, hint)) from e
    return getattr(module, class_name)(num_envs, device, cfg, **kwargs)
