"""MotionLib (pose.utils.motion_lib_pkl) against plain numpy / scipy references (docs/motion_data.md, MotionLib)."""

import os
import pickle
import re
import warnings

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation as R
from scipy.spatial.transform import Slerp

from pose.formats import MotionFileError, MotionFileWarning, save_clip, write_manifest
from pose.g1_model import load_g1
from pose.kinematics import ForwardKinematics
from pose.utils.motion_lib_pkl import MotionLib

MODEL = load_g1()
BODIES = list(MODEL.motion_bodies)
ND = MODEL.num_dofs
WINDOW = 19


# --- crafted clips and the numpy reference ------------------------------------------------------


def make_clip(rng, n_frames, fps, fk=None, flip_signs=True):
    """A smooth-ish random clip: random-walk root, rotation and joints (float64), its bodies by forward
    kinematics (validation checks them)."""
    root_pos = np.cumsum(rng.normal(scale=[0.05, 0.05, 0.005], size=(n_frames, 3)), axis=0) + [0.0, 0.0, 0.8]
    # turning fast, tilting less: a pelvis stays upright in a real motion (validation checks it)
    steps = R.from_rotvec(rng.normal(scale=[0.03, 0.03, 0.15], size=(n_frames, 3)))
    rot = R.from_rotvec([0.0, 0.0, rng.uniform(-np.pi, np.pi)]) * R.from_rotvec(rng.normal(scale=0.2, size=3))
    quats = []
    for k in range(n_frames):
        quats.append(rot.as_quat())
        rot = steps[k] * rot
    root_rot = np.array(quats)
    if flip_signs:  # q and -q: the library must take the short way for velocities and slerp
        root_rot[rng.random(n_frames) < 0.3] *= -1
    dof_pos = np.cumsum(rng.normal(scale=0.05, size=(n_frames, ND)), axis=0)
    dof_pos = np.clip(dof_pos + MODEL.default_dof_pos, MODEL.dof_lower, MODEL.dof_upper)  # within the joint limits
    fk = fk or ForwardKinematics()
    local = fk.local_body_pos(torch.as_tensor(dof_pos, dtype=torch.float32)).numpy().astype(np.float64)
    return {
        "fps": float(fps),
        "root_pos": root_pos,
        "root_rot": root_rot,
        "dof_pos": dof_pos,
        "local_body_pos": local,
        "link_body_list": list(BODIES),
    }


def box_same(x, window=WINDOW):
    """Zero-padded 'same' moving average per column."""
    h = window // 2
    padded = np.pad(x, ((h, h), (0, 0)))
    kernel = np.ones(window) / window
    return np.stack([np.convolve(padded[:, c], kernel, mode="valid") for c in range(x.shape[1])], axis=1)


def ref_velocities(clip, window=WINDOW):
    fps = clip["fps"]

    def fd(x):
        d = np.diff(x, axis=0) * fps
        return np.concatenate([d, d[-1:]], axis=0)

    rots = R.from_quat(clip["root_rot"])
    ang = (rots[1:] * rots[:-1].inv()).as_rotvec() * fps
    ang = np.concatenate([ang, ang[-1:]], axis=0)
    vel = fd(clip["root_pos"])
    dof_vel = fd(clip["dof_pos"])
    if window > 1:
        vel, ang, dof_vel = box_same(vel, window), box_same(ang, window), box_same(dof_vel, window)
    return vel, ang, dof_vel


def ref_frame(clip, vels, t):
    """Expected calc_motion_frame output for one clip at time t (float64)."""
    n = clip["root_pos"].shape[0]
    length = (n - 1) / clip["fps"]
    k = np.floor(t / length)
    tt = t - k * length
    phase = np.clip(tt / length, 0.0, 1.0)
    f = phase * (n - 1)
    i0 = int(np.floor(f))
    i1 = min(i0 + 1, n - 1)
    b = f - i0
    disp = clip["root_pos"][-1] - clip["root_pos"][0]
    disp[2] = 0.0

    def lerp(x):
        return (1 - b) * x[i0] + b * x[i1]

    if i0 == i1:
        rot = clip["root_rot"][i0]
    else:
        rot = Slerp([0.0, 1.0], R.from_quat(clip["root_rot"][[i0, i1]]))([b]).as_quat()[0]
    vel, ang, dof_vel = vels
    return {
        "root_pos": lerp(clip["root_pos"]) + k * disp,
        "root_rot": rot,
        "root_vel": vel[i0],
        "root_ang_vel": ang[i0],
        "dof_pos": lerp(clip["dof_pos"]),
        "dof_vel": dof_vel[i0],
        "local_body_pos": lerp(clip["local_body_pos"]),
    }


