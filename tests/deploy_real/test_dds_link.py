"""DdsDomain.reader's listener, with stand-ins for the cyclonedds entry points (the loopback DDS runs of
test_real_server.py use the real ones)."""

import time
from types import SimpleNamespace

import numpy as np

from deploy_real.dds_link import DdsDomain, RobotSide
from deploy_real.unitree_msgs import LowState


def domain_with(take):
    """A DdsDomain whose cyclonedds calls are stand-ins; `take(reader_ref, n)` answers the listener's take."""
    domain = DdsDomain.__new__(DdsDomain)  # no DDS participant: only reader() is exercised
    domain.participant = object()
    domain._topics = {}
    domain._endpoints = []
    domain.api = {
        "Topic": lambda participant, name, type_: ("topic", name),
        "LowState_": object(),
        "ddspy_take": take,
        "Listener": lambda on_data_available: SimpleNamespace(on_data_available=on_data_available),
        "DataReader": lambda participant, topic, listener: SimpleNamespace(_ref=7, listener=listener),
    }
    return domain


def robot_side(accept_no_crc):
    """A RobotSide on a stand-in domain: its LowState listener is called directly."""
    domain = SimpleNamespace(writer=lambda name, type_name: lambda data: None, reader=lambda *a: None)
    return RobotSide(domain, accept_no_crc)


def test_robot_side_accepts_a_lowstate_without_crc_if_asked_and_drops_a_wrong_one():
    """With accept_no_crc, a LowState whose crc field is 0 (no CRC set, as unitree_mujoco's bridge publishes)
    is accepted and counted; one with a correct CRC is accepted; a wrong non-zero CRC is dropped and counted."""
    robot = robot_side(accept_no_crc=True)
    s = LowState()
    s.mode_machine = 5
    s.q[:29] = 0.25
    s.tick = 1
    robot._on_state(s.encode(), 10.0)  # correct CRC
    assert (robot.state_seq, robot.state_no_crc, robot.crc_errors) == (1, 0, 0)
    s.tick = 2
    robot._on_state(s.encode(crc=0), 10.1)  # no CRC set
    assert (robot.state_seq, robot.state_no_crc, robot.crc_errors) == (2, 1, 0)
    low, t, seq = robot.latest()
    assert low is not None and low.tick == 2 and t == 10.1 and seq == 2
    np.testing.assert_allclose(low.q[:29], 0.25)
    s.tick = 3
    good = s.encode()
    robot._on_state(good[:-4] + bytes([good[-4] ^ 0x01]) + good[-3:], 10.2)  # wrong, non-zero CRC
    assert (robot.state_seq, robot.state_no_crc, robot.crc_errors) == (2, 1, 1)
    assert robot.latest()[0].tick == 2  # the dropped one is not the newest state
    robot._on_state(b"\x00\x01\x00\x00" + bytes(8), 10.3)  # no LowState_ at all
    assert (robot.state_seq, robot.decode_errors) == (2, 1)


def test_robot_side_ignores_a_lowstate_without_crc_by_default():
    """A real G1 always sets the CRC: without accept_no_crc a LowState with crc 0 is counted and ignored, and
    a waiting caller is not woken by it."""
    robot = robot_side(accept_no_crc=False)
    s = LowState()
    s.mode_machine, s.tick = 5, 1
    robot._on_state(s.encode(), 10.0)
    s.tick = 2
    s.q[:29] = np.nan  # what an unchecked message could carry
    robot._on_state(s.encode(crc=0), 10.1)
    assert (robot.state_seq, robot.state_no_crc, robot.crc_errors) == (1, 1, 0)
    low, t, seq = robot.latest()
    assert low is not None and low.tick == 1 and t == 10.0 and seq == 1
    assert np.all(np.isfinite(low.q))
    assert robot.wait_newer(1, time.monotonic() + 0.05)[2] == 1


def test_reader_passes_on_the_valid_samples_it_takes():
    got = []
    taken = [(b"a", SimpleNamespace(valid_data=True)), (b"b", SimpleNamespace(valid_data=False))]
    reader = domain_with(lambda ref, n: taken if (ref, n) == (7, 16) else []).reader(
        "rt/lowstate", "LowState_", lambda data, t: got.append(data)
    )
    reader.listener.on_data_available(reader)
    assert got == [b"a"]  # the invalid sample (a disposed instance) is not data


def test_reader_ignores_a_take_that_returns_a_dds_error_code():
    # cyclonedds' take returns a negative return code instead of a list once the reader is being deleted
    # (at shutdown); the listener runs in DDS's receive thread, where an exception is only printed
    got = []
    reader = domain_with(lambda ref, n: -3).reader("rt/lowstate", "LowState_", lambda data, t: got.append(data))
    reader.listener.on_data_available(reader)
    assert got == []


def test_reader_ignores_a_reader_being_deleted():
    # cyclonedds' Entity.__del__ drops the reader from its registry before deleting the C entity; a sample
    # arriving in between reaches the listener with reader None (seen in CI: AttributeError in DDS's thread)
    got = []

    def take(ref, n):
        raise AssertionError("nothing to take from a reader being deleted")

    reader = domain_with(take).reader("rt/lowstate", "LowState_", lambda data, t: got.append(data))
    reader.listener.on_data_available(None)
    assert got == []


def test_close_deletes_the_readers_and_writers():
    """Over loopback DDS (one participant reading its own LowStates): `close()` deletes the entities, so no
    listener runs and no write goes out after it (what lets a server's process exit while its peer still
    publishes; test_real_server.py runs that)."""
    import time

    import pytest

    pytest.importorskip("cyclonedds", reason="the real-robot stack")
    pytest.importorskip("unitree_sdk2py", reason="the real-robot stack")
    from deploy_real.dds_link import RobotSide, SimSide
    from deploy_real.unitree_msgs import LowState

    domain = DdsDomain(191, "lo")
    robot, sim = RobotSide(domain), SimSide(domain)
    state = LowState().encode()
    deadline = time.monotonic() + 10
    while robot.state_seq < 5 and time.monotonic() < deadline:
        sim.publish(state)
        time.sleep(0.01)
    assert robot.state_seq >= 5
    domain.close()
    with pytest.raises(RuntimeError, match="DDS write on rt/lowstate failed"):
        sim.publish(state)
    domain = DdsDomain(191, "lo")  # the domain id is free again
    domain.close()
