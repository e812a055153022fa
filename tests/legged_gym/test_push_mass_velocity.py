"""Physics details that distort training if wrong (issue 11, part 2), on the mjwarp backend (warp's CPU
device), each checked against an independent computation:

- a root push acts from the next physics step on: the rewards and observations of the step that pushes
  see the velocities before the push (as TWIST on Isaac Gym, where the rigid-body states are refreshed
  only after the next `simulate`), also when another env resets in the same step;
- a changed body mass or centre of mass updates every model constant derived from it, per world, to
  what plain MuJoCo's `mj_setConst` computes for an MjModel with the same inertial parameters;
- linear velocities are those of the body-frame origins (the interface's convention; the isaacgym
  backend converts PhysX's centre-of-mass velocities to it), as `mj_objectVelocity` of the body frame.
"""

import numpy as np
import pytest
import torch

pytest.importorskip("mujoco_warp")

import mujoco  # noqa: E402

from legged_gym.envs import task_registry  # noqa: E402  (registers the tasks)
from legged_gym.envs.mdp import randomization as rand  # noqa: E402
from legged_gym.envs.mdp import rewards  # noqa: E402
from legged_gym.simulator.mjwarp_backend import MjWarpBackend  # noqa: E402
from pose.g1_model import load_g1  # noqa: E402

G1 = load_g1()
PUSH_STEP = 10  # the first push: step 10 (0.2 s, the feet have landed from the reset's 5 cm)
PUSHES = (torch.tensor([[0.9, -0.7], [-0.8, 0.6]]), torch.tensor([[-0.9, 0.7], [0.8, -0.6]]))  # (N, 2) world xy


def _make_env(push):
    cfg, _ = task_registry.get_cfgs("g1_priv_mimic")
    cfg.env.num_envs = 2
    cfg.seed = 3
    cfg.sim.backend = "mjwarp"
    dr = cfg.domain_rand
    dr.push_robots = push
    dr.push_interval_s = PUSH_STEP * float(cfg.sim.dt) * int(cfg.sim.decimation)
    env = task_registry.get("g1_priv_mimic").env_class(cfg, "cpu", True)
    env.pre_reset_callback = _reset_env1_at_the_push
    return env


def _reset_env1_at_the_push(env):
    """Env 1 ends its episode in the step of the first push (its reset runs a forward())."""
    if env.common_step_counter == PUSH_STEP:
        env.reset_buf[1] = True


def _state(env):
    return {k: getattr(env, k).clone() for k in ("root_states", "rigid_body_states", "dof_pos", "dof_vel")}


def _assert_states_equal(a, b, atol=1e-5):
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=atol, rtol=0, msg=k)