KEYS = ("root_pos", "root_rot", "root_vel", "root_ang_vel", "dof_pos", "dof_vel", "local_body_pos")


def check_frames(out, clips, vels, ids, times, atol=2e-4):
    """Compare calc_motion_frame output rows with ref_frame for each (id, time)."""
    out = {k: v.numpy() for k, v in zip(KEYS, out)}
    for row, (i, t) in enumerate(zip(ids, times)):
        exp = ref_frame(clips[i], vels[i], float(t))
        for key in KEYS:
            got, want = out[key][row], exp[key]
            if key == "root_rot":
                err = min(np.abs(got - want).max(), np.abs(got + want).max())
            else:
                err = np.abs(got - want).max()
            scale = 1.0 + np.abs(want).max()
            assert err < atol * scale, "clip {} t={} {}: error {}".format(i, t, key, err)


@pytest.fixture(scope="module")
def crafted():
    rng = np.random.default_rng(7)
    fk = ForwardKinematics()
    specs = [(40, 30.0), (7, 50.0), (2, 20.0), (25, 60.0), (60, 120.0)]
    clips = [make_clip(rng, n, fps, fk=fk if i == 0 else None) for i, (n, fps) in enumerate(specs)]
    lib = MotionLib.from_clips(clips, weights=[1, 2, 3, 4, 5], names=["a", "b", "c", "d", "e"])
    vels = [ref_velocities(c) for c in clips]
    return clips, lib, vels


def times_between_frames(rng, clip, count, loops=(0,)):
    """Times a safe distance from frame boundaries (so float32 and float64 pick the same frame)."""
    n, fps = clip["root_pos"].shape[0], clip["fps"]
    length = (n - 1) / fps
    i = rng.integers(0, n - 1, size=count)
    u = rng.uniform(0.1, 0.9, size=count)
    k = rng.choice(loops, size=count)
    return (i + u) / fps + k * length


# --- construction ---------------------------------------------------------------------------


def test_clip_table(crafted):
    clips, lib, _ = crafted
    assert lib.num_motions() == 5
    n = np.array([c["root_pos"].shape[0] for c in clips])
    fps = np.array([c["fps"] for c in clips])
    np.testing.assert_array_equal(lib.get_motion_num_frames().numpy(), n)
    np.testing.assert_allclose(lib.get_motion_length().numpy(), (n - 1) / fps, rtol=1e-6)
    np.testing.assert_allclose(
        lib.get_motion_length(torch.tensor([3, 0])).numpy(), [(25 - 1) / 60.0, 39 / 30.0], rtol=1e-6
    )
    np.testing.assert_allclose(lib.get_motion_weights().numpy(), np.arange(1, 6) / 15.0, rtol=1e-6)
    np.testing.assert_array_equal(lib._motion_start_idx.numpy(), np.concatenate([[0], np.cumsum(n)[:-1]]))
    for i, c in enumerate(clips):
        disp = c["root_pos"][-1] - c["root_pos"][0]
        np.testing.assert_allclose(lib._motion_displacement[i].numpy(), [disp[0], disp[1], 0.0], atol=1e-5)
    assert lib.motion_files == ["a", "b", "c", "d", "e"]
    assert lib.get_body_names() == BODIES
    assert lib._root_pos.shape == (n.sum(), 3)


def test_velocities_match_numpy(crafted):
    """Forward differences x fps, last frame copied, 19-tap zero-padded box filter per clip."""
    clips, lib, vels = crafted
    for i, clip in enumerate(clips):
        n = clip["root_pos"].shape[0]
        s = int(lib._motion_start_idx[i])
        for got, want in zip((lib._root_vel, lib._root_ang_vel, lib._dof_vel), vels[i]):
            np.testing.assert_allclose(got[s : s + n].numpy(), want, atol=2e-4 * (1 + np.abs(want).max()))


