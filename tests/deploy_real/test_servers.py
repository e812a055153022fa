"""The two deploy servers as separate processes, as the README starts them: Redis absent at start (the
private-server fallback, gone with its owner even when that is killed), Redis restarted mid-run, the
shipped student tracking a walking clip in MuJoCo for 10 s, the video, a display or a MUJOCO_GL that does
not work."""

import json
import os
import signal
import sys
import time

import numpy as np
import pytest
import redis
from deploy_helpers import HIGH_LEVEL, LOW_LEVEL, start_server, stop, wait_for

from deploy_real.contract import (
    BODY_STATE_KEY,
    HAND_ACTION_KEY,
    MIMIC_KEY,
    MIMIC_META_KEY,
    default_mimic_vector,
    validate_mimic,
)
from deploy_real.redis_link import PrivateRedis, port_answers

WALK_CLIP = 5  # walk_forward_1p0 of the embedded set


def read_key(port, key):
    try:
        return redis.Redis(port=port, socket_timeout=0.5).get(key)
    except redis.exceptions.ConnectionError:
        return None


def meta_seq(port):
    raw = read_key(port, MIMIC_META_KEY)
    return None if raw is None else json.loads(raw)["seq"]


def start_low_level(url, duration, summary, tmp_path, *extra, headless=True, env=None):
    """The sim2sim server (headless unless told, in `env` if given) for `duration` s, writing `summary` and
    its log to tmp_path/low.log."""
    args = ["--redis_url", url, "--duration", duration, "--summary_json", summary] + list(extra)
    return start_server(LOW_LEVEL, args + (["--headless"] if headless else []), tmp_path, tmp_path / "low.log", env)


