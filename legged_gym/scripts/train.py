"""Train a policy (TWIST's `legged_gym/scripts/train.py`).

    python legged_gym/scripts/train.py --task g1_priv_mimic --proj_name g1_priv_mimic --exptid T1 --device cuda:0
    python legged_gym/scripts/train.py --task g1_stu_rl --proj_name g1_stu_rl --exptid S1 --teacher_exptid T1 --device cuda:0

Logs (checkpoints `model_<it>.pt`, TensorBoard events) go to `legged_gym/logs/<proj_name>/<exptid>/`
(or `$LEGGED_GYM_LOG_DIR/<proj_name>/<exptid>/`). `--resumeid X [--resume_proj_name P] [--checkpoint N]`
continues run X (weights, optimiser, normalisers, iteration, env counters). Student tasks distil
from `<log root>/<teacher_proj_name>/<teacher_exptid>/model_<teacher_checkpoint>.pt`. Without
`--motion_file` the embedded motion set is used. Training is always headless. `--debug`: 32 envs
unless --num_envs is given, no wandb, tracebacks for every error (else a user mistake, such as a
missing file or CUDA asked for without a GPU, ends with one line on stderr and exit status 1).
`--eval_student`: students train by PPO alone (DAgger coefficient 0).
"""
from __future__ import annotations

import os
import sys

if __package__ in (None, ""):  # run as a file: make `legged_gym.scripts` importable from any cwd
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import legged_gym.scripts.isaacgym_first  # noqa: F401,E402  (before torch)
from legged_gym.gym_utils.helpers import (DEBUG_NUM_ENVS, UsageError, check_device, check_motion_file,  # noqa: E402
                                          experiment_dir, get_args, run_script)
from legged_gym.gym_utils.task_registry import task_registry  # noqa: E402


def remove_if_empty(folder: str) -> None:
    """Remove `folder` when it exists and holds nothing (a run that failed before writing anything)."""
    try:
        os.rmdir(folder)  # only succeeds on an empty folder
    except OSError:
        pass


def header_line(args, env) -> str:
    motion_lib = getattr(env, "_motion_lib", None)
    motions = motion_lib.num_motions() if motion_lib is not None else "?"
    return "Training {}: backend {}, device {}, {} envs, {} motions -> {}".format(
        args.task, args.sim, args.device, env.num_envs, motions, experiment_dir(args.proj_name, args.exptid))


def train(args) -> None:
    args.headless = True  # TWIST: training never opens a viewer
    if not args.exptid:
        raise UsageError("--exptid is required (logs go to {})".format(experiment_dir(args.proj_name, "<exptid>")))
    if args.debug and args.num_envs is None:
        args.num_envs = DEBUG_NUM_ENVS  # TWIST's --debug: few envs (wandb off: update_train_cfg_from_args)
    check_device(args.device)
    check_motion_file(args.motion_file)
    task_registry.ensure_registered(args.task)
    try:
        _, train_cfg = task_registry.get_cfgs(args.task)
    except KeyError as e:  # UnknownTaskError: names the registered tasks
        raise UsageError("--task {}".format(e)) from e
    student = getattr(train_cfg, "runner_class_name", "") == "OnPolicyDaggerRunner"
    if args.eval_student and not student:
        raise UsageError("--eval_student: task {!r} has no teacher (only student tasks such as g1_stu_rl train "
                         "with a DAgger term)".format(args.task))
    # Fail before building anything when a checkpoint to read is missing.
    try:
        if student:
            task_registry.teacher_checkpoint(args)
        task_registry.resume_checkpoint(args)
    except (FileNotFoundError, ValueError) as e:
        raise UsageError(str(e)) from e
    # The run folder is made by the runner once the env and runner were built (its first TensorBoard
    # event or checkpoint); a start that fails later than that still leaves no empty folder behind.
    log_dir = experiment_dir(args.proj_name, args.exptid)
    existed = os.path.isdir(log_dir)
    try:
        env, _ = task_registry.make_env(name=args.task, args=args)
        print(header_line(args, env))
        runner, train_cfg = task_registry.make_alg_runner(env=env, name=args.task, args=args, train_cfg=train_cfg)
        runner.learn(num_learning_iterations=int(train_cfg.runner.max_iterations), init_at_random_ep_len=True)
    except BaseException:
        if not existed:
            remove_if_empty(log_dir)
        raise


def main(argv=None) -> None:
    run_script("train.py", train, get_args(argv, description=__doc__.splitlines()[0]))


if __name__ == "__main__":
    main()
