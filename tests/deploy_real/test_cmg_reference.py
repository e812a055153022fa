"""The high-level server's CMG source (`--cmg`, deploy_real/cmg_reference.py): streamed frames whose root
follows the velocity command, a continuous stream across command changes, the live command key
`command_velocity_g1` (changes applied, bad messages rejected with the last valid command kept), the
server as a separate process, and a short sim2sim run of the low-level server on CMG frames. A small
random CMG (tests/conftest.py) where the shipped one is not needed."""

import json

import numpy as np
import pytest
import redis
import torch
from conftest import tiny_cmg
from deploy_helpers import HIGH_LEVEL, LOW_LEVEL, start_server, stop, wait_for

from deploy_real.cmg_reference import POLICY_BAND, CMGReference, CommandInput
from deploy_real.contract import (
    BODY_STATE_KEY,
    MIMIC_KEY,
    MIMIC_META_KEY,
    VELOCITY_COMMAND_KEY,
    default_mimic_vector,
)
from deploy_real.motion_reference import mocap_qpos
from deploy_real.redis_link import RedisLink
from deploy_real.server_high_level_motion_lib import main as server_main
from pose.cmg.foot_lock import FootLock

pytestmark = pytest.mark.usefixtures("one_thread")

DT = 0.02
LOW, HIGH = np.array([-0.4, -0.4, -0.8]), np.array([3.5, 0.4, 0.8])
BAD_MESSAGES = (
    "garbage",
    "[1.0, 0.2]",
    "[NaN, 0.0, 0.0]",
    "[1.0, Infinity, 0.0]",
    "[9.0, 0.0, 0.0]",
    '{"vx": 1.0}',
    "[1.0, %d, 0.0]" % 10**400,  # no float holds it
    "[1.0, 0.0, 0.0" + " " * 5000 + "]",  # over 4 KB
)


@pytest.fixture(scope="module")
def cmg_model(tmp_path_factory):
    return tiny_cmg(tmp_path_factory.mktemp("cmg") / "tiny_cmg.pt")


class Commands:
    """A stand-in for CommandInput: `schedule[k]` is the command in force at step k (the last one after)."""

    def __init__(self, schedule):
        self.schedule, self.k = schedule, 0

    def poll(self):
        command = self.schedule[min(self.k, len(self.schedule) - 1)]
        self.k += 1
        return np.asarray(command, dtype=np.float64)


def wrap(a):
    return np.arctan2(np.sin(a), np.cos(a))


def play(cmg, schedule):
    """(streamed 33-D vectors (N, 33), the root poses the --vis viewer shows (N, 7): xyz, wxyz)."""
    refs, roots = [], []
    for (ref, mid, t), _ in zip(cmg.stream(Commands(schedule)), schedule):
        refs.append(ref)
        roots.append(mocap_qpos(cmg.lib, mid, t)[:7])
    return np.array(refs), np.array(roots)


def heading_frame_steps(roots):
    """Root displacement from each frame to the next, in the heading frame of the earlier one (N - 1, 2)."""
    yaw = 2.0 * np.arctan2(roots[:, 6], roots[:, 3])
    d = np.diff(roots[:, :2], axis=0)
    c, s = np.cos(yaw[:-1]), np.sin(yaw[:-1])
    return np.stack([c * d[:, 0] + s * d[:, 1], -s * d[:, 0] + c * d[:, 1]], axis=-1)


def test_streamed_root_follows_the_command(cmg_model):
    command = np.array([1.2, -0.2, 0.5])
    cmg = CMGReference(cmg_model, command)
    n = 150  # 3 s
    refs, roots = play(cmg, [command] * n)
    # root displacement over the 3 s, summed in the heading frame: the command's velocity x time
    np.testing.assert_allclose(heading_frame_steps(roots).sum(axis=0), command[:2] * (n - 1) * DT, atol=2e-3)
    # the yaw turns at the commanded rate; the streamed yaw is the viewer's
    yaw = 2.0 * np.arctan2(roots[:, 6], roots[:, 3])
    np.testing.assert_allclose(wrap(np.diff(refs[:, 3])), command[2] * DT, atol=1e-5)
    np.testing.assert_allclose(wrap(refs[:, 3] - yaw), 0.0, atol=1e-5)
    # the 33-D vector: level root at 0.75 m, root-frame velocity and yaw rate = the command
    np.testing.assert_allclose(refs[:, 0], 0.75, atol=1e-6)
    np.testing.assert_allclose(refs[:, [1, 2, 6]], 0.0, atol=1e-6)
    np.testing.assert_allclose(refs[:, [4, 5, 7]], np.broadcast_to(command, (n, 3)), atol=1e-5)
    assert int(cmg.lib.num_clamped) == 0


