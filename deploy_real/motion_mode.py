"""Unitree's built-in motion control, checked (and on request released) before low-level commands go out.

    python -m deploy_real.motion_mode --net eno1                 # is a built-in controller active?
    python -m deploy_real.motion_mode --net eno1 --release       # release it (ReleaseMode until none is)

The G1's own controller (the motion switcher service's modes: standing, walking, ...) commands the motors
unless the robot is in debug mode (L2+R2 on the remote). A low-level server that streams LowCmds beside it
fights it. Unitree's low-level examples therefore ask the motion switcher first (`CheckMode`) and release
the active mode (`ReleaseMode`) until none is; this module does that with unitree_sdk2py's
`MotionSwitcherClient`.

The SDK's client needs `ChannelFactoryInitialize`, which makes its own DDS domain and participant; the
server runs this module as a short subprocess (`PendingCheck`), so the two never share a process. The
subprocess prints its verdict as one JSON line ({"outcome", "message"}) last on stdout, and exits 0 when
low-level commands may go out, 2 when not.

`decide(client, release)` is the decision, on any object with the client's `CheckMode()` and
`ReleaseMode()`:

- the service answers that no mode is active (name ""): FREE, go on;
- it answers with an active mode: ACTIVE, refuse (put the robot in debug mode, or pass
  --release_motion_mode), unless `release`: ReleaseMode and CheckMode again, a few tries, RELEASED when the
  name is empty, else ACTIVE;
- it does not answer within the RPC timeout (a simulator: sim_robot, unitree_mujoco, has no motion
  switcher): UNREACHABLE, go on, with a note;
- it answers with an error or something that is no mode: ERROR, refuse.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, List, Optional

#: SDK RPC client codes of a call that got no answer (unitree_sdk2py.rpc.internal): RPC_ERR_CLIENT_SEND (the
#: request found no reader: nothing serves it) and RPC_ERR_CLIENT_API_TIMEOUT (no response in time).
RPC_ERR_CLIENT_SEND = 3102
RPC_ERR_CLIENT_API_TIMEOUT = 3104
UNANSWERED_CODES = (RPC_ERR_CLIENT_SEND, RPC_ERR_CLIENT_API_TIMEOUT)

#: Seconds the SDK client waits for a reader of its request, then again for the answer (its default is 1 s;
#: Unitree's G1 low-level example sets 5 s). An unanswered CheckMode costs this once (no reader matches).
RPC_TIMEOUT_S = 1.5
RELEASE_TRIES = 5
RELEASE_WAIT_S = 1.0  # after each ReleaseMode, before checking again (Unitree's example waits 1 s)

FREE, RELEASED, UNREACHABLE, ACTIVE, ERROR, NO_SDK = "free", "released", "unreachable", "active", "error", "no_sdk"
GO_ON = (FREE, RELEASED, UNREACHABLE)

UNREACHABLE_MESSAGE = "motion switcher not reachable (a simulator?): no built-in controller to release"
DEBUG_MODE_HINT = (
    'put the robot in debug mode (L2+R2 on the remote; README, "Deploy on the real G1") or pass '
    "--release_motion_mode to release it"
)


class Verdict:
    """`outcome` (FREE, RELEASED, UNREACHABLE, ACTIVE, ERROR, NO_SDK) and a one-line `message`."""

    def __init__(self, outcome: str, message: str) -> None:
        self.outcome, self.message = outcome, message

    @property
    def go_on(self) -> bool:
        """Whether low-level commands may go out."""
        return self.outcome in GO_ON

    def to_json(self) -> str:
        return json.dumps({"outcome": self.outcome, "message": self.message})

    def __repr__(self) -> str:
        return "Verdict({!r}, {!r})".format(self.outcome, self.message)


def _mode_name(code: int, data: Any) -> Optional[str]:
    """The active mode's name ("" for none) of a CheckMode answer, or None when the answer is no mode."""
    if code != 0 or not isinstance(data, dict) or not isinstance(data.get("name"), str):
        return None
    return data["name"]


def decide(
    client,
    release: bool,
    tries: int = RELEASE_TRIES,
    wait_s: float = RELEASE_WAIT_S,
    sleep: Callable[[float], None] = time.sleep,
) -> Verdict:
    """Ask the motion switcher (`client.CheckMode()` -> (code, {"name": ...} or None)) whether a built-in
    controller is active; with `release`, `client.ReleaseMode()` and ask again, up to `tries` times."""
    code, data = client.CheckMode()
    if code in UNANSWERED_CODES:
        return Verdict(UNREACHABLE, UNREACHABLE_MESSAGE)
    name = _mode_name(code, data)
    if name is None:
        return _error(code, data)
    if not name:
        return Verdict(FREE, "motion switcher: no built-in motion control active")
    if not release:
        return Verdict(
            ACTIVE,
            "Unitree's built-in motion control is active (motion switcher mode {!r}) and would fight the "
            "low-level commands: {}; nothing was sent".format(name, DEBUG_MODE_HINT),
        )
    first = name
    for _ in range(tries):
        client.ReleaseMode()
        sleep(wait_s)
        code, data = client.CheckMode()
        name = _mode_name(code, data)
        if name is None:
            return _error(code, data)
        if not name:
            return Verdict(RELEASED, "motion switcher: released the built-in motion control {!r}".format(first))
    return Verdict(
        ACTIVE,
        "Unitree's built-in motion control is still active (motion switcher mode {!r}) after {} ReleaseMode "
        'calls: put the robot in debug mode (L2+R2 on the remote; README, "Deploy on the real G1"); '
        "nothing was sent".format(name, tries),
    )


