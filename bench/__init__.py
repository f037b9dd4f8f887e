"""buildstate's load benchmark: ``python -m bench.run`` (see bench/README.md)."""
