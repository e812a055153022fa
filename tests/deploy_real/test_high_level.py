"""The high-level server's stream: frame timing, the 33-D content, ramps, looping."""

import numpy as np
import pytest

from deploy_real.contract import default_mimic_vector, split_wrist_rolls, validate_mimic
from deploy_real.server_high_level_motion_lib import clip_frames, exit_ramp, load_motions, ramp, reference_stream
from pose.utils.torch_utils import get_euler_xyz, quat_rotate_inverse


@pytest.fixture(scope="module")
def lib():
    return load_motions(None)


def env_steps_before_time_out(length):
    """The steps an env episode plays of a clip of `length` s before it times out at the clip's end: step k
    times out when float32(k) x float32(0.02) >= the float32 length (`terminations.motion_end`, in numpy)."""
    k = np.arange(1, int(length / 0.02) + 3, dtype=np.float32)
    return int(np.sum(k * np.float32(0.02) < np.float32(length)))


def test_step_k_carries_the_clip_at_k_plus_one_frames(lib):
    refs, times = clip_frames(lib, 5)
    length = float(lib.get_motion_length([5])[0])
    assert len(refs) == env_steps_before_time_out(length) == 399  # 8 s: float32(400 x 0.02) = 8.0 times out
    assert times[-1] < length <= times[-1] + 0.02 + 1e-6
    np.testing.assert_allclose(times[:3], [0.02, 0.04, 0.06])
    k = 37
    root_pos, root_rot, root_vel, root_ang_vel, dof_pos = [
        x[0] for x in lib.calc_motion_frame([5], [(k + 1) * 0.02])[:5]
    ]
    roll, pitch, yaw = get_euler_xyz(root_rot)
    v = quat_rotate_inverse(root_rot, root_vel)
    w = quat_rotate_inverse(root_rot, root_ang_vel)
    expected = np.concatenate([[root_pos[2], roll, pitch, yaw], v.numpy(), [w[2]], dof_pos.numpy()])
    mimic31, wrists = split_wrist_rolls(refs[k])
    np.testing.assert_allclose(mimic31, expected, atol=1e-6)
    np.testing.assert_array_equal(wrists, [0.0, 0.0])
    for r in refs:
        validate_mimic(list(r))


def test_last_frame_is_the_clips_end_not_its_start(lib):
    """A clip that turns in place ends far from its start heading: the last streamed frame is next to the
    clip's final frame (yaw from the clip file), not the first frame that the next loop would start with."""
    clip = lib.motion_names.index("turn_in_place")
    refs, times = clip_frames(lib, clip)
    q = lib._root_rot[lib._motion_start_idx[clip] + lib._motion_num_frames[clip] - 1]  # the clip's last frame
    end_yaw = float(get_euler_xyz(q.unsqueeze(0))[2][0])
    start_yaw = float(split_wrist_rolls(refs[0])[0][3])
    last_yaw = float(split_wrist_rolls(refs[-1])[0][3])
    wrap = lambda a: (a + np.pi) % (2 * np.pi) - np.pi  # noqa: E731
    assert abs(wrap(end_yaw - start_yaw)) > 1.0  # the clip does turn
    assert abs(wrap(last_yaw - end_yaw)) < 0.05  # within a frame's turn of the end


def test_ramp_ends_on_the_target_in_two_seconds():
    a, b = np.zeros(33), default_mimic_vector()
    steps = list(ramp(a, b, 2.0))
    assert len(steps) == 100
    np.testing.assert_allclose(steps[-1], b)
    np.testing.assert_allclose(steps[49], 0.5 * b)


def wrapped(angle):
    return (np.asarray(angle) + np.pi) % (2 * np.pi) - np.pi


def test_ramp_turns_the_yaw_the_short_way():
    """From yaw 3.0 to -3.0 the short way passes pi (0.28 rad), not 0 (6 rad): every step stays beyond
    +-3.0 and moves by 0.28 / 25; the other entries are linear."""
    a, b = np.zeros(33), default_mimic_vector()
    a[3], b[3] = 3.0, -3.0
    steps = np.array(list(ramp(a, b, 0.5)))
    assert len(steps) == 25 and steps[-1][3] == -3.0
    assert np.all(np.abs(steps[:, 3]) >= 3.0 - 1e-9)
    step_turn = wrapped(np.diff(np.concatenate([[3.0], steps[:, 3]])))
    np.testing.assert_allclose(step_turn, (2 * np.pi - 6.0) / 25, atol=1e-9)
    np.testing.assert_allclose(steps[12][8:], (1 - 13 / 25) * a[8:] + 13 / 25 * b[8:], atol=1e-12)


