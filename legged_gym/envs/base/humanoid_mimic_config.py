"""Configuration of the motion-tracking environments (TWIST's `HumanoidMimicCfg`) and its PPO
placeholders (`HumanoidMimicCfgPPO`), plus the config edits of the scripts: play mode,
`--no_rand` (docs/rewards_and_terminations.md, Play and evaluation overrides) and the CLI overrides.

Numbers of the robot (gains, default pose, limits, body names) come from `pose.g1_model.load_g1()`,
never from here. Observation sizes are those of the observation layout `mdp.layout.LAYOUT`; the
environment checks them at start-up. The reward term table is `HumanoidMimicCfg.rewards`.
"""

from __future__ import annotations

from typing import Optional, Union

from legged_gym.envs.base.base_config import BaseConfig
from legged_gym.envs.mdp import observations as obs_terms
from legged_gym.envs.mdp import odometry
from legged_gym.envs.mdp import randomization as rand_terms
from legged_gym.envs.mdp.layout import LAYOUT
from legged_gym.simulator.base import DECIMATION, PHYSICS_DT


class HumanoidMimicCfg(BaseConfig):
    seed = 1  # copied from the train config by the scripts; seeds the env's random generator

    class env:
        num_envs = 4096
        num_actions = LAYOUT.num_actions
        obs_type = "priv"  # "priv" (teacher: obs = privileged obs) or "student"
        tar_obs_steps = list(LAYOUT.tar_obs_steps)  # future reference frames (x policy dt)
        history_len = LAYOUT.history_len
        n_priv_mimic_obs = LAYOUT.n_priv_mimic_obs  # 20 x 58
        n_mimic_obs = LAYOUT.n_mimic_obs  # 31
        n_proprio = LAYOUT.n_proprio  # 74
        n_priv_info = LAYOUT.n_priv_info  # 84
        num_observations = LAYOUT.n_teacher_obs  # 1318
        num_privileged_obs = LAYOUT.n_priv_obs  # 1318
        # Headless training replaces this by the longest clip (episodes end at motion end).
        episode_length_s = 10.0
        # Resets inside env.step by mask over all envs (no host synchronisation per step) instead of
        # by index list; the same results. "auto": on CUDA with a backend that writes by mask
        # (MuJoCo Warp), True / False to choose.
        sync_free_resets = "auto"
        # The tensor maths of a step (base quantities, reference update, terminations, rewards,
        # observations) through torch.compile: fused GPU kernels, the same results within float
        # rounding. "auto" (default: on CUDA with MuJoCo Warp), None / False (off), True or a
        # torch.compile backend name (HumanoidChar.set_compile_mdp).
        compile_mdp: Union[str, bool, None] = "auto"

    class sim:
        dt = PHYSICS_DT  # physics, 500 Hz
        decimation = DECIMATION  # policy 50 Hz
        gravity = [0.0, 0.0, -9.81]
        backend = None  # "mjwarp" / "isaacgym"; None: isaacgym when importable, else mjwarp

    class control:
        action_scale = 0.5  # PD target = default pose + 0.5 * action
        clip_actions = 5.0  # in target units: actions are clipped to +-clip_actions / action_scale = +-10

    class normalization:
        class obs_scales:
            ang_vel = obs_terms.ANG_VEL_SCALE
            dof_pos = obs_terms.DOF_POS_SCALE
            dof_vel = obs_terms.DOF_VEL_SCALE

        clip_observations = obs_terms.OBS_CLIP

    class noise:
        add_noise = True
        noise_increasing_steps = obs_terms.NOISE_RAMP_ITERATIONS  # linear ramp (iterations), headless

        class noise_scales:
            ang_vel = obs_terms.NOISE_ANG_VEL
            imu = obs_terms.NOISE_IMU
            dof_pos = obs_terms.NOISE_DOF_POS
            dof_vel = obs_terms.NOISE_DOF_VEL

    class domain_rand:
        domain_rand_general = True  # privileged info is all zeros when False
        randomize_friction = True
        friction_range = list(rand_terms.FRICTION_RANGE)
        num_friction_buckets = rand_terms.NUM_FRICTION_BUCKETS
        randomize_base_mass = True
        added_mass_range = list(rand_terms.ADDED_MASS_RANGE)
        randomize_base_com = True
        added_com_range = list(rand_terms.COM_OFFSET_RANGE)
        randomize_motor = True
        motor_strength_range = list(rand_terms.MOTOR_STRENGTH_RANGE)
        push_robots = True
        push_interval_s = rand_terms.PUSH_INTERVAL_S
        max_push_vel_xy = rand_terms.PUSH_VEL_RANGE[1]
        push_end_effector = True
        push_end_effector_interval_s = rand_terms.HAND_PUSH_INTERVAL_S
        max_push_force_end_effector = rand_terms.HAND_FORCE_RANGE[1]
        action_delay = True
        action_delay_onset_steps = rand_terms.ACTION_DELAY_ONSET_STEPS  # env steps (iteration ~5000)
        max_action_delay = 1  # policy steps
        action_buf_len = 8
        # docs/decisions.md D2: TWIST configures gravity randomisation but never applies it; off by default.
        randomize_gravity = False
        gravity_rand_interval_s = 4.0
        gravity_range = list(rand_terms.GRAVITY_RANGE)

    class rewards:
        # TWIST's term table (docs/rewards_and_terminations.md): `scales.<term>` the raw weight (x dt at
        # start-up; 0: the term is not computed), `params.<term>` its kernel parameters (terms without
        # parameters have no entry); the terms are those of legged_gym/envs/base/reward_terms.py.
        class scales:
            tracking_joint_dof = 0.6
            tracking_joint_vel = 0.2
            tracking_root_pose = 0.6
            tracking_root_vel = 1.0
            tracking_keybody_pos = 2.0
            feet_slip = -0.1
            feet_contact_forces = -5e-4
            feet_stumble = -1.25
            dof_pos_limits = -5.0
            dof_torque_limits = -1.0
            dof_vel = -1e-4
            dof_acc = -5e-8
            action_rate = -0.01
            feet_air_time = 5.0
            ang_vel_xy = -0.01
            ankle_dof_acc = -1e-7
            ankle_dof_vel = -2e-4
            tracking_root_yaw_rate = 0.0  # not in TWIST (off): the yaw rate in a term of its own

        class params:
            class tracking_joint_dof:
                coef = 0.15

            class tracking_joint_vel:
                coef = 0.01

            class tracking_root_pose:
                coef = 5.0
                rot_weight = 0.1
                height_only = True  # position error of z only (False: xyz, TWIST's global_obs)

            class tracking_root_vel:
                coef = 1.0
                ang_weight = 0.5

            class tracking_root_yaw_rate:
                coef = 4.0  # 0.53 at a 0.4 rad/s error

            class tracking_keybody_pos:
                coef = 10.0
                # None: all key bodies; or a group of the facts table ("upper_key_bodies", "lower_key_bodies")
                key_bodies: Optional[str] = None

            class feet_slip:
                contact_threshold = 5.0  # N

            class feet_stumble:
                ratio = 4.0

            class feet_air_time:
                contact_threshold = 5.0  # N
                min_ref_speed = 0.05  # m/s

        # Settings under TWIST's names, read by the terms above.
        soft_dof_pos_limit = 0.95  # dof_pos_limits
        soft_torque_limit = 0.95  # dof_torque_limits
        max_contact_force = 100.0  # feet_contact_forces, N
        feet_air_time_target = 0.5  # feet_air_time, s

    class termination:
        torso_contact_force = 1.0  # N, on the table's termination bodies (torso_link)
        termination_roll = 1.0
        termination_pitch = 1.0
        root_height_diff_threshold = 0.2
        max_root_vel = 5.0
        pose_termination = True
        pose_termination_dist = 0.7
        # Fail when the root is farther than this (m, horizontal) from the reference root; 0: off, as
        # in TWIST (its policies may lag a walk without limit; docs/rewards_and_terminations.md).
        max_root_drift = 0.0
        # A limit that tightens during training: [start m, steps] -> the limit falls linearly from
        # `start` to max_root_drift over `steps` env steps (common_step_counter, 24 per iteration);
        # None: max_root_drift from the start. TensorBoard `Scale/root_drift_limit`.
        max_root_drift_curriculum = None
        # True: an episode times out at its clip's end, wherever in the clip it started (not in TWIST).
        # False, TWIST's: it times out after the clip's length of play, so an episode started at t0 > 0 (the
        # uniform start times of motion.rand_reset) tracks the clip looped to its start for its last t0 s,
        # about half of all steps: a reference that jumps to the clip's first pose and heading there.
        motion_end_at_clip_end = False

    class motion:
        motion_file = None  # manifest (.yaml) or clip; None: the embedded motion set (pose.synth)
        key_bodies = None  # None: the facts table's key bodies (load_g1().key_bodies), in order
        height_offset = 0.0
        rand_reset = True  # start at a uniform time of the clip (False: t = 0)
        # Failure-adaptive start times instead of uniform ones (legged_gym/envs/mdp/adaptive_sampling.py;
        # not in TWIST): bins of adaptive_bin_s per clip, failures averaged over steps at rate
        # adaptive_alpha, each also raising the adaptive_kernel_size - 1 bins before it by
        # adaptive_kernel_decay ** k, mixed with adaptive_uniform_ratio of the uniform draw.
        adaptive_sampling = False
        adaptive_bin_s = 0.5
        adaptive_uniform_ratio = 0.1
        adaptive_alpha = 0.001
        adaptive_kernel_size = 3
        adaptive_kernel_decay = 0.8
        # > 0 (m, with adaptive_sampling): an episode whose root first gets this far (xy) from the reference
        # root counts as a failure there too, once per episode, and goes on (termination.max_root_drift would
        # end it): starts land before the clips' hard parts for the drift as well as for falls. 0: falls only.
        adaptive_drift_m = 0.0
        # Taps of the moving average over the clips' finite-difference velocities (odd; 1: none).
        # TWIST's 19 taps (0.38 s at 50 fps) keep about a third of a walk's joint velocities, out of
        # phase with its joint positions (docs/motion_data.md#reference-velocities); the reference
        # velocities feed tracking_joint_vel, tracking_root_vel, the reset velocities and (root) the
        # observations, so a policy's deploy stream must use its value (--vel_smooth_window).
        vel_smooth_window = 19
        motion_curriculum = True
        motion_curriculum_gamma = 0.01
        # Reference-state initialisation noise
        reset_dof_pos_range = [0.8, 1.2]  # multiplicative, per joint
        reset_vel_factor = 0.8
        reset_xy_offset = 0.3  # m, uniform in +-
        reset_z_offset = 0.05  # m above the reference

        # The yaw entry of the teacher's (privileged) reference blocks relative to the robot's current
        # yaw instead of the clip's absolute heading (not in TWIST): the teacher sees its heading error
        # and the turns ahead (docs/observations.md). The student's block keeps TWIST's absolute yaw.
        relative_ref_yaw = False
        # With relative_ref_yaw: the yaw entry continuous along the 20 blocks (the first block's heading
        # error plus the reference's summed frame-to-frame turns) instead of each block wrapped into
        # [-pi, pi), where a reference turning by more than pi relative to the robot within the 1.9-s
        # look-ahead flips sign in the far blocks (not in TWIST; docs/observations.md).
        relative_ref_yaw_unwrap = False
        # The same for the student's block (not in TWIST). On the robot the deploy servers take the
        # robot's yaw from the IMU, its zero aligned with the reference's heading when the reference
        # starts (deploy_real/student_step.py); the export records it ("reference_yaw" in the metadata).
        student_relative_ref_yaw = False
        # The drift feedback of ref_correction (its gains) in the student's block too (not in TWIST):
        # the block's root velocities steered towards the reference root, as the teacher's are. The
        # robot's position comes from the simulator (student_odometry = "simulator"; training) or is
        # dead-reckoned from a velocity estimate given every step (student_odometry = "estimate":
        # what a robot can do; legged_gym/envs/mdp/odometry.py, eval.py --set motion.student_odometry=estimate),
        # or from the legs' kinematics where they agree with that estimate within leg_odometry_gate m/s, the
        # estimate elsewhere (student_odometry = "legs": odometry.LegOdometry; the deploy servers' --leg_odometry).
        student_ref_correction = False
        student_odometry = "simulator"
        leg_odometry_gate = odometry.LEG_ODOMETRY_GATE

        class ref_correction:
            # Drift feedback (not in TWIST; legged_gym/envs/mdp/drift_feedback.py): the reference root
            # velocity in the teacher's observations and in the tracking_root_vel target gets
            # pos_gain * (reference root - root)_xy (1/s; the added speed capped at max_speed m/s) and
            # yaw_gain * (reference yaw - yaw) (1/s; capped at +-max_yaw_rate rad/s). 0 gains: off.
            # full_speed > 0: both scaled by min(1, reference speed / full_speed) (none at rest).
            pos_gain = 0.0
            yaw_gain = 0.0
            max_speed = 1.0
            max_yaw_rate = 1.0
            full_speed = 0.0  # m/s


