"""CMGMotionLib: reference motion generated on the fly by the CMG from per-env velocity commands
(docs/motion_data.md, CMG motion library; docs/decisions.md D19).

The environment asks it the same questions it asks `MotionLib` (`calc_motion_frame(ids, times)`
with the same seven outputs, `get_motion_length`, `get_body_names`, `get_key_body_idx`,
`sample_motions`, `num_motions`, ...), where "motion" i is env i's own generated timeline, plus
three calls that drive the generator: `reset(env_ids)` / `reset_where(mask)` when envs start an
episode, `step()` once per env step, and `get_commands()` for the command rewards. The deploy
high-level server (`deploy_real/cmg_reference.py`) runs one env for as long as it streams and changes
its command live with `set_commands(env_ids, commands)`.

Per env, a ring buffer of `horizon + 2 chunk` frames holds the generated reference. The env's
current frame is `frame` (its motion time is frame x dt); frames up to `frame + horizon` are always
there:

- at a reset the env receives a ready-made head of `horizon + chunk` frames (frames
  0..horizon + chunk - 1);
- `step()` advances every env's frame by one and, every `chunk`-th call, generates the next `chunk`
  frames of every env (`chunk` batched CMG steps, no loop over envs, then one batched forward
  kinematics of all of them), so frames `frame`..`frame + horizon` are there at every query (and at
  most `horizon + 2 chunk - 1` frames from `frame` on). Frame counters are integers and the yaw is
  wrapped into [-pi, pi), so a timeline may run without end. The frames do not depend on `chunk`: a
  frame is the same CMG step of the same state and command whenever it is generated. `chunk` = 1
  (the default) generates one frame per step; larger chunks pay the forward kinematics' many small
  kernels once per chunk.

With `horizon` = the largest future step the observations query (95 x 0.02 s = 1.9 s), every query
lands on a generated frame; a query outside the buffer is clamped to the nearest generated frame
and counted in `num_clamped` (tested to stay 0 in training).

Heads come from a pool of `pool_size` heads (rounded up to even) in two halves, each generated in one
batch (horizon CMG steps for the half), so a reset costs a copy instead of `horizon` sequential CMG
steps. Resetting envs take the next heads in a circular order over the pool, in env order (a reset by
index list and one by mask take the same heads). Every `pool_refresh_steps` steps the count of heads
taken is read on the host (one device synchronisation) and each half whose heads have all been taken
since it was generated is generated again; the first reset (usually of every env) takes both. So the
heads generated are the heads taken, not a whole pool per refresh (on a GPU, though, a batch's time
hardly depends on its size: its horizon sequential CMG steps set it; `bench/bench_cmg_motion_lib.py`);
a trained policy's 10 s episodes take a few hundred heads per 50 steps, so most checks generate
nothing. When more envs reset between two checks than the pool holds, heads are reused.
`reset(env_ids, commands=...)` generates fresh heads for given commands.

One head: commands drawn uniformly from `command_ranges` (vx, vy in m/s in the heading frame, wz in
rad/s); with probability `mirror_prob` the env is mirrored: the CMG runs under the mirrored command
and its output is mirrored back (`pose.cmg.joints.mirror_motion`), so the reference moves as
the env's own command says with left and right swapped; optionally one command switch (below). The
generator starts from the checkpoint's standing pose (after `warmup_steps` CMG steps under the
first command, default none). Each frame:

- joints: the CMG state (29 positions, 29 velocities) with the wrists dropped (29 -> 23,
  `pose.cmg.joints.index_23_in_29`);
- root: integrated from the command, Euler steps yaw_{k+1} = yaw_k + wz_k dt and
  p_{k+1} = p_k + R(yaw_k) [vx_k, vy_k] dt from (0, 0) heading +x (as
  `cmg_workspace.rollout.integrate_root`); height `height` (0.75 m), or with `height_from_fk` the
  height that puts the lowest point of the feet on the ground (`pose.kinematics.FootGeometry`);
  roll and pitch 0; linear velocity R(yaw) [vx, vy, 0] and angular velocity (0, 0, wz) (world);
- foot lock (`foot_lock`, off by default): the leg joints corrected so that the stance foot stays
  where it touched down under this root (`pose.cmg.foot_lock`), its state carried per env from chunk
  to chunk and in each head (so the frames do not depend on the chunk); it works on world positions in
  float32, so on a timeline kilometres long its slide correction carries the millimetre rounding of
  those coordinates;
- bodies: the key bodies (default the facts table's 9) by forward kinematics of the 23 joints (after
  the foot lock) (`pose.kinematics.ForwardKinematics`), relative to the root in the root frame.

Command switch (`CommandSwitch`, off by default): a second command cmd_B, differing from the first by
at least `min_delta` in one component (8 draws, else each component goes to the range bound far
from cmd_A), takes over at a time drawn from `time_range_s` (at least one step). Frames are
generated ahead, so the reference (and the 1.9 s look-ahead) shows the change as it comes;
`get_commands()` returns the command of each env's current frame.

Generated states are kept finite and within +-`state_clip` standard deviations of the data, so a
diverging generator cannot put NaN into observations.

Speed (`bench/bench_cmg_motion_lib.py`): on CUDA with `cuda_graph` (default) the device work of a
generating `step()`, of a pool refresh and of `reset_where` each replay from one CUDA graph
(`pose.utils.cuda_graph.GraphedCall`; the draws of a refresh stay outside it), instead of the
hundreds of small kernels of a CMG step and the forward kinematics of its frames; the same results.
With `tf32` the generator network's products run on the tensor cores in TF32: on one H200 at 4096
envs, 1.69 -> 1.30 ms of generation per env step at 1 % resets per step, 0.88 ms at 0.2 %
(`bench/results/cmg_motion_lib_cuda_2026-12-01_chunk8_tf32*.json`); frames then differ from float32
ones by the TF32 rounding, compounded over the autoregressive steps.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from pose.cmg import joints
from pose.cmg.checkpoint import load_cmg
from pose.cmg.foot_lock import FootLock
from pose.formats import MotionFileError
from pose.g1_model import ASSETS_DIR, load_g1
from pose.kinematics import FootGeometry, ForwardKinematics
from pose.utils.cuda_graph import GraphedCall
from pose.utils.tf32 import Tf32
from pose.utils.torch_utils import wrap_angle, yaw_to_quat

#: The CMG shipped with the project (a release checkpoint, `cmg_workspace/README.md`).
SHIPPED_CMG = ASSETS_DIR / "cmg" / "cmg.pt"
#: Default command ranges (vx, vy, wz): the slow speed mode.
DEFAULT_RANGES = ((0.5, 1.5), (-0.3, 0.3), (-0.5, 0.5))
NO_SWITCH = 1 << 60  # switch frame of an env without a command switch
FRAME_FIELDS = ("dof_pos", "dof_vel", "root_pos", "yaw", "cmd", "key_pos")


@dataclass
class CommandSwitch:
    """One command change per episode (off unless `enabled`)."""

    enabled: bool = False
    time_range_s: Tuple[float, float] = (0.1, 1.0)
    min_delta: Tuple[float, float, float] = (0.25, 0.1, 0.1)
    max_draws: int = 8


@dataclass
class Heads:
    """Episode starts: frames 0..L-1 (L = horizon + chunk) in the ring's row layout, (n, L, width),
    and per-head state."""

    packed: torch.Tensor
    x_hat: torch.Tensor  # (n, 58) normalised generator state of the last frame (unmirrored)
    root_last: torch.Tensor  # (n, 3)
    yaw_last: torch.Tensor  # (n,)
    cmd_a: torch.Tensor  # (n, 3) env commands (mirrored envs: as the env sees it)
    cmd_b: torch.Tensor
    switch_frame: torch.Tensor  # (n,) long
    mirror: torch.Tensor  # (n,) bool
    lock_state: torch.Tensor  # (n, W) the foot lock's packed state after the last frame (W = 0 without it)


def heading_to_world(yaw: torch.Tensor, cmd: torch.Tensor) -> torch.Tensor:
    """(...,) yaw and (..., >= 2) heading-frame velocities [vx, vy, ...] -> (..., 2) world-frame xy."""
    cy, sy = torch.cos(yaw), torch.sin(yaw)
    vx, vy = cmd[..., 0], cmd[..., 1]
    return torch.stack([cy * vx - sy * vy, sy * vx + cy * vy], dim=-1)


def commands_beyond_training(ranges, command_min, command_max) -> List[str]:
    """One line per command component (vx, vy, wz) whose band [lo, hi] (`ranges` (3, 2)) reaches beyond
    the CMG's trained command range [command_min, command_max] (its data's, stored with the model)."""
    out = []
    for name, (lo, hi), cmin, cmax in zip(("vx", "vy", "wz"), ranges.tolist(), command_min, command_max):
        cmin, cmax = float(cmin), float(cmax)
        if lo < cmin - 1e-6 or hi > cmax + 1e-6:
            out.append("{} band [{:g}, {:g}], trained [{:.3g}, {:.3g}]".format(name, lo, hi, cmin, cmax))
    return out


def load_generator(path=None, device="cpu"):
    """`pose.cmg.checkpoint.load_cmg` of `path` (None: the shipped CMG), errors as
    MotionFileError naming the file."""
    path = SHIPPED_CMG if path is None else Path(path)
    try:
        return load_cmg(path, device=device)
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        hint = ""
        if Path(path) == SHIPPED_CMG and not SHIPPED_CMG.exists():
            hint = " (the shipped CMG is missing: pass a checkpoint or run folder of python -m cmg_workspace.train)"
        raise MotionFileError("CMG model {}: {}{}".format(path, e, hint)) from None


class CMGMotionLib:
    """CMG references for `num_envs` envs on `device` (see the module docstring).

    Args:
      model: path of a CMG checkpoint or run folder (None: the shipped CMG), or a `LoadedCMG`.
      num_envs: envs; "motion" i is env i.
      episode_length_s: what `get_motion_length` reports (episodes end there when headless).
      dt: seconds per generated frame (the policy step; the CMG's own rate must match).
      command_ranges: ((vx_lo, vx_hi), (vy_lo, vy_hi), (wz_lo, wz_hi)).
      horizon: look-ahead in frames that every env keeps generated (the largest future step queried).
      key_bodies: bodies of `local_body_pos` (default: the facts table's key bodies).
      height, height_from_fk: root height of the reference (see the module docstring).
      mirror_prob: probability that an episode is mirrored.
      command_switch: `CommandSwitch` settings (None: off).
      pool_size: heads in the pool, rounded up to even (None or 0: num_envs).
      pool_refresh_steps: steps between checks for used-up pool halves (generated again).
      warmup_steps: CMG steps from the standing pose before frame 0.
      seed: seed of the library's own random generator.
      state_clip: bound of the normalised generator state.
      cuda_graph: on CUDA, replay the device work of `step()` and of pool refreshes from CUDA graphs.
      tf32: on CUDA, the generator network's matrix products in TF32 (`pose.utils.tf32`; the forward
        kinematics and the root integration stay float32).
      foot_lock: hold the stance foot in place by leg IK (`pose.cmg.foot_lock.FootLock`, its default
        settings), frame after frame as they are generated.
    """

    def __init__(
        self,
        model=None,
        num_envs: int = 1,
        device="cpu",
        episode_length_s: float = 10.0,
        dt: float = 0.02,
        command_ranges: Sequence[Sequence[float]] = DEFAULT_RANGES,
        horizon: int = 95,
        key_bodies: Optional[Sequence[str]] = None,
        height: float = 0.75,
        height_from_fk: bool = False,
        mirror_prob: float = 0.5,
        command_switch: Optional[CommandSwitch] = None,
        pool_size: Optional[int] = None,
        pool_refresh_steps: int = 50,
        warmup_steps: int = 0,
        seed: int = 0,
        state_clip: float = 10.0,
        cuda_graph: bool = True,
        chunk: int = 1,
        tf32: bool = False,
        foot_lock: bool = False,
    ):
        self.device = torch.device(device)
        loaded = model if hasattr(model, "model") and hasattr(model, "stats") else load_generator(model, self.device)
        self.model_path = str(getattr(loaded, "path", "<in-memory>"))
        self.model = loaded.model.to(self.device).eval()
        self.stats = loaded.stats.tensors(self.device)
        if abs(float(loaded.fps) * float(dt) - 1.0) > 1e-6:
            raise MotionFileError(
                "CMG model {}: generates at {} fps, but the reference advances one frame every {} s ({} fps)".format(
                    self.model_path, loaded.fps, dt, 1.0 / float(dt)
                )
            )
        self.num_envs = int(num_envs)
        self.dt = float(dt)
        self.episode_length_s = float(episode_length_s)
        self.horizon = int(horizon)
        if self.num_envs < 1 or self.horizon < 1:
            raise ValueError("num_envs and horizon must be >= 1, got {} and {}".format(num_envs, horizon))
        self.chunk = int(chunk)
        if self.chunk < 1:
            raise ValueError("chunk must be >= 1, got {}".format(chunk))
        self.head_frames = self.horizon + self.chunk
        self.capacity = self.horizon + 2 * self.chunk  # the look-ahead's maximum and the previous frame
        ranges = torch.as_tensor([[float(v) for v in r] for r in command_ranges], dtype=torch.float32)
        if ranges.shape != (3, 2) or bool((ranges[:, 1] < ranges[:, 0]).any()):
            raise ValueError(
                "command_ranges: expected ((vx_lo, vx_hi), (vy_lo, vy_hi), (wz_lo, wz_hi)) with "
                "lo <= hi, got {}".format(command_ranges)
            )
        self.command_ranges = ranges.to(self.device)
        outside = commands_beyond_training(ranges, loaded.stats.command_min, loaded.stats.command_max)
        if outside:
            warnings.warn(
                "CMG model {}: the command band reaches beyond the commands it was trained on ({}); "
                "the generator extrapolates there".format(self.model_path, "; ".join(outside)),
                stacklevel=2,
            )
        self.height = float(height)
        self.height_from_fk = bool(height_from_fk)
        self.mirror_prob = float(mirror_prob)
        self.switch = command_switch or CommandSwitch()
        self._switch_delta = torch.as_tensor([float(v) for v in self.switch.min_delta], device=self.device)
        self._half_pool = (int(pool_size or self.num_envs) + 1) // 2
        self.pool_size = 2 * self._half_pool
        self.pool_refresh_steps = max(int(pool_refresh_steps), 1)
        self.warmup_steps = int(warmup_steps)
        self.state_clip = float(state_clip)
        self.tf32 = bool(tf32) and self.device.type == "cuda"

        g1 = load_g1()
        self._key_bodies = list(key_bodies) if key_bodies else list(g1.key_bodies)
        self._dof_names = list(g1.dof_names)
        self._fk = ForwardKinematics(g1, bodies=self._key_bodies, device=self.device)
        self._feet = FootGeometry(g1, device=self.device) if self.height_from_fk else None
        self._lock = FootLock(g1, device=self.device) if foot_lock else None
        dev = self.device
        self._idx23 = torch.as_tensor(joints.index_23_in_29(), device=dev, dtype=torch.long)
        perm, signs = joints.mirror_map()
        nj = joints.NUM_JOINTS
        self._mirror_perm = torch.as_tensor(perm + [nj + p for p in perm], device=dev, dtype=torch.long)
        self._mirror_signs = torch.as_tensor(signs + signs, device=dev, dtype=torch.float32)
        self._cmd_signs = torch.as_tensor(joints.COMMAND_SIGNS, device=dev, dtype=torch.float32)
        self._num_joints = nj
        start = torch.as_tensor(loaded.standing_pose, device=dev, dtype=torch.float32).reshape(-1)
        self._start_hat = self.stats.normalise_motion(start)

        self._rng = torch.Generator(device=dev)
        self._rng.manual_seed(int(seed))
        n, c, k = self.num_envs, self.capacity, len(self._key_bodies)
        # The ring's per-frame fields side by side in one (N, capacity, width) buffer (`_ring_views`
        # names them): a reference query gathers its frames with one indexing kernel, a step writes
        # its new frames and a reset its head with one.
        d = len(self._dof_names)
        self._ring_shapes = {
            "dof_pos": (d,),
            "dof_vel": (d,),
            "root_pos": (3,),
            "yaw": (),
            "cmd": (3,),
            "key_pos": (k, 3),
        }
        self._ring_packed = self._zeros(n, c, sum(math.prod(shape) for shape in self._ring_shapes.values()))
        self._all = torch.arange(n, device=dev)
        self._frame = torch.zeros(n, device=dev, dtype=torch.long)  # current frame of each env
        self._gen = torch.zeros(n, device=dev, dtype=torch.long)  # frames generated (next index)
        self._x_hat = self._start_hat.expand(n, -1).clone()
        self._root_last = self._zeros(n, 3)
        self._yaw_last = self._zeros(n)
        self._cmd_a = self._zeros(n, 3)
        self._cmd_b = self._zeros(n, 3)
        self._switch_frame = torch.full((n,), NO_SWITCH, device=dev, dtype=torch.long)
        self._mirror = torch.zeros(n, device=dev, dtype=torch.bool)
        self._lock_state = self._zeros(n, self._lock.state_width if self._lock is not None else 0)
        self.num_clamped = torch.zeros((), device=dev, dtype=torch.long)
        self._steps = 0
        self._started = False
        self._pool: Optional[Heads] = None
        self._pool_ptr = torch.zeros((), device=dev, dtype=torch.long)  # heads taken since __init__
        # Heads of positions [_pool_lo, _pool_lo + pool_size) of the taking order are in the pool (row:
        # position % pool_size); _pool_lo moves by half a pool whenever a used-up half is generated again.
        self._pool_lo = 0
        self._pool_draws: Optional[Tuple[torch.Tensor, ...]] = None  # a half's draws (static on CUDA)
        self._pool_rows = torch.zeros(self._half_pool, device=dev, dtype=torch.long)  # the half's rows (static)
        self._reset_mask = torch.zeros(n, device=dev, dtype=torch.bool)  # reset_where's input (static)
        self._step_call = GraphedCall(self._generate_next_frames, dev, enabled=cuda_graph)
        self._pool_call = GraphedCall(self._generate_pool, dev, enabled=cuda_graph)
        self._reset_call = GraphedCall(self._reset_masked, dev, enabled=cuda_graph)
        for half in range(2):
            self._generate_half(half * self._half_pool)

    def _zeros(self, *shape: int) -> torch.Tensor:
        return torch.zeros(shape, device=self.device, dtype=torch.float32)

    # --- information (MotionLib's interface) ---------------------------------------------------
    def num_motions(self) -> int:
        return self.num_envs

    def _ids(self, motion_ids) -> torch.Tensor:
        return torch.as_tensor(motion_ids, device=self.device).long()

    def get_motion_length(self, motion_ids=None) -> torch.Tensor:
        """episode_length_s for every env (all envs when `motion_ids` is None)."""
        shape = (self.num_envs,) if motion_ids is None else tuple(self._ids(motion_ids).shape)
        return torch.full(shape, self.episode_length_s, device=self.device)

    def get_total_length(self) -> float:
        return self.episode_length_s * self.num_envs

    def get_motion_weights(self) -> torch.Tensor:
        return torch.full((self.num_envs,), 1.0 / self.num_envs, device=self.device)

    @property
    def motion_names(self) -> List[str]:
        return ["cmg_env_{}".format(i) for i in range(self.num_envs)]

    @property
    def motion_files(self) -> List[str]:
        return [self.model_path] * self.num_envs

    def get_body_names(self) -> List[str]:
        """The bodies of `local_body_pos`: the key bodies."""
        return list(self._key_bodies)

    def get_dof_names(self) -> List[str]:
        return list(self._dof_names)

    def get_key_body_idx(self, key_body_names: Sequence[str]) -> torch.Tensor:
        idx = []
        for name in key_body_names:
            if name not in self._key_bodies:
                raise KeyError(
                    "key body {!r} is not generated by the CMG library (bodies: {})".format(name, self._key_bodies)
                )
            idx.append(self._key_bodies.index(name))
        return torch.tensor(idx, device=self.device, dtype=torch.long)

    def sample_motions(self, n: int, motion_difficulty=None, generator=None) -> torch.Tensor:
        """Env i plays its own timeline: ids 0..n-1 (no random draw)."""
        return torch.arange(int(n), device=self.device) % self.num_envs

    def sample_time(self, motion_ids, truncate_time=None, generator=None) -> torch.Tensor:
        """Episodes start at the first generated frame: 0."""
        return torch.zeros(self._ids(motion_ids).shape, device=self.device)

    def __repr__(self) -> str:
        return "CMGMotionLib({} envs, model {}, horizon {} frames, device={})".format(
            self.num_envs, self.model_path, self.horizon, self.device
        )

    # --- time and commands -----------------------------------------------------------------------
    def motion_times(self) -> torch.Tensor:
        """(N,) each env's time in its generated timeline (its current frame x dt)."""
        return self._frame.to(torch.float32) * self.dt

    def current_frames(self) -> torch.Tensor:
        return self._frame.clone()

    def generated_frames(self) -> torch.Tensor:
        """(N,) number of frames generated per env (frames 0..n-1 exist, the last `capacity` kept)."""
        return self._gen.clone()

    def _command_at(self, frames: torch.Tensor) -> torch.Tensor:
        """(N, ..., 3) the command of frames (N, ...) of every env."""
        lead = (self.num_envs,) + (1,) * (frames.dim() - 1)
        switched = (frames >= self._switch_frame.view(lead)).unsqueeze(-1)
        return torch.where(switched, self._cmd_b.view(lead + (3,)), self._cmd_a.view(lead + (3,)))

    def get_commands(self) -> torch.Tensor:
        """(N, 3) the command (vx, vy, wz) of each env's current frame, as the env sees it (mirrored
        envs: the mirrored command, which is the one their reference follows)."""
        return self._command_at(self._frame)

    def mirrored(self) -> torch.Tensor:
        """(N,) bool: envs whose episode is mirrored."""
        return self._mirror.clone()

    def set_commands(self, env_ids, commands) -> None:
        """Envs `env_ids` follow `commands` (n, 3) from now on, as the env sees them, with no pending switch:
        the frames the next `step()`s generate continue the generator state and the root under it (frames
        already generated keep their command, so the reference shows the change `horizon` frames ahead);
        `get_commands()` returns it at once."""
        env_ids = self._ids(env_ids).reshape(-1)
        cmd = torch.as_tensor(commands, device=self.device, dtype=torch.float32).reshape(-1, 3)
        self._cmd_a[env_ids] = cmd
        self._cmd_b[env_ids] = cmd
        self._switch_frame[env_ids] = NO_SWITCH

    # --- generation --------------------------------------------------------------------------------
    def _advance(self, x_hat: torch.Tensor, c_hat: torch.Tensor) -> torch.Tensor:
        with Tf32(self.tf32):
            out = self.model(x_hat, c_hat)
        return torch.nan_to_num(out, nan=0.0, posinf=self.state_clip, neginf=-self.state_clip).clamp(
            -self.state_clip, self.state_clip
        )

    def _generator_command(self, cmd: torch.Tensor, mirror: torch.Tensor) -> torch.Tensor:
        """Normalised CMG input for env commands `cmd` (n, ..., 3): mirrored envs run the mirrored one."""
        m = mirror.view((-1,) + (1,) * (cmd.dim() - 1))
        return self.stats.normalise_command(torch.where(m, cmd * self._cmd_signs, cmd))

    def mirror_state(self, x: torch.Tensor) -> torch.Tensor:
        """Mirror raw CMG states (..., 58) (left <-> right, roll and yaw joints negated)."""
        return x[..., self._mirror_perm] * self._mirror_signs

    def _frames_of(self, x_hat: torch.Tensor, mirror: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Joints and root height of normalised states (n, ..., 58)."""
        raw = self.stats.denormalise_motion(x_hat)
        m = mirror.view((-1,) + (1,) * (raw.dim() - 1))
        raw = torch.where(m, self.mirror_state(raw), raw)
        nj = self._num_joints
        dof_pos = raw[..., :nj].index_select(-1, self._idx23)
        dof_vel = raw[..., nj:].index_select(-1, self._idx23)
        if self._feet is not None:
            lead = dof_pos.shape[:-1]
            root = torch.zeros(lead + (3,), device=self.device)
            rot = torch.zeros(lead + (4,), device=self.device)
            rot[..., 3] = 1.0
            z = -self._feet.lowest_points(root, rot, dof_pos).amin(dim=-1)
        else:
            z = torch.full(dof_pos.shape[:-1], self.height, device=self.device)
        return {"dof_pos": dof_pos, "dof_vel": dof_vel, "z": z}

    def _locked(
        self,
        out: Dict[str, torch.Tensor],
        root_pos: torch.Tensor,
        yaw: torch.Tensor,
        lock_state: Optional[torch.Tensor] = None,
    ) -> Tuple[Dict[str, torch.Tensor], torch.Tensor]:
        """Joints (after the foot lock, if on) and key bodies of frames (n, T) under their root, and the
        lock's packed state after them (`lock_state` the one before them; None: episodes that start
        with these frames)."""
        dof_pos, dof_vel = out["dof_pos"], out["dof_vel"]
        n = dof_pos.shape[0]
        if self._lock is None:
            lock_state = self._zeros(n, 0)
        else:
            before = None if lock_state is None else self._lock.unpack(lock_state)
            dof_pos, dof_vel, state, _ = self._lock(root_pos, yaw, dof_pos, dof_vel, self.dt, before)
            lock_state = state.packed()
        return {"dof_pos": dof_pos, "dof_vel": dof_vel, "key_pos": self._fk.local_body_pos(dof_pos)}, lock_state

    def _draw(self, n: int):
        """Commands, switch and mirror flags of `n` episodes (a fixed number of draws per episode)."""
        dev, g, r = self.device, self._rng, self.command_ranges
        lo, hi = r[:, 0], r[:, 1]
        cmd_a = lo + torch.rand(n, 3, device=dev, generator=g) * (hi - lo)
        mirror = torch.rand(n, device=dev, generator=g) < self.mirror_prob
        sw = self.switch
        if not sw.enabled:
            return cmd_a, cmd_a.clone(), torch.full((n,), NO_SWITCH, device=dev, dtype=torch.long), mirror
        k = max(int(sw.max_draws), 1)
        cand = lo + torch.rand(n, k, 3, device=dev, generator=g) * (hi - lo)
        ok = ((cand - cmd_a.unsqueeze(1)).abs() >= self._switch_delta).any(dim=-1)  # (n, k)
        first = torch.argmax(ok.to(torch.int64), dim=1)
        chosen = cand[torch.arange(n, device=dev), first]
        far = torch.where(cmd_a < 0.5 * (lo + hi), hi.expand_as(cmd_a), lo.expand_as(cmd_a))
        cmd_b = torch.where(ok.any(dim=1, keepdim=True), chosen, far)
        cmd_b = torch.minimum(torch.maximum(cmd_b, lo), hi)
        t0, t1 = float(sw.time_range_s[0]), float(sw.time_range_s[1])
        t = (t0 + torch.rand(n, device=dev, generator=g) * (t1 - t0)).clamp_min(self.dt)
        switch_frame = torch.ceil(t / self.dt - 1e-6).long().clamp_min(1)
        return cmd_a, cmd_b, switch_frame, mirror

    @torch.no_grad()
    def generate_heads(
        self, cmd_a: torch.Tensor, cmd_b: torch.Tensor, switch_frame: torch.Tensor, mirror: torch.Tensor
    ) -> Heads:
        """Frames 0..horizon + chunk - 1 of new episodes with these commands (batched over episodes)."""
        n, steps = cmd_a.shape[0], self.head_frames
        frame = torch.arange(steps, device=self.device)
        switched = (frame.unsqueeze(0) >= switch_frame.unsqueeze(1)).unsqueeze(-1)
        cmd = torch.where(switched, cmd_b.unsqueeze(1), cmd_a.unsqueeze(1))  # (n, steps, 3)
        c_hat = self._generator_command(cmd, mirror)
        x = self._start_hat.expand(n, -1)
        for _ in range(self.warmup_steps):
            x = self._advance(x, c_hat[:, 0])
        xs = [x]
        for k in range(steps - 1):
            x = self._advance(x, c_hat[:, k])
            xs.append(x)
        x_hat = torch.stack(xs, dim=1)
        out = self._frames_of(x_hat, mirror)
        # Root: Euler steps of the yaw and of the position along the heading, from the origin.
        wz_dt = cmd[:, :-1, 2] * self.dt
        yaw = torch.cat([torch.zeros(n, 1, device=self.device), torch.cumsum(wz_dt, dim=1)], dim=1)
        step_xy = heading_to_world(yaw[:, :-1], cmd[:, :-1]) * self.dt
        xy = torch.cat([torch.zeros(n, 1, 2, device=self.device), torch.cumsum(step_xy, dim=1)], dim=1)
        root_pos = torch.cat([xy, out["z"].unsqueeze(-1)], dim=-1)
        joints_, lock_state = self._locked(out, root_pos, yaw)
        packed = self._pack({**joints_, "root_pos": root_pos, "yaw": yaw, "cmd": cmd}, (n, steps))
        return Heads(
            packed,
            x_hat[:, -1].clone(),
            root_pos[:, -1].clone(),
            yaw[:, -1].clone(),
            cmd_a.clone(),
            cmd_b.clone(),
            switch_frame.clone(),
            mirror.clone(),
            lock_state,
        )

    def _refresh_pool(self) -> None:
        """Generate again each pool half whose heads have all been taken (reads the count on the host)."""
        taken, half = int(self._pool_ptr), self._half_pool
        for _ in range(2):
            if taken - self._pool_lo < half:
                return
            self._generate_half(self._pool_lo % self.pool_size)
            self._pool_lo += half
        if taken - self._pool_lo >= half:  # more taken than the pool holds: all of it is new now
            self._pool_lo = taken - taken % half

    def _generate_half(self, first_row: int) -> None:
        draws = self._draw(self._half_pool)
        if self._pool_draws is None:
            self._pool_draws = draws
        else:  # in place: a captured refresh reads these tensors
            for buf, value in zip(self._pool_draws, draws):
                buf.copy_(value)
        torch.arange(first_row, first_row + self._half_pool, out=self._pool_rows)
        self._pool_call()

    def _generate_pool(self) -> None:
        """The device work of a pool refresh: heads for the drawn `_pool_draws`, written into rows
        `_pool_rows` of the same pool tensors every time (a captured reset reads them)."""
        assert self._pool_draws is not None
        heads = self.generate_heads(*self._pool_draws)
        if self._pool is None:
            self._pool = Heads(
                *(
                    getattr(heads, f.name).new_zeros((self.pool_size,) + getattr(heads, f.name).shape[1:])
                    for f in fields(Heads)
                )
            )
        for field in fields(Heads):
            getattr(self._pool, field.name).index_copy_(0, self._pool_rows, getattr(heads, field.name))

    def _pack(self, values: Dict[str, torch.Tensor], lead: Tuple[int, ...]) -> torch.Tensor:
        """Frame fields (*lead, *shape) side by side in ring rows (*lead, width)."""
        return torch.cat([values[name].reshape(lead + (-1,)) for name in FRAME_FIELDS], dim=-1)

    def _ring_views(self, packed: torch.Tensor) -> Dict[str, torch.Tensor]:
        """The fields of packed ring rows (..., width) as views (..., *shape)."""
        views, start = {}, 0
        for name in FRAME_FIELDS:
            shape = self._ring_shapes[name]
            width = math.prod(shape)  # 1 for a scalar field
            part = packed[..., start : start + width]
            views[name] = part[..., 0] if shape == () else part.view(part.shape[:-1] + shape)
            start += width
        return views

    def _head_buffers(self) -> List[Tuple[str, torch.Tensor]]:
        """(`Heads` field, the env buffer a head's field is installed into), for every field."""
        return [
            (f.name, self._ring_packed[:, : self.head_frames] if f.name == "packed" else getattr(self, "_" + f.name))
            for f in fields(Heads)
        ]

    def _install(self, env_ids: torch.Tensor, heads: Heads, idx: torch.Tensor) -> None:
        for name, buf in self._head_buffers():
            buf[env_ids] = getattr(heads, name)[idx]
        self._frame.index_fill_(0, env_ids, 0)
        self._gen.index_fill_(0, env_ids, self.head_frames)

    def _install_where(self, mask: torch.Tensor, heads: Heads, idx: torch.Tensor) -> None:
        """`_install` of heads[idx] (one row per env) where `mask` (N,) is True, without an index list."""
        for name, buf in self._head_buffers():  # in place: no temporary of the whole buffer
            m = mask.view((-1,) + (1,) * (buf.dim() - 1))
            torch.where(m, getattr(heads, name)[idx], buf, out=buf)
        self._frame.masked_fill_(mask, 0)
        self._gen.masked_fill_(mask, self.head_frames)

    def reset(self, env_ids, commands: Optional[torch.Tensor] = None, mirror: Optional[torch.Tensor] = None) -> None:
        """Start new episodes for `env_ids`: the next heads of the pool, or with `commands` (n, 3) fresh
        heads for those commands (no switch; `mirror` (n,) bool, default not mirrored)."""
        env_ids = self._ids(env_ids).reshape(-1)
        n = int(env_ids.shape[0])
        if n == 0:
            return
        if commands is not None:
            cmd = torch.as_tensor(commands, device=self.device, dtype=torch.float32).reshape(n, 3)
            m = (
                torch.zeros(n, device=self.device, dtype=torch.bool)
                if mirror is None
                else torch.as_tensor(mirror, device=self.device).reshape(n).bool()
            )
            heads = self.generate_heads(cmd, cmd, torch.full((n,), NO_SWITCH, device=self.device, dtype=torch.long), m)
            self._install(env_ids, heads, torch.arange(n, device=self.device))
            return
        idx = (self._pool_ptr + torch.arange(n, device=self.device)) % self.pool_size
        self._pool_ptr += n
        assert self._pool is not None  # generated in __init__ (_generate_half)
        self._install(env_ids, self._pool, idx)
        self._after_first_reset()

    def reset_where(self, mask: torch.Tensor) -> None:
        """`reset` of the envs where `mask` (N,) is True (pool heads), without reading the mask on the
        host (on CUDA the device work replays from one CUDA graph)."""
        self._reset_mask.copy_(mask.to(device=self.device, dtype=torch.bool))
        self._reset_call()
        self._after_first_reset()

    def _reset_masked(self) -> None:
        """The device work of `reset_where`, on the mask in `_reset_mask`."""
        mask = self._reset_mask
        rank = torch.cumsum(mask.to(torch.long), dim=0) - 1
        idx = (self._pool_ptr + rank) % self.pool_size
        self._pool_ptr += mask.sum()
        assert self._pool is not None  # generated in __init__ (_generate_half)
        self._install_where(mask, self._pool, idx)

    def _after_first_reset(self) -> None:
        """The first reset (usually of every env) used up the pool: new heads for the resets that follow."""
        if not self._started:
            self._started = True
            self._refresh_pool()

    @torch.no_grad()
    def step(self) -> None:
        """One env step: every env's frame advances by one; every `chunk`-th step the next `chunk` frames
        are generated for every env."""
        self._frame += 1
        self._steps += 1
        if self._steps % self.chunk == 0:
            self._step_call()
        if self._steps % self.pool_refresh_steps == 0:
            self._refresh_pool()

    @property
    def uses_cuda_graphs(self) -> bool:
        """True when `step()` and pool refreshes replay CUDA graphs (`cuda_graph` on a CUDA device)."""
        return self._step_call.enabled

    def pool_used(self) -> int:
        """Heads taken of those in the pool (read from the device)."""
        return int(self._pool_ptr) - self._pool_lo

    def _generate_next_frames(self) -> None:
        """The device work of a generating `step()`: the next `chunk` frames of every env, in place on
        the library's buffers."""
        n, dt = self.num_envs, self.dt
        first = self._gen.clone()  # index of the first new frame of each env
        xs, cmds = [], []
        for j in range(self.chunk):
            cmd = self._command_at(first + (j - 1))  # frame k is generated under the command of frame k-1
            self._x_hat.copy_(self._advance(self._x_hat, self._generator_command(cmd, self._mirror)))
            xs.append(self._x_hat.clone())
            cmds.append(cmd)
        out = self._frames_of(torch.stack(xs, dim=1), self._mirror)
        root, yaw = [], []
        for j, cmd in enumerate(cmds):  # Euler steps of the root under each frame's generating command
            xy = self._root_last[:, :2] + heading_to_world(self._yaw_last, cmd) * dt
            self._yaw_last.copy_(wrap_angle(self._yaw_last + cmd[:, 2] * dt))  # bounded on unbounded timelines
            self._root_last.copy_(torch.cat([xy, out["z"][:, j].unsqueeze(-1)], dim=-1))
            root.append(self._root_last.clone())
            yaw.append(self._yaw_last.clone())
        new = first.unsqueeze(1) + torch.arange(self.chunk, device=self.device)  # (N, chunk)
        root_pos, yaws = torch.stack(root, dim=1), torch.stack(yaw, dim=1)
        joints_, lock_state = self._locked(out, root_pos, yaws, self._lock_state)
        self._lock_state.copy_(lock_state)
        values = {**joints_, "root_pos": root_pos, "yaw": yaws, "cmd": self._command_at(new)}
        self._ring_packed[self._all.unsqueeze(1), new % self.capacity] = self._pack(values, (n, self.chunk))
        self._gen += self.chunk

    # --- frame evaluation ----------------------------------------------------------------------
    def _times(self, motion_times) -> torch.Tensor:
        """Query times as a tensor on the device: float64 kept (exact frame numbers however long a
        timeline runs), anything else as float32."""
        t = torch.as_tensor(motion_times, device=self.device)
        return t if t.dtype == torch.float64 else t.to(torch.float32)

    def _frame_index(self, ids: torch.Tensor, times: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        k = torch.round(times.double() / self.dt).long()
        gen = self._gen[ids]
        lo = (gen - self.capacity).clamp_min(0)
        valid = (k >= lo) & (k < gen)
        return torch.minimum(torch.maximum(k, lo), gen - 1), valid

    def covered(self, motion_ids, motion_times) -> torch.Tensor:
        """Bool per query: the time lands on a generated frame still in the buffer."""
        ids, t = torch.broadcast_tensors(self._ids(motion_ids), self._times(motion_times))
        return self._frame_index(ids, t)[1]

    def calc_motion_frame(self, motion_ids, motion_times) -> Tuple[torch.Tensor, ...]:
        """Reference of envs `motion_ids` at times `motion_times` of their timelines (seconds, a frame
        every dt), broadcast together; MotionLib's outputs: root_pos (3), root_rot (4, xyzw),
        root_vel (3, world), root_ang_vel (3, world), dof_pos (23), dof_vel (23), local_body_pos
        (K, 3) of the key bodies. A time outside the buffer reads the nearest generated frame and
        counts in `num_clamped`. Float64 times stay exact on timelines of any length (float32 times
        name the right frame for the first 36 hours of a timeline)."""
        ids, t = torch.broadcast_tensors(self._ids(motion_ids), self._times(motion_times))
        k, valid = self._frame_index(ids, t)
        self.num_clamped += (~valid).sum()
        slot = k % self.capacity
        r = self._ring_views(self._ring_packed[ids, slot])
        yaw = r["yaw"]
        cmd = r["cmd"]
        zero = torch.zeros_like(yaw)
        root_vel = torch.cat([heading_to_world(yaw, cmd), zero.unsqueeze(-1)], dim=-1)
        root_ang_vel = torch.stack([zero, zero, cmd[..., 2]], dim=-1)
        return (r["root_pos"], yaw_to_quat(yaw), root_vel, root_ang_vel, r["dof_pos"], r["dof_vel"], r["key_pos"])