def test_velocities_identical_when_processed_in_chunks(crafted, monkeypatch):
    """The load-time velocity pass takes whole clips in chunks of frames; the size changes nothing."""
    import pose.utils.motion_lib_pkl as motion_lib_pkl

    clips, lib, vels = crafted
    for chunk in (1, 10, 45):
        monkeypatch.setattr(motion_lib_pkl, "VELOCITY_CHUNK_FRAMES", chunk)
        small = MotionLib.from_clips(clips)
        for name in ("_root_vel", "_root_ang_vel", "_dof_vel"):
            assert torch.equal(getattr(small, name), getattr(lib, name)), (chunk, name)


def test_velocity_smoothing_edges_on_constant_velocity():
    """A root moving at constant velocity: interior frames keep it, edges are attenuated."""
    n, fps = 50, 30.0
    v = np.array([0.6, -0.3, 0.1])
    clip = make_clip(np.random.default_rng(0), n, fps)
    clip["root_pos"] = np.arange(n)[:, None] / fps * v + [0.0, 0.0, 0.8]
    lib = MotionLib.from_clips([clip])
    got = lib._root_vel.numpy()
    np.testing.assert_allclose(got[9 : n - 9], np.tile(v, (n - 18, 1)), atol=1e-5)
    for j in range(9):  # frame j sees 10 + j real samples of the 19
        np.testing.assert_allclose(got[j], v * (10 + j) / 19.0, atol=1e-5)
        np.testing.assert_allclose(got[n - 1 - j], v * (10 + j) / 19.0, atol=1e-5)
    unsmoothed = MotionLib.from_clips([clip], smooth_window=1)._root_vel.numpy()
    np.testing.assert_allclose(unsmoothed, np.tile(v, (n, 1)), atol=1e-5)


@pytest.mark.filterwarnings("ignore::pose.formats.MotionFileWarning")  # clip b's joints: far beyond their limits
def test_smoothing_does_not_leak_across_clips():
    rng = np.random.default_rng(3)
    a, b = make_clip(rng, 12, 30.0), make_clip(rng, 30, 50.0)
    b["dof_pos"] = np.where(np.arange(30)[:, None] % 2, 3.0, -3.0) * np.ones((1, 23))  # fast joints next door
    # (6 rad a frame, alternating) must not affect clip a
    b["local_body_pos"] = ForwardKinematics().local_body_pos(torch.as_tensor(b["dof_pos"], dtype=torch.float32)).numpy()
    both = MotionLib.from_clips([a, b])
    alone = MotionLib.from_clips([a])
    np.testing.assert_allclose(both._dof_vel[:12].numpy(), alone._dof_vel.numpy(), atol=1e-6)
    np.testing.assert_allclose(both._root_ang_vel[:12].numpy(), alone._root_ang_vel.numpy(), atol=1e-6)


def test_even_window_rejected():
    clip = make_clip(np.random.default_rng(0), 5, 30.0)
    with pytest.raises(ValueError, match="smooth_window"):
        MotionLib.from_clips([clip], smooth_window=18)


# --- frame evaluation ---------------------------------------------------------------------------


def test_calc_motion_frame_inside_clips(crafted):
    clips, lib, vels = crafted
    rng = np.random.default_rng(11)
    ids, times = [], []
    for i, clip in enumerate(clips):
        t = times_between_frames(rng, clip, 30)
        ids += [i] * len(t)
        times += list(t)
    out = lib.calc_motion_frame(torch.tensor(ids), torch.tensor(times, dtype=torch.float32))
    check_frames(out, clips, vels, ids, np.array(times, dtype=np.float32))


