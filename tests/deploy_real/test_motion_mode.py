"""The check of Unitree's built-in motion control (deploy_real/motion_mode.py): the decision on a stand-in
motion switcher client (answers no mode, an active mode, release, no answer, an error), the subprocess's
verdict line, and the SDK's codes and timeout that the module relies on. The subprocess itself runs against
the loopback robot of test_real_server.py (no motion switcher there: "not reachable")."""

import json

import pytest

from deploy_real import motion_mode
from deploy_real.motion_mode import (
    ACTIVE,
    ERROR,
    FREE,
    RELEASED,
    UNREACHABLE,
    UNREACHABLE_MESSAGE,
    Verdict,
    decide,
    parse_verdict,
)


class StandInSwitcher:
    """CheckMode answers from `answers` in turn (the last one repeats); ReleaseMode calls are counted."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.checks = 0
        self.releases = 0
        self.calls = []

    def CheckMode(self):
        self.checks += 1
        self.calls.append("check")
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    def ReleaseMode(self):
        self.releases += 1
        self.calls.append("release")
        return 0, None


def no_sleep(seconds):
    pass


def test_no_active_mode_goes_on_without_releasing():
    client = StandInSwitcher((0, {"name": "", "form": "0"}))
    for release in (False, True):
        v = decide(client, release, sleep=no_sleep)
        assert v.outcome == FREE and v.go_on
    assert client.releases == 0


def test_an_active_mode_is_refused_with_the_way_out():
    client = StandInSwitcher((0, {"name": "ai", "form": "0"}))
    v = decide(client, release=False, sleep=no_sleep)
    assert v.outcome == ACTIVE and not v.go_on
    assert "'ai'" in v.message and "debug mode (L2+R2" in v.message and "--release_motion_mode" in v.message
    assert client.releases == 0  # never released without --release_motion_mode


def test_release_calls_release_mode_until_no_mode_is_active():
    client = StandInSwitcher((0, {"name": "ai"}), (0, {"name": "ai"}), (0, {"name": ""}))
    waits = []
    v = decide(client, release=True, wait_s=0.5, sleep=waits.append)
    assert v.outcome == RELEASED and v.go_on and "'ai'" in v.message
    assert client.calls == ["check", "release", "check", "release", "check"]
    assert waits == [0.5, 0.5]


def test_release_gives_up_after_its_tries():
    client = StandInSwitcher((0, {"name": "normal"}))
    v = decide(client, release=True, tries=3, sleep=no_sleep)
    assert v.outcome == ACTIVE and not v.go_on
    assert client.releases == 3 and client.checks == 4
    assert "after 3 ReleaseMode calls" in v.message and "debug mode (L2+R2" in v.message


@pytest.mark.parametrize("code", [motion_mode.RPC_ERR_CLIENT_SEND, motion_mode.RPC_ERR_CLIENT_API_TIMEOUT])
def test_no_answer_is_a_simulator_and_goes_on(code):
    client = StandInSwitcher((code, None))
    v = decide(client, release=True, sleep=no_sleep)
    assert v.outcome == UNREACHABLE and v.go_on and v.message == UNREACHABLE_MESSAGE
    assert client.releases == 0


@pytest.mark.parametrize("answer", [(3203, None), (0, None), (0, {"form": "0"}), (0, {"name": 3}), (0, [1])])
def test_an_answer_that_is_no_mode_is_refused(answer):
    v = decide(StandInSwitcher(answer), release=False, sleep=no_sleep)
    assert v.outcome == ERROR and not v.go_on and "unknown" in v.message


def test_an_error_while_releasing_is_refused():
    client = StandInSwitcher((0, {"name": "ai"}), (3104, None))
    v = decide(client, release=True, sleep=no_sleep)
    assert v.outcome == ERROR and not v.go_on and client.releases == 1


def test_the_verdict_is_the_last_json_line_of_the_subprocess():
    out = "[ClientStub] send request error. id: 1\n" + Verdict(ACTIVE, "mode 'ai'").to_json() + "\n"
    v = parse_verdict(out)
    assert v is not None and (v.outcome, v.message) == (ACTIVE, "mode 'ai'")
    assert parse_verdict("[ClientStub] send request error\n") is None
    assert parse_verdict(json.dumps([1, 2]) + "\n") is None


def test_the_sdk_codes_and_client_are_what_the_module_assumes():
    pytest.importorskip("unitree_sdk2py")
    from unitree_sdk2py.comm.motion_switcher.motion_switcher_client import MotionSwitcherClient
    from unitree_sdk2py.rpc import internal

    assert internal.RPC_ERR_CLIENT_SEND == motion_mode.RPC_ERR_CLIENT_SEND
    assert internal.RPC_ERR_CLIENT_API_TIMEOUT == motion_mode.RPC_ERR_CLIENT_API_TIMEOUT
    for name in ("CheckMode", "ReleaseMode", "SetTimeout", "Init"):
        assert callable(getattr(MotionSwitcherClient, name))
    assert 1.0 <= motion_mode.RPC_TIMEOUT_S <= 2.0


class RecordedCheck:
    """Stands in for `PendingCheck` (the SDK subprocess) in the real server's start: records each check."""

    started = []

    def __init__(self, domain_id, net, release, timeout_s=None):
        self.release = release
        RecordedCheck.started.append(release)

    def verdict(self):
        return motion_mode.Verdict(motion_mode.RELEASED if self.release else motion_mode.FREE, "checked")

    def cancel(self):
        pass


@pytest.mark.parametrize("release", [True, False])
def test_a_policy_that_does_not_load_never_leaves_the_robot_released(monkeypatch, redis_server, tmp_path, release):
    """--release_motion_mode releases Unitree's controller only once the config, Redis and the policy have loaded:
    a missing policy ends the start with exit 2 and no release (the check without a release still runs meanwhile)."""
    from deploy_real import server_low_level_g1_real as real

    monkeypatch.setattr(motion_mode, "PendingCheck", RecordedCheck)
    monkeypatch.setattr(RecordedCheck, "started", [])
    argv = ["--net", "lo", "--policy_path", str(tmp_path / "missing.pt"), "--redis_url", redis_server.url]
    assert real.main(argv + (["--release_motion_mode"] if release else [])) == 2
    assert RecordedCheck.started == ([] if release else [False])
