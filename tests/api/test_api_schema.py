"""The OpenAPI 3 schema at /api/v1/schema/: valid (openapi-spec-validator), public, complete."""

import pytest
import yaml
from django.core.management import call_command
from openapi_spec_validator import validate

pytestmark = pytest.mark.django_db


def schema(client) -> dict:
    response = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def test_schema_is_valid_openapi_3(client):
    spec = schema(client)
    assert spec["openapi"].startswith("3.")
    validate(spec)


def test_schema_documents_every_operation_and_the_token(client):
    spec = schema(client)
    paths = spec["paths"]
    for path in (
        "/api/v1/requests/",
        "/api/v1/requests/{public_id}/",
        "/api/v1/requests/{public_id}/submit/",
        "/api/v1/requests/{public_id}/withdraw/",
        "/api/v1/requests/{public_id}/targets/",
        "/api/v1/requests/{public_id}/documents/",
        "/api/v1/requests/{public_id}/messages/",
        "/api/v1/requests/{public_id}/deliveries/",
        "/api/v1/requests/{public_id}/deliveries/{produced_id}/",
        "/api/v1/events/",
        "/api/v1/enforcing/orders/",
        "/api/v1/enforcing/orders/{public_id}/",
        "/api/v1/enforcing/orders/{public_id}/documents/{attachment_id}/",
        "/api/v1/enforcing/orders/{public_id}/confirm/",
        "/api/v1/enforcing/orders/{public_id}/grounds/",
    ):
        assert path in paths, path
    assert spec["components"]["securitySchemes"]["clientToken"]["scheme"] == "bearer"
    create = paths["/api/v1/requests/"]["post"]
    assert "Idempotency-Key" in [p["name"] for p in create["parameters"]]
    assert "422" in create["responses"]


def test_schema_generates_without_a_warning(tmp_path):
    """drf-spectacular's own check: a warning (an enum named twice, a field it cannot type) is
    a schema that says less than it should."""
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "s"))
    assert (tmp_path / "s").read_text().startswith("openapi:")


def test_the_raise_ground_operation_documents_its_fields_and_problems(client):
    grounds = schema(client)["paths"]["/api/v1/enforcing/orders/{public_id}/grounds/"]["post"]
    body = grounds["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert body.endswith("/GroundInputRequest")
    assert {"404", "409", "422", "403"} <= set(grounds["responses"])
    assert "application/problem+json" in grounds["responses"]["422"]["content"]


def test_schema_as_json_for_clients(client):
    response = client.get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    assert response.json()["openapi"].startswith("3.")


def test_docs_page_script_is_a_file_not_inline(client, officer):
    from django.urls import reverse

    from tests.conftest import verified_login

    verified_login(client, officer)
    script = client.get(reverse("api:docs") + "?script=")
    assert script.status_code == 200
    assert "SwaggerUIBundle" in script.content.decode()


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/nothing-here/",
        # A path with a line break in it (found by schemathesis): "." stops at a newline, so the
        # catch-all missed it and Django's HTML 404 answered, not the documented problem.
        "/api/v1/requests/%C2%BEs%0Ay/deliveries/x%0A/",
        "/api/v1/%0A",
    ],
)
def test_any_other_path_under_the_api_is_a_problem(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