class HumanoidMimicCfgPPO(BaseConfig):
    """Learner settings (docs/learning.md); read by the rsl_rl runners."""

    seed = 1
    runner_class_name = "OnPolicyRunnerMimic"

    class policy:
        init_noise_std = 1.0
        actor_hidden_dims = [512, 512, 256, 128]
        critic_hidden_dims = [512, 512, 256, 128]
        activation = "silu"
        layer_norm = True
        motion_latent_dim = 128
        tanh_encoder_output = False
        fix_action_std = False
        action_std = [0.7] * 12 + [0.4] * 3 + [0.5] * 8
        # students only (DAgger): start the learnt std at the teacher's instead of init_noise_std (off: TWIST)
        init_std_from_teacher = False
        # students only: privileged-info fields (e.g. ["base_lin_vel"]) an MLP in the actor estimates from
        # the student obs, fed to the actor (docs/learning.md#state-estimator); [] = none (TWIST)
        estimator_fields = []  # type: list
        estimator_hidden_dims = [256, 128]

    class algorithm:
        value_loss_coef = 1.0
        use_clipped_value_loss = True
        clip_param = 0.2
        entropy_coef = 0.005
        num_learning_epochs = 5
        num_mini_batches = 4
        learning_rate = 2.0e-4
        schedule = "adaptive"
        gamma = 0.99
        lam = 0.95
        desired_kl = 0.008
        max_grad_norm = 1.0
        # Not in TWIST (0: off): weight of the left-right symmetry loss on the policy mean (docs/learning.md,
        # Symmetry loss; rsl_rl/algorithms/ppo.py)
        symmetry_coef = 0.0
        # students with policy.estimator_fields: the state estimator's own Adam learning rate (fixed), the
        # steps after each root push whose transitions it leaves out (0: none), the decay of the average
        # of its trained weights that the actor reads (0: off, the last update's), and whether each regression
        # minibatch adds its left-right mirror image (docs/learning.md#state-estimator)
        estimator_learning_rate = 1.0e-3
        estimator_skip_after_push = 0
        estimator_average_decay = 0.0
        estimator_mirror = False
        normalizer_update_iterations = 3000
        # Speed switches of rsl_rl's PPO (the same update either way; rsl_rl/algorithms/ppo.py): the
        # fast way ("auto": on CUDA), TF32 products, the minibatch step in a CUDA graph, and the
        # minibatch's forward passes and losses through torch.compile ("auto": with the CUDA graph).
        fast_update = "auto"
        tf32 = True
        cuda_graph = True
        compile_update = "auto"

    class runner:
        policy_class_name = "ActorCriticMimic"
        algorithm_class_name = "PPO"
        num_steps_per_env = 24
        max_iterations = 30002  # TWIST's documented default (--max_iterations overrides it)
        # Wall-clock budget (not in TWIST): stop after the iteration that ends past this many minutes
        # of learn() (saved under its own number); 0: no limit.
        max_train_minutes = 0.0
        save_interval = 500
        experiment_name = "test"
        run_name = ""
        resume = False
        load_run = -1
        checkpoint = -1
        resume_path = None
        # Logging (docs/decisions.md D12): TensorBoard always, wandb only when switched on (--wandb).
        wandb = False
        wandb_project = "g1_mimic"
        progress_bar = True  # tqdm bar: iteration, env steps/s, ETA
        summary_interval = 50  # a plain console line every this many iterations (and the last); 0: none


