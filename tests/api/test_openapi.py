"""The OpenAPI document and the offline docs page."""

from __future__ import annotations

import pytest
import yaml

from tests.api.conftest import API, assert_error

pytestmark = pytest.mark.django_db

OURS = ("/schedules/", "/schedule-drafts/", "/runs/", "/audit-events/")


@pytest.fixture
def schema(client):
    response = client.get(f"{API}/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def _our_operations(schema):
    for path, item in schema["paths"].items():
        short = path.removeprefix(API)
        # The plane's own endpoints (callback, LangGraph webhook) are called by machines, not users.
        if short.startswith(OURS) and short != "/runs/callback/" and not short.startswith("/runs/langgraph/"):
            for method, operation in item.items():
                if method in ("get", "post", "put", "patch", "delete"):
                    yield f"{method.upper()} {short}", method, operation


def test_every_operation_has_success_and_error_schemas_and_an_example(schema):
    error_ref = "#/components/schemas/Error"
    operations = list(_our_operations(schema))
    assert len(operations) == 20
    for label, method, operation in operations:
        responses = operation["responses"]
        success = [code for code in responses if code.startswith("2")]
        assert len(success) == 1, label
        if success[0] != "204":
            content = responses[success[0]]["content"]["application/json"]
            assert "schema" in content and content.get("examples"), label
        errors = [code for code in responses if code.startswith("4")]
        assert {"401"} <= set(errors) and len(errors) >= 3, label
        for code in errors:
            assert responses[code]["content"]["application/json"]["schema"]["$ref"] == error_ref, (label, code)
        if method in ("put", "patch") or label == "POST /schedules/" or label == "POST /schedules/preview/":
            body = operation["requestBody"]["content"]["application/json"]
            assert "$ref" in body["schema"] and body.get("examples"), label


def test_the_error_shape_is_a_documented_component(schema):
    error = schema["components"]["schemas"]["Error"]
    assert error["required"] == ["code", "detail"]
    assert set(error["properties"]) == {"code", "detail", "errors", "permission"}


def test_request_bodies_reject_unknown_fields_in_the_schema_too(schema):
    assert schema["components"]["schemas"]["ScheduleInputRequest"]["additionalProperties"] is False


def test_token_auth_is_documented(schema):
    assert schema["components"]["securitySchemes"]["tokenAuth"]["in"] == "header"


def test_docs_page_loads_its_assets_from_this_server(client):
    response = client.get(f"{API}/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in page
    assert "cdn." not in page and "unpkg" not in page


def test_unknown_api_paths_answer_the_json_error_shape(api, alice):
    assert_error(api(alice).get(f"{API}/nope/"), 404, "not_found")
    assert_error(api(alice).post(f"{API}/runs/not-a-uuid/retry/"), 404, "not_found")


def test_run_status_and_trigger_type_enums_come_from_the_models(schema):
    from runs.models import RunStatus, TriggerType

    components = schema["components"]["schemas"]
    run = components["Run"]["properties"]
    enum_of = lambda prop: components[prop["$ref"].rsplit("/", 1)[-1]]["enum"]  # noqa: E731
    assert enum_of(run["status"]) == list(RunStatus.values)
    assert enum_of(run["trigger_type"]) == list(TriggerType.values)
