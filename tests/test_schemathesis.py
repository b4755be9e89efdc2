"""schemathesis against the app in-process (ASGI), signed in as an owner and, separately, as an investigator: the
authorization matrix's first party (an owner with a site, a camera, a device, a live share, and a footage request
from their agency's investigator answered with a clip), so that half the generated calls carry that party's ids and
reach real objects. Any 5xx fails, and so does any answer the OpenAPI description does not declare: its status code,
its content type or its body.

Bounded: MAX_EXAMPLES generated cases per operation, derandomized (the same cases every run, so a failure repeats);
schemathesis generates and checks, the calls go to the app on the test's own event loop."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Any

import anyio
import anyio.from_thread
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Litestar
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import Client
from tests.test_authorization_matrix import first_party

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 40
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
BASE_URL = "http://testserver.local"
# Calls that would sign the caller in as someone else or out: sent from a browser of their own, signed out.
SESSION_CHANGING = {("POST", "/api/v1/auth/signup"), ("POST", "/api/v1/auth/login"), ("POST", "/api/v1/auth/logout")}


class Tally:
    def __init__(self) -> None:
        self.cases: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.failures: list[str] = []


def with_known_ids(ids: dict[str, str]) -> Callable[[tuple[Any, bool]], Any]:
    """Half of the cases get the first party's ids in their path instead of generated ones."""

    def substitute(drawn: tuple[Any, bool]) -> Any:
        case, known = drawn
        if known and case.path_parameters:
            for name in case.path_parameters:
                if name in ids:
                    case.path_parameters[name] = ids[name]
        return case

    return substitute


async def send(caller: Client, anonymous: Client, key: tuple[str, str], case: Any) -> httpx.Response:
    """The case as an HTTP request to the app (the caller's session cookie and CSRF token, as the PWA sends them)."""
    kwargs = case.as_transport_kwargs(base_url=BASE_URL)
    client = anonymous if key in SESSION_CHANGING else caller
    if key in SESSION_CHANGING:
        client.cookies.clear()
    headers = {**kwargs["headers"], "x-csrftoken": await client.csrf_token()}
    body: dict[str, Any] = {}
    if "json" in kwargs:
        body["json"] = kwargs["json"]
    elif isinstance(kwargs.get("data"), dict):
        body["data"] = kwargs["data"]
    elif kwargs.get("data") is not None:
        body["content"] = kwargs["data"]
    return await client.request(
        kwargs["method"], kwargs["url"], params=kwargs.get("params"), headers=headers, follow_redirects=False, **body
    )


def fuzz_operation(operation: Any, caller: Client, anonymous: Client, ids: dict[str, str], tally: Tally) -> None:
    """Runs in a worker thread: hypothesis draws the cases, each call goes to the app on the test's event loop."""
    key = (operation.method.upper(), operation.path)

    @settings(
        max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
        suppress_health_check=list(HealthCheck), print_blob=False,
    )  # fmt: skip
    @given(st.tuples(operation.as_strategy(), st.booleans()).map(with_known_ids(ids)))
    def check(case: Any) -> None:
        response = anyio.from_thread.run(send, caller, anonymous, key, case)
        tally.cases[f"{key[0]} {key[1]}"] += 1
        tally.statuses[response.status_code] += 1
        case.validate_response(response, checks=CHECKS)

    try:
        check()
    except (Exception, BaseExceptionGroup) as failure:  # every operation is tried; all failures are reported
        tally.failures.append(f"{key[0]} {key[1]}: {failure}")


def fuzz(schema: Any, caller: Client, anonymous: Client, ids: dict[str, str], tally: Tally) -> None:
    operations = [result.ok() for result in schema.get_all_operations()]
    operations.sort(key=lambda operation: (operation.method.upper() == "DELETE", operation.path))  # deletions last
    for operation in operations:
        fuzz_operation(operation, caller, anonymous, ids, tally)


@pytest.mark.parametrize("role", ["owner", "investigator"])
async def test_generated_calls_get_declared_answers_and_no_5xx(
    role: str, client: Client, other_client: Client, app: Litestar, db: AsyncSession
) -> None:
    party = await first_party(client, other_client, app, db)
    caller = client if role == "owner" else other_client
    schema = schemathesis.openapi.from_dict((await caller.get("/schema/openapi.json")).json())
    tally = Tally()
    async with Client(app) as anonymous:
        await anyio.to_thread.run_sync(partial(fuzz, schema, caller, anonymous, party["ids"], tally))
    cases = sum(tally.cases.values())
    server_errors = sum(count for status, count in tally.statuses.items() if status >= 500)
    print(f"\nschemathesis as {role}: {cases} cases over {len(tally.cases)} operations, {server_errors} 5xx, "
          f"statuses {dict(sorted(tally.statuses.items()))}")  # fmt: skip
    assert not tally.failures, "\n\n".join(tally.failures)
    assert len(tally.cases) > 70 and cases > 10 * len(tally.cases)
