"""DDS transport of the G1's low-level messages (Eclipse Cyclone DDS 0.10.x, as on the robot).

Needs the `real` extra (`pip install -e ".[real]"` after `bash deploy_real/setup_real.sh`; README, "Deploy on
the real G1"): the `cyclonedds` Python package 0.10.2 (a robot with cyclonedds 0.10.x exchanges no
unitree_hg messages with the 11.x package) and `unitree_sdk2py` for the IDL types that the topics are
registered with, so the robot's own readers and writers match them.

The messages cross this module as bytes: the CDR samples are made and read by `deploy_real.unitree_msgs`
with numpy, and handed to the same C calls (`ddspy_write`, `ddspy_take`) that cyclonedds' DataWriter.write
and DataReader.take make around their pure-Python serializer (about 1 ms per LowState).

- `DdsDomain(domain_id, net)`: a domain participant on one network interface (`--net`; `lo` for loopback).
  `close()` deletes its readers, writers and participant; a server calls it on every way out, because
  left to the interpreter's exit (after an exception, say) the deletion waits for a reader's listener
  that can no longer run Python, and the process hangs.
- `RobotSide`: what the low-level server holds: the newest valid LowState and its arrival time,
  `wait_newer()` for the next one, `send(LowCmd)`. A LowState with a wrong CRC is counted and ignored. One
  whose `crc` field is 0 (no CRC set: Unitree's own simulator bridge, unitree_mujoco, never sets it; a real
  G1 always does) is counted (`state_no_crc`) and accepted only with `accept_no_crc` (the server's config
  allows unitree_mujoco's mode_machine 0), else ignored; the server checks an accepted one's values as any
  other's.
- `SimSide`: what a simulated robot holds: the newest LowCmd with a valid CRC, `publish(LowState bytes)`.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from deploy_real.unitree_msgs import CRC_UNSET, CRC_WRONG, LOW_STATE, LowCmd, LowState

LOWCMD_TOPIC = "rt/lowcmd"
LOWSTATE_TOPIC = "rt/lowstate"

INSTALL_HINT = (
    "the real-robot stack is not installed: run `bash deploy_real/setup_real.sh` then "
    '`pip install -e ".[real]"` (README, "Deploy on the real G1")'
)


def _dds():
    try:
        from cyclonedds._clayer import ddspy_take, ddspy_write
        from cyclonedds.core import Listener
        from cyclonedds.domain import Domain, DomainParticipant
        from cyclonedds.pub import DataWriter
        from cyclonedds.sub import DataReader
        from cyclonedds.topic import Topic
        from unitree_sdk2py.idl.unitree_hg.msg.dds_ import LowCmd_, LowState_
    except ImportError as e:
        raise RuntimeError("{} ({})".format(INSTALL_HINT, e))
    return {
        "Domain": Domain,
        "DomainParticipant": DomainParticipant,
        "Topic": Topic,
        "DataReader": DataReader,
        "DataWriter": DataWriter,
        "Listener": Listener,
        "ddspy_take": ddspy_take,
        "ddspy_write": ddspy_write,
        "LowCmd_": LowCmd_,
        "LowState_": LowState_,
    }


def domain_config(net: Optional[str]) -> str:
    """Cyclone DDS configuration: the domain on network interface `net` (None: let DDS choose)."""
    iface = (
        '<NetworkInterface name="{}" priority="default" multicast="default"/>'.format(net)
        if net
        else '<NetworkInterface autodetermine="true" priority="default" multicast="default"/>'
    )
    return (
        '<?xml version="1.0" encoding="UTF-8" ?><CycloneDDS><Domain Id="any"><General><Interfaces>{}'
        "</Interfaces></General></Domain></CycloneDDS>".format(iface)
    )


class DdsDomain:
    """A participant of DDS domain `domain_id` on interface `net` (the robot's: domain 0 on the wired link)."""

    def __init__(self, domain_id: int = 0, net: Optional[str] = None) -> None:
        self.api = _dds()
        self.domain_id, self.net = int(domain_id), net
        try:
            self.domain = self.api["Domain"](self.domain_id, domain_config(net))
            self.participant = self.api["DomainParticipant"](self.domain_id)
        except Exception as e:  # cyclonedds raises DDSException with a code only
            raise RuntimeError(
                "DDS domain {} on interface {!r} could not be created ({}): is --net the name of a "
                "network interface of this computer (`ip -br addr`)?".format(domain_id, net, e)
            )
        self._topics: Dict[str, Any] = {}
        self._endpoints: List[Any] = []  # readers and writers, in the order made

    def close(self) -> None:
        """Delete the readers (no listener runs after this), writers, topics, participant and domain."""
        entities = self._endpoints[::-1] + list(self._topics.values()) + [self.participant, self.domain]
        self._endpoints, self._topics = [], {}
        for entity in entities:
            entity.__del__()  # cyclonedds' deletion of the C entity; the later garbage collection does nothing

    def topic(self, name: str, type_name: str):
        if name not in self._topics:
            self._topics[name] = self.api["Topic"](self.participant, name, self.api[type_name])
        return self._topics[name]

    def writer(self, name: str, type_name: str) -> Callable[[bytes], None]:
        """A function that writes one serialized sample on topic `name`."""
        w = self.api["DataWriter"](self.participant, self.topic(name, type_name))
        self._endpoints.append(w)
        write = self.api["ddspy_write"]

        def send(data: bytes) -> None:
            ret = write(w._ref, data)
            if ret < 0:
                raise RuntimeError("DDS write on {} failed ({})".format(name, ret))

        send.entity = w  # type: ignore[attr-defined]  # keep the writer alive
        return send

    def reader(self, name: str, type_name: str, on_sample: Callable[[bytes, float], None]):
        """Calls `on_sample(serialized bytes, monotonic arrival time)` for every sample of topic `name`, from
        DDS's receive thread."""
        take = self.api["ddspy_take"]

        def on_data_available(reader) -> None:
            now = time.monotonic()
            if reader is None:  # cyclonedds passes None for a reader it is deleting (a callback racing close())
                return
            samples = take(reader._ref, 16)
            if isinstance(samples, int):  # a DDS error code (the reader being deleted at shutdown)
                return
            for data, info in samples:
                if info.valid_data:
                    on_sample(data, now)

        listener = self.api["Listener"](on_data_available=on_data_available)
        reader = self.api["DataReader"](self.participant, self.topic(name, type_name), listener=listener)
        self._endpoints.append(reader)
        return reader


class RobotSide:
    """The low-level server's end: LowState in (CRC-checked on arrival: a wrong CRC is counted and ignored, a
    `crc` field of 0, no CRC set, is counted and accepted only if `accept_no_crc`), LowCmd out. `state_seq`
    counts the valid LowStates; only the one a caller asks for is decoded."""

    def __init__(self, domain: DdsDomain, accept_no_crc: bool = False) -> None:
        self.accept_no_crc = accept_no_crc
        self._cond = threading.Condition()
        self._raw: Optional[bytes] = None
        self.state_time = -float("inf")  # monotonic arrival time of the newest valid LowState
        self.state_seq = 0  # valid LowStates received
        self.crc_errors = 0  # LowStates dropped for a wrong CRC
        self.state_no_crc = 0  # LowStates with a crc field of 0 (no CRC set by the sender), accepted or not
        self.decode_errors = 0  # samples that are no LowState_
        self._decoded: Tuple[int, Optional[LowState]] = (0, None)
        self._send = domain.writer(LOWCMD_TOPIC, "LowCmd_")
        self._reader = domain.reader(LOWSTATE_TOPIC, "LowState_", self._on_state)

    def _on_state(self, data: bytes, now: float) -> None:
        try:
            crc = LOW_STATE.crc_status(data)
        except ValueError:
            self.decode_errors += 1
            return
        if crc == CRC_WRONG:
            self.crc_errors += 1
            return
        if crc == CRC_UNSET:
            self.state_no_crc += 1
            if not self.accept_no_crc:
                return
        with self._cond:
            self._raw, self.state_time = data, now
            self.state_seq += 1
            self._cond.notify_all()

    def _state(self, raw: Optional[bytes], seq: int) -> Optional[LowState]:
        if raw is None:
            return None
        if self._decoded[0] != seq:
            self._decoded = (seq, LowState.decode(raw, check_crc=False)[0])
        return self._decoded[1]

    def latest(self) -> Tuple[Optional[LowState], float, int]:
        """(newest valid LowState or None, its arrival time, its sequence number)."""
        with self._cond:
            raw, t, seq = self._raw, self.state_time, self.state_seq
        return self._state(raw, seq), t, seq

    def wait_newer(self, seq: int, deadline: float) -> Tuple[Optional[LowState], float, int]:
        """Wait (until the monotonic `deadline`) for a valid LowState newer than number `seq`; returns
        `latest()` either way."""
        with self._cond:
            while self.state_seq <= seq:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            raw, t, new_seq = self._raw, self.state_time, self.state_seq
        return self._state(raw, new_seq), t, new_seq

    def send(self, cmd: LowCmd) -> None:
        self._send(cmd.encode())


class SimSide:
    """A simulated robot's end: LowCmd in (CRC-checked; a wrong CRC is dropped and counted, as the robot
    does), LowState out."""

    def __init__(self, domain: DdsDomain) -> None:
        self._lock = threading.Lock()
        self._cmd: Optional[LowCmd] = None
        self.received = 0  # LowCmd samples that arrived
        self.crc_errors = 0  # of them, dropped for a wrong CRC
        self.decode_errors = 0  # samples that are no LowCmd_
        self._publish = domain.writer(LOWSTATE_TOPIC, "LowState_")
        self._reader = domain.reader(LOWCMD_TOPIC, "LowCmd_", self._on_cmd)

    def _on_cmd(self, data: bytes, now: float) -> None:
        with self._lock:
            self.received += 1
            try:
                cmd, crc_ok = LowCmd.decode(data)
            except ValueError:
                self.decode_errors += 1
                return
            if not crc_ok:
                self.crc_errors += 1
                return
            self._cmd = cmd

    def take_cmd(self) -> Optional[LowCmd]:
        """The newest valid LowCmd since the last call, or None."""
        with self._lock:
            cmd, self._cmd = self._cmd, None
            return cmd

    def publish(self, state_bytes: bytes) -> None:
        self._publish(state_bytes)
