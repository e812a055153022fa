"""deploy_real package."""
