"""Fast routes: one declaration per operation (the FastAPI route, marked ``@fast``), a
plan compiled from it (:mod:`.plan`), dispatched before the router (:mod:`.dispatch`)."""

from buildstate.server.routing.dispatch import FastRoutes, compile_fast_routes, fast

__all__ = ["FastRoutes", "compile_fast_routes", "fast"]
