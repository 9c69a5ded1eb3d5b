"""The OpenAPI document, fuzzed by schemathesis with an admin token: no 5xx, and every answer fits the document.

Bounded for CI: a few examples per operation, valid and invalid, on SQLite (the PostgreSQL paths are the
same code; the other API tests run on both). A failure prints the request that caused it.
"""

from __future__ import annotations

import time

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from .conftest import World

# Request validation and answers, not storage: SQLite is enough (the storage tests run on both backends).
pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

POSITIVE_EXAMPLES = 12
NEGATIVE_EXAMPLES = 6
BUDGET_SECONDS = 60
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_fuzzing_the_document_finds_no_5xx_and_no_answer_outside_it(world: World) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", world.app)
    headers = world.auth("admin-a")
    started = time.monotonic()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25
    for operation in operations:
        for mode, examples in ((GenerationMode.POSITIVE, POSITIVE_EXAMPLES),
                               (GenerationMode.NEGATIVE, NEGATIVE_EXAMPLES)):
            strategy = operation.as_strategy(generation_mode=mode)

            @given(case=strategy)
            @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
            def run(case: schemathesis.Case) -> None:
                case.call_and_validate(headers=headers, checks=CHECKS)

            try:
                run()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE, operation.label  # nothing to get wrong: no parameters
            except Exception as error:
                raise AssertionError(f"{operation.label} ({mode.value}): {error}") from None
    assert time.monotonic() - started < BUDGET_SECONDS * 2, "the fuzzing run outgrew its budget"


def test_the_document_names_every_error_answer(world: World) -> None:
    document = world.client.get("/openapi.json").json()
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if path.startswith("/api/v1/"):
                assert {"401", "403", "422"} <= set(operation["responses"]), (method, path)
                assert operation["security"] == [{"HTTPBearer": []}], (method, path)