def test_calc_motion_frame_exact_frames_and_end(crafted):
    clips, lib, vels = crafted
    clip = clips[0]
    n, fps = 40, 30.0
    # At frame times the state is that frame; velocities come from it.
    out = lib.calc_motion_frame(
        torch.zeros(n - 1, dtype=torch.long), torch.arange(n - 1, dtype=torch.float32) / fps + 1e-5
    )
    np.testing.assert_allclose(out[0].numpy(), clip["root_pos"][: n - 1], atol=1e-4)
    np.testing.assert_allclose(out[4].numpy(), clip["dof_pos"][: n - 1], atol=1e-4)
    np.testing.assert_allclose(out[6].numpy(), clip["local_body_pos"][: n - 1], atol=1e-4)
    np.testing.assert_allclose(out[2].numpy(), vels[0][0][: n - 1], atol=1e-4)
    # The two-frame clip at half time: midway, velocity of frame 0.
    c = clips[2]
    out = lib.calc_motion_frame(torch.tensor([2]), torch.tensor([0.025]))
    np.testing.assert_allclose(out[0].numpy()[0], 0.5 * (c["root_pos"][0] + c["root_pos"][1]), atol=1e-5)


def test_wrap_around_adds_displacement(crafted):
    clips, lib, vels = crafted
    rng = np.random.default_rng(12)
    ids, times = [], []
    for i, clip in enumerate(clips):
        t = times_between_frames(rng, clip, 20, loops=(1, 2, 5))
        ids += [i] * len(t)
        times += list(t)
    times = np.array(times, dtype=np.float32)
    out = lib.calc_motion_frame(torch.tensor(ids), torch.from_numpy(times))
    check_frames(out, clips, vels, ids, times)
    # One loop later = same state, root shifted by exactly one xy displacement.
    base = lib.calc_motion_frame(torch.tensor([0]), torch.tensor([0.5]))
    later = lib.calc_motion_frame(torch.tensor([0]), torch.tensor([0.5 + 39 / 30.0]))
    disp = clips[0]["root_pos"][-1] - clips[0]["root_pos"][0]
    np.testing.assert_allclose((later[0] - base[0]).numpy()[0], [disp[0], disp[1], 0.0], atol=1e-4)
    np.testing.assert_allclose(later[4].numpy(), base[4].numpy(), atol=1e-4)


def test_negative_times_are_periodic_extension(crafted):
    clips, lib, vels = crafted
    rng = np.random.default_rng(13)
    ids, times = [], []
    for i, clip in enumerate(clips):
        t = times_between_frames(rng, clip, 10, loops=(-1, -3))
        ids += [i] * len(t)
        times += list(t)
    times = np.array(times, dtype=np.float32)
    assert (times < 0).all()
    out = lib.calc_motion_frame(torch.tensor(ids), torch.from_numpy(times))
    check_frames(out, clips, vels, ids, times)


def test_inputs_not_modified(crafted):
    _, lib, _ = crafted
    ids = torch.tensor([0, 1, 2, 3, 4, 0])
    times = torch.tensor([0.1, 5.0, 7.3, -2.0, 100.0, 1.2])
    ids_before, times_before = ids.clone(), times.clone()
    lib.calc_motion_frame(ids, times)
    assert torch.equal(ids, ids_before)
    assert torch.equal(times, times_before)
    # Also when the caller's tensor is 2-D (N x 20) and float64.
    t2 = torch.linspace(0, 9, 40, dtype=torch.float64).reshape(2, 20)
    t2_before = t2.clone()
    lib.calc_motion_frame(torch.tensor([[1], [3]]), t2)
    assert torch.equal(t2, t2_before)


def test_batched_n_by_20_equals_single_queries(crafted):
    _, lib, _ = crafted
    gen = torch.Generator().manual_seed(5)
    n_env, n_steps = 16, 20
    ids = lib.sample_motions(n_env, generator=gen)
    t0 = lib.sample_time(ids, generator=gen)
    offsets = torch.arange(1, n_steps + 1, dtype=torch.float32) * 0.02
    times = t0[:, None] + offsets[None, :]  # (N, 20), many past the end of short clips
    flat_ids = ids.repeat_interleave(n_steps)
    flat = lib.calc_motion_frame(flat_ids, times.reshape(-1))
    shaped = lib.calc_motion_frame(ids[:, None], times)  # broadcasting (N,1) with (N,20)
    for a, b in zip(flat, shaped):
        assert b.shape[:2] == (n_env, n_steps)
        assert torch.equal(a.reshape(b.shape), b)
    for q in range(n_env * n_steps):
        single = lib.calc_motion_frame(flat_ids[q : q + 1], times.reshape(-1)[q : q + 1])
        for a, b in zip(flat, single):
            torch.testing.assert_close(a[q : q + 1], b, rtol=0, atol=1e-6)


