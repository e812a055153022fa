"""DdsDomain.reader's listener, with stand-ins for the cyclonedds entry points (the loopback DDS runs of
test_real_server.py use the real ones)."""

from types import SimpleNamespace

from deploy_real.dds_link import DdsDomain


def domain_with(take):
    """A DdsDomain whose cyclonedds calls are stand-ins; `take(reader_ref, n)` answers the listener's take."""
    domain = DdsDomain.__new__(DdsDomain)  # no DDS participant: only reader() is exercised
    domain.participant = object()
    domain._topics = {}
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