def test_a_command_change_takes_effect_on_the_next_frame_without_a_jump(cmg_model):
    a, b = np.array([1.5, 0.2, 0.4]), np.array([0.3, -0.3, -0.6])
    change = 40
    refs, roots = play(CMGReference(cmg_model, a), [a] * change + [b] * 60)
    alone, _ = play(CMGReference(cmg_model, a), [a] * change)
    np.testing.assert_array_equal(refs[:change], alone)  # the same stream until the change
    np.testing.assert_allclose(refs[:change, [4, 5, 7]], np.broadcast_to(a, (change, 3)), atol=1e-5)
    np.testing.assert_allclose(refs[change:, [4, 5, 7]], np.broadcast_to(b, (60, 3)), atol=1e-5)
    steps = heading_frame_steps(roots)
    # every step of the root is one frame of the command in force: no jump at the change
    np.testing.assert_allclose(steps[: change - 1], np.broadcast_to(a[:2] * DT, (change - 1, 2)), atol=1e-5)
    np.testing.assert_allclose(steps[change - 1 :], np.broadcast_to(b[:2] * DT, (60, 2)), atol=1e-5)
    np.testing.assert_allclose(wrap(np.diff(refs[:, 3]))[change - 1 :], b[2] * DT, atol=1e-5)


def test_the_initial_command_must_be_inside_the_trained_range(cmg_model):
    cmg = CMGReference(cmg_model)
    assert cmg.command.tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match=r"--vx --vy --yaw_rate \[9.0, 0.0, 0.0\]: vx 9 m/s outside .*tiny_cmg.pt"):
        CMGReference(cmg_model, (9.0, 0.0, 0.0))
    with pytest.raises(ValueError, match="not finite"):
        CMGReference(cmg_model, (0.0, float("nan"), 0.0))


def test_a_stop_blends_to_standing_and_a_command_walks_again(cmg_model):
    """Command a for 40 frames, stop for 80, a again for 40 (the stand-in gives each at once, no ramp): the
    stream is the generated frames while walking; from the first stopped frame on, the default standing
    vector at the frame's heading mixes in by 0.02 more per frame (1 s); once walking again the frames come
    back by 0.04 per frame (0.5 s). A stream that starts at 0 stands from its first frame."""
    a = np.array([1.0, 0.1, 0.3])
    schedule = [a] * 40 + [np.zeros(3)] * 80 + [a] * 40
    refs, _ = play(CMGReference(cmg_model, a), schedule)
    generator = CMGReference(cmg_model, a)  # the frames alone
    frames = []
    for command in schedule:
        generator.set_command(command)
        frames.append(generator.next()[0])
    w = np.concatenate(
        [np.zeros(40), np.minimum(0.02 * np.arange(1, 81), 1.0), np.maximum(1.0 - 0.04 * np.arange(1, 41), 0.0)]
    )
    standing = np.broadcast_to(default_mimic_vector(), (160, 33)).copy()
    standing[:, 3] = np.array(frames)[:, 3]
    np.testing.assert_allclose(refs, (1.0 - w[:, None]) * np.array(frames) + w[:, None] * standing, atol=1e-9)
    assert np.abs(np.diff(refs[:, 8:], axis=0)).max() < 0.1  # no jump into standing or out of it

    refs, _ = play(CMGReference(cmg_model), [np.zeros(3)] * 10)
    np.testing.assert_allclose(np.delete(refs, 3, axis=1), np.delete(standing[:10], 3, axis=1), atol=1e-12)