def test_output_shapes_and_device(crafted):
    _, lib, _ = crafted
    out = lib.calc_motion_frame(torch.tensor([0, 1, 2]), torch.tensor([0.0, 0.1, 0.2]))
    assert [tuple(x.shape) for x in out] == [(3, 3), (3, 4), (3, 3), (3, 3), (3, ND), (3, ND), (3, 38, 3)]
    assert all(x.dtype == torch.float32 and x.device.type == "cpu" for x in out)
    # TWIST's slerp in float32: acos loses digits near 1, so the norm of an interpolated root rotation
    # between close frames is off 1 by up to ~2e-5
    np.testing.assert_allclose(out[1].norm(dim=-1).numpy(), 1.0, atol=5e-5)


# --- sampling and lookups --------------------------------------------------------------------


def test_sampling_proportional_to_weight_times_difficulty():
    rng = np.random.default_rng(0)
    clips = [make_clip(rng, 4, 30.0) for _ in range(4)]
    lib = MotionLib.from_clips(clips, weights=[1.0, 2.0, 3.0, 4.0])
    n = 200_000
    gen = torch.Generator().manual_seed(0)
    freq = np.bincount(lib.sample_motions(n, generator=gen).numpy(), minlength=4) / n
    np.testing.assert_allclose(freq, [0.1, 0.2, 0.3, 0.4], atol=0.005)  # std ~0.001
    difficulty = torch.tensor([1.0, 0.5, 2.0, 0.0])
    freq = np.bincount(lib.sample_motions(n, difficulty, generator=gen).numpy(), minlength=4) / n
    np.testing.assert_allclose(freq, [0.125, 0.125, 0.75, 0.0], atol=0.005)
    assert freq[3] == 0.0
    with pytest.raises(ValueError):
        lib.sample_motions(10, torch.zeros(4))
    with pytest.raises(ValueError):
        lib.sample_motions(10, torch.ones(3))


def test_sample_time_uniform_in_clip(crafted):
    _, lib, _ = crafted
    gen = torch.Generator().manual_seed(1)
    ids = torch.full((50_000,), 3, dtype=torch.long)
    t = lib.sample_time(ids, generator=gen)
    length = float(lib.get_motion_length(torch.tensor([3])))
    assert float(t.min()) >= 0.0 and float(t.max()) < length
    assert abs(float(t.mean()) - length / 2) < 0.01 * length
    t = lib.sample_time(ids[:100], truncate_time=0.1, generator=gen)
    assert float(t.max()) < length - 0.1


def test_key_body_idx(crafted):
    _, lib, _ = crafted
    idx = lib.get_key_body_idx(MODEL.key_bodies)
    assert idx.dtype == torch.long
    assert [lib.get_body_names()[i] for i in idx.tolist()] == list(MODEL.key_bodies)
    assert idx.tolist() == [BODIES.index(n) for n in MODEL.key_bodies]
    with pytest.raises(KeyError, match="no_such_link"):
        lib.get_key_body_idx(["no_such_link"])


def test_bodies_reordered_to_model_order():
    """A clip listing its bodies in another order is stored in the model's order."""
    rng = np.random.default_rng(4)
    clip = make_clip(rng, 5, 30.0)
    perm = rng.permutation(len(BODIES))
    shuffled = dict(clip, local_body_pos=clip["local_body_pos"][:, perm], link_body_list=[BODIES[i] for i in perm])
    a = MotionLib.from_clips([clip])
    b = MotionLib.from_clips([shuffled])
    torch.testing.assert_close(a._local_body_pos, b._local_body_pos)


# --- scale ----------------------------------------------------------------------------------


