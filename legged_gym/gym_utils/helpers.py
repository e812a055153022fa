"""Command line, seeding and config helpers of the training scripts (TWIST's `helpers.py` names).

The CLI keeps TWIST's flags that still mean something here, plus `--sim` to pick the
simulator backend and `--motion_file` to train on a dataset instead of the embedded motion set.
"""

from __future__ import annotations

import argparse
import os
import random
import re
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np
import torch

from legged_gym import LEGGED_GYM_ROOT_DIR as LEGGED_GYM_ROOT_DIR  # TWIST's name here
from legged_gym.utils import class_to_dict as class_to_dict  # TWIST's name here

#: Root of the training logs: `legged_gym/logs`, or the folder named by the environment variable
#: LEGGED_GYM_LOG_DIR (tests and users who keep logs elsewhere). Runs live in
#: `<log root>/<proj_name>/<exptid>/`, play videos in `<log root>/videos/`.
LEGGED_GYM_LOG_DIR = os.environ.get("LEGGED_GYM_LOG_DIR") or os.path.join(LEGGED_GYM_ROOT_DIR, "logs")


def log_root() -> str:
    """The log root now (LEGGED_GYM_LOG_DIR read at call time, so a process may change it)."""
    return os.path.abspath(os.environ.get("LEGGED_GYM_LOG_DIR") or os.path.join(LEGGED_GYM_ROOT_DIR, "logs"))


def experiment_dir(proj_name: str, exptid: str) -> str:
    """`<log root>/<proj_name>/<exptid>`: the folder of one experiment (checkpoints, TensorBoard)."""
    return os.path.join(log_root(), str(proj_name), str(exptid))


SIM_CHOICES = ("mjwarp", "isaacgym")

#: Number of envs of `--debug` training when --num_envs is not given.
DEBUG_NUM_ENVS = 32

#: Motion formats that pose.convert (or a retargeter) must turn into a TWIST clip before training.
UNCONVERTED_SUFFIXES = (".csv", ".bvh", ".fbx")
MOTION_SUFFIXES = (".yaml", ".yml", ".pkl", ".npz")


class UsageError(Exception):
    """A mistake in the command line or in the files it names. The scripts print the message as one
    line and exit with status 1 (`run_script`); `--debug` shows the traceback instead."""


def default_sim() -> str:
    """isaacgym when it imports, else mjwarp (docs/decisions.md D1)."""
    from legged_gym.simulator import default_backend_name

    return default_backend_name()


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a positive integer, got {!r}".format(text)) from None
    if value < 1:
        raise argparse.ArgumentTypeError("expected a positive integer, got {}".format(value))
    return value


