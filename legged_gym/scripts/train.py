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
`--eval_student`: students train by PPO alone (DAgger coefficient 0). A start into a run folder that
already holds checkpoints stops unless it resumes that run (--resume, --resumeid <exptid>) or
`--reuse_exptid` is given. Checkpoints of TWIST's own runner are read as well (resume, teacher).

Several GPUs (data-parallel; `--num_envs` envs per GPU, rank 0 logs and saves):

    torchrun --standalone --nproc_per_node 2 legged_gym/scripts/train.py --task g1_priv_mimic --exptid T1 \\
        --device cuda --multi_gpu

(or `NPROC=2 bash train_teacher.sh T1 cuda --multi_gpu`). Each process trains on cuda:LOCAL_RANK (gloo
on the CPU with `--device cpu`) with the seed + its rank; see rsl_rl/utils/distributed.py.
"""

from __future__ import annotations

import os
import sys

if __package__ in (None, ""):  # run as a file: make `legged_gym.scripts` importable from any cwd
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import legged_gym.scripts.isaacgym_first  # noqa: F401,E402  (before torch)
from legged_gym.gym_utils.helpers import (
    DEBUG_NUM_ENVS,
    UsageError,
    build_parser,
    check_device,  # noqa: E402
    check_motion_file,
    check_sim,
    checkpoint_files,
    experiment_dir,
    get_args,
    run_script,
    warn_unrepeated_settings,
)
from legged_gym.gym_utils.task_registry import task_registry  # noqa: E402


def remove_if_empty(folder: str) -> None:
    """Remove `folder` when it exists and holds nothing (a run that failed before writing anything)."""
    try:
        os.rmdir(folder)  # only succeeds on an empty folder
    except OSError:
        pass


def check_run_folder(args, resume_path) -> None:
    """UsageError when the run folder already holds checkpoints and this start does not continue from
    one of them (--resume, or --resumeid of this run): a new run there would overwrite some and keep
    others, and its latest checkpoint could be the old run's. --reuse_exptid allows it."""
    log_dir = experiment_dir(args.proj_name, args.exptid)
    existing = checkpoint_files(log_dir) if os.path.isdir(log_dir) else []
    if not existing or args.reuse_exptid:
        return
    if resume_path is not None and os.path.samefile(os.path.dirname(str(resume_path)), log_dir):
        return
    listed = ", ".join(existing) if len(existing) <= 3 else "{}, ..., {}".format(existing[0], existing[-1])
    raise UsageError(
        "{} already holds the checkpoints of a run ({}): pick a new --exptid, continue that run with --resume "
        "(or --resumeid {}), or pass --reuse_exptid to train into it anyway".format(log_dir, listed, args.exptid)
    )


def header_line(args, env) -> str:
    motion_lib = getattr(env, "_motion_lib", None)
    motions = motion_lib.num_motions() if motion_lib is not None else "?"
    line = "Training {}: backend {}, device {}, {} envs, {} motions -> {}".format(
        args.task, args.sim, args.device, env.num_envs, motions, experiment_dir(args.proj_name, args.exptid)
    )
    if getattr(args, "multi_gpu", False):
        from rsl_rl.utils import distributed

        line += " (data-parallel: {} processes x {} envs, {})".format(
            distributed.world_size(), env.num_envs, "nccl" if str(args.device).startswith("cuda") else "gloo"
        )
    return line


def data_parallel_setup(args) -> int:
    """--multi_gpu: check that torchrun started this process and set this rank's device
    (cuda:LOCAL_RANK, or the CPU); returns the rank. Without --multi_gpu: refuse a torchrun start of
    several processes (they would each train alone into the same run folder); returns 0."""
    from rsl_rl.utils import distributed

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if not getattr(args, "multi_gpu", False):
        if world > 1:
            raise UsageError(
                "started by torchrun with {} processes: add --multi_gpu to train data-parallel".format(world)
            )
        return 0
    if not distributed.launched_by_torchrun():
        raise UsageError(
            "--multi_gpu: start train.py with torchrun, e.g. torchrun --standalone --nproc_per_node 2 "
            "legged_gym/scripts/train.py ... --multi_gpu (or NPROC=2 bash train_teacher.sh ... "
            "--multi_gpu)"
        )
    check_device(args.device)  # the device type asked for exists (cuda, cpu)
    args.device = distributed.rank_device(args.device)
    return int(os.environ["RANK"])


