"""The OpenAPI document describes every operation and every error it can return."""

from __future__ import annotations

from starlette.testclient import TestClient


def test_docs_pages_are_served(client: TestClient) -> None:
    assert "swagger" in client.get("/docs").text.lower()
    assert "redoc" in client.get("/redoc").text.lower()


def test_every_operation_documents_its_errors(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    public = {"/health", "/ready", "/status"}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            codes = set(operation["responses"])
            if path not in public and path not in ("/token", "/auth/idm"):
                assert "401" in codes, (method, path)
                assert "403" in codes or path == "/users/me", (method, path)
            if "parameters" in operation or "requestBody" in operation:
                assert "422" in codes, (method, path)
            if "requestBody" in operation:
                assert "413" in codes, (method, path)
            if "{" in path and path not in public:
                assert "404" in codes, (method, path)
    assert "503" in spec["paths"]["/ready"]["get"]["responses"]
    security = spec["components"]["securitySchemes"]
    assert {"HTTPBearer", "APIKeyHeader"} <= set(security)


def test_operations_that_need_a_credential_declare_either_scheme(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"] == {
        "HTTPBearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "A JWT from `POST /token` or an API token.",
        },
        "APIKeyHeader": {
            "type": "apiKey",
            "in": "header",
            "name": "X-API-Key",
            "description": "API key or API token.",
        },
    }
    either = [{"HTTPBearer": []}, {"APIKeyHeader": []}]
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            needs_credential = "401" in operation["responses"] and path not in (
                "/token",
                "/auth/idm",
            )
            assert operation.get("security") == (either if needs_credential else None), (
                method,
                path,
            )
    assert spec["paths"]["/builds/{build_id}/state"]["post"]["security"] == either
