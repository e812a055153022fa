"""CMGMotionLib (pose.utils.cmg_motion_lib) against independent computations: the CMG rollout of
cmg_workspace.rollout, the root integration of cmg_workspace.rollout.integrate_root, forward
kinematics of pose.kinematics, and the 29-joint mirror of pose.cmg.joints (docs/motion_data.md,
CMG motion library). The generator is a small randomly initialised CMG saved as a checkpoint with
the statistics of a tiny data set, on CPU."""

import math
import warnings

import pytest
import torch

from conftest import tiny_cmg
from cmg_workspace.rollout import generate, integrate_root
from legged_gym.envs.mdp.layout import TAR_OBS_STEPS
from pose.cmg.checkpoint import load_cmg
from pose.cmg.foot_lock import FootLock
from pose.cmg.joints import from_23, mirror_command, mirror_motion, to_23
from pose.formats import MotionFileError
from pose.g1_model import load_g1
from pose.kinematics import FootGeometry, ForwardKinematics
from pose.utils.cmg_motion_lib import SHIPPED_CMG, CMGMotionLib, CommandSwitch

pytestmark = pytest.mark.usefixtures("one_thread")

G1 = load_g1()
KEY = list(G1.key_bodies)
DT = 0.02
HORIZON = max(TAR_OBS_STEPS)  # 95: the teacher's furthest future frame
SWITCH = CommandSwitch(enabled=True, time_range_s=(0.1, 0.3))
SWITCH_LATE = CommandSwitch(enabled=True, time_range_s=(0.4, 0.6))  # after a 12-frame horizon's head


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return tiny_cmg(tmp_path_factory.mktemp("cmg") / "tiny.pt", standing_noise=0.3)


def make(ckpt, n=4, **kw):
    kw.setdefault("horizon", HORIZON)
    return CMGMotionLib(ckpt, num_envs=n, **kw)


def current(lib):
    """The frame every env is at now (MotionLib.calc_motion_frame at the library's clock)."""
    return lib.calc_motion_frame(torch.arange(lib.num_envs), lib.motion_times())


def mirror23(q):
    x = torch.as_tensor(from_23(q.numpy()))
    return torch.as_tensor(to_23(mirror_motion(torch.cat([x, x], dim=-1))[..., :29].numpy()))


def test_motion_library_interface_and_shapes(ckpt):
    n = 3
    lib = make(ckpt, n, horizon=12)
    lib.reset(torch.arange(n))
    assert lib.num_motions() == n and lib.get_body_names() == KEY and lib.get_dof_names() == list(G1.dof_names)
    assert lib.get_key_body_idx(KEY).tolist() == list(range(len(KEY)))
    with pytest.raises(KeyError, match="pelvis"):
        lib.get_key_body_idx(["pelvis"])
    assert lib.sample_motions(n).tolist() == [0, 1, 2]
    assert lib.sample_time(torch.arange(n)).tolist() == [0.0, 0.0, 0.0]
    torch.testing.assert_close(lib.get_motion_length(), torch.full((n,), 10.0))
    assert lib.get_motion_length(torch.tensor([2, 0])).shape == (2,)
    assert lib.get_commands().shape == (n, 3) and lib.motion_times().tolist() == [0.0] * n
    lib.step()
    steps = (1, 5, 10)
    times = lib.motion_times().unsqueeze(-1) + DT * torch.tensor(steps, dtype=torch.float32)
    ids = torch.arange(n).unsqueeze(-1).expand_as(times)
    grid = lib.calc_motion_frame(ids, times)
    flat = lib.calc_motion_frame(ids.reshape(-1), times.reshape(-1))
    dims = [(3,), (4,), (3,), (3,), (23,), (23,), (len(KEY), 3)]
    for g, f, d in zip(grid, flat, dims):
        assert g.shape == (n, len(steps)) + d and f.shape == (n * len(steps),) + d
        torch.testing.assert_close(g.reshape(f.shape), f, rtol=0, atol=0)
    assert lib.calc_motion_frame(torch.arange(n), lib.motion_times())[6].shape == (n, len(KEY), 3)
    assert int(lib.num_clamped) == 0
    # commands inside the ranges, root quaternions unit and yaw-only
    lo, hi = lib.command_ranges[:, 0], lib.command_ranges[:, 1]
    assert bool(((lib.get_commands() >= lo) & (lib.get_commands() <= hi)).all())
    torch.testing.assert_close(grid[1].norm(dim=-1), torch.ones(n, len(steps)))
    assert bool((grid[1][..., :2] == 0).all())