def train(args) -> None:
    args.headless = True  # TWIST: training never opens a viewer
    if not args.exptid:
        raise UsageError("--exptid is required (logs go to {})".format(experiment_dir(args.proj_name, "<exptid>")))
    if args.debug and args.num_envs is None:
        args.num_envs = DEBUG_NUM_ENVS  # TWIST's --debug: few envs (wandb off: update_train_cfg_from_args)
    rank = data_parallel_setup(args)
    check_device(args.device)
    check_sim(args.sim)
    check_motion_file(args.motion_file)
    task_registry.ensure_registered(args.task)
    try:
        _, train_cfg = task_registry.get_cfgs(args.task)
    except KeyError as e:  # UnknownTaskError: names the registered tasks
        raise UsageError("--task {}".format(e)) from e
    student = getattr(train_cfg, "runner_class_name", "") == "OnPolicyDaggerRunner"
    if args.eval_student and not student:
        raise UsageError(
            "--eval_student: task {!r} has no teacher (only student tasks such as g1_stu_rl train "
            "with a DAgger term)".format(args.task)
        )
    # Fail before building anything when a checkpoint to read is missing, unreadable or of another task.
    try:
        teacher = task_registry.teacher_checkpoint(args) if student else None
        resume = task_registry.resume_checkpoint(args)
    except (FileNotFoundError, ValueError) as e:
        raise UsageError(str(e)) from e
    if resume is not None:
        task_registry.check_checkpoint(resume, args)
    check_run_folder(args, resume)
    if teacher is not None:
        task_registry.check_checkpoint(teacher, args, teacher=True)
        warn_unrepeated_settings(
            teacher,
            args,
            "the teacher would see other observations than in its training; add them to distil it as trained",
        )
    if getattr(args, "multi_gpu", False):
        train_data_parallel(args, train_cfg, rank)
        return
    build_and_learn(args, train_cfg)


def rank_seed(seed: int, rank: int) -> int:
    """The seed of rank `rank` of a data-parallel run of seed `seed`: seed + rank (-1, a seed drawn
    at random, stays -1: every rank draws its own)."""
    return -1 if int(seed) == -1 else int(seed) + int(rank)


def train_data_parallel(args, train_cfg, rank: int) -> None:
    """One rank of a torchrun start: its seed is the run's seed + rank (a seed of -1 draws one per
    rank), its console output goes nowhere unless it is rank 0 (or --debug), and the process group
    lives as long as the training."""
    from rsl_rl.utils import distributed

    args.seed = rank_seed(args.seed if args.seed is not None else int(getattr(train_cfg, "seed", 1)), rank)
    stdout = sys.stdout
    if rank != 0 and not args.debug:
        sys.stdout = open(os.devnull, "w")
    try:
        distributed.init_process_group(args.device)
        build_and_learn(args, train_cfg, main_process=rank == 0)
        distributed.barrier()  # no rank leaves while another still finishes a collective (gloo aborts then)
    finally:
        distributed.destroy_process_group()
        if sys.stdout is not stdout:
            sys.stdout.close()
            sys.stdout = stdout


def build_and_learn(args, train_cfg, main_process: bool = True) -> None:
    # The run folder is made by the runner once the env and runner were built (its first TensorBoard
    # event or checkpoint); a start that fails later than that still leaves no empty folder behind.
    log_dir = experiment_dir(args.proj_name, args.exptid)
    existed = os.path.isdir(log_dir)
    try:
        env, _ = task_registry.make_env(name=args.task, args=args)
        print(header_line(args, env))
        runner, train_cfg = task_registry.make_alg_runner(env=env, name=args.task, args=args, train_cfg=train_cfg)
        # read by play.py, eval.py and the exporter (save_jit_stu_rlbc.py)
        runner.checkpoint_infos = {"set": list(getattr(args, "overrides", None) or []), "task": args.task}
        runner.learn(num_learning_iterations=int(train_cfg.runner.max_iterations), init_at_random_ep_len=True)
    except BaseException:
        if not existed and main_process:
            remove_if_empty(log_dir)
        raise


def parser():
    p = build_parser(__doc__.splitlines()[0])
    p.add_argument(
        "--multi_gpu",
        action="store_true",
        help="data-parallel training over the processes torchrun starts (one per GPU, --num_envs each; "
        "NCCL on CUDA, gloo with --device cpu); rank 0 logs and saves",
    )
    p.add_argument(
        "--reuse_exptid",
        action="store_true",
        help="train into a run folder that already holds another run's checkpoints (those of the same "
        "iterations are overwritten); without it such a start stops, unless it resumes that run",
    )
    return p


def main(argv=None) -> None:
    run_script("train.py", train, get_args(argv, parser=parser()))


if __name__ == "__main__":
    main()
