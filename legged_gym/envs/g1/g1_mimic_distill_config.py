"""G1 teacher (`g1_priv_mimic`) and student (`g1_stu_rl`) configs, TWIST's numbers (docs/observations.md,
docs/rewards_and_terminations.md, docs/learning.md).

The teacher sees the privileged 1318-D vector; the student sees 1155 (next reference frame +
proprioception + 10-frame history) and its critic the teacher's 1318-D vector. The student's
learner is DAgger-PPO: PPO plus a KL term toward the frozen teacher (docs/learning.md, DAgger-PPO;
docs/decisions.md D3 gives the coefficient one explicit cosine schedule). Both train on TWIST's reward
term table, `HumanoidMimicCfg.rewards`.
"""

from __future__ import annotations

from legged_gym.envs.base.humanoid_mimic_config import HumanoidMimicCfg, HumanoidMimicCfgPPO
from legged_gym.envs.mdp.layout import LAYOUT


class G1MimicPrivCfg(HumanoidMimicCfg):
    class env(HumanoidMimicCfg.env):
        obs_type = "priv"
        num_observations = LAYOUT.n_teacher_obs  # 1318
        num_privileged_obs = LAYOUT.n_priv_obs  # 1318


class G1MimicPrivCfgPPO(HumanoidMimicCfgPPO):
    runner_class_name = "OnPolicyRunnerMimic"

    class runner(HumanoidMimicCfgPPO.runner):
        policy_class_name = "ActorCriticMimic"
        algorithm_class_name = "PPO"
        experiment_name = "g1_priv_mimic"


class G1MimicStuRLCfg(G1MimicPrivCfg):
    class env(G1MimicPrivCfg.env):
        obs_type = "student"
        num_observations = LAYOUT.n_student_obs  # 1155
        num_privileged_obs = LAYOUT.n_priv_obs  # 1318 (critic and teacher input)


class G1MimicStuRLCfgDAgger(G1MimicPrivCfgPPO):
    runner_class_name = "OnPolicyDaggerRunner"

    # The frozen teacher is rebuilt from the teacher's policy settings.
    teacher_policy = G1MimicPrivCfgPPO.policy

    class algorithm(G1MimicPrivCfgPPO.algorithm):
        dagger_coef = 0.1
        dagger_coef_min = 0.01
        dagger_coef_anneal_steps = 60000

    class runner(G1MimicPrivCfgPPO.runner):
        policy_class_name = "ActorCriticMimic"
        algorithm_class_name = "DaggerPPO"
        experiment_name = "g1_stu_rl"
        save_interval = 500
