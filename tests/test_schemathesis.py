"""Property-based checks of the live REST API against its own OpenAPI document.

Schemathesis generates requests from /api/openapi.json and checks that none gets a
5xx and that every answer matches the documented status codes, media types and
body schemas. Bounded: positive examples only, a fixed seed and ~30 cases per
operation.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from server.config import ServerConfig
from server.runner import RunningServer, start_server

MAX_EXAMPLES = 30


@schemathesis.serializer("application/x-protobuf")
def _protobuf_bytes(ctx: Any, value: Any) -> bytes:
    # The document describes binary bodies only as bytes: send them as generated.
    if isinstance(value, bytes):
        return value
    return str(value).encode()


@pytest.fixture(scope="module")
def live_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real server on its own event loop thread, since schemathesis calls are blocking."""
    data_dir: Path = tmp_path_factory.mktemp("schemathesis")
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    config = ServerConfig(data_dir=data_dir, max_poll_seconds=0.2)
    running: RunningServer = asyncio.run_coroutine_threadsafe(start_server(config), loop).result(30)
    try:
        yield running.url
    finally:
        asyncio.run_coroutine_threadsafe(running.close(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@pytest.fixture(scope="module")
def api_schema(live_server_url: str) -> Any:
    config = schemathesis.Config()
    project = config.projects.default
    project.phases.update(phases=["examples", "fuzzing"])
    project.generation.update(
        max_examples=MAX_EXAMPLES, deterministic=True, modes=[schemathesis.GenerationMode.POSITIVE]
    )
    project.update(base_url=live_server_url.rstrip("/"))
    return schemathesis.openapi.from_url(live_server_url + "api/openapi.json", config=config)


def _operation_ids() -> list[str]:
    from server.api.routes import OPERATIONS

    # Schemathesis leaves out the document's own route; test_openapi covers it.
    return [op.operation_id for op in OPERATIONS if op.operation_id != "getOpenApi"]


@pytest.mark.parametrize("operation_id", _operation_ids())
def test_api_conforms_to_its_openapi_document(api_schema: Any, operation_id: str) -> None:
    # Each operation runs as its own Hypothesis test: a fixed seed, a bounded example count.
    operation = next(
        result.ok()
        for result in api_schema.get_all_operations()
        if result.ok().definition.raw.get("operationId") == operation_id
    )

    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def check(case: Any) -> None:
        case.call_and_validate(
            checks=[
                not_a_server_error,
                status_code_conformance,
                content_type_conformance,
                response_schema_conformance,
            ]
        )

    check()