def test_a_policy_band_rejects_commands_outside_it_but_not_stop(redis_server):
    """CommandInput with a student's band (vx 0.5-1.5 m/s): vx 0.3 is rejected naming the band (and stops);
    [0, 0, 0] is stop, accepted outside the band; vx 1.0 walks."""
    client = redis.Redis(port=redis_server.port)
    link = RedisLink(redis_server.url, start_private=False)
    lines = []
    low, high = np.array([0.5, -0.3, -0.5]), np.array([1.5, 0.3, 0.5])
    commands = CommandInput(link, np.array([1.0, 0.0, 0.0]), low, high, log=lines.append, range_name=POLICY_BAND)
    try:
        client.set(VELOCITY_COMMAND_KEY, "[0.3, 0.0, 0.0]")
        commands.poll()
        assert commands.target.tolist() == [0.0, 0.0, 0.0] and commands.rejected == 1
        assert "vx 0.3 m/s outside the policy's command band [0.500, 1.500] m/s" in lines[-1]
        client.set(VELOCITY_COMMAND_KEY, "[0.0, 0.0, 0.0]")
        commands.poll()
        assert commands.target.tolist() == [0.0, 0.0, 0.0] and commands.rejected == 1
        assert lines[-1] == "[high-level] command: vx 0.00 m/s, vy 0.00 m/s, yaw_rate 0.00 rad/s"
        client.set(VELOCITY_COMMAND_KEY, "[1.0, 0.0, 0.2]")
        commands.poll()
        assert commands.target.tolist() == [1.0, 0.0, 0.2] and commands.rejected == 1
    finally:
        link.close()


def test_foot_lock_streams_the_locked_frames(cmg_model):
    """foot_lock=True: the streamed joints are pose.cmg.foot_lock applied to the unlocked stream's, under
    the same root (frame 0, the standing start, then the 30 streamed frames)."""
    command = (1.0, 0.0, 0.3)
    streams = []
    for lock in (False, True):
        cmg = CMGReference(cmg_model, command, foot_lock=lock)
        frame = lambda t: cmg.lib.calc_motion_frame(  # noqa: E731
            torch.zeros(1, dtype=torch.long), torch.tensor([t], dtype=torch.float64)
        )
        frames = [frame(0.0)]
        for _, (_, _, t) in zip(range(30), cmg.stream(Commands([command]))):
            frames.append(frame(t))
        streams.append([torch.cat([f[i] for f in frames], dim=0) for i in range(6)])
    plain, locked = streams
    torch.testing.assert_close(locked[0], plain[0], atol=0, rtol=0)
    yaw = 2.0 * torch.atan2(plain[1][:, 2], plain[1][:, 3])
    q, _, _, _ = FootLock()(plain[0][None], yaw[None], plain[4][None], plain[5][None], DT)
    torch.testing.assert_close(locked[4], q[0], atol=1e-5, rtol=1e-5)
    assert float((locked[4] - plain[4]).abs().max()) > 1e-3


def test_cmg_flags_and_clip_flags_do_not_mix(capsys):
    for argv, message in (
        (["--vx", "1.0"], "--vx: only with --cmg"),
        (["--cmg_model", "x.pt", "--yaw_rate", "0.1"], "--yaw_rate --cmg_model: only with --cmg"),
        (["--cmg_foot_lock"], "--cmg_foot_lock: only with --cmg"),
        (["--cmg", "--loop"], "--cmg streams generated locomotion, not clips: drop --loop"),
        (["--cmg", "--motion_id", "3"], "drop --motion_id"),
    ):
        with pytest.raises(SystemExit) as e:
            server_main(argv)
        assert e.value.code == 2 and message in capsys.readouterr().err


def ramp(start, target, steps):
    """The commands of `steps` polls from `start` towards `target`: each entry moves by at most 1.5 m/s²,
    1.5 m/s², 2 rad/s² x 0.02 s per poll (written out here, not taken from the module)."""
    out, c = [], np.array(start, dtype=np.float64)
    for _ in range(steps):
        c = c + np.clip(np.array(target) - c, [-0.03, -0.03, -0.04], [0.03, 0.03, 0.04])
        out.append(c.copy())
    return out


