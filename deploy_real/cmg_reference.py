"""CMG references for the high-level server (`--cmg`): locomotion generated live from a velocity command.

`CMGReference` runs one env of the training library `pose.utils.cmg_motion_lib.CMGMotionLib` (the CMG
rolled forward from its standing pose, root integrated from the command, not mirrored) with a
look-ahead of one frame, so every `next()` generates the frame it returns: step k streams frame k + 1,
the student's "next frame", as the clip stream does. The 33-D vector comes from the same function as
a clip's (`deploy_real.motion_reference.reference_vectors`); the timeline has no end.

`set_command` changes the command from the next frame on: the generator goes on from its current
state and the root from its current pose, so the stream stays continuous.

`CommandInput` is the live command: every step it GETs `command_velocity_g1` (a JSON list vx, vy, yaw
rate) and, when the value changed, validates it (`deploy_real.contract.validate_velocity_command`:
3 finite numbers inside the CMG's trained command range; out-of-range values are rejected, not
clamped). A rejected value is logged in one line naming the key and the reason, and the last valid
command is kept; a missing key or an unreachable Redis keeps it too. At start it writes the initial
command to the key, so a value left there by an earlier session is not applied.
"""

from __future__ import annotations

from typing import Iterator, Sequence, Tuple, Union

import numpy as np
import torch

from deploy_real.contract import (
    COMMAND_FIELDS,
    COMMAND_UNITS,
    MAX_MESSAGE_BYTES,
    VELOCITY_COMMAND_KEY,
    MessageError,
    encode_floats,
    validate_velocity_command,
)
from deploy_real.motion_reference import reference_vectors

NO_POOL_REFRESH = 1 << 62  # steps between refreshes of the library's pool of episode starts: never


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
    """

    def __init__(self, model=None, command: Sequence[float] = (0.0, 0.0, 0.0), foot_lock: bool = False) -> None:
        from pose.utils.cmg_motion_lib import CMGMotionLib, load_generator

        torch.set_num_threads(1)  # one env: threads only add latency
        loaded = load_generator(model)
        self.low = np.asarray(loaded.stats.command_min, dtype=np.float64)
        self.high = np.asarray(loaded.stats.command_max, dtype=np.float64)
        values = [float(v) for v in command]
        try:
            self.command = validate_velocity_command(values, self.low, self.high)
        except MessageError as e:
            raise ValueError("--vx --vy --yaw_rate {}: {} (CMG model {})".format(values, e.reason, loaded.path))
        # The 33-D vector needs no body positions (forward kinematics of the root alone), and the stream
        # never starts an episode from the library's pool (no refreshes): about 4 ms a frame instead of 5.5.
        self.lib = CMGMotionLib(
            loaded,
            num_envs=1,
            horizon=1,
            mirror_prob=0.0,
            command_ranges=list(zip(self.low, self.high)),
            key_bodies=["pelvis"],
            pool_refresh_steps=NO_POOL_REFRESH,
            foot_lock=foot_lock,
        )
        self.lib.reset([0], commands=torch.as_tensor(self.command, dtype=torch.float32).reshape(1, 3))

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

    def stream(self, commands: "CommandInput") -> Iterator[Tuple[np.ndarray, int, float]]:
        """(33-D vector, motion id 0, time) for every 50 Hz step, under the command read before each step."""
        while True:
            self.set_command(commands.poll())
            ref, t = self.next()
            yield ref, 0, t


class CommandInput:
    """The live velocity command through Redis (see the module docstring)."""

    def __init__(self, link, command: np.ndarray, low: np.ndarray, high: np.ndarray, log=None) -> None:
        self.link, self.low, self.high = link, low, high
        self.log = log or (lambda msg: print(msg, flush=True))
        self.command = np.asarray(command, dtype=np.float64)
        self.rejected = 0
        initial = encode_floats(self.command)
        self._raw = initial.encode()
        link.set_many({VELOCITY_COMMAND_KEY: initial})

    def poll(self) -> np.ndarray:
        """The command in force: the key's value when it changed and is valid, else the last valid one."""
        values = self.link.exchange({}, [VELOCITY_COMMAND_KEY], MAX_MESSAGE_BYTES)
        raw = None if values is None else values[0]
        if raw is None or raw == self._raw:
            return self.command
        self._raw = raw
        try:
            self.command = validate_velocity_command(raw, self.low, self.high)
        except MessageError as e:
            self.rejected += 1
            self.log("[high-level] rejected {}; keeping {}".format(e, describe(self.command)))
        else:
            self.log("[high-level] command: {}".format(describe(self.command)))
        return self.command
