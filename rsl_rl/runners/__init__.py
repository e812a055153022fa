"""Training loops: OnPolicyRunnerMimic (teacher, PPO) and OnPolicyDaggerRunner (student, DAgger-PPO)."""

from rsl_rl.runners.on_policy_dagger_runner import OnPolicyDaggerRunner, load_teacher
from rsl_rl.runners.on_policy_runner_mimic import OnPolicyRunnerMimic, save_due

__all__ = ["OnPolicyDaggerRunner", "OnPolicyRunnerMimic", "load_teacher", "save_due"]
