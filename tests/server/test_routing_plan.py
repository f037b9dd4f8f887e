"""The plan of a fast route (buildstate.server.routing) follows the route as FastAPI
includes it (app, router and route dependencies in order, the route's own parameters),
and a route a plan cannot serve stops the application from being built."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from fastapi import APIRouter, BackgroundTasks, Depends, FastAPI, Header, Request, Response
from starlette.testclient import TestClient

from buildstate.server.routing import FastRoutes, compile_fast_routes, fast

_calls: list[str] = []


async def from_app(request: Request) -> None:
    _calls.append("app")


async def from_router() -> None:
    _calls.append("router")


async def tagged(x_tag: Annotated[str, Header(max_length=5)]) -> str:
    _calls.append("tagged")
    return x_tag


async def thing(thing: int, tag: Annotated[str, Depends(tagged)], q: int = 3) -> Response:
    return Response(f"{thing} {tag} {q}")


def test_a_plan_follows_the_route_as_included(passed_on: list[str]) -> None:
    """Router and app dependencies, in their order, and the route's own parameters."""
    router = APIRouter(dependencies=[Depends(from_router)])
    router.get("/things/{thing}")(fast(thing))
    app = FastAPI(dependencies=[Depends(from_app)])
    app.include_router(router, prefix="/v1")
    app.add_middleware(FastRoutes)
    app.state.fast_routes = compile_fast_routes(app.routes)
    assert len(app.state.fast_routes["GET"]) == 1
    _calls.clear()
    with TestClient(app) as test:
        answer = test.get("/v1/things/7?q=4", headers={"X-Tag": "blue"})
        assert (answer.status_code, answer.text) == (200, "7 blue 4")
        assert _calls == ["app", "router", "tagged"]
        assert passed_on == []
        assert test.get("/v1/things/7", headers={"X-Tag": "toolong"}).status_code == 422
        assert test.get("/v1/things/x", headers={"X-Tag": "blue"}).status_code == 422
        assert passed_on == ["/v1/things/7", "/v1/things/x"]


def _app_with(endpoint: Any) -> FastAPI:
    router = APIRouter()
    router.get("/x")(fast(endpoint))
    app = FastAPI()
    app.include_router(router)
    return app


def sync_dependency() -> int:
    return 1


async def returns_a_model() -> dict[str, int]:
    return {}


async def needs_sync(n: Annotated[int, Depends(sync_dependency)]) -> Response:
    return Response()


async def needs_background(tasks: BackgroundTasks) -> Response:
    return Response()


@pytest.mark.parametrize(
    ("endpoint", "problem"),
    [
        (returns_a_model, "must be annotated to return a Response"),
        (needs_sync, "must be a coroutine function"),
        (needs_background, "takes what only FastAPI's handler provides"),
    ],
)
def test_a_fast_route_the_plan_cannot_serve_stops_the_start(endpoint: Any, problem: str) -> None:
    with pytest.raises(TypeError, match=problem):
        compile_fast_routes(_app_with(endpoint).routes)
