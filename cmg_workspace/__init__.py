"""cmg_workspace package."""