def build_parser(description: str = "") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    a = p.add_argument
    a("--task", default="g1_priv_mimic", help="registered task name (g1_priv_mimic, g1_stu_rl, ...)")
    a(
        "--sim",
        choices=SIM_CHOICES,
        default=None,
        help="simulator backend (default: isaacgym when importable, else mjwarp)",
    )
    a("--proj_name", default=None, help="log project folder (default: the task name)")
    a("--exptid", default=None, help="experiment id: logs go to legged_gym/logs/<proj_name>/<exptid>/")
    a("--device", default=None, help="device for simulation and learning, e.g. cuda:0 or cpu")
    a("--num_envs", type=positive_int, default=None)
    a("--seed", type=int, default=None)
    a("--max_iterations", type=int, default=None)
    a("--resume", action="store_true", help="resume from --resumeid (or this experiment)")
    a("--resumeid", default=None, help="experiment id to resume from")
    a("--resume_proj_name", default=None, help="project of --resumeid (default: --proj_name)")
    a("--checkpoint", type=int, default=-1, help="checkpoint iteration to load (-1: latest)")
    a("--headless", action="store_true", help="no viewer")
    a("--teacher_exptid", default=None, help="teacher experiment id (student tasks)")
    a("--teacher_proj_name", default="g1_priv_mimic", help="teacher project (student tasks)")
    a("--teacher_checkpoint", type=int, default=-1)
    a("--motion_file", default=None, help="motion manifest (.yaml) or clip; default: the embedded motion set")
    a(
        "--cmg_model",
        default=None,
        metavar="PATH",
        help="CMG tasks (g1_cmg_*, g1_stu_rl_cmg_*): the CMG checkpoint or run folder that generates the references "
        "(default: the shipped assets/cmg/cmg.pt); sets motion.cmg_model",
    )
    a("--no_rand", action="store_true", help="turn every randomisation off")
    a("--fix_action_std", action="store_true")
    a("--use_jit", action="store_true", help="play: run the exported TorchScript model")
    a(
        "--policy_path",
        default=None,
        metavar="FILE",
        help="play/eval: run this exported TorchScript model (e.g. the shipped assets/twist_general_motion_tracker.pt) "
        "instead of a run's newest export; implies --use_jit, needs no --exptid",
    )
    a("--record_video", action="store_true", help="play: write an mp4")
    a("--record_log", action="store_true", help="play: write per-step JSON logs")
    a(
        "--eval_student",
        action="store_true",
        help="student tasks: train the student by pure PPO, without the teacher's DAgger (KL) term "
        "(DAgger coefficient 0; the teacher is still loaded: the critic reads its normaliser)",
    )
    a(
        "--allow_teacher_change",
        action="store_true",
        help="student tasks: resume a student checkpoint against a teacher other than the one it was trained with",
    )
    a(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="GROUP.NAME=VALUE",
        help="change a setting of the task's env or train config, e.g. --set motion.adaptive_sampling=true "
        "--set algorithm.learning_rate=1e-4 (repeatable; legged_gym/gym_utils/cfg_override.py)",
    )
    a(
        "--set_file",
        dest="set_files",
        action="append",
        default=[],
        metavar="FILE.yaml",
        help="many --set items at once: a YAML mapping of GROUP.NAME: VALUE, read before the --set items "
        "(repeatable; recipes in legged_gym/recipes/)",
    )
    a("--wandb", action="store_true", help="also log to wandb (TensorBoard is always on)")
    a("--no_wandb", action="store_true", help="TWIST's flag: no wandb (the default here; wins over --wandb)")
    a(
        "--rl_device",
        default=None,
        metavar="DEVICE",
        help="TWIST's flag, ignored here: --device is the device of simulation and learning",
    )
    a(
        "--debug",
        action="store_true",
        help="train with {} envs unless --num_envs is given, no wandb, and full tracebacks for every error".format(
            DEBUG_NUM_ENVS
        ),
    )
    return p


def get_args(
    argv: Optional[Sequence[str]] = None, description: str = "", parser: Optional[argparse.ArgumentParser] = None
) -> argparse.Namespace:
    """Parse TWIST's flags (`argv`, default sys.argv); `parser`: a `build_parser()` with script extras."""
    parser = parser or build_parser(description)
    args = parser.parse_args(argv)
    if getattr(args, "set_files", None):
        from legged_gym.gym_utils.cfg_override import OverrideError, read_set_file

        try:
            from_files = [item for path in args.set_files for item in read_set_file(path)]
        except OverrideError as e:
            parser.error(str(e))
        args.overrides = from_files + list(args.overrides or [])
    if getattr(args, "cmg_model", None) is not None:
        cmg_model_override(parser, args)
    if getattr(args, "policy_path", None):
        args.use_jit = True
    if args.sim is None:
        args.sim = default_sim()
    if args.proj_name is None:
        args.proj_name = args.task  # docs/decisions.md D5: the project defaults to the task name
    if args.device is None:
        args.device = "cuda:0" if torch.cuda.is_available() else "cpu"
    if args.rl_device is not None:
        print(
            "Note: --rl_device {} is ignored: --device {} runs simulation and learning".format(
                args.rl_device, args.device
            )
        )
    return args


