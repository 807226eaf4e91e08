"""Analysis: per-step quantities of a trajectory, one run's stages, the claims checked over an experiment."""
