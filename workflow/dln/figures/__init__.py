"""Figures: shared plotting helpers and the figures' quality gate."""
