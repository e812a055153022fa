"""Simulator backends behind one interface (`base.SimBackend`)."""
