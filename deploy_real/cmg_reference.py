"""CMG references for the high-level server (`--cmg`): locomotion generated live from a velocity command.

`CMGReference` runs one env of the training library `pose.utils.cmg_motion_lib.CMGMotionLib` (the CMG
rolled forward from its standing pose, root integrated from the command, not mirrored) with a
look-ahead of one frame, so every `next()` generates the frame it returns: step k streams frame k + 1,
the student's "next frame", as the clip stream does. The 33-D vector comes from the same function as
a clip's (`deploy_real.motion_reference.reference_vectors`); the timeline has no end.

`set_command` changes the command from the next frame on: the generator goes on from its current
state and the root from its current pose, so the stream stays continuous.

Stop: a command of 0 (all three) always stands. Once the command the generator gets is 0, the streamed
reference blends over `STAND_BLEND_S` (1 s) from the generated frames to the default standing vector at
the frame's heading, and stays there (the generator at 0 sways the waist and hips by up to 0.25 rad:
no standing a policy could hold); once it is not 0, back to the frames over `WALK_BLEND_S` (0.5 s). The
generator runs on throughout, so walking resumes from its state. A stream that starts at 0 starts standing.

Command range: the CMG's trained range (stored in its checkpoint), or, for a student of the CMG tasks
(`band`, from its export metadata `cmg`: the high-level server's --policy_path), the part of it that
student was trained on. Stop is accepted outside it (a student of vx 0.5-1.5 m/s must be stoppable).

`CommandInput` is the live command: every step it GETs `command_velocity_g1` (a JSON list vx, vy, yaw
rate) and, when the value changed, validates it (`check_command`: 3 finite numbers inside the command
range above, or stop; out-of-range values are rejected, not clamped). That value is the target. What the generator gets moves towards the target by at most
`MAX_COMMAND_RATE` (m/s², m/s², rad/s²) x 0.02 s per step, so a step in the command reaches the
reference as a ramp. No valid command means stop (target 0, ramped down), logged in one line when it
begins: a missing key (deleted, or expired: a client that writes it with an expiry, `SET ... EX 1`,
and refreshes it has a dead-man switch), a rejected value (logged naming the key and the reason), an
unreachable Redis. At start it writes the initial command to the key, in force at once, so a value
left there by an earlier session is not applied.
"""

from __future__ import annotations

from typing import Iterator, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from deploy_real.contract import (
    COMMAND_FIELDS,
    COMMAND_UNITS,
    MAX_MESSAGE_BYTES,
    VELOCITY_COMMAND_KEY,
    MessageError,
    default_mimic_vector,
    encode_floats,
    validate_velocity_command,
)
from deploy_real.motion_reference import reference_vectors
from deploy_real.safety import mix_references
from legged_gym.envs.mdp.observations import REF_YAW_ENTRY

NO_POOL_REFRESH = 1 << 62  # steps between refreshes of the library's pool of episode starts: never
STAND_BLEND_S = 1.0  # the reference blends to standing over this once the command is 0 ...
WALK_BLEND_S = 0.5  # ... and back to the generated frames over this once it is not
TRAINED_RANGE = "the CMG's trained range"
POLICY_BAND = "the policy's command band"


def is_stop(command) -> bool:
    """A command of 0 in all three entries."""
    return not np.any(np.asarray(command, dtype=np.float64))


def check_command(value, low, high, range_name: str = TRAINED_RANGE) -> np.ndarray:
    """`validate_velocity_command`, stop (0, 0, 0) accepted whatever the range."""
    command = validate_velocity_command(value, np.full(3, -np.inf), np.full(3, np.inf))  # 3 finite numbers
    return command if is_stop(command) else validate_velocity_command(command.tolist(), low, high, range_name)


def command_range(low, high, band=None) -> Tuple[np.ndarray, np.ndarray, str]:
    """(low, high, its name): the CMG's range, or its part inside `band` ((low, high) of a policy's metadata);
    ValueError naming the entry when they do not overlap."""
    low, high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
    if band is None:
        return low, high, TRAINED_RANGE
    b_low, b_high = (np.asarray(b, dtype=np.float64).reshape(3) for b in band)
    lo, hi = np.maximum(low, b_low), np.minimum(high, b_high)
    for i in np.flatnonzero(lo > hi):
        raise ValueError(
            "the policy's command band of {} [{:g}, {:g}] {} is outside the CMG's range [{:g}, {:g}]".format(
                COMMAND_FIELDS[i], b_low[i], b_high[i], COMMAND_UNITS[i], low[i], high[i]
            )
        )
    return lo, hi, POLICY_BAND


def describe(command: Union[Sequence[float], np.ndarray]) -> str:
    """'vx 0.50 m/s, vy 0.00 m/s, yaw_rate 0.30 rad/s'."""
    return ", ".join("{} {:.2f} {}".format(n, float(v), u) for n, v, u in zip(COMMAND_FIELDS, command, COMMAND_UNITS))


