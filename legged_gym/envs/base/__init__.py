"""Base environment classes and configs (TWIST names): BaseTask -> LeggedRobot -> HumanoidChar -> HumanoidMimic."""
