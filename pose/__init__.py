"""pose: the G1 motion data layer (model facts, kinematics, motion library, clip formats)."""