def test_a_push_acts_from_the_next_physics_step_and_not_on_the_step_that_pushes(monkeypatch):
    # The pushed velocities are fixed and drawn from no generator, so that the three envs below (same
    # seed) draw the same random numbers (noise, resets) and differ only by the push.
    pushes = iter(PUSHES)
    monkeypatch.setattr(rand, "push_velocities", lambda *args, **kwargs: next(pushes).clone())
    seen = []  # (feet velocities, feet contact forces, feet_slip) read by each feet_slip call
    feet_slip = rewards.feet_slip

    def recording_feet_slip(feet_vel, feet_contact_forces, *args, **kwargs):
        out = feet_slip(feet_vel, feet_contact_forces, *args, **kwargs)
        seen.append((feet_vel.clone(), feet_contact_forces.clone(), out.clone()))
        return out

    monkeypatch.setattr(rewards, "feet_slip", recording_feet_slip)
    pushed, plain, direct = _make_env(True), _make_env(False), _make_env(False)
    feet = pushed.feet_indices
    zeros = torch.zeros(2, 23)

    def step_all():
        out = []
        for env in (pushed, plain, direct):
            seen.clear()
            obs, priv, rew, reset, _ = env.step(zeros)
            assert len(seen) == 1
            out.append((obs.clone(), priv.clone(), rew.clone(), reset.clone(), seen[0]))
        return out

    for _ in range(PUSH_STEP - 1):
        step_all()
    # --- the step that pushes (env 1 is reset in it) ----------------------------------------------------
    (obs_p, priv_p, rew_p, _, slip_p), (obs_0, priv_0, rew_0, _, slip_0), _ = step_all()
    assert pushed.common_step_counter == PUSH_STEP
    assert int(pushed.episode_length_buf[1]) == 0 and int(pushed.episode_length_buf[0]) == PUSH_STEP
    # feet_slip read the same foot velocities, hence gave the same value, as without the push
    torch.testing.assert_close(slip_p[0], slip_0[0], atol=0, rtol=0)
    torch.testing.assert_close(slip_p[2], slip_0[2], atol=0, rtol=0)
    torch.testing.assert_close(rew_p, rew_0, atol=0, rtol=0)
    # observations, incl. the privileged base velocity; 1e-6: the push rewrote env 0's root state, whose
    # angular velocity went world -> body frame -> world (float32 round trip) in env 1's reset forward()
    torch.testing.assert_close(obs_p, obs_0, atol=1e-6, rtol=0)
    torch.testing.assert_close(priv_p, priv_0, atol=1e-6, rtol=0)
    # ... and it would not have with the push in them: the push moves every body of env 0 by
    # dv = (pushed - previous root xy velocity, 0), which env 1's reset forward() now shows
    dv = torch.zeros(3)
    dv[:2] = PUSHES[0][0] - plain.root_states[0, 7:9]  # `plain` holds env 0's velocity before the push
    post = slip_0[0][0] + dv
    torch.testing.assert_close(pushed.rigid_body_states[0, feet, 7:10], post, atol=1e-4, rtol=0)
    contact = slip_0[1][0, :, 2] > 5.0
    assert contact.any(), "no foot of env 0 on the ground at the push: feet_slip would not test anything"
    assert dv[:2].norm() > 0.3
    slip_post = rewards.feet_slip(post.unsqueeze(0), slip_0[1][:1], contact_threshold=5.0)
    assert abs(float(slip_post[0]) - float(slip_0[2][0])) > 0.05
    # the base velocity of the observation is the one before the push (it is in `obs`, checked above)
    torch.testing.assert_close(pushed.base_lin_vel, plain.base_lin_vel, atol=0, rtol=0)

    # `direct`: the same velocity written straight into the simulator after this step (env 0: env 1
    # was reset after the push, which overwrote it)
    root = direct.root_states.clone()
    root[0, 7:9] = PUSHES[0][0]
    direct.sim.set_root_states(torch.tensor([0]), root[:1])
    # --- the next step: the push acts in its physics -----------------------------------------------
    step_all()
    _assert_states_equal(_state(pushed), _state(direct))
    assert (pushed.root_states[0, 7:9] - plain.root_states[0, 7:9]).norm() > 0.3

    # --- the second push, in a step that resets no env: `direct` (same state, no push of its own) is
    # the twin without it
    for _ in range(PUSH_STEP - 2):
        step_all()
    (obs_p, priv_p, rew_p, reset_p, slip_p), _, (obs_d, priv_d, rew_d, _, slip_d) = step_all()
    assert pushed.common_step_counter == 2 * PUSH_STEP and not reset_p.any()
    torch.testing.assert_close(slip_p[0], slip_d[0], atol=0, rtol=0)
    torch.testing.assert_close(rew_p, rew_d, atol=0, rtol=0)
    torch.testing.assert_close(obs_p, obs_d, atol=1e-6, rtol=0)
    assert (PUSHES[1] - direct.root_states[:, 7:9]).norm(dim=-1).min() > 0.3
    root = direct.root_states.clone()
    root[:, 7:9] = PUSHES[1]
    direct.sim.set_root_states(torch.arange(2), root)
    step_all()
    _assert_states_equal(_state(pushed), _state(direct))


