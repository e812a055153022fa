"""DdsDomain.reader's listener, with stand-ins for the cyclonedds entry points (the loopback DDS runs of
test_real_server.py use the real ones)."""

from types import SimpleNamespace

from deploy_real.dds_link import DdsDomain


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
