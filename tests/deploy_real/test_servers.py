"""The two deploy servers as separate processes, as the README starts them: Redis absent at start (the
private-server fallback), Redis restarted mid-run, and the shipped student tracking a walking clip in
MuJoCo for 10 s with a video."""

import json
import time

import pytest
import redis
from deploy_helpers import HIGH_LEVEL, LOW_LEVEL, start_server, stop, wait_for

from deploy_real.contract import BODY_STATE_KEY, HAND_ACTION_KEY, MIMIC_KEY, MIMIC_META_KEY
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


def start_low_level(url, duration, summary, tmp_path, *extra):
    """The sim2sim server, headless, for `duration` s, writing `summary` and its log to tmp_path/low.log."""
    args = ["--redis_url", url, "--headless", "--duration", duration, "--summary_json", summary] + list(extra)
    return start_server(LOW_LEVEL, args, tmp_path, tmp_path / "low.log")


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
    server joins later, stands, then follows the stream."""
    url = "redis://127.0.0.1:{}/0".format(redis_port)
    summary = tmp_path / "low.json"
    high, high_log = start_server(
        HIGH_LEVEL, ["--redis_url", url, "--loop", "--duration", 60], tmp_path, tmp_path / "high.log"
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
    pytest.importorskip("imageio_ffmpeg")
    from legged_gym.scripts import render

    backend, reasons = render.find_offscreen_backend()
    if backend is None and not render.has_display():
        pytest.skip("no offscreen OpenGL for the video: {}".format("; ".join(reasons)))
    url = redis_server.url
    video, summary = tmp_path / "sim2sim.mp4", tmp_path / "low.json"
    # a backstop duration: the low-level server is stopped once the clip has been streamed, so a slow
    # start of the high-level server (a loaded CI machine) cannot cut the clip short
    low, low_log = start_low_level(url, 120, summary, tmp_path, "--record_video", video)
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
    assert result["reference_status_steps"]["fresh"] >= 450  # the 8-s clip + 2-s ramp, at 50 Hz
    assert result["rejected"] == 0
    assert 45.0 < result["policy_hz"] < 55.0
    assert not result["fell"], result
    assert result["joint_err_rad"] < 0.15
    import imageio

    reader = imageio.get_reader(str(video))
    try:
        frames = sum(1 for _ in reader)
    finally:
        reader.close()
    assert frames >= 0.9 * result["policy_steps"]


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


def test_the_high_level_server_leaves_no_keys(redis_port, tmp_path):
    """Its keys expire 1 s after its last write, and it deletes them when it ends: neither a clean end nor a
    kill leaves a meta key that would hide another source's reference (or a frame to be taken for one)."""
    server = PrivateRedis(redis_port)
    url = "redis://127.0.0.1:{}/0".format(redis_port)
    client = redis.Redis(port=redis_port, socket_timeout=1)
    try:
        high, high_log = start_server(
            HIGH_LEVEL, ["--redis_url", url, "--loop", "--duration", 60], tmp_path, tmp_path / "high.log"
        )
        try:
            wait_for(lambda: (meta_seq(redis_port) or 0) > 10, 60, "the high-level stream")
            for key in (MIMIC_KEY, MIMIC_META_KEY, HAND_ACTION_KEY):
                assert 900 < client.pttl(key) <= 1000
        finally:
            assert stop(high, high_log) == 0
        assert client.exists(MIMIC_KEY, MIMIC_META_KEY, HAND_ACTION_KEY) == 0
        high, high_log = start_server(
            HIGH_LEVEL, ["--redis_url", url, "--loop", "--duration", 60], tmp_path, tmp_path / "high2.log"
        )
        try:
            wait_for(lambda: (meta_seq(redis_port) or 0) > 10, 60, "the high-level stream")
            high.kill()
            killed = time.monotonic()
            wait_for(lambda: client.exists(MIMIC_KEY, MIMIC_META_KEY, HAND_ACTION_KEY) == 0, 3, "the keys to expire")
            assert time.monotonic() - killed < 1.2
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
