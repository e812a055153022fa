"""Shared utilities of the training scripts: CLI, seeding, config helpers, task registry."""
