"""read_checkpoint: the one reader of training checkpoints (`model_<iteration>.pt`), this project's and TWIST's.

Every file is read with torch.load(weights_only=True): tensors and plain values only (numpy scalars and
arrays of numbers, booleans or text among them: `numpy_globals`), no code from the file runs. A checkpoint
of TWIST's own rsl_rl runner is recognised by its parameter names and converted in memory to this
project's format (docs/learning.md, Checkpoints and resume):

- TWIST pickles its observation normalisers as `rsl_rl.utils.normalizer.Normalizer` module objects. The
  load maps that class name to `TwistNormalizer`, a plain stand-in that only receives the pickled
  attributes (torch.serialization.safe_globals with a (class, name) pair, torch >= 2.6; on an older torch,
  as TWIST's Python 3.8 and the Isaac Gym backend have (at most 2.4), a file weights_only refuses is read
  again through `RestrictedUnpickler`, which resolves that name and the globals a tensor file needs and
  refuses every other), and each becomes a state dict of this project's `Normalizer` (count, running
  mean and mean of squares, mean, std);
- TWIST's ActorCriticMimic names (`actor.actor_backbone.*`, `critic_motion_encoder.*`, ...) are renamed
  to this project's (`TWIST_RENAMES`; the same shapes and computation);
- `policy_cfg` (the network's sizes) is read off the weights' shapes; the activation is not in the file:
  the default, SiLU, TWIST's G1 value;
- a student's `critic_normalizer` is dropped: TWIST's DAgger runner saves one but normalises the critic's
  input with its teacher's normaliser, as this project's runner does (its copy of the teacher's stays);
- the iteration is the one in the file name `model_<N>.pt` when larger than "iter" (TWIST's load reads
  the name; its "iter" is often 0), and without env counters in the file, global_counter and
  total_env_steps_counter are N x 24, as TWIST's load sets them (common_step_counter stays as it is).

A file that is not a readable checkpoint raises CheckpointError naming it (truncated or corrupt, an
exported model, Python objects other than tensors and plain values).
"""

from __future__ import annotations

import codecs
import functools
import math
import os
import pickle
import re
import zipfile
from collections import OrderedDict
from typing import Any, Dict, List, Tuple

import torch

from rsl_rl.modules.actor_critic_mimic import CONV_STACKS
from rsl_rl.utils.normalizer import EPS

#: The class name TWIST's checkpoints pickle their normalisers under.
TWIST_NORMALIZER = "rsl_rl.utils.normalizer.Normalizer"

#: TWIST's env steps per iteration, by which its load sets the env counters (N x 24).
TWIST_STEPS_PER_ITERATION = 24

#: Parameter name prefixes of TWIST's ActorCriticMimic -> this project's (first match).
TWIST_RENAMES = (
    ("actor.motion_encoder.encoder.", "actor.motion_encoder.frame_proj."),
    ("actor.motion_encoder.conv_layers.", "actor.motion_encoder.temporal."),
    ("actor.motion_encoder.linear_output.", "actor.motion_encoder.out."),
    ("actor.actor_backbone.", "actor.backbone."),
    ("critic_motion_encoder.encoder.", "critic.motion_encoder.frame_proj."),
    ("critic_motion_encoder.conv_layers.", "critic.motion_encoder.temporal."),
    ("critic_motion_encoder.linear_output.", "critic.motion_encoder.out."),
    ("critic.", "critic.backbone."),
)

#: Entries every consumer of a checkpoint reads.
REQUIRED = ("model_state_dict", "normalizer")

#: The first torch whose safe_globals takes (class, "module.name") pairs.
SAFE_GLOBALS_MIN_TORCH = (2, 6)


class CheckpointError(ValueError):
    """A file that cannot be read as a training checkpoint; the message names the file and what it is."""


class TwistNormalizer:
    """Stand-in for TWIST's pickled Normalizer: the unpickler sets its attributes (`__dict__`), nothing else."""