def test_exit_ramp_keeps_the_heading():
    """Ending a stream that faces 2.5 rad: the body goes to the default standing vector, the yaw stays."""
    last = default_mimic_vector() + 0.1
    last[3] = 2.5
    steps = np.array(list(exit_ramp(last)))
    assert len(steps) == 100
    np.testing.assert_allclose(steps[:, 3], 2.5)
    expected = default_mimic_vector()
    expected[3] = 2.5
    np.testing.assert_allclose(steps[-1], expected)


def test_loop_continues_the_heading_into_the_next_clip(lib):
    """turn_in_place ends turned by about pi; walk_turn, next in the loop, starts at yaw 0 in its file. The
    stream turns walk_turn to start where turn_in_place ended: across the blend the yaw moves by no more
    than the clips' own frame-to-frame turns, and walk_turn streams its own yaws plus a constant."""
    first = lib.motion_names.index("turn_in_place")
    assert lib.motion_names[first + 1] == "walk_turn"
    yaws, ids = [], []
    for ref, mid, _ in reference_stream(lib, None, loop=True):
        if mid > first + 1 or (mid == 0 and ids and ids[-1] == first + 1):
            break
        if mid >= first:
            yaws.append(ref[3])
            ids.append(mid)
    yaws, ids = np.array(yaws), np.array(ids)
    own_end = clip_frames(lib, first)[0][-1][3]
    own_next = clip_frames(lib, first + 1)[0][:, 3]
    assert abs(wrapped(own_end - own_next[0])) > 2.0  # without the continuation, a turn of ~pi in the blend
    assert np.max(np.abs(wrapped(np.diff(yaws)))) < 0.1
    streamed_next = yaws[ids == first + 1][-len(own_next) :]
    offset = wrapped(streamed_next - own_next)
    np.testing.assert_allclose(wrapped(offset - offset[0]), 0.0, atol=1e-9)
    streamed_end = yaws[ids == first][-1]  # turn_in_place itself continues the clip before it
    np.testing.assert_allclose(wrapped(offset[0] - (streamed_end - own_next[0])), 0.0, atol=1e-9)


def test_loop_plays_every_clip_with_blends_between(lib):
    stream = reference_stream(lib, None, loop=True)
    ids = []
    n_per_clip = [len(clip_frames(lib, m)[0]) for m in range(lib.num_motions())]
    for _ in range(n_per_clip[0] + 25 + 5):
        _, mid, _ = next(stream)
        ids.append(mid)
    assert ids[: n_per_clip[0]] == [0] * n_per_clip[0]
    assert ids[n_per_clip[0] :] == [1] * 30  # 25 blend steps (0.5 s) into clip 1, then clip 1
    once = list(reference_stream(lib, 3, loop=False))
    assert len(once) == n_per_clip[3] and {m for _, m, _ in once} == {3}


def test_vis_pose_puts_the_kinematic_model_on_the_clip(lib):
    """--vis shows the clip on the kinematic model: its bodies land where the clip's body positions say."""
    mujoco = pytest.importorskip("mujoco")

    from deploy_real.motion_reference import mocap_qpos
    from pose.g1_model import ASSETS_DIR
    from pose.utils.torch_utils import quat_rotate

    model = mujoco.MjModel.from_xml_path(str(ASSETS_DIR / "g1" / "g1_mocap_with_wrist_roll.xml"))
    data = mujoco.MjData(model)
    t = 2.37
    data.qpos[:] = mocap_qpos(lib, 8, t)
    mujoco.mj_kinematics(model, data)
    root_pos, root_rot, _, _, _, _, local = [x[0] for x in lib.calc_motion_frame([8], [t])]
    for name in ("left_ankle_roll_link", "right_elbow_link", "torso_link"):
        i = lib.get_body_names().index(name)
        expected = (root_pos + quat_rotate(root_rot, local[i])).numpy()
        np.testing.assert_allclose(data.body(name).xpos, expected, atol=2e-3)


def test_vel_smooth_window_sets_the_streamed_root_velocity():
    """--vel_smooth_window 1 streams the root velocity as the forward difference of the clip's frames
    (the value a policy trained with motion.vel_smooth_window = 1 saw); the default is TWIST's 19."""
    from deploy_real.server_high_level_motion_lib import build_parser, clip_vel_window

    assert clip_vel_window(build_parser().parse_args([]))[0] == 19
    window, _ = clip_vel_window(build_parser().parse_args(["--vel_smooth_window", "1"]))
    raw = load_motions(None, window)
    clip = raw.motion_names.index("walk_forward_1p5")
    fps = float(raw.get_motion_fps([clip])[0])
    t = 100.01 / fps
    p0, p1 = (raw.calc_motion_frame([clip], [s])[0][0] for s in (t, t + 1.0 / fps))
    root_vel = raw.calc_motion_frame([clip], [t])[2][0]
    np.testing.assert_allclose(root_vel.numpy(), ((p1 - p0) * fps).numpy(), atol=0.02)
    smoothed = load_motions(None).calc_motion_frame([clip], [t])[2][0]
    assert float((smoothed - root_vel).norm()) > 0.1  # the sway: 0.19 m/s