def test_command_key_sets_a_target_reached_by_a_ramp(redis_server):
    client = redis.Redis(port=redis_server.port)
    client.set(VELOCITY_COMMAND_KEY, "[2.0, 0.0, 0.0]")  # left from an earlier session: not applied
    link = RedisLink(redis_server.url, start_private=False)
    lines = []
    commands = CommandInput(link, np.array([0.5, 0.0, 0.0]), LOW, HIGH, log=lines.append)
    try:
        assert json.loads(client.get(VELOCITY_COMMAND_KEY)) == [0.5, 0.0, 0.0]
        assert commands.poll().tolist() == [0.5, 0.0, 0.0] and lines == []  # the initial command at once
        client.set(VELOCITY_COMMAND_KEY, "[1.0, 0.2, -0.3]")
        for want in ramp([0.5, 0.0, 0.0], [1.0, 0.2, -0.3], 20):  # vx needs 17 polls, vy 7, yaw rate 8
            np.testing.assert_allclose(commands.poll(), want, atol=1e-12)
        assert commands.poll().tolist() == pytest.approx([1.0, 0.2, -0.3], abs=1e-12)
        assert lines == ["[high-level] command: vx 1.00 m/s, vy 0.20 m/s, yaw_rate -0.30 rad/s"]
    finally:
        link.close()


def test_no_valid_command_stops(redis_server):
    """A rejected value, a deleted key, an expired one (a client's dead-man switch): the target is 0 and
    the command ramps down to it; each cause is logged once when it begins."""
    client = redis.Redis(port=redis_server.port)
    link = RedisLink(redis_server.url, start_private=False)
    walking = [1.0, 0.2, -0.3]
    try:
        for bad in BAD_MESSAGES:
            lines = []
            commands = CommandInput(link, np.array(walking), LOW, HIGH, log=lines.append)
            client.set(VELOCITY_COMMAND_KEY, bad)
            got = [commands.poll() for _ in range(40)]
            for g, want in zip(got, ramp(walking, [0.0, 0.0, 0.0], 40)):
                np.testing.assert_allclose(g, want, atol=1e-12)
            assert got[-1].tolist() == [0.0, 0.0, 0.0] and commands.rejected == 1
            assert len(lines) == 1 and "\n" not in lines[0], lines  # logged once, not at every step
            assert lines[0].startswith("[high-level] rejected command_velocity_g1")
            assert lines[0].endswith(": stopping (the command ramps to 0)")
            reason = {"[1.0, 0.2]": "expected 3 numbers, got 2", "[9.0, 0.0, 0.0]": "vx 9 m/s outside"}.get(bad)
            assert reason is None or reason in lines[0]
        lines = []
        commands = CommandInput(link, np.array(walking), LOW, HIGH, log=lines.append)
        client.delete(VELOCITY_COMMAND_KEY)
        assert commands.poll().tolist() == pytest.approx([0.97, 0.17, -0.26], abs=1e-12)
        assert lines == ["[high-level] no command_velocity_g1 (deleted or expired): stopping (the command ramps to 0)"]
        client.set(VELOCITY_COMMAND_KEY, "[0.8, 0.0, 0.0]", px=300)  # refreshed by a client that then dies
        commands.poll()
        assert commands.target.tolist() == [0.8, 0.0, 0.0] and lines[-1].startswith("[high-level] command: vx 0.80")
        wait_for(lambda: client.get(VELOCITY_COMMAND_KEY) is None, 5, "the key to expire")
        commands.poll()
        assert commands.target.tolist() == [0.0, 0.0, 0.0] and lines[-1].startswith("[high-level] no command")
    finally:
        link.close()


def streamed(client):
    """(seq, 33-D vector) of the newest reference (read together: they are written in one transaction)."""
    raw, meta = client.mget(MIMIC_KEY, MIMIC_META_KEY)
    return (0, None) if raw is None else (json.loads(meta)["seq"], np.array(json.loads(raw)))