def test_same_seed_gives_the_same_frames(ckpt):
    def run(seed):
        lib = make(ckpt, 3, horizon=12, seed=seed, command_switch=SWITCH, pool_size=2, pool_refresh_steps=4)
        lib.reset(torch.arange(3))
        out = []
        for k in range(10):
            lib.step()
            if k == 5:
                lib.reset(torch.tensor([1]))
            out.append(torch.cat([x.reshape(3, -1) for x in current(lib)], dim=-1))
            out.append(lib.get_commands())
        return torch.cat(out, dim=-1)

    a, b, c = run(3), run(3), run(4)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.allclose(a, c)


def test_a_pool_half_is_generated_again_at_a_check_once_all_its_heads_are_taken(ckpt):
    lib = make(ckpt, 4, horizon=12, seed=0, pool_size=4, pool_refresh_steps=2)
    lib.reset(torch.arange(4))  # the first reset takes the whole pool: both halves are generated again
    assert lib.pool_used() == 0
    heads = lib._pool.cmd_a.clone()
    for used, steps_to_check in ((0, 2), (1, 2)):
        if used:
            lib.reset(torch.tensor([0]))
        for _ in range(steps_to_check):
            lib.step()
        assert lib.pool_used() == used and torch.equal(lib._pool.cmd_a, heads)  # no half used up: kept
    lib.reset(torch.tensor([1]))  # rows 0 and 1, the first half, taken
    lib.step()
    assert lib.pool_used() == 2 and torch.equal(lib._pool.cmd_a, heads)  # not a check step
    pool_storage = lib._pool.packed.data_ptr()
    lib.step()  # the check: the first half anew, in the same tensors (a captured reset reads them)
    assert lib.pool_used() == 0
    assert not torch.equal(lib._pool.cmd_a[:2], heads[:2]) and torch.equal(lib._pool.cmd_a[2:], heads[2:])
    assert lib._pool.packed.data_ptr() == pool_storage
    lib.reset(torch.tensor([2]))  # the next head taken is row 2 of the second half (not yet used)
    assert torch.equal(lib._cmd_a[2], heads[2])


def test_more_resets_than_the_pool_holds_between_checks_renew_all_of_it(ckpt):
    lib = make(ckpt, 6, horizon=12, seed=0, pool_size=4, pool_refresh_steps=2)
    lib.reset(torch.arange(6))  # 6 heads of a pool of 4 (two reused)
    assert lib.pool_used() == 0
    heads = lib._pool.cmd_a.clone()
    lib.reset(torch.arange(5))
    lib.step()
    lib.step()  # the check: 5 taken, both halves anew; the odd one counts as taken of the new pool
    assert lib.pool_used() == 1
    assert not torch.equal(lib._pool.cmd_a[:2], heads[:2]) and not torch.equal(lib._pool.cmd_a[2:], heads[2:])


def test_reset_by_mask_takes_the_heads_a_reset_by_index_takes(ckpt):
    libs = [
        make(ckpt, 5, horizon=12, seed=1, command_switch=SWITCH, pool_size=4, pool_refresh_steps=3) for _ in range(2)
    ]
    for lib in libs:
        lib.reset(torch.arange(5))
    for k, resets in enumerate([[1, 3], [], [0, 2, 4], [4], [0, 1, 2, 3]]):
        mask = torch.zeros(5, dtype=torch.bool)
        mask[resets] = True
        for lib in libs:
            lib.step()
        libs[0].reset(torch.tensor(resets, dtype=torch.long))
        libs[1].reset_where(mask)
        for x, y in zip(current(libs[0]), current(libs[1])):
            torch.testing.assert_close(x, y, rtol=0, atol=0)
        torch.testing.assert_close(libs[0].get_commands(), libs[1].get_commands(), rtol=0, atol=0)


