"""Task registry: task name -> (environment class, env config class, train config class).

Tasks keep TWIST's names (`g1_priv_mimic`, `g1_stu_rl`, ...); `legged_gym.envs` registers them in its
table (`legged_gym.envs.task_registry`) when it is imported, and this module's `task_registry` looks a
task up there (importing `legged_gym.envs`) when it does not know it. `make_env` / `make_alg_runner` build a task's environment and learner from the CLI
(TWIST's names); this module imports the environments, the simulator and rsl_rl only inside them, so
importing it stays cheap.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Dict, List, Optional

from legged_gym.utils import Task, TaskTable, UnknownTaskError, class_to_dict

__all__ = ["Task", "TaskRegistry", "UnknownTaskError", "policy_cfg_with_obs_sizes", "task_registry"]

#: The policy sizes a checkpoint must share with the task that loads it (`TaskRegistry.check_checkpoint`).
POLICY_SIZE_KEYS = ("num_observations", "num_motion_observations", "num_motion_steps", "num_actions")


def policy_cfg_with_obs_sizes(cfg_dict: Dict, env) -> Dict:
    """A copy of the train config dict whose "policy" (and "teacher_policy", when present) carry the
    sizes of the env's observation layout (`env.obs_layout.policy_sizes`): the runner sizes the
    networks from the policy config, never from the task. The teacher reads the privileged obs. Sizes
    already in the config must agree (ValueError); an env without `obs_layout` leaves the config as is.
    A student's `estimator_fields` (privileged-info names) become `estimator_target`, their indices in
    the privileged obs (docs/learning.md#state-estimator)."""
    layout = getattr(env, "obs_layout", None)
    if layout is None:
        return cfg_dict
    out = dict(cfg_dict)
    for key, obs_type in (("policy", env.obs_type), ("teacher_policy", "priv")):
        if key not in out:
            continue
        policy = dict(out[key] or {})
        for name, value in layout.policy_sizes(obs_type).items():
            if policy.get(name) is not None and int(policy[name]) != value:
                raise ValueError(
                    "train config {}.{} = {}, but the env's observation layout has {}".format(
                        key, name, policy[name], value
                    )
                )
            policy[name] = value
        fields = list(policy.get("estimator_fields") or [])
        if fields:
            if obs_type != "student":
                raise ValueError(
                    "train config {}.estimator_fields = {}: a state estimator is for students (obs_type "
                    "'student'); this policy reads {!r} observations".format(key, fields, obs_type)
                )
            policy["estimator_target"] = layout.priv_info_indices(fields)
        out[key] = policy
    return out


def use_task_hint(tasks: List[str]) -> str:
    """ "use --task A (or B, C)" for the tasks a model file fits."""
    if not tasks:
        return "it fits none of the tasks"
    return "use --task {}{}".format(tasks[0], " (or {})".format(", ".join(tasks[1:])) if tasks[1:] else "")


def _describe_sizes(sizes: Dict[str, int]) -> str:
    frames = sizes["num_motion_steps"]
    return "{} observations ({} reference frame{} of {}), {} actions".format(
        sizes["num_observations"],
        frames,
        "" if frames == 1 else "s",
        sizes["num_motion_observations"] // max(frames, 1),
        sizes["num_actions"],
    )


class TaskRegistry(TaskTable):
    """A task table (`legged_gym.utils.TaskTable`) that builds environments and learners.

    `source`: a module with a `task_registry` table (`legged_gym.envs` for this module's registry); a task
    not registered here is taken from that table, the module imported then."""

    def __init__(self, source: Optional[str] = None) -> None:
        super().__init__()
        self._source = source

    def ensure_registered(self, name: str) -> None:
        """When `name` is not registered here: add every task of the source's table that is not."""
        if name in self.task_names or self._source is None:
            return
        table = importlib.import_module(self._source).task_registry
        for task in table.task_names:
            if task not in self.task_names:
                self.register(task, *table.get(task))

    def get(self, name: str) -> Task:
        self.ensure_registered(name)
        return super().get(name)

    # --- building environments and learners (TWIST's make_env / make_alg_runner) ---------------------

    def make_env(self, name: str, args=None, env_cfg=None):
        """Build the environment of task `name`; returns (env, env_cfg).

        The CLI `args` (`helpers.get_args`; default: no flags) override the config: --num_envs,
        --seed (default: the train config's seed, as TWIST), --sim, --motion_file, --no_rand
        (docs/decisions.md D5: every randomisation off), then --set items of the env config
        (`cfg_override`). The env runs on --device; `--headless` as given.
        """
        from legged_gym.gym_utils.cfg_override import apply_overrides
        from legged_gym.envs.base.humanoid_mimic_config import update_env_cfg_from_args
        from legged_gym.gym_utils.helpers import get_args, set_seed

        if args is None:
            args = get_args([])
        task = self.get(name)
        task_env_cfg, train_cfg = self.get_cfgs(name)
        if env_cfg is None:
            env_cfg = task_env_cfg
            env_cfg.seed = getattr(train_cfg, "seed", env_cfg.seed)
        update_env_cfg_from_args(env_cfg, args)
        apply_overrides(getattr(args, "overrides", None) or [], env_cfg, train_cfg, "env", "train")
        env_cfg.seed = set_seed(int(env_cfg.seed))
        env = task.env_class(env_cfg, args.device, bool(getattr(args, "headless", True)))
        return env, env_cfg

    def teacher_checkpoint(self, args) -> Path:
        """The teacher checkpoint a student task distils from:
        `<log root>/<teacher_proj_name>/<teacher_exptid>/model_<teacher_checkpoint>.pt` (-1: latest).

        Raises FileNotFoundError naming the path (and how to make it) when it does not exist.
        """
        from legged_gym.gym_utils.helpers import experiment_dir, resolve_checkpoint

        proj = getattr(args, "teacher_proj_name", None) or "g1_priv_mimic"
        ckpt = int(getattr(args, "teacher_checkpoint", -1))
        exptid = getattr(args, "teacher_exptid", None)
        name = "model_{}.pt".format("<latest>" if ckpt == -1 else ckpt)
        if not exptid:
            raise FileNotFoundError(
                "task {!r} distils from a teacher: pass --teacher_exptid (its checkpoint is read from {})".format(
                    getattr(args, "task", "?"), os.path.join(experiment_dir(proj, "<teacher_exptid>"), name)
                )
            )
        run = experiment_dir(proj, exptid)
        try:
            return resolve_checkpoint(run, ckpt)
        except FileNotFoundError as e:
            hint = (
                "train the teacher first (bash train_teacher.sh {} <device>) or set --teacher_proj_name / "
                "--teacher_exptid".format(exptid)
                if not os.path.isdir(run)
                else "pick another --teacher_checkpoint"
            )
            raise FileNotFoundError(
                "teacher checkpoint {} not found ({}); {}".format(os.path.join(run, name), e, hint)
            ) from None

    def resume_checkpoint(self, args, train_cfg=None) -> Optional[Path]:
        """The checkpoint to resume from, or None: with --resumeid, `<log root>/<resume_proj_name or
        proj_name>/<resumeid>/model_<checkpoint>.pt` (-1: latest); with --resume or
        `train_cfg.runner.resume` (play), the same in the experiment's own folder (--exptid)."""
        from legged_gym.gym_utils.helpers import experiment_dir, resolve_checkpoint

        resumeid = getattr(args, "resumeid", None)
        resume = bool(getattr(args, "resume", False)) or bool(
            train_cfg is not None and getattr(train_cfg.runner, "resume", False)
        )
        if not resumeid and not resume:
            return None
        exptid = resumeid or getattr(args, "exptid", None)
        proj = (getattr(args, "resume_proj_name", None) if resumeid else None) or args.proj_name
        if not exptid:
            raise ValueError(
                "resuming needs --resumeid or --exptid (the run under {})".format(experiment_dir(proj, "<exptid>"))
            )
        return resolve_checkpoint(experiment_dir(proj, exptid), int(getattr(args, "checkpoint", -1)))

    def policy_sizes(self, name: str, overrides=(), teacher: bool = False) -> Optional[Dict[str, int]]:
        """`POLICY_SIZE_KEYS` of the policy task `name` trains (teacher: of the teacher its students distil
        from, which reads the privileged obs), from its config with the --set items `overrides`; None for an
        env without an observation layout."""
        from legged_gym.envs.g1.g1_mimic_distill import G1MimicDistill, obs_dims_of
        from legged_gym.gym_utils.cfg_override import apply_overrides

        if not issubclass(self.get(name).env_class, G1MimicDistill):
            return None
        env_cfg, train_cfg = self.get_cfgs(name)
        apply_overrides(list(overrides or []), env_cfg, train_cfg, "env", "train")
        sizes = dict(obs_dims_of(env_cfg).policy_sizes("priv" if teacher else env_cfg.env.obs_type))
        sizes["num_actions"] = int(env_cfg.env.num_actions)
        return {k: int(sizes[k]) for k in POLICY_SIZE_KEYS}

    def check_checkpoint(self, path, args, teacher: bool = False) -> None:
        """UsageError unless checkpoint `path` holds the policy task `args.task` trains and plays (teacher:
        the teacher its students distil from), compared by `POLICY_SIZE_KEYS`: the message names the file,
        both sizes and the tasks the file fits. An unreadable file raises CheckpointError (a user error)."""
        from legged_gym.gym_utils.helpers import UsageError
        from rsl_rl.utils.checkpoint import read_checkpoint

        saved = read_checkpoint(path).get("policy_cfg") or {}
        expected = self.policy_sizes(args.task, getattr(args, "overrides", None), teacher)
        if expected is None or any(saved.get(k) is None for k in POLICY_SIZE_KEYS):  # older files: no sizes
            return
        got = {k: int(saved[k]) for k in POLICY_SIZE_KEYS}
        if got == expected:
            return
        project = Path(path).parent.parent.name  # the run's project, usually its task: named first
        fits = sorted(self.tasks_with(**got), key=lambda t: t != project)
        kinds = {self.get_cfgs(t)[0].env.obs_type for t in fits}
        kind = {"priv": "teacher", "student": "student"}.get(kinds.pop(), "") if len(kinds) == 1 else ""
        holds = "{} holds {} policy of {}".format(path, "a " + kind if kind else "a", _describe_sizes(got))
        if teacher:
            raise UsageError(
                "{}; the teacher of task {} reads {}: this is {} run{}; --teacher_exptid (and --teacher_proj_name) "
                "must name a teacher run".format(
                    holds,
                    args.task,
                    _describe_sizes(expected),
                    "a " + kind if kind else "not a teacher",
                    " (task {})".format(fits[0]) if fits else "",
                )
            )
        raise UsageError(
            "{}; task {} expects {}: {}{}".format(
                holds,
                args.task,
                _describe_sizes(expected),
                "this is a {} run; ".format(kind) if kind else "",
                use_task_hint(fits),
            )
        )

    def tasks_with(self, **sizes: int) -> List[str]:
        """The tasks whose `policy_sizes` have these values (e.g. num_observations=1155)."""
        out = []
        for task in self.task_names:
            own = self.policy_sizes(task)
            if own is not None and all(own[k] == v for k, v in sizes.items()):
                out.append(task)
        return out

    def make_alg_runner(self, env, name: Optional[str] = None, args=None, train_cfg=None, log_root="default"):
        """Build the learner of task `name` for `env`; returns (runner, train_cfg).

        - Runner class: `train_cfg.runner_class_name` from `rsl_rl.runners` (OnPolicyRunnerMimic for
          the teacher, OnPolicyDaggerRunner for students, which load the frozen teacher from
          `teacher_checkpoint(args)`).
        - Overrides from `args`: --seed, --max_iterations, --fix_action_std, --checkpoint, then --set
          items of the train config (`cfg_override`).
        - Logs (checkpoints, TensorBoard): `log_root` if given, else `<log root>/<proj_name>/<exptid>`
          (`helpers.log_root()`: legged_gym/logs or $LEGGED_GYM_LOG_DIR); no logging without --exptid.
        - Resume (`resume_checkpoint`): weights, optimiser, normalisers, iteration and env counters.
        - Students: --eval_student (DAgger coefficient 0: pure PPO), --allow_teacher_change (resume a
          checkpoint trained against another teacher).
        """
        from legged_gym.gym_utils.cfg_override import apply_overrides
        from legged_gym.gym_utils.helpers import UsageError, experiment_dir, get_args, update_train_cfg_from_args

        if args is None:
            args = get_args([])
        name = name or args.task
        env_cfg_of_task, task_train_cfg = self.get_cfgs(name)
        if train_cfg is None:
            train_cfg = task_train_cfg
        update_train_cfg_from_args(train_cfg, args)
        apply_overrides(getattr(args, "overrides", None) or [], train_cfg, env_cfg_of_task, "train", "env")
        if log_root == "default":
            log_dir = experiment_dir(args.proj_name, args.exptid) if getattr(args, "exptid", None) else None
        else:
            log_dir = None if log_root is None else str(log_root)
        resume_path = self.resume_checkpoint(args, train_cfg)  # before building: a bad path fails fast

        runners = importlib.import_module("rsl_rl.runners")
        runner_name = getattr(train_cfg, "runner_class_name", "OnPolicyRunnerMimic")
        runner_class = getattr(runners, runner_name)
        cfg_dict = policy_cfg_with_obs_sizes(class_to_dict(train_cfg), env)
        if runner_name == "OnPolicyDaggerRunner":
            teacher = self.teacher_checkpoint(args)
            print("Loading teacher policy from {}".format(teacher))
            eval_student = bool(getattr(args, "eval_student", False))
            if eval_student:
                print("--eval_student: the student trains by PPO alone (DAgger coefficient 0)")
            runner = runner_class(
                env,
                cfg_dict,
                log_dir,
                device=args.device,
                teacher_path=str(teacher),
                allow_teacher_change=bool(getattr(args, "allow_teacher_change", False)),
                pure_ppo=eval_student,
            )
        else:
            if getattr(args, "eval_student", False):
                raise UsageError(
                    "--eval_student: task {!r} has no teacher (only student tasks such as g1_stu_rl "
                    "train with a DAgger term)".format(name)
                )
            runner = runner_class(env, cfg_dict, log_dir, device=args.device)
        if resume_path is not None:
            print("Loading model from {}".format(resume_path))
            runner.load(str(resume_path))
            train_cfg.runner.resume_path = str(resume_path)
            print("Loaded iteration {}".format(runner.current_learning_iteration))
        return runner, train_cfg


task_registry = TaskRegistry("legged_gym.envs")