# --- mass randomisation: the constants derived from the inertial parameters, per world ------------------
MASS_DERIVED = ("body_subtreemass", "body_invweight0", "dof_invweight0", "actuator_acc0")


def _mj_set_const(path, body, added_mass, com_offset):
    """The derived constants of plain MuJoCo (float64) for `body` with mass m0 + added (inertia scaled
    by the mass ratio) and its centre of mass shifted by com_offset."""
    mjm = mujoco.MjModel.from_xml_path(str(path))
    b = mujoco.mj_name2id(mjm, mujoco.mjtObj.mjOBJ_BODY, body)
    m0 = float(mjm.body_mass[b])
    mjm.body_inertia[b] *= (m0 + added_mass) / m0
    mjm.body_mass[b] = m0 + added_mass
    mjm.body_ipos[b] += np.asarray(com_offset, dtype=np.float64)
    mujoco.mj_setConst(mjm, mujoco.MjData(mjm))
    return {f: np.array(getattr(mjm, f)) for f in MASS_DERIVED}


def _assert_constants(sim, expected):
    for f in MASS_DERIVED:
        got = getattr(sim.m, f).numpy()
        assert got.shape[0] == sim.num_envs, "{} is not per world".format(f)
        for w, exp in enumerate(expected):
            np.testing.assert_allclose(
                got[w].reshape(exp[f].shape), exp[f], rtol=1e-4, atol=1e-6, err_msg="{} of world {}".format(f, w)
            )


def test_mass_and_com_offsets_recompute_the_derived_constants_per_world_as_mj_setConst():
    body = G1.raw["randomised_mass_body"]
    sim = MjWarpBackend(3, "cpu")
    added = [0.0, 2.5, -2.0]
    com = [[0.0, 0.0, 0.0], [0.03, -0.02, 0.04], [-0.05, 0.01, -0.03]]
    sim.set_body_mass_offset(body, torch.tensor(added))
    expected = [_mj_set_const(sim._model_path, body, a, [0.0, 0.0, 0.0]) for a in added]
    _assert_constants(sim, expected)
    # the worlds really differ (by far more than the tolerance) where their masses do
    for f in ("body_invweight0", "dof_invweight0"):
        e0, e1 = expected[0][f], expected[1][f]
        assert (np.abs(e1 - e0) / np.maximum(np.abs(e0), 1e-9)).max() > 0.02, f
    sim.set_body_com_offset(body, torch.tensor(com))
    _assert_constants(sim, [_mj_set_const(sim._model_path, body, a, c) for a, c in zip(added, com)])
    # the simulation still runs from the state it had
    sim.step(torch.tensor(G1.default_dof_pos, dtype=torch.float32).repeat(3, 1))
    assert torch.isfinite(sim.body_states).all()


# --- velocity convention --------------------------------------------------------------------------------
def _quat_wxyz_to_mat(q_xyzw):
    mat = np.zeros(9)
    mujoco.mju_quat2Mat(mat, np.asarray([q_xyzw[3], q_xyzw[0], q_xyzw[1], q_xyzw[2]], dtype=np.float64))
    return mat.reshape(3, 3)