def test_server_streams_the_command_and_changes_it_live(redis_server, cmg_model, tmp_path):
    client = redis.Redis(port=redis_server.port)
    args = [
        "--cmg",
        "--cmg_model",
        cmg_model,
        "--vx",
        1.0,
        "--vy",
        0.2,
        "--yaw_rate",
        0.3,
        "--redis_url",
        redis_server.url,
        "--duration",
        120,
    ]
    high, log = start_server(HIGH_LEVEL, args, tmp_path, tmp_path / "high.log")

    def follows(command):
        seq, ref = streamed(client)
        return ref is not None and np.allclose(ref[[4, 5, 7]], command, atol=1e-5)

    def go_on(frames):
        seq = streamed(client)[0]
        wait_for(lambda: streamed(client)[0] >= seq + frames, 20, "{} more frames".format(frames))

    try:
        wait_for(lambda: streamed(client)[0] > 10, 90, "the CMG stream")
        assert follows([1.0, 0.2, 0.3])
        s0, r0 = streamed(client)
        go_on(25)
        s1, r1 = streamed(client)
        assert wrap(r1[3] - r0[3]) == pytest.approx(0.3 * (s1 - s0) * DT, abs=1e-4)  # the yaw turns at 0.3 rad/s
        client.set(VELOCITY_COMMAND_KEY, "[0.5, -0.1, -0.2]")
        wait_for(lambda: follows([0.5, -0.1, -0.2]), 10, "the new command in the stream")
        client.set(VELOCITY_COMMAND_KEY, "[NaN, 0.0, 0.0]")
        wait_for(lambda: follows([0.0, 0.0, 0.0]), 10, "the stop after a rejected command")
        client.set(VELOCITY_COMMAND_KEY, "[0.5, -0.1, -0.2]")
        wait_for(lambda: follows([0.5, -0.1, -0.2]), 10, "the command again")
        client.delete(VELOCITY_COMMAND_KEY)
        wait_for(lambda: follows([0.0, 0.0, 0.0]), 10, "the stop after the key was deleted")
        assert high.poll() is None
    finally:
        assert stop(high, log) == 0
    out = (tmp_path / "high.log").read_text()
    assert "streaming CMG locomotion of {}".format(cmg_model) in out
    assert "[high-level] command: vx 0.50 m/s, vy -0.10 m/s, yaw_rate -0.20 rad/s" in out
    assert out.count("rejected command_velocity_g1[0]") == 1 and out.count("no command_velocity_g1") == 1
    assert "Traceback" not in out


def test_low_level_server_runs_on_cmg_frames_in_sim2sim(redis_server, tmp_path):
    """The shipped CMG streamed to the low-level server with the shipped student (a student of the CMG
    tasks is used the same way): every frame passes the safety gate and drives the policy at 50 Hz; walking
    at 0.5 m/s for 2 s, then a stop (the reference blends to standing), and the robot stays up."""
    summary = tmp_path / "low.json"
    low, low_log = start_server(
        LOW_LEVEL,
        ["--redis_url", redis_server.url, "--headless", "--duration", 120, "--summary_json", summary],
        tmp_path,
        tmp_path / "low.log",
    )
    try:
        wait_for(
            lambda: redis.Redis(port=redis_server.port).get(BODY_STATE_KEY) is not None, 90, "the low-level server"
        )
        high, high_log = start_server(
            HIGH_LEVEL,
            ["--cmg", "--vx", 0.5, "--yaw_rate", 0.2, "--redis_url", redis_server.url, "--duration", 4],
            tmp_path,
            tmp_path / "high.log",
        )
        client = redis.Redis(port=redis_server.port)
        wait_for(lambda: streamed(client)[0] >= 100, 90, "2 s of CMG frames")
        client.set(VELOCITY_COMMAND_KEY, "[0.0, 0.0, 0.0]")
        assert high.wait(timeout=90) == 0, (tmp_path / "high.log").read_text()
        assert "[high-level] command: vx 0.00 m/s" in (tmp_path / "high.log").read_text()
        high_log.close()
    finally:
        assert stop(low, low_log) == 0, (tmp_path / "low.log").read_text()
    result = json.loads(summary.read_text())
    assert result["reference_status_steps"]["fresh"] >= 250  # 4 s of CMG frames + the 2-s ramp, at 50 Hz
    assert result["rejected"] == 0
    assert not result["fell"] and result["tilt_fault_at_s"] is None, result
    assert 45.0 < result["policy_hz"] < 55.0
    assert "Traceback" not in (tmp_path / "low.log").read_text()
