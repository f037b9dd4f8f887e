"""Builds: lifecycle, state transitions, failures, checkpoint artifacts and resume."""