# --- config edits of the scripts ---------------------------------------------------------------------


def set_play_cfg(env_cfg, num_envs=None, record_video: bool = False):
    """Play-mode overrides of TWIST's play.py, in place; returns env_cfg.

    Kept on as in TWIST's play (docs/decisions.md K10): friction and motor-strength randomisation, end-effector pushes.
    """
    env_cfg.env.num_envs = 2 if num_envs is None else int(num_envs)
    env_cfg.env.episode_length_s = 10.0 if record_video else 60.0
    env_cfg.noise.add_noise = False
    env_cfg.domain_rand.randomize_friction = True
    env_cfg.domain_rand.push_robots = False
    env_cfg.domain_rand.randomize_base_mass = False
    env_cfg.domain_rand.randomize_base_com = False
    env_cfg.domain_rand.action_delay = False
    env_cfg.motion.motion_curriculum = False
    env_cfg.motion.rand_reset = False
    return env_cfg


def disable_randomization(env_cfg):
    """`--no_rand` (docs/decisions.md D5): every randomisation off, in place; returns env_cfg.

    Domain randomisation (friction, mass, CoM, motor strength, pushes, hand forces, action delay,
    gravity; privileged info becomes zeros as with TWIST's domain_rand_general=False), observation
    noise, and the reset noise of reference-state initialisation (the robot starts on the reference,
    0.05 m up). Motion and start-time sampling stay: they choose the task, not its perturbation.
    """
    dr = env_cfg.domain_rand
    dr.domain_rand_general = False
    for flag in (
        "randomize_friction",
        "randomize_base_mass",
        "randomize_base_com",
        "randomize_motor",
        "push_robots",
        "push_end_effector",
        "action_delay",
        "randomize_gravity",
    ):
        setattr(dr, flag, False)
    env_cfg.noise.add_noise = False
    env_cfg.motion.reset_dof_pos_range = [1.0, 1.0]
    env_cfg.motion.reset_xy_offset = 0.0
    return env_cfg


def update_env_cfg_from_args(env_cfg, args):
    """Apply the CLI (`gym_utils.helpers.get_args`) to an env config, in place; returns env_cfg."""
    if getattr(args, "num_envs", None) is not None:
        env_cfg.env.num_envs = int(args.num_envs)
    if getattr(args, "seed", None) is not None:
        env_cfg.seed = int(args.seed)
    if getattr(args, "sim", None) is not None:
        env_cfg.sim.backend = args.sim
    if getattr(args, "motion_file", None) is not None:
        env_cfg.motion.motion_file = args.motion_file
    if getattr(args, "no_rand", False):
        disable_randomization(env_cfg)
    return env_cfg
