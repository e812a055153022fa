"""Networks: ActorCriticMimic (TWIST's teacher/student actor-critic) and its parts."""

from rsl_rl.modules.actor_critic_mimic import Actor, ActorCriticMimic, MotionEncoder, get_activation

__all__ = ["Actor", "ActorCriticMimic", "MotionEncoder", "get_activation"]