def cmg_model_override(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """--cmg_model PATH: checked (an existing file or folder, a task that has the setting) and applied as
    the first `--set motion.cmg_model=PATH`, so it reaches the env config like any setting."""
    import json

    path = args.cmg_model
    if not os.path.exists(path):
        parser.error(
            "--cmg_model {}: no such file or folder (a CMG checkpoint, or a run folder of "
            "python -m cmg_workspace.train)".format(path)
        )
    from legged_gym.gym_utils.task_registry import task_registry

    def uses_cmg(task: str) -> bool:
        return hasattr(getattr(task_registry.get(task).env_cfg_class, "motion", None), "cmg_model")

    try:
        task_registry.ensure_registered(args.task)
        cmg_task = uses_cmg(args.task)
    except KeyError:
        return  # an unknown task is reported where the task is built
    if not cmg_task:
        cmg = [n for n in task_registry.task_names if uses_cmg(n)]
        parser.error("--cmg_model: task {!r} does not use the CMG (CMG tasks: {})".format(args.task, ", ".join(cmg)))
    args.overrides = ["motion.cmg_model={}".format(json.dumps(os.path.abspath(path)))] + list(args.overrides or [])


def set_seed(seed: int) -> int:
    """Seed Python, NumPy and torch (CPU and CUDA); seed -1 draws one in [0, 10000)."""
    if seed == -1:
        seed = np.random.randint(0, 10000)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    torch.cuda.manual_seed_all(seed)
    return seed


def update_train_cfg_from_args(train_cfg, args):
    """Apply the CLI to a train config (TWIST's `update_cfg_from_args`, learner half), in place.

    --seed, --max_iterations, --fix_action_std, --checkpoint (and --resume / --resumeid mark it resumed),
    --wandb (also log to wandb; run name = --exptid, TensorBoard is always on), --debug and --no_wandb
    (wandb off).
    """
    if getattr(args, "seed", None) is not None:
        train_cfg.seed = int(args.seed)
    if getattr(args, "max_iterations", None) is not None:
        train_cfg.runner.max_iterations = int(args.max_iterations)
    if getattr(args, "fix_action_std", False):
        train_cfg.policy.fix_action_std = True
    if getattr(args, "resume", False) or getattr(args, "resumeid", None):
        train_cfg.runner.resume = True
    if getattr(args, "checkpoint", None) is not None:
        train_cfg.runner.checkpoint = int(args.checkpoint)
    if getattr(args, "wandb", False):
        train_cfg.runner.wandb = True
    if getattr(args, "debug", False) or getattr(args, "no_wandb", False):
        train_cfg.runner.wandb = False  # TWIST's --debug and --no_wandb: no wandb
    if getattr(args, "exptid", None):
        train_cfg.runner.run_name = str(args.exptid)
    return train_cfg


def checkpoint_files(run_dir) -> List[str]:
    """`model_<it>.pt` files of a run, oldest first (TWIST sorts names zero-padded to 15 chars)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError("{}: run folder does not exist".format(run_dir))
    files = [f.name for f in run_dir.iterdir() if f.name.startswith("model_") and f.name.endswith(".pt")]
    return sorted(files, key=lambda n: n.zfill(15))


def resolve_checkpoint(run_dir, checkpoint: int = -1) -> Path:
    """Path of checkpoint `checkpoint` (-1: latest) in `run_dir`, with an error naming what exists."""
    files = checkpoint_files(run_dir)
    if not files:
        raise FileNotFoundError("{}: no model_<iteration>.pt checkpoint in this folder".format(run_dir))
    name = files[-1] if checkpoint == -1 else "model_{}.pt".format(checkpoint)
    path = Path(run_dir) / name
    if not path.is_file():
        raise FileNotFoundError("{}: no checkpoint {} (have: {})".format(run_dir, name, ", ".join(files)))
    return path


def checkpoint_iteration(path) -> int:
    """The iteration in a checkpoint's name (`model_<it>.pt`, `<exptid>-<it>-jit.pt`); -1 when it has none."""
    m = re.search(r"(?:model_|-)(\d+)(?:-jit)?\.pt$", Path(path).name)
    return int(m.group(1)) if m else -1


def check_device(device) -> None:
    """UsageError for a --device this machine cannot run on (CUDA asked for but unavailable, ...)."""
    try:
        dev = torch.device(str(device))
    except (RuntimeError, ValueError):
        raise UsageError("--device {}: not a device name (use e.g. cuda:0 or cpu)".format(device)) from None
    if dev.type != "cuda":
        return
    if not torch.cuda.is_available():
        raise UsageError("--device {}: CUDA is not available on this machine; use --device cpu".format(device))
    if dev.index is not None and dev.index >= torch.cuda.device_count():
        raise UsageError(
            "--device {}: this machine has {} CUDA device(s) (cuda:0 to cuda:{})".format(
                device, torch.cuda.device_count(), torch.cuda.device_count() - 1
            )
        )


def check_sim(sim) -> None:
    """UsageError for a --sim whose simulator does not import on this machine."""
    from legged_gym.simulator import available_backends

    available = available_backends()
    if sim not in available:
        raise UsageError(
            "--sim {}: its simulator does not import on this machine; {}".format(
                sim, "use " + " or ".join("--sim " + n for n in available) if available else "none does"
            )
        )


def check_motion_file(motion_file) -> None:
    """UsageError for a --motion_file that cannot be trained on as given: an unconverted format, a
    missing path, a folder. The content of a manifest or clip is checked when the env loads it
    (pose.formats.MotionFileError)."""
    if motion_file is None:
        return
    path = Path(motion_file)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        raise UsageError(
            "--motion_file {}: a .csv motion must be converted first: python -m pose.convert {} "
            "<clip.pkl or folder> (then pass the clip or the folder's manifest.yaml)".format(motion_file, motion_file)
        )
    if suffix in UNCONVERTED_SUFFIXES:
        raise UsageError(
            "--motion_file {}: {} files are not G1 motions; retarget it to the G1 first, then convert "
            "the result with python -m pose.convert SRC DST".format(motion_file, suffix)
        )
    if path.is_dir():
        raise UsageError(
            "--motion_file {}: is a folder; pass its manifest (.yaml), e.g. the manifest.yaml "
            "that python -m pose.convert SRC DST writes into DST".format(motion_file)
        )
    if not path.is_file():
        raise UsageError("--motion_file {}: no such file".format(motion_file))
    if suffix not in MOTION_SUFFIXES:
        raise UsageError(
            "--motion_file {}: unknown format {!r}: expected a manifest (.yaml) or a clip (.pkl, .npz); "
            "convert other motions first with python -m pose.convert SRC DST".format(motion_file, suffix or path.name)
        )


def user_errors() -> tuple:
    """Exception classes that mean a user mistake (printed as one line by `run_script`)."""
    from legged_gym.gym_utils.cfg_override import OverrideError
    from pose.formats import MotionFileError
    from rsl_rl.runners.on_policy_dagger_runner import TeacherMismatchError
    from rsl_rl.utils.checkpoint import CheckpointError

    return (UsageError, MotionFileError, TeacherMismatchError, OverrideError, CheckpointError)


def one_line(message) -> str:
    return " ".join(part.strip() for part in str(message).splitlines() if part.strip())


def run_script(name: str, main, args):
    """`main(args)`; a user mistake (`user_errors()`) ends the process with `<name>: <message>` on one
    line of stderr and exit status 1, without a traceback unless --debug. Other exceptions (bugs)
    keep their traceback."""
    try:
        return main(args)
    except user_errors() as e:
        if getattr(args, "debug", False):
            raise
        raise SystemExit("{}: {}".format(name, one_line(e))) from None


def trained_set_items(ckpt: dict) -> List[str]:
    """The --set items a checkpoint's run was trained with (train.py records them in its "infos");
    [] for TWIST's checkpoints (infos None)."""
    infos = ckpt.get("infos")
    return list((infos.get("set") if isinstance(infos, dict) else None) or [])


def trained_task(ckpt: dict) -> Optional[str]:
    """The task a checkpoint's run was trained on (train.py records it in its "infos" since 2026-12-05); None
    for older checkpoints and TWIST's."""
    infos = ckpt.get("infos")
    task = infos.get("task") if isinstance(infos, dict) else None
    return task if isinstance(task, str) else None


def warn_unrepeated_settings(checkpoint, args, advice: str = "add them to play the policy as trained") -> None:
    """`warn_unrepeated_items` for the env --set items the checkpoint's run was trained with (train.py
    records them in its "infos")."""
    from rsl_rl.utils.checkpoint import read_checkpoint

    trained = trained_set_items(read_checkpoint(checkpoint))
    warn_unrepeated_items(trained, args, "{} was trained".format(checkpoint), advice)


def warn_unrepeated_items(
    trained: Sequence[str], args, subject: str, advice: str = "add them to play the policy as trained"
) -> None:
    """Print a warning naming the env settings among the --set items `trained` that this command (task
    `args.task` with `args.overrides`) leaves at another value (`cfg_override.unrepeated_env_items`): the
    policy then sees other observations than in training (e.g. motion.ref_correction). `subject` says whose
    settings they are ("<checkpoint> was trained")."""
    from legged_gym.gym_utils.cfg_override import set_flags, unrepeated_env_items
    from legged_gym.gym_utils.task_registry import task_registry

    env_cfg, _ = task_registry.get_cfgs(args.task)
    missing = unrepeated_env_items(trained, getattr(args, "overrides", None) or [], env_cfg)
    if missing:
        print(
            "WARNING: {} with {}; this command does not repeat them (absent or another value): {}.".format(
                subject, set_flags(missing), advice
            ),
            flush=True,
        )