def _error(code: int, data: Any) -> Verdict:
    return Verdict(
        ERROR,
        "the motion switcher answered CheckMode with code {} and {!r}, not a mode: whether Unitree's built-in "
        "motion control is active is unknown; {}; nothing was sent".format(code, data, DEBUG_MODE_HINT),
    )


# --- the subprocess -------------------------------------------------------------------------------------


def check(domain_id: int, net: Optional[str], release: bool, rpc_timeout_s: float = RPC_TIMEOUT_S) -> Verdict:
    """The motion switcher of DDS domain `domain_id` on interface `net`, through unitree_sdk2py (this process
    then holds the SDK's DDS participant: run it in a process of its own, `PendingCheck`)."""
    try:
        from unitree_sdk2py.comm.motion_switcher.motion_switcher_client import MotionSwitcherClient
        from unitree_sdk2py.core.channel import ChannelFactoryInitialize
    except ImportError as e:
        from deploy_real.dds_link import INSTALL_HINT

        return Verdict(NO_SDK, "{} ({})".format(INSTALL_HINT, e))
    ChannelFactoryInitialize(domain_id, net)
    client = MotionSwitcherClient()
    client.SetTimeout(rpc_timeout_s)
    client.Init()
    return decide(client, release)


def subprocess_timeout_s(release: bool, rpc_timeout_s: float = RPC_TIMEOUT_S) -> float:
    """An upper bound of the subprocess's run: start-up, the SDK client's set-up (about 1 s of sleeps), every
    call's two waits, the waits between the release tries."""
    calls = 1 + (2 * RELEASE_TRIES if release else 0)
    return 30.0 + calls * 2 * rpc_timeout_s + (RELEASE_TRIES * RELEASE_WAIT_S if release else 0.0)


def parse_verdict(stdout: str) -> Optional[Verdict]:
    """The last JSON line {"outcome", "message"} of the subprocess's output (the SDK prints lines of its own)."""
    for line in reversed(stdout.splitlines()):
        try:
            v = json.loads(line)
        except ValueError:
            continue
        if isinstance(v, dict) and isinstance(v.get("outcome"), str) and isinstance(v.get("message"), str):
            return Verdict(v["outcome"], v["message"])
    return None


class PendingCheck:
    """`python -m deploy_real.motion_mode` started in a subprocess (its own DDS participant); `verdict()` waits
    for it, up to `timeout_s` from the start (default `subprocess_timeout_s`); `cancel()` ends it."""

    def __init__(self, domain_id: int, net: Optional[str], release: bool, timeout_s: Optional[float] = None) -> None:
        root = str(Path(__file__).resolve().parents[1])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([root] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        cmd: List[str] = [sys.executable, "-m", "deploy_real.motion_mode", "--domain_id", str(domain_id)]
        if net:
            cmd += ["--net", net]
        if release:
            cmd.append("--release")
        self.timeout_s = subprocess_timeout_s(release) if timeout_s is None else float(timeout_s)
        self._deadline = time.monotonic() + self.timeout_s
        self._proc = subprocess.Popen(
            cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def verdict(self) -> Verdict:
        try:
            out, err = self._proc.communicate(timeout=max(self._deadline - time.monotonic(), 0.0))
        except subprocess.TimeoutExpired:
            self.cancel()
            return Verdict(
                ERROR,
                "the motion switcher check did not finish in {:.0f} s: whether Unitree's built-in motion control "
                "is active is unknown; {}; nothing was sent".format(self.timeout_s, DEBUG_MODE_HINT),
            )
        verdict = parse_verdict(out)
        if verdict is None:
            tail = (err or out).strip().splitlines()[-3:]
            return Verdict(
                ERROR,
                "the motion switcher check failed (exit {}: {}): whether Unitree's built-in motion control is "
                "active is unknown; nothing was sent".format(self._proc.returncode, " | ".join(tail) or "no output"),
            )
        return verdict

    def cancel(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.communicate()


def main(argv: Optional[List[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--domain_id", type=int, default=0, help="DDS domain (the robot uses 0)")
    p.add_argument("--net", default=None, help="network interface wired to the robot (e.g. eno1)")
    p.add_argument("--release", action="store_true", help="release the active mode (ReleaseMode until none is)")
    p.add_argument("--rpc_timeout_s", type=float, default=RPC_TIMEOUT_S, help="the SDK client's RPC timeout")
    args = p.parse_args(argv)
    # Ctrl-C (the server's terminal sends it to this process too): leave at once, no verdict, as below
    signal.signal(signal.SIGINT, lambda signum, frame: os._exit(130))
    try:
        verdict = check(args.domain_id, args.net, args.release, args.rpc_timeout_s)
    except Exception as e:  # the SDK raises a bare Exception when its DDS domain cannot be made
        verdict = Verdict(ERROR, "the motion switcher could not be asked ({}: {})".format(type(e).__name__, e))
    print(verdict.message, file=sys.stderr, flush=True)
    print(verdict.to_json(), flush=True)
    # not the interpreter's exit: the SDK's DDS reader has a listener, and cyclonedds' deletion of it at the
    # interpreter's exit can wait for that listener forever (deploy_real.dds_link.DdsDomain.close)
    os._exit(0 if verdict.go_on else 2)


if __name__ == "__main__":
    main()