#: The globals `RestrictedUnpickler` resolves besides TWIST's normaliser and torch's dtypes: those a file of
#: tensors, parameters and plain containers holds (torch's own weights_only loader allows these and more).
TENSOR_FILE_GLOBALS = {
    ("collections", "OrderedDict"),
    ("builtins", "set"),
    ("torch", "Size"),
    ("torch", "device"),
    ("torch", "Tensor"),
    ("torch.nn.parameter", "Parameter"),
    ("torch.serialization", "_get_layout"),
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_parameter"),
    ("torch._utils", "_rebuild_parameter_with_state"),
    ("torch._tensor", "_rebuild_from_type_v2"),
}


#: Where numpy 1 and numpy 2 pickle the rebuilders of numpy scalars and arrays (np.float64 in a checkpoint's
#: `infos`, say): both names resolve to the installed numpy's.
NUMPY_MULTIARRAY_MODULES = ("numpy.core.multiarray", "numpy._core.multiarray")


@functools.lru_cache(maxsize=None)
def numpy_globals() -> Dict[Tuple[str, str], Any]:
    """(module, name) -> object of what a pickled numpy scalar or array of numbers, booleans or text needs: the
    rebuilders, `numpy.dtype` and `numpy.ndarray` (whose states numpy sets in C) and `_codecs.encode` (protocol
    2's bytes). Object arrays are not among them: their items would need their own globals."""
    import numpy

    try:
        from numpy._core import multiarray  # numpy 2
    except ImportError:
        from numpy.core import multiarray  # type: ignore[no-redef]  # numpy 1
    found: Dict[Tuple[str, str], Any] = {("numpy", "dtype"): numpy.dtype, ("numpy", "ndarray"): numpy.ndarray}
    for module in NUMPY_MULTIARRAY_MODULES:
        found[(module, "scalar")] = multiarray.scalar
        found[(module, "_reconstruct")] = multiarray._reconstruct
    found[("_codecs", "encode")] = codecs.encode
    return found


@functools.lru_cache(maxsize=None)
def _numpy_dtype_classes() -> List[Any]:
    """The dtype classes of numbers, booleans and text (numpy >= 1.20 gives each dtype its own class, which a
    named safe_globals load must allow)."""
    import numpy

    codes = "?" + numpy.typecodes["AllInteger"] + numpy.typecodes["AllFloat"] + "SU"
    return sorted({type(numpy.dtype(c)) for c in codes} - {numpy.dtype}, key=str)


def _load_build(self) -> None:
    """The BUILD opcode (set an object's state) for a `TwistNormalizer` or an `OrderedDict` (a state dict's
    `_metadata`) made by this load, from a dict, or a numpy dtype or array made by this load (numpy sets
    their states in C): on anything else (an allowed function or class itself) it would change that object
    for the whole process."""
    import numpy

    state, inst = self.stack[-1], self.stack[-2]
    allowed = (
        (type(inst) in (TwistNormalizer, OrderedDict) and isinstance(state, dict))
        or isinstance(inst, numpy.dtype)
        or (  # an array's state: (version, shape, dtype, fortran order, data); no object arrays
            isinstance(inst, numpy.ndarray)
            and isinstance(state, tuple)
            and len(state) == 5
            and isinstance(state[2], numpy.dtype)
            and not state[2].hasobject
        )
    )
    if not allowed:
        raise pickle.UnpicklingError("BUILD of a {} was not allowed".format(type(inst).__name__))
    pickle._Unpickler.dispatch[pickle.BUILD[0]](self)  # type: ignore[attr-defined]


