"""PPO of the teacher (docs/learning.md, PPO).

Per iteration: `act` / `process_env_step` fill the rollout storage (time-out bootstrapping
r += gamma * V(s) * time_out), `compute_returns` runs GAE on it and normalises the advantages,
`update` does num_learning_epochs x num_mini_batches Adam steps on

    loss = surrogate + value_loss_coef * value_loss - entropy_coef * mean entropy

(+ symmetry_coef x the symmetry loss, when set: below) with gradients clipped to max_grad_norm and, under the "adaptive" schedule, the learning rate
adapted per minibatch from KL(old || new) (summed over action dims, mean over the batch).
Symmetry loss (`symmetry_coef` > 0; 0 in TWIST): the mean over the minibatch of
|mu(mirror(o)) - mirror_a(mu(o))|^2 (summed over action dims), where mirror / mirror_a reflect the
observation and the action left-right (`set_symmetry`: permutation and signs over the raw observation,
applied between un-normalising and normalising again with the runner's normaliser); it pulls the policy
mean towards a left-right symmetric one (docs/learning.md, Symmetry loss).
A policy with a state estimator (`ActorCriticMimic.estimator_target`) has it trained apart, after the
PPO epochs: Adam at the fixed `estimator_learning_rate` on the mean square of `estimator_error` over the
same number of minibatches (the PPO optimizer leaves its parameters out; docs/learning.md#state-estimator).
`update` then also returns `estimator` (that loss) and `estimator_mean_error/<i>`, the mean of the error's
column i (normalised units, the runner scales it back) on the first minibatch before the first of these steps:
the estimate's bias on data it has not been fitted to (the mean over the steps is near 0 however biased the
estimator comes to the rollout: 20 Adam steps at 1e-3 remove most of a rollout's mean error).
`estimator_skip_after_push` > 0 leaves out of the estimator's steps (not PPO's) the transitions of the env steps
whose infos["steps_since_push"] is below it: right after a push of all envs the velocity has changed and the
observation does not show it yet, and fitting the estimator to that swings its bias for the next updates.
`estimator_average_decay` d > 0 (0: off) has the actor read the exponential average of the trained weights:
the regression steps start from the weights the last one left (`estimator_trained_weights`), and after them
the estimator holds average <- d * average + (1 - d) * trained, so the rollouts, the checkpoint's
model_state_dict and an export carry the average over about 1 / (1 - d) fitted rollouts instead of the last
update's weights (whose bias swings from one rollout to the next). `estimator_mean_error` is then the
average's, what the actor read.
`estimator_mirror` (off by default) adds to every regression minibatch its left-right mirror image
(`set_estimator_mirror`: the actor obs and the critic obs mirrored as the symmetry loss mirrors the obs), so
the loss is the mean square over both halves: a constant sideways offset of the estimate, which a rollout's
mean sideways error would otherwise leave in it, then meets its mirror's opposite error and is pulled to 0.
`state_dict` holds the optimizer (its param groups carry the current learning rate).

Two ways to run the same update (`fast_update`; "auto": the fast way on CUDA):
  plain  Adam with a Python-float learning rate; the adaptive rule reads the KL on the host every
         minibatch (one device synchronisation per minibatch);
  fast   fused Adam whose learning rate is a device tensor: the adaptive rule runs on the device
         (same comparisons in float64), the loss terms are summed on the device and read once
         per update, so an update synchronises with the device once.
The fast way also computes the motion encoders' Conv1d layers as matrix products
(`ActorCriticMimic.set_fast_kernels`) and, on CUDA with `cuda_graph` (default), records one
minibatch step (gather, forward, backward, clipping, Adam, learning-rate rule) in a CUDA graph and
replays it for every minibatch. Both ways give the same parameters within float tolerance (fused vs
per-tensor Adam arithmetic, the learning rate as float32 on the device, summation order).
Checkpoints hold the optimizer in the plain format (float learning rate) either way. `tf32`
(default on): TF32 matrix products on CUDA inside `act`, `compute_returns` and `update` (no effect
on CPU).

Data-parallel training (torchrun, `rsl_rl.utils.distributed`): in a process group of several ranks
every minibatch's gradients are averaged over the ranks after the backward pass (before clipping)
and its KL before the learning-rate rule, so all ranks take identical steps. Both ways of update
work; the CUDA graph is not used then (the minibatch step runs eagerly, with its collectives) unless
`distributed_cuda_graph` (default off) asks to record the collectives in the graph as well.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.optim as optim

from rsl_rl.algorithms.losses import LR_FACTOR, LR_MAX, LR_MIN, adaptive_lr, gaussian_kl, surrogate_loss, value_loss
from rsl_rl.storage.rollout_storage import Batch, RolloutStorage, Transition
from rsl_rl.utils import distributed
from pose.utils.tf32 import Tf32

if TYPE_CHECKING:
    from rsl_rl.modules.actor_critic_mimic import ActorCriticMimic
    from rsl_rl.utils.normalizer import Normalizer

#: TWIST's algorithm config fields that its PPO never reads.
TWIST_UNUSED_FIELDS = (
    "grad_penalty_coef_schedule",
    "std_schedule",
    "dagger_update_freq",
    "priv_reg_coef_schedual",
    "priv_reg_coef_schedule",
    "normalizer_update_iterations",
    "warm_iters",
)


#: compile_update "auto" compiles from this torch version on (checked on an H200 with 2.11).
COMPILE_AUTO_MIN_TORCH = (2, 11)


def torch_version() -> Tuple[int, int]:
    """(major, minor) of the installed torch ("2.11.0+cu130" -> (2, 11))."""
    major, minor = torch.__version__.split("+")[0].split(".")[:2]
    return int(major), int("".join(c for c in minor if c.isdigit()) or 0)


def mirror_tensors(mirror, device, what: str, size: Optional[int] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """(permutation, signs) of a left-right mirror as tensors on `device`; ValueError naming `what` when
    they differ in length, or (with `size`) do not cover `size` entries."""
    perm = torch.as_tensor(mirror[0], dtype=torch.long, device=device)
    signs = torch.as_tensor(mirror[1], dtype=torch.float32, device=device)
    if perm.shape != signs.shape or (size is not None and perm.numel() != size):
        raise ValueError(
            "{}: a mirror of {} entries with {} signs{}".format(
                what, perm.numel(), signs.numel(), "" if size is None else " for {} entries".format(size)
            )
        )
    return perm, signs


class NormalizedMirror:
    """A left-right mirror (permutation, signs: mirrored[i] = signs[i] * raw[permutation[i]], over raw
    values) applied to vectors normalised by `normalizer` (its `mean`, `std`, `eps` as they are when
    called): un-normalised, mirrored, normalised again."""

    def __init__(self, mirror, normalizer: Normalizer, device, what: str):
        self.perm, self.signs = mirror_tensors(mirror, device, what, int(normalizer.mean.shape[-1]))
        self.normalizer = normalizer

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.normalizer.std + self.normalizer.eps
        raw = x * scale + self.normalizer.mean
        return (raw[..., self.perm] * self.signs - self.normalizer.mean) / scale


class PPO:
    actor_critic: ActorCriticMimic

    def __init__(
        self,
        actor_critic: ActorCriticMimic,
        num_learning_epochs: int = 5,
        num_mini_batches: int = 4,
        clip_param: float = 0.2,
        gamma: float = 0.99,
        lam: float = 0.95,
        value_loss_coef: float = 1.0,
        entropy_coef: float = 0.005,
        learning_rate: float = 2e-4,
        max_grad_norm: float = 1.0,
        use_clipped_value_loss: bool = True,
        schedule: str = "adaptive",
        desired_kl: float = 0.008,
        device="cpu",
        fast_update="auto",
        tf32: bool = True,
        cuda_graph: bool = True,
        distributed_cuda_graph: bool = False,
        compile_update="auto",
        symmetry_coef: float = 0.0,
        estimator_learning_rate: float = 1e-3,
        estimator_skip_after_push: int = 0,
        estimator_average_decay: float = 0.0,
        estimator_mirror: bool = False,
        **kwargs,
    ):
        unknown = sorted(k for k in kwargs if k not in TWIST_UNUSED_FIELDS)
        if unknown:
            warnings.warn("{} ignores unknown algorithm settings: {}".format(type(self).__name__, unknown))
        if schedule not in ("adaptive", "fixed"):
            raise ValueError("algorithm.schedule must be 'adaptive' or 'fixed', got {!r}".format(schedule))
        self.device = torch.device(device)
        self.actor_critic = actor_critic.to(self.device)
        self.num_learning_epochs = int(num_learning_epochs)
        self.num_mini_batches = int(num_mini_batches)
        self.clip_param = float(clip_param)
        self.gamma = float(gamma)
        self.lam = float(lam)
        self.value_loss_coef = float(value_loss_coef)
        self.entropy_coef = float(entropy_coef)
        self.learning_rate = float(learning_rate)
        self.max_grad_norm = float(max_grad_norm)
        self.use_clipped_value_loss = bool(use_clipped_value_loss)
        self.schedule = schedule
        self.desired_kl = float(desired_kl)
        self.tf32 = bool(tf32)
        self.symmetry_coef = float(symmetry_coef)
        # the symmetry loss's mirrors: of the (normalised) obs, and (permutation, signs) of the actions
        self._symmetry_obs = None  # type: Optional[NormalizedMirror]
        self._symmetry_action = None  # type: Optional[Tuple[torch.Tensor, torch.Tensor]]
        # a policy module without estimator_parameters (any nn.Module with ActorCriticMimic's methods) has none
        estimator_params = list(getattr(self.actor_critic, "estimator_parameters", list)())
        self.estimator_optimizer = (
            optim.Adam(estimator_params, lr=float(estimator_learning_rate)) if estimator_params else None
        )  # type: Optional[optim.Optimizer]
        # the estimator leaves out the transitions of the steps with infos["steps_since_push"] below this
        # (0: none); _estimator_steps: whether each stored step counts
        self.estimator_skip_after_push = int(estimator_skip_after_push)
        self._estimator_steps: List[bool] = []
        self.estimator_average_decay = float(estimator_average_decay)
        if not 0.0 <= self.estimator_average_decay < 1.0:
            raise ValueError(
                "algorithm.estimator_average_decay must be in [0, 1) (0: off), got {}".format(estimator_average_decay)
            )
        self.estimator_mirror = bool(estimator_mirror)
        self._estimator_mirrors = None  # type: Optional[Tuple[NormalizedMirror, NormalizedMirror]]
        # with the averaging: the trained estimator weights, taken from the estimator at its first update
        # (after a load or the ranks' broadcast) unless a checkpoint gives them
        self.estimator_trained_weights = None  # type: Optional[List[torch.Tensor]]
        own = {id(p) for p in estimator_params}
        params = [p for p in self.actor_critic.parameters() if p.requires_grad and id(p) not in own]
        self._ppo_params = params  # what the PPO step averages, clips and steps (not the estimator)
        if fast_update == "auto":
            fast_update = self.device.type == "cuda"
        self._lr_param = None  # type: Optional[torch.Tensor]
        optimizer = self._make_fast_optimizer(params) if fast_update else None
        if optimizer is None:
            optimizer = optim.Adam(params, lr=self.learning_rate)
        self.optimizer: optim.Optimizer = optimizer
        if self.fast_update and hasattr(self.actor_critic, "set_fast_kernels"):
            self.actor_critic.set_fast_kernels(True)
        # data-parallel (torchrun, rsl_rl.utils.distributed): gradients and the KL are averaged over
        # the ranks every minibatch; the CUDA-graph step is then off and the step runs eagerly, unless
        # distributed_cuda_graph records the all-reduces in the graph too (NCCL >= 2.9.6; opt-in)
        self.world_size = distributed.world_size()
        self.cuda_graph = (
            bool(cuda_graph)
            and self.fast_update
            and self.device.type == "cuda"
            and (self.world_size == 1 or bool(distributed_cuda_graph))
        )
        # compile_update (fast way only): the minibatch's forward passes and loss terms (`_losses`)
        # through torch.compile (True: the default backend, or a backend name; "auto": on when the
        # step is recorded in a CUDA graph and torch is at least COMPILE_AUTO_MIN_TORCH, the versions
        # it was checked with), so their element-wise work fuses; the backward pass is compiled with them.
        if compile_update == "auto":
            compile_update = self.cuda_graph and torch_version() >= COMPILE_AUTO_MIN_TORCH
        self._compiled_losses = None
        if compile_update and self.fast_update:
            backend = "inductor" if compile_update is True else str(compile_update)
            self._compiled_losses = torch.compile(self._losses, backend=backend)
        self._graph = None  # type: Optional[torch.cuda.CUDAGraph]
        self._graph_key: Optional[Tuple[int, int]] = None
        self._graph_warmup_done = 0
        self._graph_keys = None  # type: Optional[list]
        self._graph_idx = None  # type: Optional[torch.Tensor]
        self._graph_sums = None  # type: Optional[torch.Tensor]
        self.storage = None  # type: Optional[RolloutStorage]
        self.transition = Transition()

    def _make_fast_optimizer(self, params) -> Optional[optim.Optimizer]:
        """Fused Adam with a device-tensor learning rate (None where this torch has no such Adam)."""
        lr = torch.tensor(self.learning_rate, dtype=torch.float32, device=self.device)
        try:
            # capturable: the step may be recorded in a CUDA graph (cuda_graph; CUDA only)
            optimizer = optim.Adam(params, lr=lr, fused=True, capturable=self.device.type == "cuda")
        except (TypeError, RuntimeError, ValueError):
            return None
        self._lr_param = lr
        # the learning-rate rule's state: float64 like the host rule's Python floats, updated in place
        self._lr_state = torch.full((), self.learning_rate, dtype=torch.float64, device=self.device)
        return optimizer

    @property
    def fast_update(self) -> bool:
        """True while the optimizer is the fused Adam with a device learning rate built here."""
        return (
            self._lr_param is not None
            and len(self.optimizer.param_groups) == 1
            and self.optimizer.param_groups[0]["lr"] is self._lr_param
        )

    def _tf32_scope(self):
        return Tf32(self.tf32 and self.device.type == "cuda")

    def set_symmetry(self, obs_mirror, action_mirror, normalizer: Normalizer) -> None:
        """The mirror maps of the symmetry loss: obs_mirror and action_mirror are (permutation, signs)
        with mirrored[i] = signs[i] * x[permutation[i]] over the raw observation and the action;
        normalizer (its `mean`, `std`, `eps`) is the one that normalises the stored observations."""
        self._symmetry_obs = NormalizedMirror(obs_mirror, normalizer, self.device, "set_symmetry")
        self._symmetry_action = mirror_tensors(action_mirror, self.device, "set_symmetry (actions)")

    def _symmetry_loss(self, obs: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:
        """mean |mu(mirror(obs)) - mirror_a(mu)|^2 for normalised obs (the module doc)."""
        assert self._symmetry_obs is not None and self._symmetry_action is not None  # checked by update()
        act_perm, act_signs = self._symmetry_action
        mu_mirrored = self.actor_critic.act_inference(self._symmetry_obs(obs))
        return ((mu_mirrored - mu[:, act_perm] * act_signs) ** 2).sum(dim=-1).mean()

    def set_estimator_mirror(
        self, obs_mirror, critic_mirror, normalizer: Normalizer, critic_normalizer: Normalizer
    ) -> None:
        """The maps of `estimator_mirror`: (permutation, signs) over the raw actor obs and the raw critic obs,
        with the normalisers of the stored ones (the module doc)."""
        self._estimator_mirrors = (
            NormalizedMirror(obs_mirror, normalizer, self.device, "set_estimator_mirror (actor obs)"),
            NormalizedMirror(critic_mirror, critic_normalizer, self.device, "set_estimator_mirror (critic obs)"),
        )

    # --- rollout ---------------------------------------------------------------------------------
    def init_storage(
        self, num_envs: int, num_transitions_per_env: int, obs_shape, critic_obs_shape, actions_shape
    ) -> None:
        """critic_obs_shape None: the critic reads the actor observations."""
        self.storage = RolloutStorage(
            num_envs,
            num_transitions_per_env,
            obs_shape,
            critic_obs_shape,
            actions_shape,
            store_teacher=self._stores_teacher(),
            device=self.device,
        )

    def _stores_teacher(self) -> bool:
        return False

    def test_mode(self) -> None:
        self.actor_critic.eval()

    def train_mode(self) -> None:
        self.actor_critic.train()

    def act(self, obs: torch.Tensor, critic_obs: torch.Tensor) -> torch.Tensor:
        """Sample actions for (normalised) obs and record the transition's inputs."""
        t = self.transition
        with self._tf32_scope():
            t.actions = self.actor_critic.act(obs).detach()
            t.values = self.actor_critic.evaluate(critic_obs).detach()
        t.actions_log_prob = self.actor_critic.get_actions_log_prob(t.actions).detach()
        t.action_mean = self.actor_critic.action_mean.detach()
        t.action_sigma = self.actor_critic.action_std.detach()
        t.observations = obs
        t.critic_observations = critic_obs
        return t.actions

    def process_env_step(self, rewards: torch.Tensor, dones: torch.Tensor, infos: Dict) -> None:
        """Store the step's rewards and dones; time-outs bootstrap: r += gamma * V(s) * time_out."""
        t = self.transition
        t.rewards = rewards.clone().to(torch.float32)
        t.dones = dones
        if "time_outs" in infos:
            time_outs = infos["time_outs"].to(self.device).reshape(-1).to(torch.float32)
            assert t.values is not None, "act() records the values"
            t.rewards += self.gamma * t.values.reshape(-1) * time_outs
        since_push = infos.get("steps_since_push")
        self._estimator_steps.append(since_push is None or since_push >= self.estimator_skip_after_push)
        assert self.storage is not None, "init_storage() first"
        self.storage.add_transitions(t)
        t.clear()
        self.actor_critic.reset(dones)

    def compute_returns(self, last_critic_obs: torch.Tensor) -> None:
        with self._tf32_scope():
            last_values = self.actor_critic.evaluate(last_critic_obs).detach()
        assert self.storage is not None, "init_storage() first"
        self.storage.compute_returns(last_values, self.gamma, self.lam)

    # --- update ----------------------------------------------------------------------------------
    def update(self) -> Dict[str, float]:
        """PPO epochs over the stored rollout; returns the mean of each loss term (and the last lr)."""
        if self.symmetry_coef > 0 and self._symmetry_obs is None:
            raise RuntimeError(
                "algorithm.symmetry_coef > 0 needs the mirror maps: set_symmetry() (the runner calls it)"
            )
        if self.estimator_mirror and self.estimator_optimizer is not None and self._estimator_mirrors is None:
            raise RuntimeError(
                "algorithm.estimator_mirror needs the mirror maps: set_estimator_mirror() (the runner calls it)"
            )
        fast = self.fast_update
        if fast:
            assert self._lr_param is not None  # fast_update: the fused Adam's learning rate
            self._lr_state.fill_(self.learning_rate)
            self._lr_param.fill_(self.learning_rate)
            self._before_fast_update()
        if fast and self.cuda_graph:
            keys, sums, n = self._update_graphed()
        else:
            keys, sums, n = self._update_eager(fast)
        means = sums / n
        if self.estimator_optimizer is not None:
            loss, first_error = self._update_estimator()
            keys = keys + ["estimator"] + ["estimator_mean_error/{}".format(i) for i in range(len(first_error))]
            means = torch.cat([means, loss.reshape(1), first_error])
        assert self.storage is not None  # the update above read it
        self.storage.clear()
        self._estimator_steps = []
        # one read from the device per update: the mean terms (and the fast way's learning rate)
        stacked = [means] + ([self._lr_state.reshape(1)] if fast else [])
        values = torch.cat(stacked).tolist() if keys or fast else []
        if fast:
            self.learning_rate = values.pop()
        self._after_update()
        out = dict(zip(keys, values))
        out["learning_rate"] = self.learning_rate
        return out

    def _update_eager(self, fast: bool):
        """(term names, (T,) float64 sums over the minibatches, number of minibatches)."""
        sums = {}  # type: Dict[str, torch.Tensor]
        n = 0
        assert self.storage is not None, "init_storage() first"
        with self._tf32_scope():
            for batch in self.storage.mini_batch_generator(self.num_mini_batches, self.num_learning_epochs):
                terms = self._minibatch_step(batch, fast)
                for k, v in terms.items():
                    sums[k] = sums[k] + v if k in sums else v
                n += 1
        keys = list(sums)
        total = (
            torch.stack([sums[k].detach().to(torch.float64) for k in keys])
            if keys
            else torch.zeros(0, dtype=torch.float64, device=self.device)
        )
        return keys, total, n

    def _update_estimator(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """The state estimator's regression steps over the rollout's minibatches (its own Adam, fixed
        learning rate), without the steps just after a push (`estimator_skip_after_push`); returns the
        mean loss () and the first minibatch's mean error (T,) before any step (float64, on the device;
        NaN, and no step, when every step of the rollout is left out)."""
        assert self.storage is not None and self.estimator_optimizer is not None
        params = self.actor_critic.estimator_parameters()
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        first_error = None  # type: Optional[torch.Tensor]
        n = 0
        steps = None  # type: Optional[torch.Tensor]
        if not all(self._estimator_steps):
            kept = [i for i, counts in enumerate(self._estimator_steps) if counts]
            if not kept:
                target = self.actor_critic.estimator_target
                assert target is not None  # a policy with an estimator has its target
                nan = torch.full((len(target),), float("nan"), dtype=torch.float64)
                return total.fill_(float("nan")), nan.to(self.device)
            steps = torch.tensor(kept, device=self.device)
        average = None  # type: Optional[List[torch.Tensor]]
        with self._tf32_scope():
            for b in self.storage.mini_batch_generator(self.num_mini_batches, self.num_learning_epochs, steps):
                if first_error is None:  # with the weights the actor read (the average, with the averaging)
                    with torch.no_grad():
                        error = self.actor_critic.estimator_error(b.observations, b.critic_observations)
                        first_error = error.mean(dim=0).to(torch.float64)
                    if self.estimator_average_decay > 0:
                        average = self._trained_estimator_in()
                error = self.actor_critic.estimator_error(b.observations, b.critic_observations)
                if self.estimator_mirror:
                    assert self._estimator_mirrors is not None  # checked by update()
                    mirror_obs, mirror_critic = self._estimator_mirrors
                    mirrored = self.actor_critic.estimator_error(
                        mirror_obs(b.observations), mirror_critic(b.critic_observations)
                    )
                    error = torch.cat([error, mirrored])
                loss = error.square().mean()
                n += 1
                self.estimator_optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if self.world_size > 1:
                    distributed.average_gradients(params)
                self.estimator_optimizer.step()
                total += loss.detach()
        self.estimator_optimizer.zero_grad(set_to_none=True)
        if average is not None:
            self._average_estimator_out(average)
        assert first_error is not None  # the generator yields at least one minibatch
        return total / n, first_error

    def _trained_estimator_in(self) -> List[torch.Tensor]:
        """The averaging's start of an update: returns a copy of the estimator's (averaged) weights and puts
        the trained ones in its place for the regression steps."""
        params = self.actor_critic.estimator_parameters()
        average = [p.detach().clone() for p in params]
        if self.estimator_trained_weights is None:
            self.estimator_trained_weights = [p.detach().clone() for p in params]
        with torch.no_grad():
            for p, trained in zip(params, self.estimator_trained_weights):
                p.copy_(trained)
        return average

    def _average_estimator_out(self, average: List[torch.Tensor]) -> None:
        """The averaging's end of an update: keeps the trained weights and leaves
        decay * average + (1 - decay) * trained in the estimator (in place: recorded graphs keep reading it)."""
        params = self.actor_critic.estimator_parameters()
        assert self.estimator_trained_weights is not None  # _trained_estimator_in set them
        with torch.no_grad():
            for p, trained, avg in zip(params, self.estimator_trained_weights, average):
                trained.copy_(p)
                p.copy_(avg.lerp_(trained, 1.0 - self.estimator_average_decay))

    # --- the fast update recorded in a CUDA graph ----------------------------------------------
    #: eager minibatch steps (on a side stream) before the step is captured
    GRAPH_WARMUP_STEPS = 3

    def _graph_body(self) -> None:
        """One minibatch step on the rows `_graph_idx` of the storage; its terms are added to
        `_graph_sums` in place (the static buffers a captured graph reads and writes)."""
        assert self.storage is not None and self._graph_idx is not None  # set by _update_graphed
        terms = self._minibatch_step(self.storage.batch(self._graph_idx), True)
        if self._graph_keys is None:
            self._graph_keys = list(terms)
            self._graph_sums = torch.zeros(len(self._graph_keys), dtype=torch.float64, device=self.device)
        assert self._graph_sums is not None  # set with _graph_keys
        self._graph_sums.add_(torch.stack([terms[k].detach().to(torch.float64) for k in self._graph_keys]))
        # let this step's autograd graph go (an eager warm-up step's graph, kept alive by the stored
        # distribution, would tie the parameters' gradient accumulators to the warm-up stream)
        if hasattr(self.actor_critic, "distribution"):
            self.actor_critic.distribution = None

    def _update_graphed(self):
        """The fast update with each minibatch step replayed from one CUDA graph (no launches from
        the host per kernel). The same steps as `_update_eager(fast=True)`: the same permutation
        draw, minibatches, learning-rate rule and Adam; the first steps run eagerly, then the step
        is captured once and replayed (until the storage or the optimizer state is replaced)."""
        st = self.storage
        assert st is not None, "init_storage() first"
        batch_size = st.num_envs * st.num_transitions_per_env
        mb = batch_size // self.num_mini_batches
        if mb < 1:
            raise ValueError("{} transitions cannot fill {} minibatches".format(batch_size, self.num_mini_batches))
        key = (id(st), mb)
        if self._graph_key != key:
            self._drop_graph()
            self._graph_key = key
            self._graph_idx = torch.zeros(mb, dtype=torch.long, device=self.device)
        graph_idx = self._graph_idx
        assert graph_idx is not None  # set with _graph_key
        indices = torch.randperm(self.num_mini_batches * mb, device=self.device)
        if self._graph_sums is not None:
            self._graph_sums.zero_()
        n = 0
        with self._tf32_scope():
            for _ in range(self.num_learning_epochs):
                for i in range(self.num_mini_batches):
                    graph_idx.copy_(indices[i * mb : (i + 1) * mb])
                    if self._graph is not None:
                        self._graph.replay()
                    elif self._graph_warmup_done < self.GRAPH_WARMUP_STEPS:
                        side = torch.cuda.Stream(self.device)
                        side.wait_stream(torch.cuda.current_stream(self.device))
                        with torch.cuda.stream(side):
                            self._graph_body()
                        torch.cuda.current_stream(self.device).wait_stream(side)
                        self._graph_warmup_done += 1
                    else:
                        graph = torch.cuda.CUDAGraph()
                        self.optimizer.zero_grad(set_to_none=True)
                        with torch.cuda.graph(graph):
                            self._graph_body()
                        self._graph = graph
                        graph.replay()  # capturing ran nothing: this minibatch's step
                    n += 1
        assert self._graph_keys is not None and self._graph_sums is not None, "no minibatch step ran"
        return list(self._graph_keys), self._graph_sums.clone(), n

    def _drop_graph(self) -> None:
        self._graph = None
        self._graph_key = None
        self._graph_warmup_done = 0

    def _before_fast_update(self) -> None:
        """Hook: set device-side values a fast update reads (DAgger-PPO's coefficient)."""

    def _adapt_lr_on_device(self, kl_mean: torch.Tensor) -> None:
        """`adaptive_lr` as device ops on the float64 state; the fused Adam reads its float32 copy."""
        lr, kl, d = self._lr_state, kl_mean.detach().to(torch.float64), self.desired_kl
        lr = torch.where(
            kl > 2.0 * d,
            torch.clamp(lr / LR_FACTOR, min=LR_MIN),
            torch.where((kl > 0.0) & (kl < d / 2.0), torch.clamp(lr * LR_FACTOR, max=LR_MAX), lr),
        )
        self._lr_state.copy_(lr)
        assert self._lr_param is not None  # the fast update's fused Adam
        self._lr_param.copy_(lr)

    def _losses(self, b: Batch) -> Tuple[torch.Tensor, torch.Tensor, Dict[str, torch.Tensor]]:
        """The forward passes and loss terms of one minibatch: (loss, KL(old || new) mean, the
        detached terms to report)."""
        ac = self.actor_critic
        ac.update_distribution(b.observations)
        log_prob = ac.get_actions_log_prob(b.actions)
        values = ac.evaluate(b.critic_observations).reshape(-1)
        mu, sigma, entropy = ac.action_mean, ac.action_std, ac.entropy
        kl_mean = gaussian_kl(b.old_mu, b.old_sigma, mu.detach(), sigma.detach()).sum(dim=-1).mean()
        surrogate = surrogate_loss(log_prob, b.old_actions_log_prob, b.advantages, self.clip_param)
        v_loss = value_loss(values, b.target_values, b.returns, self.clip_param, self.use_clipped_value_loss)
        entropy_mean = entropy.mean()
        loss = surrogate + self.value_loss_coef * v_loss - self.entropy_coef * entropy_mean
        extra_loss, terms = self._extra_loss(b, mu, sigma)
        if extra_loss is not None:
            loss = loss + extra_loss
        if self.symmetry_coef > 0:
            symmetry = self._symmetry_loss(b.observations, mu)
            loss = loss + self.symmetry_coef * symmetry
            terms["symmetry"] = symmetry.detach()
        terms.update(value_func=v_loss.detach(), surrogate=surrogate.detach(), entropy=entropy_mean.detach())
        return loss, kl_mean, terms

    def _minibatch_step(self, b: Batch, fast: bool = False) -> Dict[str, torch.Tensor]:
        losses = self._compiled_losses if fast and self._compiled_losses is not None else self._losses
        loss, kl_mean, terms = losses(b)
        if self.world_size > 1:  # every rank adapts the learning rate from the same (mean) KL
            kl_mean = distributed.all_reduce_mean(kl_mean)
        if self.schedule == "adaptive" and self.desired_kl > 0:
            if fast:
                self._adapt_lr_on_device(kl_mean)
            else:
                self.learning_rate = adaptive_lr(self.learning_rate, float(kl_mean), self.desired_kl)
                for group in self.optimizer.param_groups:
                    group["lr"] = self.learning_rate

        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.world_size > 1:
            distributed.average_gradients(self._ppo_params)
        nn.utils.clip_grad_norm_(self._ppo_params, self.max_grad_norm)
        self.optimizer.step()
        terms["kl"] = kl_mean
        return terms

    def _extra_loss(self, b: Batch, mu: torch.Tensor, sigma: torch.Tensor):
        """Hook for additional loss terms: (loss or None, dict of detached terms to report)."""
        return None, {}

    def _after_update(self) -> None:
        """Hook run once after each update (DAgger-PPO advances its coefficient schedule)."""

    # --- checkpoints -----------------------------------------------------------------------------
    def optimizer_state_dict(self) -> Dict:
        """The optimizer state in the plain format: float learning rate, per-tensor Adam flags and
        step counts on the host (as a plain Adam writes them), whichever way the update runs."""
        state = self.optimizer.state_dict()
        if not self.fast_update:
            return state
        groups = [dict(g, lr=self.learning_rate, fused=None, capturable=False) for g in state["param_groups"]]
        per_param = {}
        for key, entry in state["state"].items():
            entry = dict(entry)
            if isinstance(entry.get("step"), torch.Tensor):
                entry["step"] = entry["step"].detach().to("cpu", torch.float32)
            per_param[key] = entry
        return {"state": per_param, "param_groups": groups}

    def load_optimizer_state_dict(self, state: Dict) -> None:
        """Restore the optimizer, and with it the current learning rate under the "adaptive" schedule; under
        "fixed" the configured rate stays (a run resumed with another rate or schedule gets it)."""
        lr = float(state["param_groups"][0]["lr"]) if self.schedule == "adaptive" else self.learning_rate
        if self.fast_update:
            self._drop_graph()  # the optimizer's state tensors are replaced: record the step again
            capturable = self.device.type == "cuda"
            assert self._lr_param is not None  # fast_update: the fused Adam's learning rate
            groups = [
                dict(g, lr=self._lr_param, fused=True, foreach=None, capturable=capturable)
                for g in state["param_groups"]
            ]
            self.optimizer.load_state_dict({"state": state["state"], "param_groups": groups})
            for group in self.optimizer.param_groups:
                group["lr"] = self._lr_param
            self._lr_param.fill_(lr)
            self.learning_rate = lr
            return
        self.optimizer.load_state_dict(state)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.learning_rate = lr

    def dagger_state(self) -> Optional[Dict]:
        """Coefficient schedule state for checkpoints (None for plain PPO)."""
        return None

    def load_dagger_state(self, state: Optional[Dict]) -> None:
        """Nothing to restore for plain PPO."""
