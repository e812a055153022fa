"""OnPolicyRunnerMimic: the teacher's PPO training loop, checkpoints and logging (docs/learning.md).

Iteration `it` (0-based): `num_steps_per_env` env steps under torch.inference_mode (actions from
normalised observations; while it < normalizer_update_iterations the raw observations are recorded
into the normaliser), returns from the last critic observation, then the normaliser statistics are
merged (frozen from then on), the PPO update, logging, and a checkpoint when due.

Iteration numbers count completed iterations: after iteration `it` the runner's
`current_learning_iteration` is it + 1, checkpoints are written as `model_<it + 1>.pt` with
"iter" = it + 1, and loading one resumes with the next iteration (nothing is repeated). Save
schedule on that number n: every save_interval while n < 2500, every 2 x save_interval
while n < 5000, then every 5 x save_interval; the last iteration of `learn` is always saved under
its own number (docs/decisions.md D5). `runner.max_train_minutes` > 0 ends `learn` early, after the
first iteration that finishes past that many minutes of it (data-parallel ranks stop together).

Checkpoint `model_<n>.pt` (loadable with torch.load(weights_only=True)): model_state_dict,
optimizer_state_dict (with the current learning rate), iter, normalizer and critic_normalizer
(state dicts; critic_normalizer None when the critic shares the observation normaliser),
env_counters (global_counter, total_env_steps_counter, common_step_counter), total_timesteps (the
env steps of all ranks so far: Train/total_timesteps goes on from it after a resume), dagger (coef
and counter, None for PPO), policy_cfg (ActorCriticMimic's constructor arguments) and infos
(`checkpoint_infos`, which the train entry sets to its --set items); a policy with a state
estimator adds estimator_optimizer_state_dict, and with `algorithm.estimator_average_decay` also
estimator_trained_weights (the trained weights; model_state_dict holds their average, what the actor reads).
`load` reads TWIST's checkpoints too
(rsl_rl.utils.checkpoint.read_checkpoint).

Console: a tqdm progress bar, and every `runner.summary_interval` iterations (50; and the last) one
plain line (`summary_line`): iteration, env steps/s, mean reward, mean episode length, completion.

Data-parallel (a torch.distributed process group of several ranks, `rsl_rl.utils.distributed`):
every rank runs this loop on its own envs; the network starts as rank 0's, the update averages
gradients and KL over the ranks (PPO), the normalisers merge the samples of all ranks, and only rank
0 logs and saves (the other ranks' log_dir is None). Perf/total_fps and Train/total_timesteps count
the env steps of all ranks; rewards, episode statistics and losses are rank 0's own.

rsl_rl knows tensors, not tasks: the env is duck-typed (BaseTask's interface) and the runner never
reads the task's config. The sizes of the policy come from the policy config it is given
(`policy_sizes`): `num_motion_observations` and `num_motion_steps` (the reference part at the start of
the input; required), `num_observations` and `num_critic_observations` (checked against the env's
buffers; the env's widths when absent). The train entry fills them in from the env's observation layout
(legged_gym/gym_utils/task_registry.py, `policy_cfg_with_obs_sizes`; docs/observations.md).
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable, Dict, Optional, Tuple

import torch
from tqdm import tqdm

from rsl_rl.algorithms.ppo import PPO
from rsl_rl.modules.actor_critic_mimic import ActorCriticMimic
from rsl_rl.utils import distributed
from rsl_rl.utils.checkpoint import read_checkpoint
from rsl_rl.utils.episode_stats import EpisodeStats
from rsl_rl.utils.logger import TrainLogger
from rsl_rl.utils.normalizer import Normalizer

#: Env step counters saved in checkpoints and restored on resume (docs/learning.md, Checkpoints and resume).
ENV_COUNTERS = ("global_counter", "total_env_steps_counter", "common_step_counter")

#: Policy config keys passed on to ActorCriticMimic (the rest of the policy config is ignored).
POLICY_KEYS = (
    "actor_hidden_dims",
    "critic_hidden_dims",
    "motion_latent_dim",
    "activation",
    "init_noise_std",
    "fix_action_std",
    "action_std",
    "layer_norm",
    "tanh_encoder_output",
    "estimator_target",
    "estimator_hidden_dims",
)


def save_due(iteration: int, save_interval: int) -> bool:
    """TWIST's save schedule on the completed-iteration number n (module docstring)."""
    if iteration < 2500:
        step = save_interval
    elif iteration < 5000:
        step = 2 * save_interval
    else:
        step = 5 * save_interval
    return step > 0 and iteration % step == 0