class RestrictedUnpickler(pickle._Unpickler):  # type: ignore[name-defined]
    """An unpickler for a torch older than 2.6 (no named safe_globals): TWIST's normaliser class becomes
    `TwistNormalizer`, torch's dtypes and `TENSOR_FILE_GLOBALS` resolve, every other global is refused, and
    only a `TwistNormalizer` or an `OrderedDict` made by the load gets a state set (`_load_build`: no code
    from the file runs, nothing of this process is changed). torch.load's own wrapper resolves the storage types before asking it. Python's own unpickler
    (`pickle._Unpickler`), whose opcodes can be replaced: a checkpoint's pickle is small (the tensors are
    stored apart)."""

    dispatch = dict(pickle._Unpickler.dispatch)  # type: ignore[attr-defined]
    dispatch[pickle.BUILD[0]] = _load_build

    def find_class(self, module: str, name: str) -> Any:
        if module == "__builtin__":  # Python 2's name, as protocol 2 (torch.save's) writes builtins
            module = "builtins"
        if "{}.{}".format(module, name) == TWIST_NORMALIZER:
            return TwistNormalizer
        numpy_global = numpy_globals().get((module, name))
        if numpy_global is not None:
            return numpy_global
        if (module, name) in TENSOR_FILE_GLOBALS or (
            module == "torch" and isinstance(getattr(torch, name, None), torch.dtype)
        ):
            return super().find_class(module, name)
        raise pickle.UnpicklingError("GLOBAL {}.{} was not an allowed global".format(module, name))


class _RestrictedPickle:
    """The pickle module torch's zip-file reader is given: `RestrictedUnpickler`."""

    Unpickler = RestrictedUnpickler


def _load_restricted(path: str, map_location) -> Any:
    """torch.load's own reading of a zip checkpoint, its pickle through `RestrictedUnpickler`. torch.load
    cannot be asked for it (torch 1.13 drops a `pickle_module` unless weights_only), so its reader is called:
    only on torch < 2.6, whose versions no longer change."""
    serialization: Any = torch.serialization
    with open(path, "rb") as f, serialization._open_zipfile_reader(f) as archive:
        return serialization._load(archive, map_location, _RestrictedPickle, encoding="utf-8")


def read_checkpoint(path, map_location="cpu") -> Dict[str, Any]:
    """The checkpoint at `path` in this project's format (module docstring); CheckpointError when it is not one."""
    path = str(path)
    if not os.path.isfile(path):
        raise CheckpointError("{}: no such file".format(path))
    kind = model_file_kind(path)
    if kind in ("torchscript", "onnx"):
        raise CheckpointError(
            "{}: an {} model, not a training checkpoint (model_<iteration>.pt)".format(
                path, "exported TorchScript" if kind == "torchscript" else "ONNX"
            )
        )
    try:
        ckpt = _load(path, map_location)
    except CheckpointError:
        raise
    except Exception as e:  # torch raises RuntimeError, UnpicklingError, EOFError, KeyError ... on bad files
        raise CheckpointError("{}: {}".format(path, _unreadable(e))) from None
    if not isinstance(ckpt, dict):
        raise CheckpointError(
            "{}: not a training checkpoint (holds a {}, not a dict with {})".format(
                path, type(ckpt).__name__, " and ".join(REQUIRED)
            )
        )
    if isinstance(ckpt.get("model_state_dict"), dict) and any(
        k.startswith("actor.actor_backbone.") for k in ckpt["model_state_dict"]
    ):
        if ckpt.get("normalizer") is None:
            raise CheckpointError(
                "{}: a checkpoint of TWIST's runner without an observation normaliser (trained with "
                "normalize_obs False; TWIST's G1 configs normalise): this project's policies always normalise their "
                "observations, so it cannot be played or resumed here".format(path)
            )
        ckpt = from_twist(ckpt, path)
    missing = [k for k in REQUIRED if ckpt.get(k) is None]
    if missing:
        raise CheckpointError(
            "{}: not a training checkpoint of this project or TWIST (no {}; has {})".format(
                path, " / ".join(missing), ", ".join(sorted(map(str, ckpt))) or "nothing"
            )
        )
    return ckpt


