"""Aggregate views: summary, recent builds, per-platform statistics."""