class CMGReference:
    """One generated timeline under a velocity command (see the module docstring).

    Args:
      model: a CMG checkpoint or run folder (None: the shipped `assets/cmg/cmg.pt`).
      command: the initial (vx, vy, yaw rate); ValueError naming the entry when it is not finite or
        outside the CMG's trained command range (`low`, `high`).
      foot_lock: hold the stance foot of the frames by leg IK (`pose.cmg.foot_lock`), as the policy's
        training did with `motion.cmg_foot_lock`.
      band: (low, high) of the commands a student was trained on (module docstring); None: the CMG's range.
      height, height_from_fk: the reference's root height, as the policy's training had them
        (`motion.cmg_height`, `motion.cmg_height_from_fk`).
    """

    def __init__(
        self,
        model=None,
        command: Sequence[float] = (0.0, 0.0, 0.0),
        foot_lock: bool = False,
        band=None,
        height: float = 0.75,
        height_from_fk: bool = False,
    ) -> None:
        from pose.utils.cmg_motion_lib import CMGMotionLib, load_generator

        torch.set_num_threads(1)  # one env: threads only add latency
        loaded = load_generator(model)
        trained = (np.asarray(loaded.stats.command_min), np.asarray(loaded.stats.command_max))
        self.low, self.high, self.range_name = command_range(*trained, band)
        values = [float(v) for v in command]
        try:
            self.command = check_command(values, self.low, self.high, self.range_name)
        except MessageError as e:
            raise ValueError("--vx --vy --yaw_rate {}: {} (CMG model {})".format(values, e.reason, loaded.path))
        # The 33-D vector needs no body positions (forward kinematics of the root alone), and the stream
        # never starts an episode from the library's pool (no refreshes): about 4 ms a frame instead of 5.5.
        self.lib = CMGMotionLib(
            loaded,
            num_envs=1,
            horizon=1,
            mirror_prob=0.0,
            command_ranges=list(zip(*trained)),
            key_bodies=["pelvis"],
            height=float(height),
            height_from_fk=bool(height_from_fk),
            pool_refresh_steps=NO_POOL_REFRESH,
            foot_lock=foot_lock,
        )
        self.lib.reset([0], commands=torch.as_tensor(self.command, dtype=torch.float32).reshape(1, 3))
        self.standing = 1.0 if is_stop(self.command) else 0.0  # the weight of the standing vector
        self._standing_vector = default_mimic_vector()

    @property
    def model_path(self) -> str:
        return self.lib.model_path

    def set_command(self, command: np.ndarray) -> None:
        """Follow `command` (3,) from the next frame on (already validated)."""
        if not np.array_equal(command, self.command):
            self.command = np.array(command, dtype=np.float64)
            self.lib.set_commands([0], self.command.reshape(1, 3))

    def next(self) -> Tuple[np.ndarray, float]:
        """Generate one frame: (its 33-D reference vector, its time on the timeline in s)."""
        self.lib.step()
        t = (int(self.lib.current_frames()[0]) + 1) * self.lib.dt
        return reference_vectors(self.lib, 0, [t])[0], t

    def stand_or_walk(self, ref: np.ndarray) -> np.ndarray:
        """The generated frame `ref` blended towards standing while the command is 0 (module docstring)."""
        dt = self.lib.dt
        step = dt / STAND_BLEND_S if is_stop(self.command) else -dt / WALK_BLEND_S
        self.standing = min(max(self.standing + step, 0.0), 1.0)
        if self.standing == 0.0:
            return ref
        standing = self._standing_vector.copy()
        standing[REF_YAW_ENTRY] = ref[REF_YAW_ENTRY]  # no turn
        return mix_references(ref, standing, self.standing)

    def stream(self, commands: "CommandInput") -> Iterator[Tuple[np.ndarray, int, float]]:
        """(33-D vector, motion id 0, time) for every 50 Hz step, under the command read before each step."""
        while True:
            self.set_command(commands.poll())
            ref, t = self.next()
            yield self.stand_or_walk(ref), 0, t


#: the fastest change of the command the generator gets (vx m/s², vy m/s², yaw rate rad/s²)
MAX_COMMAND_RATE = np.array([1.5, 1.5, 2.0])


class CommandInput:
    """The live velocity command through Redis (see the module docstring); `poll()` once per `dt` step."""

    def __init__(
        self,
        link,
        command: np.ndarray,
        low: np.ndarray,
        high: np.ndarray,
        log=None,
        dt: float = 0.02,
        range_name: str = TRAINED_RANGE,
    ):
        self.link, self.low, self.high, self.range_name = link, low, high, range_name
        self.log = log or (lambda msg: print(msg, flush=True))
        self.max_step = MAX_COMMAND_RATE * float(dt)
        self.target = np.asarray(command, dtype=np.float64)
        self.command = self.target.copy()  # what the generator gets
        self.rejected = 0
        self._stopped_for = ""  # why there is no valid command ("" while there is one)
        initial = encode_floats(self.command)
        self._raw: Optional[bytes] = initial.encode()
        link.set_many({VELOCITY_COMMAND_KEY: initial})

    def _stop(self, why: str) -> None:
        self.target = np.zeros(3)
        if why != self._stopped_for:
            self.log("[high-level] {}: stopping (the command ramps to 0)".format(why))
        self._stopped_for = why

    def poll(self) -> np.ndarray:
        """The command for this step: one step of the ramp towards the target (module docstring)."""
        values = self.link.exchange({}, [VELOCITY_COMMAND_KEY], MAX_MESSAGE_BYTES)
        if values is None:
            self._raw = None
            self._stop("Redis does not answer")
        elif values[0] is None:
            self._raw = None
            self._stop("no {} (deleted or expired)".format(VELOCITY_COMMAND_KEY))
        elif values[0] != self._raw:
            self._raw = values[0]
            try:
                self.target = check_command(values[0], self.low, self.high, self.range_name)
            except MessageError as e:
                self.rejected += 1
                self._stop("rejected {}".format(e))
            else:
                self._stopped_for = ""
                self.log("[high-level] command: {}".format(describe(self.target)))
        self.command = self.command + np.clip(self.target - self.command, -self.max_step, self.max_step)
        return self.command