def test_fifteen_thousand_clips():
    rng = np.random.default_rng(2024)
    m = 15_000
    n_frames = rng.integers(2, 6, size=m)
    fps_choices = np.array([20.0, 30.0, 50.0, 60.0])
    fps = fps_choices[rng.integers(0, 4, size=m)]
    total = int(n_frames.sum())
    # Bulk random data sliced into tiny clips (fast to build): upright roots, joints near zero and their
    # bodies by forward kinematics, as validation expects of a real motion.
    yaw = rng.uniform(-np.pi, np.pi, size=total)
    dof_pos = np.clip(rng.normal(scale=0.1, size=(total, ND)) + MODEL.default_dof_pos, MODEL.dof_lower, MODEL.dof_upper)
    data = {
        "root_pos": rng.normal(size=(total, 3)) * [1.0, 1.0, 0.0] + [0.0, 0.0, 0.78],
        "root_rot": np.stack([0 * yaw, 0 * yaw, np.sin(yaw / 2), np.cos(yaw / 2)], axis=1),
        "dof_pos": dof_pos,
        "local_body_pos": ForwardKinematics().local_body_pos(torch.as_tensor(dof_pos, dtype=torch.float32)).numpy(),
    }
    starts = np.concatenate([[0], np.cumsum(n_frames)[:-1]])
    clips = [
        dict({k: v[s : s + n] for k, v in data.items()}, fps=f, link_body_list=BODIES)
        for s, n, f in zip(starts, n_frames, fps)
    ]
    weights = rng.uniform(0.5, 2.0, size=m)
    lib = MotionLib.from_clips(clips, weights=weights)
    assert lib.num_motions() == m
    assert lib.num_frames_total() == total
    np.testing.assert_allclose(lib.get_motion_weights().numpy(), weights / weights.sum(), rtol=1e-5)

    gen = torch.Generator().manual_seed(3)
    ids = lib.sample_motions(4096, generator=gen)
    t0 = lib.sample_time(ids, generator=gen)
    times = (t0[:, None] + torch.arange(1, 21) * 0.02).reshape(-1)
    flat_ids = ids.repeat_interleave(20)
    out = lib.calc_motion_frame(flat_ids, times)
    assert out[6].shape == (4096 * 20, 38, 3)
    assert all(bool(torch.isfinite(x).all()) for x in out)

    # Check a random subset of queries against the numpy reference; skip queries that fall within
    # float rounding of a frame boundary (float32 vs float64 may pick different lower frames).
    sub = rng.choice(4096 * 20, size=300, replace=False)
    ids_np, times_np = flat_ids.numpy()[sub], times.numpy()[sub].astype(np.float64)
    keep = []
    for j, (i, t) in enumerate(zip(ids_np, times_np)):
        length = (n_frames[i] - 1) / fps[i]
        f = (t / length - np.floor(t / length)) * (n_frames[i] - 1)
        if abs(f - np.round(f)) > 1e-3:
            keep.append(j)
    rows = {i: ref_velocities(clips[i]) for i in set(ids_np[keep].tolist())}
    sub_out = tuple(x[torch.as_tensor(sub[keep])] for x in out)
    check_frames(sub_out, clips, rows, ids_np[keep], times_np[keep])
    assert len(keep) > 250


# --- files ------------------------------------------------------------------------------------


def test_manifest_of_pkl_and_npz(tmp_path, crafted):
    clips, _, vels = crafted
    save_clip(tmp_path / "clips" / "walk.pkl", clips[0])
    save_clip(tmp_path / "clips" / "squat.npz", clips[1])
    manifest = write_manifest(tmp_path / "data.yaml", ["clips/walk.pkl", "clips/squat.npz"], weights=[2.0, 1.0])
    lib = MotionLib(manifest)
    assert lib.num_motions() == 2
    assert lib.motion_files == [str(tmp_path / "clips" / "walk.pkl"), str(tmp_path / "clips" / "squat.npz")]
    assert lib.motion_names == ["walk", "squat"]
    np.testing.assert_allclose(lib.get_motion_weights().numpy(), [2 / 3, 1 / 3], rtol=1e-6)
    mem = MotionLib.from_clips(clips[:2])
    ids = torch.tensor([0, 0, 1, 1, 0])
    times = torch.tensor([0.3, 2.0, 0.05, 0.2, -0.4])
    for a, b in zip(lib.calc_motion_frame(ids, times), mem.calc_motion_frame(ids, times)):
        torch.testing.assert_close(a, b)
    # A single clip path works too (weight 1).
    single = MotionLib(tmp_path / "clips" / "squat.npz")
    assert single.num_motions() == 1 and float(single.get_motion_weights()[0]) == 1.0