def without_display(**changes):
    """This environment without a display or MUJOCO_GL, with `changes`."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "MUJOCO_GL")}
    env.update(changes)
    return env


def children(pid, name):
    """Pids of the live (not zombie) processes called `name` whose parent is `pid` (Linux /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open("/proc/{}/stat".format(entry)) as f:
                stat = f.read()
        except (OSError, ValueError):
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        state, ppid = stat[stat.rindex(")") + 2 :].split()[:2]
        if int(ppid) == pid and comm == name and state != "Z":
            found.append(int(entry))
    return found


def alive(pid):
    """A process `pid` exists and is not a zombie."""
    try:
        with open("/proc/{}/stat".format(pid)) as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def test_low_level_starts_a_private_redis_that_the_high_level_finds(redis_port, tmp_path):
    url = "redis://127.0.0.1:{}/0".format(redis_port)
    summary = tmp_path / "low.json"
    low, low_log = start_low_level(url, 30, summary, tmp_path)
    try:
        wait_for(lambda: read_key(redis_port, BODY_STATE_KEY) is not None, 60, "the low-level server's state key")
        high, high_log = start_server(
            HIGH_LEVEL, ["--redis_url", url, "--motion_id", 0, "--duration", 2], tmp_path, tmp_path / "high.log"
        )
        assert high.wait(timeout=60) == 0
        high_log.close()
    finally:
        assert stop(low, low_log) == 0
    out = (tmp_path / "low.log").read_text()
    assert "started a private redis-server on 127.0.0.1:{}".format(redis_port) in out
    assert "private redis-server" not in (tmp_path / "high.log").read_text()
    result = json.loads(summary.read_text())
    assert result["reference_status_steps"]["fresh"] > 50  # the 2-s clip arrived
    assert result["rejected"] == 0
    assert not port_answers("127.0.0.1", redis_port)  # the private server went with its owner


def test_high_level_first_then_low_level(redis_port, tmp_path):
    """The other start-up order: the high-level server starts the private Redis and streams; the low-level
    server joins later, stands, then follows the stream. The stream loops the standing clip: where a loop over
    the whole set stands when the low-level server joins depends on the machine's speed, and the shipped
    student can fall joining the squat."""
    from pose.synth import default_motion_file

    url = "redis://127.0.0.1:{}/0".format(redis_port)
    summary = tmp_path / "low.json"
    stand = default_motion_file().parent / "stand.pkl"
    high, high_log = start_server(
        HIGH_LEVEL,
        ["--redis_url", url, "--motion_file", stand, "--loop", "--duration", 60],
        tmp_path,
        tmp_path / "high.log",
    )
    try:
        wait_for(lambda: (meta_seq(redis_port) or 0) > 10, 60, "the high-level stream")
        low, low_log = start_low_level(url, 6, summary, tmp_path)
        assert low.wait(timeout=120) == 0, (tmp_path / "low.log").read_text()
        low_log.close()
    finally:
        assert stop(high, high_log) == 0
    assert "started a private redis-server" in (tmp_path / "high.log").read_text()
    result = json.loads(summary.read_text())
    assert result["reference_status_steps"]["fresh"] > 250 and result["rejected"] == 0
    assert not result["fell"]
    assert not port_answers("127.0.0.1", redis_port)


def test_both_servers_reconnect_after_a_redis_restart(redis_server, tmp_path):
    port = redis_server.port
    url = redis_server.url
    summary = tmp_path / "low.json"
    low, low_log = start_low_level(url, 60, summary, tmp_path)
    high, high_log = start_server(
        HIGH_LEVEL, ["--redis_url", url, "--loop", "--duration", 60], tmp_path, tmp_path / "high.log"
    )
    restarted = None
    try:
        wait_for(
            lambda: (meta_seq(port) or 0) > 25 and read_key(port, BODY_STATE_KEY) is not None,
            60,
            "both servers on Redis",
        )
        redis_server.stop()
        time.sleep(1.0)
        restarted = PrivateRedis(port)
        # both write again into the new, empty server
        wait_for(
            lambda: read_key(port, BODY_STATE_KEY) is not None and meta_seq(port) is not None,
            20,
            "the servers to reconnect",
        )
        seq = meta_seq(port)
        wait_for(lambda: meta_seq(port) > seq + 10, 10, "the high-level stream to go on")
        assert low.poll() is None and high.poll() is None
    finally:
        rc_high = stop(high, high_log)
        rc_low = stop(low, low_log)
        if restarted is not None:
            restarted.stop()
    assert rc_high == 0 and rc_low == 0
    low_out = (tmp_path / "low.log").read_text()
    assert "no usable answer from {} (ConnectionError".format(url) in low_out and "reconnected" in low_out
    assert "reconnected" in (tmp_path / "high.log").read_text()
    result = json.loads(summary.read_text())
    assert result["redis_errors"] > 0 and result["stale"] > 0  # the outage was noticed and bridged


def test_shipped_student_tracks_a_walking_clip_in_sim2sim(redis_server, tmp_path):
    """No video needed: the tracking numbers of the summary and its last line."""
    url = redis_server.url
    summary = tmp_path / "low.json"
    # a backstop duration: the low-level server is stopped once the clip has been streamed, so a slow
    # start of the high-level server (a loaded CI machine) cannot cut the clip short
    low, low_log = start_low_level(url, 120, summary, tmp_path)
    wait_for(lambda: read_key(redis_server.port, BODY_STATE_KEY) is not None, 60, "the low-level server")
    high, high_log = start_server(
        HIGH_LEVEL, ["--redis_url", url, "--motion_id", WALK_CLIP], tmp_path, tmp_path / "high.log"
    )
    assert high.wait(timeout=60) == 0, (tmp_path / "high.log").read_text()
    high_log.close()
    time.sleep(2.0)  # the low-level server holds the last frame after the stream ends (stale), then Ctrl-C
    assert low.poll() is None, (tmp_path / "low.log").read_text()
    assert stop(low, low_log, timeout=180) == 0, (tmp_path / "low.log").read_text()
    result = json.loads(summary.read_text())
    steps = result["reference_status_steps"]
    assert steps["fresh"] >= 450  # the 8-s clip + 2-s ramp, at 50 Hz
    assert result["rejected"] == 0
    assert 45.0 < result["policy_hz"] < 55.0
    assert not result["fell"] and result["fell_at_s"] is None, result
    assert result["tilt_fault_at_s"] is None and result["max_tilt_rad"] < 0.5
    assert result["tilt_limit_rad"] == 1.0  # deploy_real/configs/g1.yaml
    assert result["joint_err_rad"] < 0.15
    # scored over the steps with the stream's reference only: not the standing before it, nor the blend after
    assert result["joint_err_steps"] == steps["fresh"] + steps.get("hold", 0) < result["policy_steps"]
    last = (tmp_path / "low.log").read_text().splitlines()[-1]
    assert "no fall" in last and "over {} steps with a reference".format(result["joint_err_steps"]) in last
    assert "({:.1f} Hz; {} steps slower than".format(result["policy_hz"], result["overruns"]) in last


def test_sim2sim_records_a_video(redis_port, tmp_path):
    """--record_video: one frame per policy step, rendered offscreen when the display set does not work
    (DISPLAY=:99, no X server); with no reference stream, no joint error is reported."""
    pytest.importorskip("imageio_ffmpeg")
    from legged_gym.scripts import render

    backend, reasons = render.find_offscreen_backend()
    if backend is None:
        pytest.skip("no offscreen OpenGL for the video: {}".format("; ".join(reasons)))
    if os.path.exists("/tmp/.X11-unix/X99"):
        pytest.skip("an X server listens on :99 here")
    url = "redis://127.0.0.1:{}/0".format(redis_port)
    video, summary = tmp_path / "sim2sim.mp4", tmp_path / "low.json"
    env = without_display(DISPLAY=":99")
    low, low_log = start_low_level(url, 3, summary, tmp_path, "--record_video", video, env=env)
    assert low.wait(timeout=180) == 0, (tmp_path / "low.log").read_text()
    low_log.close()
    result = json.loads(summary.read_text())
    assert result["reference_status_steps"] == {"default": result["policy_steps"]}
    assert result["joint_err_rad"] is None and result["joint_err_steps"] == 0
    out = (tmp_path / "low.log").read_text()
    assert "--record_video: display :99 does not work (" in out and "): rendering offscreen" in out
    assert "no reference: no joint error" in out and "video: {}".format(video) in out
    import imageio

    reader = imageio.get_reader(str(video))
    try:
        frames = sum(1 for _ in reader)
    finally:
        reader.close()
    assert frames >= 0.9 * result["policy_steps"] > 100


def test_a_display_that_does_not_work_means_no_viewer(redis_port, tmp_path):
    """DISPLAY=:99 with no X server there: both servers say so in one line and go on without their viewer
    (before, GLFW ended the low-level server from C: exit 1, no summary, its private Redis left running)."""
    if os.path.exists("/tmp/.X11-unix/X99"):
        pytest.skip("an X server listens on :99 here")
    env = without_display(DISPLAY=":99")
    url = "redis://127.0.0.1:{}/0".format(redis_port)
    summary = tmp_path / "low.json"
    low, low_log = start_low_level(url, 60, summary, tmp_path, headless=False, env=env)
    try:
        wait_for(lambda: read_key(redis_port, BODY_STATE_KEY) is not None, 60, "the low-level server")
        high, high_log = start_server(
            HIGH_LEVEL,
            ["--redis_url", url, "--motion_id", 0, "--duration", 1, "--vis"],
            tmp_path,
            tmp_path / "high.log",
            env,
        )
        assert high.wait(timeout=60) == 0, (tmp_path / "high.log").read_text()
        high_log.close()
        assert low.poll() is None, (tmp_path / "low.log").read_text()
    finally:
        assert stop(low, low_log) == 0, (tmp_path / "low.log").read_text()
    note = "display :99 does not work ("
    out = (tmp_path / "low.log").read_text()
    assert out.count(note) == 1 and "): running without a viewer (--headless to say so)" in out
    assert "--vis: " + note in (tmp_path / "high.log").read_text()
    assert json.loads(summary.read_text())["reference_status_steps"]["fresh"] > 100  # the stream arrived
    assert "policy steps in" in out.splitlines()[-1]
    assert not port_answers("127.0.0.1", redis_port)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_a_killed_low_level_server_takes_its_private_redis_with_it(redis_port, tmp_path):
    """SIGKILL runs no exit handler: the private redis-server goes because Linux signals it when its
    parent dies (before, it was left running, owned by init, holding the port)."""
    url = "redis://127.0.0.1:{}/0".format(redis_port)
    low, low_log = start_low_level(url, 60, tmp_path / "low.json", tmp_path)
    try:
        wait_for(lambda: read_key(redis_port, BODY_STATE_KEY) is not None, 60, "the low-level server")
        (redis_pid,) = children(low.pid, "redis-server")
        low.send_signal(signal.SIGKILL)
        assert low.wait(timeout=10) == -signal.SIGKILL
        wait_for(lambda: not alive(redis_pid), 5, "the private redis-server to end")
    finally:
        stop(low, low_log)
    assert not port_answers("127.0.0.1", redis_port)


def test_an_unusable_mujoco_gl_is_refused_at_start(redis_port, tmp_path):
    """--record_video with MUJOCO_GL=glfw and no display: exit 2 at once with one line naming MUJOCO_GL (before,
    the run went on and failed at its end in the video, exit 1 with a traceback, no summary)."""
    url = "redis://127.0.0.1:{}/0".format(redis_port)
    summary = tmp_path / "low.json"
    low, low_log = start_low_level(
        url, 2, summary, tmp_path, "--record_video", tmp_path / "v.mp4", env=without_display(MUJOCO_GL="glfw")
    )
    rc = low.wait(timeout=120)
    low_log.close()
    lines = (tmp_path / "low.log").read_text().strip().splitlines()
    assert rc == 2, lines
    assert len(lines) == 1 and lines[0].startswith(
        "server_low_level_g1_sim.py --record_video: MUJOCO_GL=glfw (set in the environment) cannot render here: "
    )
    assert not summary.exists() and not (tmp_path / "v.mp4").exists()
    assert not port_answers("127.0.0.1", redis_port)  # refused before Redis


def test_a_video_that_fails_keeps_the_summary(redis_server, tmp_path, monkeypatch, capsys):
    """The OpenGL failure the audit met at the end of a run (mujoco.FatalError in the renderer): the
    summary is written before the video, and the failure is one line, exit 1."""
    import mujoco

    from deploy_real import server_low_level_g1_sim as server

    def broken_video(sim, qpos_log, path, width=640, height=480):
        assert len(qpos_log) > 10  # called after the run, with its frames
        raise mujoco.FatalError("gladLoadGL error")

    monkeypatch.setattr(server, "prepare_video", lambda: None)  # the start-up check passed
    monkeypatch.setattr(server, "write_video", broken_video)
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    summary, video = tmp_path / "low.json", tmp_path / "v.mp4"
    argv = ["--redis_url", redis_server.url, "--headless", "--duration", "1", "--summary_json", str(summary)]
    try:
        rc = server.main(argv + ["--record_video", str(video)])
    finally:
        signal.signal(signal.SIGINT, handlers[0])
        signal.signal(signal.SIGTERM, handlers[1])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1
    assert err == [
        "server_low_level_g1_sim.py: --record_video {}: not written (FatalError: gladLoadGL error); "
        "the summary is in {}".format(video, summary)
    ]
    assert json.loads(summary.read_text())["policy_steps"] > 25


def test_bad_messages_and_redis_errors_do_not_stop_the_low_level_server(redis_server, tmp_path):
    """A 400-digit integer, Redis refusing every write (out of memory), a 40 MB message: the sim2sim server
    goes on at 50 Hz on the default, says each once (with its reason) and ends with its summary."""
    url = redis_server.url
    client = redis.Redis(port=redis_server.port, socket_timeout=5)
    summary = tmp_path / "low.json"
    low, low_log = start_low_level(url, 60, summary, tmp_path)
    log = tmp_path / "low.log"
    try:
        wait_for(lambda: read_key(redis_server.port, BODY_STATE_KEY) is not None, 60, "the low-level server")
        client.set(MIMIC_KEY, "[" + ",".join([str(10**400)] + ["0.1"] * 32) + "]")
        wait_for(lambda: "last rejection: action_mimic_g1[0]: an integer" in log.read_text(), 5, "the rejection")
        client.config_set("maxmemory", 1)
        time.sleep(0.5)
        client.config_set("maxmemory", 0)
        wait_for(lambda: "reconnected" in log.read_text(), 5, "the end of the Redis errors")
        client.set(MIMIC_KEY, b"[" + b"0.1," * 10_000_000 + b"0.1]")
        wait_for(lambda: "longer than 4096 bytes" in log.read_text(), 5, "the rejection of 40 MB")
        time.sleep(2.0)
        assert low.poll() is None
    finally:
        assert stop(low, low_log) == 0, log.read_text()
    out = log.read_text()
    assert "Traceback" not in out
    assert out.count("(OutOfMemoryError: command not allowed when used memory > 'maxmemory'.)") == 1
    assert out.count("last rejection: action_mimic_g1[0]: an integer of 1329 bits, beyond any float") == 1
    assert out.count("last rejection: action_mimic_g1: longer than 4096 bytes: not read") == 1
    result = json.loads(summary.read_text())
    assert result["rejected"] == 2 and result["redis_errors"] > 10
    assert result["reference_status_steps"] == {"default": result["policy_steps"]}
    assert 45.0 < result["policy_hz"] < 55.0  # the 40 MB value is not read
    assert "policy steps" in out.splitlines()[-1] and "rejected 2 stale 0 non-finite actions 0" in out


def test_the_high_level_server_leaves_no_meta_key_and_the_reference_as_twist_does(redis_port, tmp_path):
    """Its meta key expires 1 s after its last write, and it deletes it when it ends: neither a clean end nor
    a kill leaves a meta key that would hide another source's reference. The reference stays, as TWIST's
    server leaves it (TWIST's low-level server stops when the key is missing): the default standing vector
    after a clean end, the last frame after a kill."""

    server = PrivateRedis(redis_port)
    url = "redis://127.0.0.1:{}/0".format(redis_port)
    client = redis.Redis(port=redis_port, socket_timeout=1)
    try:
        high, high_log = start_server(
            HIGH_LEVEL, ["--redis_url", url, "--loop", "--duration", 60], tmp_path, tmp_path / "high.log"
        )
        try:
            wait_for(lambda: (meta_seq(redis_port) or 0) > 10, 60, "the high-level stream")
            assert 900 < client.pttl(MIMIC_META_KEY) <= 1000
            assert client.pttl(MIMIC_KEY) == client.pttl(HAND_ACTION_KEY) == -1  # no expiry
        finally:
            assert stop(high, high_log) == 0
        assert client.exists(MIMIC_META_KEY) == 0 and client.exists(MIMIC_KEY, HAND_ACTION_KEY) == 2
        left = validate_mimic(client.get(MIMIC_KEY))
        expected = default_mimic_vector()
        np.testing.assert_allclose(np.delete(left, 3), np.delete(expected, 3), atol=1e-5)  # any heading
        high, high_log = start_server(
            HIGH_LEVEL, ["--redis_url", url, "--loop", "--duration", 60], tmp_path, tmp_path / "high2.log"
        )
        try:
            wait_for(lambda: (meta_seq(redis_port) or 0) > 10, 60, "the high-level stream")
            high.kill()
            killed = time.monotonic()
            wait_for(lambda: client.exists(MIMIC_META_KEY) == 0, 3, "the meta key to expire")
            assert time.monotonic() - killed < 1.2
            assert client.exists(MIMIC_KEY) == 1  # the last frame stays
        finally:
            stop(high, high_log)
    finally:
        server.stop()


@pytest.mark.parametrize("value", ["-1", "0", "nan", "inf", "soon"])
def test_a_duration_must_be_a_positive_number_of_seconds(value, capsys):
    from deploy_real import server_high_level_motion_lib, server_low_level_g1_sim, sim_robot

    for module in (server_low_level_g1_sim, server_high_level_motion_lib, sim_robot):
        with pytest.raises(SystemExit) as e:
            module.build_parser().parse_args(["--duration", value])
        assert e.value.code == 2
        assert "argument --duration: {!r}: expected a number of seconds > 0".format(value) in capsys.readouterr().err
    assert server_low_level_g1_sim.build_parser().parse_args(["--duration", "2.5"]).duration == 2.5


def test_redis_url_is_explained(capsys):
    from deploy_real import server_high_level_motion_lib, server_low_level_g1_real, server_low_level_g1_sim

    for module in (server_low_level_g1_sim, server_high_level_motion_lib, server_low_level_g1_real):
        with pytest.raises(SystemExit):
            module.build_parser().parse_args(["--help"])
        out = " ".join(capsys.readouterr().out.split())
        assert (
            "--redis_url URL the Redis of the deploy keys, redis://host:port/db (default redis://localhost:6379/0"
            in out
        )


def test_the_servers_take_twists_command_lines(capsys):
    """TWIST's flags: the high-level server's --steps (its first entry streamed; 1, the next frame, is the
    students'), the sim2sim server's --record_video without a path (debug_sim.mp4), the real server's --device
    and its --net default eno1."""
    from deploy_real import server_high_level_motion_lib, server_low_level_g1_real, server_low_level_g1_sim

    assert server_high_level_motion_lib.build_parser().parse_args(["--steps", "1"]).steps == "1"
    assert server_high_level_motion_lib.build_parser().parse_args(["--steps", "1,5,10"]).steps == "1,5,10"
    with pytest.raises(SystemExit):
        server_high_level_motion_lib.build_parser().parse_args(["--steps", "2"])
    assert "argument --steps: '2': the stream is the reference's next frame (1)" in capsys.readouterr().err
    sim = server_low_level_g1_sim.build_parser()
    assert sim.parse_args(["--record_video"]).record_video == "debug_sim.mp4"
    assert sim.parse_args(["--record_video", "a.mp4"]).record_video == "a.mp4"
    assert sim.parse_args([]).record_video is None
    real = server_low_level_g1_real.build_parser().parse_args(["--device", "cuda"])
    assert (real.net, real.device) == ("eno1", "cuda")