def motion_obs_dims(policy_cfg: Dict) -> Tuple[int, int]:
    """(num_motion_observations, num_motion_steps) of a policy config; ValueError when it lacks them."""
    missing = [k for k in ("num_motion_observations", "num_motion_steps") if policy_cfg.get(k) is None]
    if missing:
        raise ValueError(
            "the policy config has no {} (the train entry sets them from the env's observation "
            "layout: legged_gym.gym_utils.task_registry.policy_cfg_with_obs_sizes)".format(" / ".join(missing))
        )
    return int(policy_cfg["num_motion_observations"]), int(policy_cfg["num_motion_steps"])


def policy_size(policy_cfg: Dict, key: str, env_value: int) -> int:
    """policy_cfg[key] (the env's `env_value` when absent); ValueError when the two disagree."""
    value = policy_cfg.get(key)
    if value is None:
        return int(env_value)
    if int(value) != int(env_value):
        raise ValueError(
            "the policy config's {} = {}, but the env's observations have {}".format(key, value, env_value)
        )
    return int(value)


def _plain(value: Any) -> Any:
    """Config values as plain Python (lists, floats, ...) so checkpoints load with weights_only."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, torch.Tensor):
        return value.tolist()
    return value


def summary_line(iteration: int, end: int, scalars: Dict[str, float]) -> str:
    """The plain console line of an iteration: steps/s, mean reward, episode length, completion."""

    def value(key: str, fmt: str) -> str:
        return fmt.format(scalars[key]) if key in scalars else "-"

    return "iter {}/{} | {} steps/s | mean reward {} | mean episode length {} | completion {}".format(
        iteration,
        end,
        value("Perf/total_fps", "{:.0f}"),
        value("Train/mean_reward", "{:.4f}"),
        value("Train/mean_episode_length", "{:.1f}"),
        value(episode_tag("metric_completion"), "{:.3f}"),
    )


def episode_tag(key: str) -> str:
    """TensorBoard tag of an extras["episode"] key (TWIST's groups)."""
    if key.startswith("metric_"):
        return "Episode_rew_metrics/" + key
    if key.startswith("rew_tracking_"):
        return "Episode_rew_tracking/" + key
    if key.startswith("rew_"):
        return "Episode_rew_regularization/" + key
    return "Episode/" + key


class OnPolicyRunnerMimic:
    def __init__(self, env, train_cfg: Dict, log_dir: Optional[str] = None, device="cpu"):
        self.train_cfg = train_cfg
        self.cfg = dict(train_cfg["runner"])
        self.alg_cfg = dict(train_cfg["algorithm"])
        self.policy_cfg = dict(train_cfg["policy"])
        self.device = torch.device(device)
        self.env = env
        self.num_steps_per_env = int(self.cfg.get("num_steps_per_env", 24))
        self.save_interval = int(self.cfg.get("save_interval", 500))
        self.summary_interval = int(self.cfg.get("summary_interval", 50))
        self.normalizer_update_iterations = int(self.alg_cfg.pop("normalizer_update_iterations", 3000))

        self.num_obs = policy_size(self.policy_cfg, "num_observations", env.num_obs)
        self.has_critic_obs = env.num_privileged_obs is not None
        self.num_critic_obs = policy_size(
            self.policy_cfg, "num_critic_observations", env.num_privileged_obs if self.has_critic_obs else self.num_obs
        )
        self.policy_kwargs = self._policy_kwargs()
        actor_critic = ActorCriticMimic(**self.policy_kwargs)
        self.alg = self._make_algorithm(actor_critic)
        # data-parallel (torchrun): ranks are seeded differently, so all start from rank 0's network
        self.world_size = distributed.world_size()
        self.rank = distributed.rank()
        if self.world_size > 1:
            distributed.broadcast_module_(self.alg.actor_critic)
        # The critic reads the obs tensor itself (TWIST's teacher: its privileged obs buffer is its obs
        # buffer): the rollout storage keeps the obs once and the critic's minibatches read them.
        self.critic_reads_obs = (
            self.has_critic_obs
            and self.num_critic_obs == self.num_obs
            and env.get_privileged_observations() is env.get_observations()
        )
        self.alg.init_storage(
            int(env.num_envs),
            self.num_steps_per_env,
            [self.num_obs],
            [self.num_critic_obs] if self.has_critic_obs and not self.critic_reads_obs else None,
            [int(env.num_actions)],
        )

        self.normalizer = Normalizer(self.num_obs).to(self.device)
        self.critic_normalizer = self._make_critic_normalizer()
        if self.alg.symmetry_coef > 0:  # the symmetry loss: the env's mirror maps of its obs and actions
            if not hasattr(env, "symmetry_maps"):
                raise ValueError(
                    "algorithm.symmetry_coef = {}: {} has no mirror maps of its observations and actions "
                    "(symmetry_maps())".format(self.alg.symmetry_coef, type(env).__name__)
                )
            obs_mirror, action_mirror = env.symmetry_maps()
            self.alg.set_symmetry(obs_mirror, action_mirror, self.normalizer)
        if self.alg.estimator_mirror:  # the estimator's mirrored minibatches: the env's actor and critic obs mirrors
            if self.alg.estimator_optimizer is None or not hasattr(env, "privileged_obs_mirror"):
                raise ValueError(
                    "algorithm.estimator_mirror: needs a policy with a state estimator (policy.estimator_fields) "
                    "and an env with mirror maps of its observations (symmetry_maps, privileged_obs_mirror); "
                    "here {} and {}".format(
                        "an estimator" if self.alg.estimator_optimizer is not None else "no estimator",
                        type(env).__name__,
                    )
                )
            self.alg.set_estimator_mirror(
                env.symmetry_maps()[0], env.privileged_obs_mirror(), self.normalizer, self._critic_obs_normalizer
            )
        self.log_dir = log_dir if self.rank == 0 else None  # only rank 0 logs and saves
        self.logger = None  # type: Optional[TrainLogger]
        self.current_learning_iteration = 0
        # what `learn` writes as every checkpoint's "infos" (the train entry puts its --set items there)
        self.checkpoint_infos = None  # type: Optional[Dict]
        self.tot_timesteps = 0
        self.tot_time = 0.0

    # --- construction hooks ------------------------------------------------------------------------
    def _policy_kwargs(self) -> Dict[str, Any]:
        motion_obs, motion_steps = motion_obs_dims(self.policy_cfg)
        kwargs = dict(
            num_observations=self.num_obs,
            num_critic_observations=self.num_critic_obs,
            num_motion_observations=motion_obs,
            num_motion_steps=motion_steps,
            num_actions=int(self.env.num_actions),
        )  # type: Dict[str, Any]
        for key in POLICY_KEYS:
            if key in self.policy_cfg:
                kwargs[key] = _plain(self.policy_cfg[key])
        return kwargs

    def _make_algorithm(self, actor_critic: ActorCriticMimic) -> PPO:
        if self.policy_cfg.get("init_std_from_teacher", False):
            raise ValueError("policy.init_std_from_teacher is for students (DAgger); this PPO run has no teacher")
        return PPO(actor_critic, device=self.device, **self.alg_cfg)

    def _make_critic_normalizer(self) -> Optional[Normalizer]:
        """None: the critic obs go through the observation normaliser (TWIST's teacher, whose obs
        and privileged obs are the same 1318-D vector); else its own, recorded like the obs one."""
        if self.num_critic_obs == self.num_obs:
            return None
        return Normalizer(self.num_critic_obs).to(self.device)

    # --- observation handling ----------------------------------------------------------------------
    @property
    def _critic_obs_normalizer(self) -> Normalizer:
        """The normaliser the critic obs go through: its own, or the obs one (`_make_critic_normalizer`)."""
        return self.normalizer if self.critic_normalizer is None else self.critic_normalizer

    def _norm_critic(self, critic_obs: torch.Tensor) -> torch.Tensor:
        return self._critic_obs_normalizer.normalize(critic_obs)

    def _act(self, obs: torch.Tensor, critic_obs: torch.Tensor) -> torch.Tensor:
        """Actions for raw obs (normalised here); the algorithm records the transition."""
        norm_obs = self.normalizer.normalize(obs)
        if critic_obs is obs and self.critic_normalizer is None:  # the teacher: one tensor, one normaliser
            return self.alg.act(norm_obs, norm_obs)
        if self.critic_reads_obs:
            raise RuntimeError(
                "the env's privileged observations were its observations at the start (the critic reads "
                "the stored obs) and are now another tensor: keep get_privileged_observations() returning "
                "the obs buffer, or separate buffers from the start"
            )
        return self.alg.act(norm_obs, self._norm_critic(critic_obs))

    def _record(self, obs: torch.Tensor, critic_obs: torch.Tensor) -> None:
        self.normalizer.record(obs)
        if self.critic_normalizer is not None:
            self.critic_normalizer.record(critic_obs)

    def _update_normalizers(self) -> None:
        self._merge_and_update(self.normalizer)
        if self.critic_normalizer is not None:
            self._merge_and_update(self.critic_normalizer)

    def _merge_and_update(self, normalizer: Normalizer) -> None:
        """`normalizer.update()`, with the samples of every rank when data-parallel."""
        if self.world_size > 1:
            distributed.merge_pending_statistics(normalizer)
        normalizer.update()

    def _observations(self, obs: torch.Tensor, priv: Optional[torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
        obs_here = obs.to(self.device)
        critic_obs = obs_here if priv is None or priv is obs else priv.to(self.device)  # one tensor stays one
        return obs_here, critic_obs

    # --- training ----------------------------------------------------------------------------------
    def learn(self, num_learning_iterations: int, init_at_random_ep_len: bool = True) -> None:
        env = self.env
        if init_at_random_ep_len:
            high = max(1, int(env.max_episode_length))
            env.episode_length_buf = torch.randint_like(env.episode_length_buf, high=high)
        if self.logger is None:
            self.logger = TrainLogger(
                self.log_dir,
                bool(self.cfg.get("wandb", False)) and self.rank == 0,
                str(self.cfg.get("wandb_project", "g1_mimic")),
                self.cfg.get("run_name") or None,
                self.train_cfg,
            )
        obs, critic_obs = self._observations(env.get_observations(), env.get_privileged_observations())
        stats = EpisodeStats(int(env.num_envs), self.device)
        env_device = getattr(env, "device", self.device)
        self.alg.train_mode()

        start = self.current_learning_iteration
        end = start + int(num_learning_iterations)
        last_saved = None
        bar = tqdm(
            total=int(num_learning_iterations),
            dynamic_ncols=True,
            unit="it",
            disable=not self.cfg.get("progress_bar", True) or self.rank != 0,
        )
        budget_s = 60.0 * float(self.cfg.get("max_train_minutes") or 0.0)
        learn_start = time.time()
        for it in range(start, end):
            t0 = time.time()
            record = it < self.normalizer_update_iterations
            with torch.inference_mode():
                for _ in range(self.num_steps_per_env):
                    actions = self._act(obs, critic_obs)
                    obs, priv, rewards, dones, infos = env.step(actions.to(env_device))
                    obs, critic_obs = self._observations(obs, priv)
                    rewards, dones = rewards.to(self.device), dones.to(self.device)
                    if record:
                        self._record(obs, critic_obs)
                    stats.step(rewards, dones, infos)
                    self.alg.process_env_step(rewards, dones, infos)
                episode_means = stats.end_rollout()
                self.alg.compute_returns(self._norm_critic(critic_obs))
            t1 = time.time()
            losses = self._estimator_errors_in_units(self.alg.update())
            if record:  # after the returns and the update (whose symmetry loss un-normalises the stored
                with torch.no_grad():  # observations): they use the statistics the rollout was collected with
                    self._update_normalizers()
            t2 = time.time()

            self.current_learning_iteration = it + 1
            scalars = self._scalars(losses, episode_means, stats, t1 - t0, t2 - t1)
            self.logger.log(scalars, self.current_learning_iteration)
            bar.set_description("iter {}/{}".format(it + 1, end))
            bar.set_postfix_str(
                "{:.0f} steps/s, reward {}".format(
                    scalars["Perf/total_fps"], "-" if stats.mean_reward is None else "{:.3f}".format(stats.mean_reward)
                )
            )
            bar.update(1)
            if (
                self.rank == 0
                and self.summary_interval > 0
                and (it + 1 == end or (it + 1) % self.summary_interval == 0)
            ):
                tqdm.write(summary_line(self.current_learning_iteration, end, scalars))
            if save_due(self.current_learning_iteration, self.save_interval):
                self._save_iteration()
                last_saved = self.current_learning_iteration
            if budget_s > 0 and self._out_of_time(time.time() - learn_start >= budget_s):
                tqdm.write(
                    "runner.max_train_minutes = {:g}: stopping after iteration {}".format(
                        budget_s / 60.0, self.current_learning_iteration
                    )
                )
                break
        bar.close()
        if end > start and last_saved != self.current_learning_iteration:
            self._save_iteration()  # docs/decisions.md D5: the last iteration under its own number
        if self.world_size > 1:  # data-parallel: the ranks must have kept identical networks
            diff = distributed.max_parameter_difference(self.alg.actor_critic)
            if self.rank == 0:
                tqdm.write(
                    "data-parallel: parameters identical on the {} processes".format(self.world_size)
                    if diff == 0.0
                    else "WARNING: data-parallel: the parameters of the {} processes differ by up to {:.3g}".format(
                        self.world_size, diff
                    )
                )
        self.logger.flush()

    def _out_of_time(self, this_rank: bool) -> bool:
        """Whether the time budget is spent; data-parallel ranks stop together (any rank's clock decides)."""
        if self.world_size <= 1:
            return this_rank
        return bool(distributed.all_reduce_mean(torch.tensor([float(this_rank)], device=self.device)).item() > 0)

    def _save_iteration(self) -> None:
        if self.log_dir is not None:
            self.save(
                os.path.join(self.log_dir, "model_{}.pt".format(self.current_learning_iteration)), self.checkpoint_infos
            )

    def _steps_per_iteration(self) -> int:
        """The env steps of one iteration, all ranks' together."""
        return self.num_steps_per_env * int(self.env.num_envs) * self.world_size

    def _estimator_errors_in_units(self, losses: Dict[str, float]) -> Dict[str, float]:
        """`losses` with the state estimator's mean errors (`estimator_mean_error/<i>`, normalised) in the
        units of the critic obs' entries they estimate (the statistics the rollout was normalised with),
        logged as Loss/estimator_mean_error/<i>: the estimate's bias on the rollout before the estimator's
        update (column i of `estimator_target`)."""
        target = getattr(self.alg.actor_critic, "estimator_target", None)
        if target is None:
            return losses
        normalizer = self._critic_obs_normalizer
        scale = (normalizer.std[target] + normalizer.eps).tolist()
        out = dict(losses)
        for i, s in enumerate(scale):
            out["estimator_mean_error/{}".format(i)] *= s
        return out

    def _scalars(
        self,
        losses: Dict[str, float],
        episode_means: Dict[str, float],
        stats: EpisodeStats,
        collection_time: float,
        learn_time: float,
    ) -> Dict[str, float]:
        steps = self._steps_per_iteration()
        self.tot_timesteps += steps
        self.tot_time += collection_time + learn_time
        out = {"Loss/" + k: v for k, v in losses.items()}
        out["Loss/entropy_coef"] = self.alg.entropy_coef
        out["Perf/total_fps"] = steps / max(collection_time + learn_time, 1e-9)
        out["Perf/collection time"] = collection_time
        out["Perf/learning_time"] = learn_time
        out["Train/total_timesteps"] = float(self.tot_timesteps)
        if stats.mean_reward is not None:
            out["Train/mean_reward"] = stats.mean_reward
            mean_length = stats.mean_episode_length
            assert mean_length is not None  # the length buffer fills with the reward buffer
            out["Train/mean_episode_length"] = mean_length
        out["Policy/mean_noise_std"] = float(self.alg.actor_critic.noise_std().detach().mean())
        difficulty = getattr(self.env, "mean_motion_difficulty", None)
        if difficulty is not None:
            out["Scale/motion_difficulty"] = float(difficulty)
        drift_limit = getattr(self.env, "root_drift_limit", None)
        if drift_limit is not None:
            out["Scale/root_drift_limit"] = float(drift_limit)
        for key, value in episode_means.items():
            out[episode_tag(key)] = value
        return out

    # --- checkpoints -------------------------------------------------------------------------------
    def save(self, path: str, infos: Optional[Dict] = None) -> None:
        """Write the checkpoint atomically (a temporary file in the same folder, then os.replace)."""
        state = {
            "model_state_dict": self.alg.actor_critic.state_dict(),
            "optimizer_state_dict": self.alg.optimizer_state_dict(),
            "iter": int(self.current_learning_iteration),
            "normalizer": self.normalizer.state_dict(),
            "critic_normalizer": None if self.critic_normalizer is None else self.critic_normalizer.state_dict(),
            "env_counters": {k: int(getattr(self.env, k)) for k in ENV_COUNTERS if hasattr(self.env, k)},
            "total_timesteps": int(self.tot_timesteps),
            "dagger": self.alg.dagger_state(),
            "policy_cfg": dict(self.policy_kwargs),
            "infos": infos,
        }
        if self.alg.estimator_optimizer is not None:
            state["estimator_optimizer_state_dict"] = self.alg.estimator_optimizer.state_dict()
        if self.alg.estimator_trained_weights is not None:
            state["estimator_trained_weights"] = self.alg.estimator_trained_weights
        state.update(self._extra_checkpoint_state())
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        tmp = "{}.tmp{}".format(path, os.getpid())
        try:
            torch.save(state, tmp)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)

    def load(self, path: str, load_optimizer: bool = True) -> Optional[Dict]:
        """Restore weights, optimizer (and lr), normalisers, iteration, env counters, the env-step total
        and the DAgger schedule from `path` (this project's checkpoint or TWIST's: `read_checkpoint`);
        returns the checkpoint's infos."""
        ckpt = read_checkpoint(path, map_location=self.device)
        self._check_checkpoint(ckpt, path)
        try:
            self.alg.actor_critic.load_state_dict(ckpt["model_state_dict"])
        except RuntimeError as e:
            saved = (ckpt.get("policy_cfg") or {}).get("estimator_target")
            hint = ""
            if saved != self.policy_kwargs.get("estimator_target"):
                hint = " (state estimator of {} entries in the checkpoint, {} here: give the policy.estimator_fields it was trained with)".format(
                    len(saved or []), len(self.policy_kwargs.get("estimator_target") or [])
                )
            raise RuntimeError(
                "{}: the checkpoint's network does not match this policy{} (checkpoint policy_cfg {}, "
                "this runner {}): {}".format(path, hint, ckpt.get("policy_cfg"), self.policy_kwargs, e)
            )
        if load_optimizer and ckpt.get("optimizer_state_dict") is not None:
            self.alg.load_optimizer_state_dict(ckpt["optimizer_state_dict"])
            if self.alg.estimator_optimizer is not None and ckpt.get("estimator_optimizer_state_dict"):
                self.alg.estimator_optimizer.load_state_dict(ckpt["estimator_optimizer_state_dict"])
        # with the averaging, training goes on from the trained weights (a checkpoint without them: from
        # the loaded estimator's)
        averaging = load_optimizer and self.alg.estimator_average_decay > 0
        trained = ckpt.get("estimator_trained_weights") if averaging else None
        self.alg.estimator_trained_weights = None if trained is None else [w.to(self.device) for w in trained]
        self.normalizer.load_state_dict(ckpt["normalizer"])
        if self.critic_normalizer is not None and ckpt.get("critic_normalizer") is not None:
            self.critic_normalizer.load_state_dict(ckpt["critic_normalizer"])
        self.current_learning_iteration = int(ckpt["iter"])
        for key, value in (ckpt.get("env_counters") or {}).items():
            if hasattr(self.env, key):
                setattr(self.env, key, int(value))
        total = ckpt.get("total_timesteps")  # files without it: the iterations at this run's step count
        self.tot_timesteps = int(
            total if total is not None else self.current_learning_iteration * self._steps_per_iteration()
        )
        self.alg.load_dagger_state(ckpt.get("dagger"))
        return ckpt.get("infos")

    def _extra_checkpoint_state(self) -> Dict[str, Any]:
        """More checkpoint entries (plain types) of a subclass."""
        return {}

    def _check_checkpoint(self, ckpt: Dict[str, Any], path: str) -> None:
        """Hook: refuse a checkpoint before anything of it is loaded (raise)."""

    # --- inference ---------------------------------------------------------------------------------
    def get_inference_policy(self, device=None) -> Callable[[torch.Tensor], torch.Tensor]:
        """obs -> action mean, with the observation normaliser applied (eval mode)."""
        self.alg.test_mode()
        actor_critic, normalizer = self.alg.actor_critic, self.normalizer
        if device is not None:
            actor_critic.to(device)
            normalizer.to(device)

        def policy(obs: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                return actor_critic.act_inference(normalizer.normalize(obs))

        return policy

    def _estimator_inference(self, device=None) -> Tuple[ActorCriticMimic, Normalizer, Normalizer, torch.Tensor]:
        """(actor-critic, obs normaliser, critic normaliser, `estimator_target` as an index tensor) of a
        student with a state estimator, in eval mode and on `device`; a ValueError without an estimator."""
        actor_critic = self.alg.actor_critic
        if actor_critic.estimator_target is None:
            raise ValueError("this policy has no state estimator (train config policy.estimator_fields is empty)")
        self.alg.test_mode()
        normalizer, critic_normalizer = self.normalizer, self._critic_obs_normalizer
        if device is not None:
            actor_critic.to(device)
            normalizer.to(device)
            critic_normalizer.to(device)
        index = torch.tensor(actor_critic.estimator_target, device=critic_normalizer.mean.device)
        return actor_critic, normalizer, critic_normalizer, index

    def get_inference_policy_reading_truth(self, device=None) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """(obs, critic obs) -> action mean of a student whose actor reads, in place of its state estimate,
        the critic obs' entries its estimator regresses (`estimator_target`, normalised as the estimator
        learns them): the policy as a perfect estimator would leave it. A diagnostic of what the estimate
        costs (eval.py --true_estimate); a robot has no such values."""
        actor_critic, normalizer, critic_normalizer, index = self._estimator_inference(device)

        def policy(obs: torch.Tensor, critic_obs: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                truth = critic_normalizer.normalize(critic_obs).index_select(-1, index)
                return actor_critic.act_with_estimate(normalizer.normalize(obs), truth)

        return policy

    def get_inference_estimator(self, device=None) -> Callable[[torch.Tensor], torch.Tensor]:
        """obs -> the actor's state estimate (B, len(estimator_target)) in the units of the critic obs'
        entries it estimates: the estimator reads the normalised obs and regresses the normalised
        entries (`ActorCriticMimic.estimator_error`), so the critic normaliser is undone here."""
        actor_critic, normalizer, critic_normalizer, index = self._estimator_inference(device)
        mean, scale = critic_normalizer.mean[index], critic_normalizer.std[index] + critic_normalizer.eps

        def estimator(obs: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                return actor_critic.estimate(normalizer.normalize(obs)) * scale + mean

        return estimator
