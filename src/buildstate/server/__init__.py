"""The buildstate HTTP service (installed with the ``server`` extra)."""