def test_mirroring_is_an_involution_and_mirrors_the_whole_reference(ckpt):
    lib = make(ckpt, 2, horizon=12)
    x = torch.randn(7, 58)
    torch.testing.assert_close(lib.mirror_state(lib.mirror_state(x)), x, rtol=0, atol=0)
    torch.testing.assert_close(lib.mirror_state(x), mirror_motion(x))
    # env 1 runs the mirror image of env 0: command (vx, -vy, -wz), mirrored output
    c = torch.tensor([[1.2, 0.2, 0.4]])
    lib.reset(torch.tensor([0, 1]), commands=torch.cat([c, mirror_command(c)]), mirror=torch.tensor([False, True]))
    assert lib.mirrored().tolist() == [False, True]
    torch.testing.assert_close(lib.get_commands()[1], mirror_command(c)[0])
    twin = [KEY.index(n.replace("left_", "@").replace("right_", "left_").replace("@", "right_")) for n in KEY]
    flip_y = torch.tensor([1.0, -1.0, 1.0])
    for k in range(16):  # the head's frames, then generated ones
        a = current(lib)
        a0 = [f[0] for f in a]
        a1 = [f[1] for f in a]
        torch.testing.assert_close(a1[0], a0[0] * flip_y)  # root position
        torch.testing.assert_close(a1[1], a0[1] * torch.tensor([1.0, 1.0, -1.0, 1.0]))  # yaw negated
        torch.testing.assert_close(a1[2], a0[2] * flip_y)  # root velocity
        torch.testing.assert_close(a1[3], -a0[3])  # yaw rate
        torch.testing.assert_close(a1[4], mirror23(a0[4]), atol=1e-5, rtol=0)
        torch.testing.assert_close(a1[5], mirror23(a0[5]), atol=1e-5, rtol=0)
        torch.testing.assert_close(a1[6], a0[6][twin] * flip_y, atol=1e-4, rtol=0)  # key bodies (FK)
        lib.step()