def _load(path: str, map_location) -> Any:
    from rsl_rl.algorithms.ppo import torch_version

    safe_globals = getattr(torch.serialization, "safe_globals", None)
    if safe_globals is None or torch_version() < SAFE_GLOBALS_MIN_TORCH:
        try:
            return torch.load(path, map_location=map_location, weights_only=True)
        except pickle.UnpicklingError:  # TWIST's pickled normaliser (torch 1.13 names no class): read again
            return _load_restricted(path, map_location)
    allowed = [(TwistNormalizer, TWIST_NORMALIZER)] + [
        (obj, "{}.{}".format(*key)) for key, obj in numpy_globals().items()
    ]
    with safe_globals(allowed + _numpy_dtype_classes()):
        return torch.load(path, map_location=map_location, weights_only=True)


def model_file_kind(path) -> str:
    """What a model file is: "checkpoint" (a torch.save archive), "torchscript" (an export), "onnx" (by its
    suffix), else "other" (not a zip archive: truncated, junk, or a pre-1.6 torch.save file)."""
    if str(path).lower().endswith(".onnx"):
        return "onnx"
    try:
        with zipfile.ZipFile(str(path)) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return "other"
    if any(n.endswith("/constants.pkl") for n in names):
        return "torchscript"
    return "checkpoint" if any(n.endswith("/data.pkl") for n in names) else "other"


def _unreadable(error: Exception) -> str:
    refused = re.search(r"GLOBAL (\S+) was not an allowed global", str(error))
    if refused:
        return "holds Python objects ({}) that a load without running code from the file refuses".format(
            refused.group(1)
        )
    refused = re.search(r"BUILD of a (\S+) was not allowed|Can only build .*, but got <class '([^']+)'>", str(error))
    if refused:
        return "sets the state of a {}, which a load without running code from the file refuses".format(
            refused.group(1) or refused.group(2)
        )
    reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return "not a readable checkpoint (truncated or corrupt?): {}".format(reason[:200])


def file_iteration(path) -> int:
    """N of a file named `model_<N>.pt`; -1 for other names."""
    m = re.fullmatch(r"model_(\d+)\.pt", os.path.basename(str(path)))
    return int(m.group(1)) if m else -1


def from_twist(ckpt: Dict[str, Any], path: str) -> Dict[str, Any]:
    """A TWIST checkpoint in this project's format (module docstring)."""
    out = dict(ckpt)
    state = OrderedDict((_rename(k), v) for k, v in ckpt["model_state_dict"].items())
    out["model_state_dict"] = state
    for key in ("normalizer", "critic_normalizer"):
        if out.get(key) is not None:
            out[key] = twist_normalizer_state(out[key], "{} {}".format(path, key))
    iteration = max(int(ckpt.get("iter") or 0), file_iteration(path))
    out["iter"] = iteration
    if not out.get("env_counters"):
        steps = iteration * TWIST_STEPS_PER_ITERATION
        out["env_counters"] = {"global_counter": steps, "total_env_steps_counter": steps}
    if not out.get("policy_cfg"):
        out["policy_cfg"] = twist_policy_cfg(state, path)
    cfg = out["policy_cfg"]
    if cfg["num_observations"] != cfg["num_critic_observations"]:
        # a student: TWIST's DAgger runner normalises its critic's (privileged) input with the teacher's
        # normaliser and saves a critic normaliser it never uses; the runner keeps its teacher's copy
        out.pop("critic_normalizer", None)
    return out


def _rename(key: str) -> str:
    for old, new in TWIST_RENAMES:
        if key.startswith(old):
            return new + key[len(old) :]
    return key


