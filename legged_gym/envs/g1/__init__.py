"""The G1 environment (G1MimicDistill) and its task configs."""