def test_linear_velocities_are_those_of_the_body_origins_as_mj_objectVelocity():
    n = 2
    sim = MjWarpBackend(n, "cpu")
    gen = torch.Generator().manual_seed(11)
    root = torch.zeros(n, 13)
    root[:, 2] = 2.0
    root[:, 3:7] = torch.nn.functional.normalize(torch.randn(n, 4, generator=gen), dim=-1)
    root[:, 7:13] = torch.randn(n, 6, generator=gen)
    lo, hi = torch.tensor(G1.dof_lower), torch.tensor(G1.dof_upper)
    dof_pos = (lo + (hi - lo) * (0.2 + 0.6 * torch.rand(n, 23, generator=gen))).float()
    dof_vel = 2.0 * torch.randn(n, 23, generator=gen)
    ids = torch.arange(n)
    sim.set_root_states(ids, root)
    sim.set_dof_states(ids, dof_pos, dof_vel)
    sim.forward()

    # plain MuJoCo (float64) in the same state, built from the inputs above
    mjm = mujoco.MjModel.from_xml_path(str(sim._model_path))
    mjd = mujoco.MjData(mjm)
    jnt = [mujoco.mj_name2id(mjm, mujoco.mjtObj.mjOBJ_JOINT, j) for j in G1.dof_names]
    bodies = [mujoco.mj_name2id(mjm, mujoco.mjtObj.mjOBJ_BODY, b) for b in G1.body_names]
    pelvis_offset = None
    for w in range(n):
        r = root[w].double().numpy()
        mjd.qpos[0:3] = r[0:3]
        mjd.qpos[3:7] = [r[6], r[3], r[4], r[5]]
        mjd.qvel[0:3] = r[7:10]  # free joint: world-frame velocity of the body origin ...
        mjd.qvel[3:6] = _quat_wxyz_to_mat(r[3:7]).T @ r[10:13]  # ... and body-frame angular velocity
        mjd.qpos[mjm.jnt_qposadr[jnt]] = dof_pos[w].double().numpy()
        mjd.qvel[mjm.jnt_dofadr[jnt]] = dof_vel[w].double().numpy()
        mujoco.mj_forward(mjm, mjd)
        origin = np.zeros((len(bodies), 6))
        com = np.zeros((len(bodies), 6))
        for k, b in enumerate(bodies):  # [angular, linear], world frame
            mujoco.mj_objectVelocity(mjm, mjd, mujoco.mjtObj.mjOBJ_XBODY, b, origin[k], 0)  # at xpos
            mujoco.mj_objectVelocity(mjm, mjd, mujoco.mjtObj.mjOBJ_BODY, b, com[k], 0)  # at xipos
        bs = sim.body_states[w].double().numpy()
        np.testing.assert_allclose(bs[:, 10:13], origin[:, 0:3], atol=2e-4, rtol=1e-4)
        np.testing.assert_allclose(bs[:, 7:10], origin[:, 3:6], atol=2e-4, rtol=1e-4)
        np.testing.assert_allclose(sim.root_states[w, 7:13].double().numpy(), bs[0, 7:13], atol=1e-5, rtol=0)
        # not the centre-of-mass velocities (Isaac Gym's raw PhysX ones): they differ by w x (com - origin)
        lever = mjd.xipos[bodies[0]] - mjd.xpos[bodies[0]]
        np.testing.assert_allclose(com[0, 3:6] - origin[0, 3:6], np.cross(origin[0, 0:3], lever), atol=1e-9)
        pelvis_offset = np.linalg.norm(lever)
        assert np.linalg.norm(com[0, 3:6] - bs[0, 7:10]) > 0.05
    assert 0.07 < pelvis_offset < 0.08  # the pelvis centre of mass is 7.6 cm from its origin


def test_steps_since_push_counts_from_the_step_that_pushes():
    """extras["steps_since_push"] (rsl_rl's PPO keeps the state estimator off the steps after a push):
    absent before the first push, 0 on the step that pushes, then 1, 2, ... until the next push."""
    pushed, plain = _make_env(True), _make_env(False)
    zeros = torch.zeros(2, 23)
    seen, seen_plain = [], []
    for _ in range(2 * PUSH_STEP + 1):
        seen.append(pushed.step(zeros)[4].get("steps_since_push"))
        seen_plain.append(plain.step(zeros)[4].get("steps_since_push"))
    assert seen == [None] * (PUSH_STEP - 1) + list(range(PUSH_STEP)) + [0, 1]
    assert seen_plain == [None] * len(seen)