def twist_normalizer_state(obj: Any, what: str) -> Dict[str, torch.Tensor]:
    """A pickled TWIST Normalizer (a `TwistNormalizer`) as a state dict of this project's Normalizer: count,
    running_mean, running_mean_sq (TWIST's _mean_sq, or std^2 + mean^2 before its first update), mean and
    std. CheckpointError when it normalises otherwise (eps, clip)."""
    if not isinstance(obj, TwistNormalizer):
        raise CheckpointError("{}: a {}, not TWIST's pickled Normalizer".format(what, type(obj).__name__))
    values = dict(vars(obj))
    values.update(values.pop("_parameters", None) or {})  # nn.Module keeps its Parameters apart
    missing = [k for k in ("_count", "_mean", "_std") if not isinstance(values.get(k), torch.Tensor)]
    if missing:
        raise CheckpointError("{}: a TWIST normaliser without {}".format(what, " / ".join(missing)))
    eps, clip = float(values.get("_eps", EPS)), float(values.get("_clip", math.inf))
    if eps != EPS or math.isfinite(clip):
        raise CheckpointError(
            "{}: the normaliser uses eps {:g} and clip {:g}; this project's normalises with eps {:g} and no "
            "clip, as TWIST's defaults".format(what, eps, clip, EPS)
        )
    mean, std = values["_mean"].detach(), values["_std"].detach()
    mean_sq = values.get("_mean_sq")
    mean_sq = std.double() ** 2 + mean.double() ** 2 if mean_sq is None else mean_sq.detach().double()
    return {
        "count": values["_count"].detach().double().reshape(()),
        "running_mean": mean.double(),
        "running_mean_sq": mean_sq,
        "mean": mean.float(),
        "std": std.float(),
    }


def twist_policy_cfg(state: Dict[str, torch.Tensor], path: str) -> Dict[str, Any]:
    """ActorCriticMimic's sizes read off the (renamed) weights of a TWIST checkpoint."""
    try:
        actor = _branch_sizes(state, "actor.", path)
        critic = _branch_sizes(state, "critic.", path)
        num_actions = int(state["std"].shape[0])
    except KeyError as e:
        raise CheckpointError("{}: TWIST weights without {}".format(path, e.args[0])) from None
    if actor["motion"] != critic["motion"]:
        raise CheckpointError(
            "{}: actor and critic read different reference blocks {} / {}".format(
                path, actor["motion"], critic["motion"]
            )
        )
    frame_dim, steps = actor["motion"]
    return {
        "num_observations": actor["obs"],
        "num_critic_observations": critic["obs"],
        "num_motion_observations": frame_dim * steps,
        "num_motion_steps": steps,
        "num_actions": num_actions,
        "actor_hidden_dims": actor["hidden"],
        "critic_hidden_dims": critic["hidden"],
        "motion_latent_dim": actor["latent"],
        "layer_norm": actor["layer_norm"],
    }


def _indexed(state: Dict[str, torch.Tensor], prefix: str) -> List[Tuple[int, torch.Tensor]]:
    """(i, weight) of the entries `<prefix><i>.weight`, by i."""
    found = []
    for key, value in state.items():
        m = re.fullmatch(re.escape(prefix) + r"(\d+)\.weight", key)
        if m:
            found.append((int(m.group(1)), value))
    return sorted(found, key=lambda item: item[0])


def _branch_sizes(state: Dict[str, torch.Tensor], prefix: str, path: str) -> Dict[str, Any]:
    """Input width, reference block (frame size, number of frames), hidden dims, latent size and LayerNorm of the
    actor or critic (`prefix`) from its weights."""
    frame = int(state[prefix + "motion_encoder.frame_proj.0.weight"].shape[1])
    latent = int(state[prefix + "motion_encoder.out.weight"].shape[0])
    convs = tuple(
        (int(w.shape[1]), int(w.shape[0]), int(w.shape[2]))
        for _, w in _indexed(state, prefix + "motion_encoder.temporal.")
    )
    steps = [k for k, stack in CONV_STACKS.items() if tuple(layer[:3] for layer in stack) == convs]
    if len(steps) != 1:
        raise CheckpointError(
            "{}: {}motion_encoder convolutions {} fit no known frame count".format(path, prefix, convs)
        )
    layers = _indexed(state, prefix + "backbone.")
    linear = [w for _, w in layers if w.dim() == 2]
    if not linear:
        raise KeyError(prefix + "backbone.0.weight")
    return {
        "obs": int(linear[0].shape[1]) - frame - latent + steps[0] * frame,
        "motion": (frame, steps[0]),
        "hidden": [int(w.shape[0]) for w in linear[:-1]],
        "latent": latent,
        "layer_norm": any(w.dim() == 1 for _, w in layers),
    }