def test_manifest_errors(tmp_path, crafted):
    clips = crafted[0]
    save_clip(tmp_path / "ok.pkl", clips[1])
    missing = write_manifest(tmp_path / "missing.yaml", ["ok.pkl", "gone.pkl"])
    with pytest.raises(MotionFileError, match=r"missing\.yaml.*motions\[1\]\.file.*gone\.pkl"):
        MotionLib(missing)
    bad = dict(clips[1], dof_pos=np.zeros((7, 29)))
    with open(tmp_path / "bad.pkl", "wb") as f:
        pickle.dump(bad, f)
    mixed = write_manifest(tmp_path / "mixed.yaml", ["ok.pkl", "bad.pkl"])
    with pytest.raises(MotionFileError, match=r"bad\.pkl.*'dof_pos'.*23 joints"):
        MotionLib(mixed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lib = MotionLib(mixed, skip_invalid=True)
    assert lib.num_motions() == 1 and any("bad.pkl" in str(w.message) for w in caught)
    nan = dict(clips[1], root_pos=np.full((7, 3), np.nan))
    with pytest.raises(MotionFileError, match=r"<clip 0>.*'root_pos'.*NaN"):
        MotionLib.from_clips([nan])
    (tmp_path / "empty.yaml").write_text("root_path: .\nmotions: []\n")
    with pytest.raises(MotionFileError, match=r"empty\.yaml.*motions.*non-empty"):
        MotionLib(tmp_path / "empty.yaml")
    with pytest.raises(MotionFileError, match="at least one"):
        MotionLib.from_clips([])
    with pytest.raises(MotionFileError, match="does not exist"):
        MotionLib(tmp_path / "nothing.pkl")


def _write_pkl(path, clip):
    with open(path, "wb") as f:
        pickle.dump(clip, f, protocol=4)
    return path


def test_off_norm_quaternions_renormalised_with_one_warning(tmp_path, crafted):
    """TWIST/GMR clips with root quaternion norms 1-2.5 % off 1 load, renormalised, one warning per file."""
    clip = dict(crafted[0][0])  # 40 frames, unit quaternions (some sign-flipped)
    unit = clip["root_rot"] / np.linalg.norm(clip["root_rot"], axis=1, keepdims=True)
    clip["root_rot"] = unit * np.linspace(1.01, 0.975, 40)[:, None]  # worst deviation 0.025 (last frame)
    path = _write_pkl(tmp_path / "gmr.pkl", clip)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lib = MotionLib(path)
    assert [str(w.message) for w in caught if w.category is MotionFileWarning] == [
        "{}: key 'root_rot': quaternion norms off 1 by up to 0.025: renormalised".format(path)
    ]
    rot = lib._root_rot.numpy().astype(np.float64)
    np.testing.assert_allclose(np.linalg.norm(rot, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(rot, unit, atol=1e-6)


@pytest.mark.parametrize("case", ["norm_2", "norm_1.15", "zero", "nan"])
def test_broken_quaternions_rejected(tmp_path, crafted, case):
    clip = dict(crafted[0][1])  # 7 frames
    rot = np.array(clip["root_rot"], dtype=np.float64)
    if case == "norm_2":
        rot *= 2.0
        expected = r"key 'root_rot': quaternion at frame 0 has norm 2, expected 1 \(\+-0\.1\) \(7 frame\(s\) affected\)"
    elif case == "norm_1.15":
        rot[2] *= 1.15
        expected = r"key 'root_rot': quaternion at frame 2 has norm 1\.15, .*\(1 frame"
    elif case == "zero":
        rot[3] = 0.0
        expected = r"key 'root_rot': quaternion at frame 3 has norm 0, "
    else:
        rot[5, 1] = np.nan
        expected = r"key 'root_rot': NaN or inf at frame 5"
    clip["root_rot"] = rot
    path = _write_pkl(tmp_path / "broken.pkl", clip)
    with pytest.raises(MotionFileError, match=re.escape(str(path)) + ": " + expected):
        MotionLib(path)


def test_float_fps(tmp_path):
    """A 29.98 Hz clip: fps kept as a float, length (T-1)/fps, frames at k/fps."""
    clip = make_clip(np.random.default_rng(5), 31, 29.98)
    clip["fps"] = np.float64(29.98)
    lib = MotionLib(_write_pkl(tmp_path / "clip.pkl", clip))
    assert float(lib.get_motion_fps()[0]) == pytest.approx(29.98, rel=1e-7)
    assert lib.get_total_length() == pytest.approx(30 / 29.98, rel=1e-6)  # 1.000667 s
    t = torch.tensor([10.5 / 29.98, 30 / 29.98 - 1e-4])
    dof_pos = lib.calc_motion_frame(torch.zeros(2, dtype=torch.long), t)[4].numpy()
    np.testing.assert_allclose(dof_pos[0], 0.5 * (clip["dof_pos"][10] + clip["dof_pos"][11]), atol=1e-4)
    np.testing.assert_allclose(dof_pos[1], clip["dof_pos"][30], atol=5e-3)


def _as_numpy1_pickle(data):
    """A protocol-2 pickle whose globals name numpy 1.x modules (numpy.core.*), as old GMR files do."""
    raw = pickle.dumps(data, protocol=2)
    assert b"numpy._core.multiarray" in raw
    return raw.replace(b"numpy._core.", b"numpy.core.")


def _as_numpy1_protocol5_pickle(data):
    """A protocol-5 pickle as numpy 1.x writes it: its arrays rebuilt by numpy.core.numeric._frombuffer (the
    name's length byte and the one frame's length adjusted for the shorter module name)."""
    raw = pickle.dumps(data, protocol=5)
    old, new = b"\x8c\x13numpy._core.numeric", b"\x8c\x12numpy.core.numeric"
    count = raw.count(old)
    assert count >= 1 and raw[2:3] == b"\x95" and int.from_bytes(raw[3:11], "little") == len(raw) - 11  # one frame
    raw = raw.replace(old, new)
    return raw[:3] + (len(raw) - 11).to_bytes(8, "little") + raw[11:]


@pytest.mark.parametrize("protocol", [2, 4, 5, "numpy1", "numpy1_protocol5"])
def test_numpy_pickles_load(tmp_path, crafted, protocol):
    clip = crafted[0][1]
    data = {k: (np.asarray(v, dtype=np.float32) if isinstance(v, np.ndarray) else v) for k, v in clip.items()}
    data["fps"] = np.float64(clip["fps"])  # a numpy scalar, as GMR writes it
    path = tmp_path / "clip.pkl"
    if protocol == "numpy1":
        raw = _as_numpy1_pickle(data)
    elif protocol == "numpy1_protocol5":
        raw = _as_numpy1_protocol5_pickle(data)
    else:
        raw = pickle.dumps(data, protocol=protocol)
    path.write_bytes(raw)
    with warnings.catch_warnings():  # numpy 1.x names are read through numpy 2's, without its warning
        warnings.simplefilter("error", DeprecationWarning)
        lib = MotionLib(path)
    np.testing.assert_allclose(lib._dof_pos.numpy(), clip["dof_pos"], atol=1e-6)
    assert float(lib.get_motion_fps()[0]) == 50.0


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, ("touch {}".format(self.marker),))


def test_malicious_pickle_rejected(tmp_path, crafted):
    marker = tmp_path / "pwned"
    clip = dict(crafted[0][1])
    clip["fps"] = _Evil(marker)
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(clip, protocol=4))
    with pytest.raises(MotionFileError, match=r"evil\.pkl.*(not allowed|cannot read)"):
        MotionLib(path)
    path.write_bytes(pickle.dumps(_Evil(marker), protocol=2))
    with pytest.raises(MotionFileError, match=r"evil\.pkl"):
        MotionLib(path)
    assert not marker.exists()
