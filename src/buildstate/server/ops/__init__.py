"""Health, readiness and status probes."""