def standing_clip(frames, fps):
    from pose import readers

    root_pos = np.tile([0.0, 0.0, 0.76], (frames, 1))
    root_rot = np.tile([0.0, 0.0, 0.0, 1.0], (frames, 1))
    return readers.make_clip("<stand>", fps, root_pos, root_rot, np.zeros((frames, 23)))


def test_clip_frames_are_the_steps_of_an_env_episode_at_any_frame_rate():
    """One count for the server, eval.py and both sides of the sim2sim benchmark: the steps an env episode
    plays before its time-out (computed here as the env's float32 test does), at 50 fps (lengths that are
    multiples of 0.02 s), 29.97 fps (8 s: 398 steps, where floor(L / 0.02) - 1 gave 397) and 30 and 120 fps;
    and the last streamed frame is the clip's end, not its looped start."""
    from legged_gym.envs.mdp.clip_steps import clip_step_times
    from pose.utils.motion_lib_pkl import MotionLib

    cases = [(401, 50.0), (6, 50.0), (11, 50.0), (240, 29.97), (2, 30.0), (7, 30.0), (97, 120.0), (13, 120.0)]
    clips = [standing_clip(n, fps) for n, fps in cases]
    clips = [dict(c, root_pos=c["root_pos"] + np.arange(len(c["root_pos"]))[:, None] * [0.01, 0.0, 0.0]) for c in clips]
    lib = MotionLib.from_clips(clips)
    for i, (n, fps) in enumerate(cases):
        length = float(lib.get_motion_length([i])[0])
        refs, times = clip_frames(lib, i)
        assert len(refs) == len(clip_step_times(length)) == env_steps_before_time_out(length), (n, fps)
        np.testing.assert_allclose(times, 0.02 * np.arange(1, len(times) + 1), atol=1e-6)
        last_x = float(lib.calc_motion_frame([i], [times[-1]])[0][0, 0])  # the root walks 0.01 m a frame
        assert last_x >= 0.01 * (n - 1) * (times[-1] / length) - 1e-4 > 0.0  # not back at the first frame
    assert len(clip_frames(lib, 3)[0]) == 398 and len(clip_frames(lib, 4)[0]) == 1  # 29.97 fps 8 s; 1/30 s


def test_a_clip_too_short_to_stream_is_refused_naming_it(tmp_path, capsys):
    """2 frames at 50 fps (0.02 s): no step to stream. --motion_id of it, or --loop over a set holding it,
    exits with status 2 naming the clip before anything is streamed (no Redis is reached); a set's other
    clips stay playable by --motion_id."""
    from legged_gym.envs.mdp.clip_steps import check_playable
    from deploy_real.server_high_level_motion_lib import main
    from pose.formats import MotionFileError, save_clip, write_manifest

    save_clip(tmp_path / "ok.pkl", standing_clip(51, 50.0))
    save_clip(tmp_path / "blip.pkl", standing_clip(2, 50.0))
    manifest = write_manifest(tmp_path / "set.yaml", ["ok.pkl", "blip.pkl"])
    unreachable = ["--redis_url", "redis://127.0.0.1:1/0"]
    for argv in (["--motion_file", str(tmp_path / "blip.pkl")], ["--motion_file", str(manifest), "--loop"]):
        assert main(argv + unreachable) == 2
        err = capsys.readouterr().err
        assert "too short to play: clip" in err and "blip.pkl: 2 frames at 50 fps, 0.0200 s" in err, err
    check_playable(load_motions(str(manifest)), [0])  # the other clip alone: fine
    with pytest.raises(MotionFileError):
        check_playable(load_motions(str(manifest)))


def test_clips_not_at_50_fps_get_one_warning():
    """The velocity window counts frames: a set with clips at 30 fps gets one line naming the rate, the time
    the window spans there and the resampling command; none at 50 fps, none without smoothing (1 tap), none
    for a played clip at 50 fps."""
    from legged_gym.envs.mdp.clip_steps import window_rate_warning
    from pose.utils.motion_lib_pkl import MotionLib

    clips = [standing_clip(101, 50.0), standing_clip(61, 30.0), standing_clip(61, 30.0)]
    mixed = MotionLib.from_clips(clips, names=["/a/fifty.pkl", "/a/thirty.pkl", "/a/thirty2.pkl"])
    warning = window_rate_warning(mixed)
    assert warning.startswith("WARNING: 2 of 3 clips are not at 50 fps (30 fps; e.g. thirty)")
    assert "19 taps: 0.38 s at 50 fps, 0.63 s at theirs" in warning
    assert "python -m pose.convert SRC DST --fps 50" in warning
    assert window_rate_warning(mixed, [0]) is None
    assert window_rate_warning(MotionLib.from_clips(clips[:1])) is None
    assert window_rate_warning(MotionLib.from_clips(clips, smooth_window=1)) is None
