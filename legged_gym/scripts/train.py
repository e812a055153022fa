"""Train a policy (TWIST's `legged_gym/scripts/train.py`).

    python legged_gym/scripts/train.py --task g1_priv_mimic --proj_name g1_priv_mimic --exptid T1 --device cuda:0
    python legged_gym/scripts/train.py --task g1_stu_rl --proj_name g1_stu_rl --exptid S1 --teacher_exptid T1 --device cuda:0

Logs (checkpoints `model_<it>.pt`, TensorBoard events) go to `legged_gym/logs/<proj_name>/<exptid>/`
(or `$LEGGED_GYM_LOG_DIR/<proj_name>/<exptid>/`). `--resumeid X [--resume_proj_name P] [--checkpoint N]`
continues run X (weights, optimiser, normalisers, iteration, env counters). Student tasks distil
from `<log root>/<teacher_proj_name>/<teacher_exptid>/model_<teacher_checkpoint>.pt`. Without
`--motion_file` the embedded motion set is used. Training is always headless.
"""
from __future__ import annotations

import os
import sys

if __package__ in (None, ""):  # run as a file: make `legged_gym.scripts` importable from any cwd
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import legged_gym.scripts.isaacgym_first  # noqa: F401,E402  (before torch)
from legged_gym.gym_utils.helpers import experiment_dir, get_args  # noqa: E402
from legged_gym.gym_utils.task_registry import task_registry  # noqa: E402


def train(args) -> None:
    args.headless = True  # TWIST: training never opens a viewer
    if not args.exptid:
        raise SystemExit("train.py: --exptid is required (logs go to {})".format(
            experiment_dir(args.proj_name, "<exptid>")))
    task_registry.ensure_registered(args.task)
    _, train_cfg = task_registry.get_cfgs(args.task)
    # Fail before building anything when a checkpoint to read is missing.
    try:
        if getattr(train_cfg, "runner_class_name", "") == "OnPolicyDaggerRunner":
            task_registry.teacher_checkpoint(args)
        task_registry.resume_checkpoint(args)
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit("train.py: {}".format(e))
    log_dir = experiment_dir(args.proj_name, args.exptid)
    os.makedirs(log_dir, exist_ok=True)
    print("[TrainInfo] task={} num_envs={} sim={} device={} log_dir={}".format(
        args.task, args.num_envs, args.sim, args.device, log_dir))
    env, _ = task_registry.make_env(name=args.task, args=args)
    runner, train_cfg = task_registry.make_alg_runner(env=env, name=args.task, args=args, train_cfg=train_cfg)
    runner.learn(num_learning_iterations=int(train_cfg.runner.max_iterations), init_at_random_ep_len=True)


def main(argv=None) -> None:
    train(get_args(argv, description=__doc__.splitlines()[0]))


if __name__ == "__main__":
    main()
