"""rsl_rl package."""
