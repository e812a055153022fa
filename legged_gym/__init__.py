"""legged_gym package."""