@pytest.mark.parametrize("chunk", [1, 3])
def test_frames_equal_an_independent_rollout_with_forward_kinematics(ckpt, chunk):
    loaded = load_cmg(ckpt)
    stats = loaded.stats.tensors()
    cmds = torch.tensor([[0.8, -0.1, 0.3], [1.4, 0.25, -0.45]])
    steps = 20
    lib = make(ckpt, 2, horizon=12, chunk=chunk)
    lib.reset(torch.arange(2), commands=cmds, mirror=torch.tensor([False, True]))
    frames = []
    for _ in range(steps + 1):
        frames.append(current(lib))
        lib.step()
    dof_pos, dof_vel, key = [torch.stack([f[i] for f in frames], dim=1) for i in (4, 5, 6)]
    # env 0 as the CMG generates it; env 1 (mirrored) is the mirror of the CMG under its mirrored command
    raw = generate(loaded.model, stats, torch.as_tensor(loaded.standing_pose), mirror_command(cmds), steps)
    raw[0] = generate(loaded.model, stats, torch.as_tensor(loaded.standing_pose), cmds[:1], steps)[0]
    raw[1] = mirror_motion(raw[1])
    torch.testing.assert_close(dof_pos, to_23(raw[..., :29]), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(dof_vel, to_23(raw[..., 29:]), atol=1e-5, rtol=1e-5)
    fk = ForwardKinematics(bodies=KEY)
    torch.testing.assert_close(key, fk.local_body_pos(to_23(raw[..., :29])), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("chunk, switch", [(1, SWITCH), (1, SWITCH_LATE), (4, SWITCH_LATE)])
def test_root_path_is_the_integrated_command(ckpt, chunk, switch):
    """Switches inside the episode's head (generated at the reset) and later (generated by step())."""
    n, steps = 4, 40
    lib = make(ckpt, n, horizon=12, seed=2, command_switch=switch, chunk=chunk)
    lib.reset(torch.arange(n))
    cmds, pos, yaw, vel, ang = [], [], [], [], []
    for _ in range(steps + 1):
        f = current(lib)
        cmds.append(lib.get_commands())
        pos.append(f[0])
        q = f[1]
        yaw.append(2.0 * torch.atan2(q[:, 2], q[:, 3]))
        vel.append(f[2])
        ang.append(f[3])
        lib.step()
    cmds = torch.stack(cmds, dim=1)
    assert bool((cmds[:, -1] != cmds[:, 0]).any(dim=-1).all()), "every env switched its command"
    ref_pos, ref_yaw = integrate_root(cmds, steps, DT, height=0.75)
    torch.testing.assert_close(torch.stack(pos, dim=1), ref_pos, atol=1e-5, rtol=0)
    wrap = lambda a: torch.atan2(torch.sin(a), torch.cos(a))  # noqa: E731
    torch.testing.assert_close(wrap(torch.stack(yaw, dim=1) - ref_yaw), torch.zeros(n, steps + 1), atol=1e-5, rtol=0)
    c, s = torch.cos(ref_yaw), torch.sin(ref_yaw)
    world = torch.stack(
        [c * cmds[..., 0] - s * cmds[..., 1], s * cmds[..., 0] + c * cmds[..., 1], torch.zeros_like(c)], dim=-1
    )
    torch.testing.assert_close(torch.stack(vel, dim=1), world, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.stack(ang, dim=1)[..., 2], cmds[..., 2], rtol=0, atol=0)


@pytest.mark.parametrize("chunk", [1, 2, 7])
def test_every_future_query_lands_on_a_generated_frame(ckpt, chunk):
    """Resets by index list and by mask at random steps, pool refreshes, command switches: every
    query of the current frame and of the teacher's 20 future frames (up to 1.9 s) is generated,
    also when frames are generated `chunk` at a time."""
    n = 5
    lib = make(ckpt, n, command_switch=SWITCH, pool_size=3, pool_refresh_steps=25, chunk=chunk)
    lib.reset(torch.arange(n))
    gen = torch.Generator().manual_seed(0)
    offsets = DT * torch.tensor((0,) + TAR_OBS_STEPS, dtype=torch.float32)
    for k in range(120):  # longer than the horizon: later queries read frames generated step by step
        lib.step()
        resets = torch.rand(n, generator=gen) < 0.1
        resets[0] = False  # env 0 plays on: its ring buffer wraps around
        if k % 2:
            lib.reset(resets.nonzero().flatten())
        else:
            lib.reset_where(resets)
        times = lib.motion_times().unsqueeze(-1) + offsets
        ids = torch.arange(n).unsqueeze(-1).expand_as(times)
        assert bool(lib.covered(ids, times).all()), "step {}: frames {}".format(k, lib.current_frames().tolist())
        lib.calc_motion_frame(ids, times)
        ahead = lib.generated_frames() - lib.current_frames()
        assert bool((ahead >= HORIZON + 1).all()) and bool((ahead <= HORIZON + 2 * chunk - 1).all()), ahead
        if chunk == 1:
            assert bool((ahead == HORIZON + 1).all())
    assert int(lib.num_clamped) == 0
    assert int(lib.current_frames().max()) > lib.capacity
    # one frame further than the generated ones is not there yet: clamped and counted
    late = lib.motion_times() + DT * (lib.generated_frames() - lib.current_frames()).float()
    assert not bool(lib.covered(torch.arange(n), late).any())
    lib.calc_motion_frame(torch.arange(n), late)
    assert int(lib.num_clamped) == n


@pytest.mark.parametrize("chunk", [2, 5])
def test_frames_do_not_depend_on_the_chunk(ckpt, chunk):
    """Generating `chunk` frames every `chunk` steps gives every env the reference of one frame per
    step: the same current and future frames and commands, through resets by list and by mask."""
    n = 6
    libs = [
        make(ckpt, n, seed=5, command_switch=SWITCH, pool_size=4, pool_refresh_steps=5, chunk=c) for c in (1, chunk)
    ]
    gen = torch.Generator().manual_seed(1)
    offsets = DT * torch.tensor((0,) + TAR_OBS_STEPS, dtype=torch.float32)
    for lib in libs:
        lib.reset(torch.arange(n))
    for k in range(60):
        resets = torch.rand(n, generator=gen) < 0.1
        for lib in libs:
            lib.step()
            if k % 2:
                lib.reset(resets.nonzero().flatten())
            else:
                lib.reset_where(resets)
        times = libs[0].motion_times().unsqueeze(-1) + offsets
        ids = torch.arange(n).unsqueeze(-1).expand_as(times)
        for x, y in zip(libs[0].calc_motion_frame(ids, times), libs[1].calc_motion_frame(ids, times)):
            torch.testing.assert_close(x, y, rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(libs[0].get_commands(), libs[1].get_commands(), rtol=0, atol=0)
    assert int(libs[1].num_clamped) == 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("foot_lock", [False, True])
def test_cuda_graphs_give_the_frames_of_eager_calls(ckpt, foot_lock):
    """On CUDA the captured generation (chunked), pool refreshes and masked resets replay what eager
    calls do: the same reference and commands through 120 steps (graphs captured on the way), with
    and without the foot lock."""
    n = 64
    libs = [
        make(
            ckpt,
            n,
            device="cuda",
            seed=5,
            command_switch=SWITCH,
            pool_size=32,
            pool_refresh_steps=5,
            chunk=4,
            cuda_graph=graph,
            foot_lock=foot_lock,
        )
        for graph in (True, False)
    ]
    assert libs[0].uses_cuda_graphs and not libs[1].uses_cuda_graphs
    gen = torch.Generator(device="cuda").manual_seed(1)
    offsets = DT * torch.tensor((0,) + TAR_OBS_STEPS, dtype=torch.float32, device="cuda")
    for lib in libs:
        lib.reset(torch.arange(n, device="cuda"))
    for _ in range(120):
        resets = torch.rand(n, device="cuda", generator=gen) < 0.05
        for lib in libs:
            lib.step()
            lib.reset_where(resets)
        times = libs[1].motion_times().unsqueeze(-1) + offsets
        ids = torch.arange(n, device="cuda").unsqueeze(-1).expand_as(times)
        for x, y in zip(libs[0].calc_motion_frame(ids, times), libs[1].calc_motion_frame(ids, times)):
            torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(libs[0].get_commands(), libs[1].get_commands(), rtol=0, atol=0)
    assert libs[0]._reset_call.graph is not None and libs[0]._step_call.graph is not None
    assert int(libs[0].num_clamped) == 0


def test_tf32_is_for_cuda_only_and_leaves_the_global_setting_alone(ckpt):
    before = torch.backends.cuda.matmul.allow_tf32
    lib = make(ckpt, 2, tf32=True)  # on the CPU: float32, the same frames as without the flag
    ref = make(ckpt, 2)
    for x in (lib, ref):
        x.reset(torch.arange(2))
        for _ in range(3):
            x.step()
    assert not lib.tf32
    for x, y in zip(current(lib), current(ref)):
        torch.testing.assert_close(x, y, rtol=0, atol=0)
    assert torch.backends.cuda.matmul.allow_tf32 is before


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_tf32_frames_are_float32_frames_within_tf32_rounding(ckpt):
    """TF32 changes the generator's products (the frames differ), by its rounding only (close to the
    float32 frames over a head's 20 first frames), and its CUDA graphs replay its eager calls."""
    n = 32
    libs = {
        (tf32, graph): make(ckpt, n, device="cuda", seed=3, tf32=tf32, cuda_graph=graph)
        for tf32, graph in ((True, True), (True, False), (False, False))
    }
    assert libs[(True, True)].tf32 and not libs[(False, False)].tf32
    for lib in libs.values():
        lib.reset(torch.arange(n, device="cuda"))
    ids = torch.arange(n, device="cuda").unsqueeze(-1).expand(n, 20)
    times = DT * torch.arange(20, device="cuda", dtype=torch.float32).expand(n, 20)
    frames = {k: lib.calc_motion_frame(ids, times) for k, lib in libs.items()}
    dof = 4  # index of dof_pos in a frame
    for x, y in zip(frames[(True, True)], frames[(True, False)]):
        torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-5)
    diff = (frames[(True, False)][dof] - frames[(False, False)][dof]).abs()
    assert float(diff.max()) > 0.0
    assert float(diff.max()) < 0.05


def test_root_height_from_forward_kinematics_puts_the_lowest_foot_on_the_ground(ckpt):
    lib = make(ckpt, 2, horizon=6, height_from_fk=True)
    lib.reset(torch.arange(2))
    feet = FootGeometry()
    for _ in range(8):
        root_pos, root_rot, _, _, dof_pos, _, _ = current(lib)
        assert bool((root_pos[:, 2] > 0.5).all())
        lowest = feet.lowest_points(root_pos, root_rot, dof_pos).amin(dim=-1)
        torch.testing.assert_close(lowest, torch.zeros(2), atol=1e-5, rtol=0)
        lib.step()
    lib = make(ckpt, 1, horizon=3)
    lib.reset(torch.tensor([0]))
    assert lib.calc_motion_frame(torch.tensor([0]), torch.zeros(1))[0][0, 2].item() == pytest.approx(0.75)


def test_command_switch_happens_once_at_the_drawn_time(ckpt):
    lib = make(ckpt, 64, horizon=4, seed=5, command_switch=CommandSwitch(True, (0.1, 1.0), (0.25, 0.1, 0.1)))
    lib.reset(torch.arange(64))
    first = lib.get_commands()
    seen = [first]
    for _ in range(55):
        lib.step()
        seen.append(lib.get_commands())
    seen = torch.stack(seen, dim=1)
    changes = (seen[:, 1:] != seen[:, :-1]).any(dim=-1).sum(dim=1)
    assert changes.tolist() == [1] * 64
    at = (seen[:, 1:] != seen[:, :-1]).any(dim=-1).to(torch.float32).argmax(dim=1) + 1
    assert bool(((at >= 5) & (at <= 50)).all())  # 0.1-1.0 s
    delta = (seen[:, -1] - first).abs()
    assert bool((delta >= torch.tensor([0.25, 0.1, 0.1]) - 1e-6).any(dim=-1).all())


def test_set_commands_continues_the_generator_and_the_root(ckpt):
    """A live command change (the deploy stream's): frames already generated keep the old command, the
    next ones continue the CMG from its state and the root from its pose under the new command."""
    h, before, after = 3, 8, 12
    a, b = torch.tensor([[1.0, 0.1, 0.2]]), torch.tensor([[0.3, -0.2, -0.6]])
    lib = make(ckpt, 1, horizon=h)
    lib.reset([0], commands=a)
    frames = []
    for _ in range(before):
        frames.append(current(lib))
        lib.step()
    lib.set_commands([0], b)
    torch.testing.assert_close(lib.get_commands(), b)
    for _ in range(after):
        frames.append(current(lib))
        lib.step()
    steps = len(frames) - 1
    switch = before + h  # frames 0..switch were generated under a; every step from frame `switch` on is b's
    per_step = torch.cat([a.expand(switch, 3), b.expand(steps - switch, 3)]).unsqueeze(0)
    ref_pos, ref_yaw = integrate_root(per_step, steps, DT)
    pos, quat, vel = [torch.stack([f[i] for f in frames], dim=1) for i in (0, 1, 2)]
    torch.testing.assert_close(pos, ref_pos, atol=1e-5, rtol=0)
    yaw = 2.0 * torch.atan2(quat[..., 2], quat[..., 3])
    torch.testing.assert_close(torch.sin(yaw - ref_yaw), torch.zeros_like(yaw), atol=1e-5, rtol=0)
    assert torch.allclose(vel[0, switch + 1 :].norm(dim=-1), b[0, :2].norm())  # the frames after: b's speed
    loaded = load_cmg(ckpt)
    stats = loaded.stats.tensors()
    raw_a = generate(loaded.model, stats, torch.as_tensor(loaded.standing_pose), a, switch)
    raw_b = generate(loaded.model, stats, raw_a[:, -1], b, steps - switch)
    raw = torch.cat([raw_a, raw_b[:, 1:]], dim=1)
    dof_pos = torch.stack([f[4] for f in frames], dim=1)
    torch.testing.assert_close(dof_pos, to_23(raw[..., :29]), atol=1e-4, rtol=1e-4)


def test_one_env_timeline_runs_without_end(ckpt):
    """The deploy stream's use: one env, one frame of look-ahead, never reset. Every next frame is
    generated, the yaw stays wrapped (the root quaternion's w >= 0) while the robot turns round, and
    float64 times still name the right frame after 140 hours (float32 times are 1.6 frames apart there)."""
    lib = make(ckpt, 1, horizon=1)
    lib.reset([0], commands=torch.tensor([[1.0, 0.0, 1.0]]))
    for _ in range(400):  # 8 s at 1 rad/s: more than one turn
        lib.step()
        t = torch.tensor([(int(lib.current_frames()[0]) + 1) * DT], dtype=torch.float64)
        assert bool(lib.covered([0], t).all())
        assert float(lib.calc_motion_frame([0], t)[1][0, 3]) >= 0.0
    assert int(lib.num_clamped) == 0
    t = torch.tensor([(int(lib.current_frames()[0]) + 1) * DT], dtype=torch.float64)
    expected = lib.calc_motion_frame([0], t)
    shift = lib.capacity * 2**23  # 25 M frames, a whole number of ring laps: the same slots
    lib._frame += shift
    lib._gen += shift
    later = torch.tensor([(int(lib.current_frames()[0]) + 1) * DT], dtype=torch.float64)
    assert bool(lib.covered([0], later).all())
    for x, y in zip(lib.calc_motion_frame([0], later), expected):
        torch.testing.assert_close(x, y, rtol=0, atol=0)
    assert int(lib.num_clamped) == 0


def test_bad_model_paths_are_motion_file_errors(tmp_path):
    with pytest.raises(MotionFileError, match="nothing.pt"):
        CMGMotionLib(tmp_path / "nothing.pt")
    bad = tmp_path / "bad.pt"
    torch.save({"weights": 1}, bad)
    with pytest.raises(MotionFileError, match="not a CMG checkpoint"):
        CMGMotionLib(bad)


def test_rate_mismatch_is_refused(ckpt):
    with pytest.raises(MotionFileError, match="fps"):
        CMGMotionLib(ckpt, dt=1.0 / 30.0)


def test_a_command_band_beyond_the_trained_commands_is_warned_about(ckpt):
    """The warning names the component, the band and the trained range (the model's stored data range);
    a band inside that range gives none."""
    stats = load_cmg(ckpt).stats
    lo, hi = float(stats.command_min[1]), float(stats.command_max[1])
    inside = ((float(stats.command_min[0]), float(stats.command_max[0])), (lo, hi), (0.0, 0.0))
    beyond = (inside[0], (lo - 0.1, hi), inside[2])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make(ckpt, n=1, horizon=3, command_ranges=inside)
    with pytest.warns(UserWarning, match=r"vy band \[{:g}, {:g}\]".format(lo - 0.1, hi)) as record:
        make(ckpt, n=1, horizon=3, command_ranges=beyond)
    assert len(record) == 1 and "vx" not in str(record[0].message) and "extrapolates" in str(record[0].message)


@pytest.mark.skipif(not SHIPPED_CMG.is_file(), reason="the shipped CMG (assets/cmg/cmg.pt) is not there")
def test_the_shipped_cmg_is_the_default():
    lib = CMGMotionLib(num_envs=2, horizon=3)
    assert lib.model_path == str(SHIPPED_CMG)
    lib.reset(torch.arange(2))
    lib.step()
    assert all(bool(torch.isfinite(x).all()) for x in current(lib))
    assert math.isclose(lib.dt, 0.02)


@pytest.mark.parametrize("chunk", [1, 4])
def test_foot_lock_gives_the_lock_of_the_unlocked_frames(ckpt, chunk):
    """With `foot_lock` the library's joints are pose.cmg.foot_lock applied to the frames it generates
    without it (one call over the whole timeline, under the same root), and the key bodies follow the
    locked joints; the root is unchanged."""
    cmds = torch.tensor([[0.8, -0.1, 0.3], [1.4, 0.25, -0.45]])
    steps = 40
    seqs = []
    for lock in (False, True):
        lib = make(ckpt, 2, horizon=12, chunk=chunk, foot_lock=lock)
        lib.reset(torch.arange(2), commands=cmds, mirror=torch.tensor([False, True]))
        frames = []
        for _ in range(steps + 1):
            frames.append(current(lib))
            lib.step()
        seqs.append([torch.stack([f[i] for f in frames], dim=1) for i in range(7)])
    plain, locked = seqs
    torch.testing.assert_close(locked[0], plain[0], atol=0, rtol=0)  # root position
    yaw = 2.0 * torch.atan2(plain[1][..., 2], plain[1][..., 3])
    q, v, _, _ = FootLock()(plain[0], yaw, plain[4], plain[5], DT)
    torch.testing.assert_close(locked[4], q, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(locked[5], v, atol=1e-3, rtol=1e-5)
    torch.testing.assert_close(locked[6], ForwardKinematics(bodies=KEY).local_body_pos(q), atol=1e-5, rtol=1e-5)
    assert float((locked[4] - plain[4]).abs().max()) > 1e-3  # the lock moved the legs
