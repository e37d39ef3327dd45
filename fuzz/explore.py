"""One hypothesis search per operation and generation mode: each call goes out with one of the
world's credentials, and its answer is checked against the schema; a refused call (4xx) must
leave the database exactly as it found it. Calls are made one at a time, so the fingerprint
taken around a call sees that call alone."""

from collections.abc import Callable
from typing import Any

import requests
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from psycopg import Connection
from schemathesis import Case, Config, GenerationMode
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Err
from schemathesis.openapi import from_dict
from schemathesis.schemas import APIOperation, BaseSchema
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from fuzz.state import changed_tables, take_snapshot
from fuzz.tally import Tally, Violation
from fuzz.world import Identity, World

CONFORMANCE: list[CheckFunction] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
CHECKS: dict[GenerationMode, list[CheckFunction]] = {
    GenerationMode.POSITIVE: CONFORMANCE,
    GenerationMode.NEGATIVE: [*CONFORMANCE, negative_data_rejection],
}
REQUEST_TIMEOUT_SECONDS = 120
Progress = Callable[[str], None]


def load_schema(openapi: dict[str, Any]) -> BaseSchema:
    """The schema to generate from; credentials come from the world, never from generation (a
    negative case that only drops the Authorization header would be a false alarm)."""
    config = Config.from_dict({"generation": {"with-security-parameters": False}})
    return from_dict(openapi, config=config)


def explore(
    schema: BaseSchema,
    world: World,
    base_url: str,
    conn: Connection[tuple[object, ...]],
    *,
    examples: int,
    random_seed: int,
    progress: Progress = lambda line: None,
) -> Tally:
    tally = Tally()
    with requests.Session() as http:
        for result in schema.get_all_operations():
            if isinstance(result, Err):
                raise result.err()
            operation = result.ok()
            tally.operations += 1
            calls_before = tally.calls
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                prober = _Prober(operation, world, base_url, conn, http, tally, mode)
                # Valid requests get `examples` per credential, so each permission set is tried.
                scale = len(world.identities) if mode is GenerationMode.POSITIVE else 1
                prober.run(examples * scale, random_seed)
            progress(f"{operation.label}: {tally.calls - calls_before} calls")
    return tally


class _Prober:
    def __init__(
        self,
        operation: APIOperation[Any, Any, Any, Any],
        world: World,
        base_url: str,
        conn: Connection[tuple[object, ...]],
        http: requests.Session,
        tally: Tally,
        mode: GenerationMode,
    ) -> None:
        self.operation = operation
        self.world = world
        self.base_url = base_url
        self.conn = conn
        self.http = http
        self.tally = tally
        self.mode = mode

    def run(self, examples: int, random_seed: int) -> None:
        @seed(random_seed)
        @settings(
            max_examples=examples,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(
            case=self.operation.as_strategy(generation_mode=self.mode),
            identity=st.sampled_from(self.world.identities),
            data=st.data(),
        )
        def probe(case: Case[Any], identity: Identity, data: st.DataObject) -> None:
            if self.mode is GenerationMode.POSITIVE:
                self._use_known_values(case, data)
            self.call(case, identity)

        try:
            probe()
        except Unsatisfiable:
            pass  # nothing of this operation can be made invalid (no parameters, no body)

    def _use_known_values(self, case: Case[Any], data: st.DataObject) -> None:
        """Point path parameters at rows that exist about half of the time, so the routes get
        past their lookups instead of answering 404 to every random id."""
        for name in list(case.path_parameters or {}):
            known = self.world.values_for(self.operation.path, name)
            use_known = bool(known) and data.draw(st.booleans(), label=f"known {name}")
            if use_known:
                assert case.path_parameters is not None
                case.path_parameters[name] = data.draw(st.sampled_from(known), label=name)

    def call(self, case: Case[Any], identity: Identity) -> None:
        headers = identity.headers()
        before = take_snapshot(self.conn)
        try:
            response = case.call(
                base_url=self.base_url,
                session=self.http,
                headers=headers,
                timeout=REQUEST_TIMEOUT_SECONDS,
            )
        except requests.RequestException as exc:
            self.tally.count_call(None)
            self._violation(case, identity, None, f"request failed: {exc!r}", headers)
            return
        status = response.status_code
        self.tally.count_call(status)
        try:
            case.validate_response(response, checks=CHECKS[self.mode], headers=headers)
        except FailureGroup as group:
            for failure in group.exceptions:
                problem = f"{failure.title}: {failure.message}".strip()
                self._violation(case, identity, status, problem, headers)
        if 400 <= status < 500:
            changed = changed_tables(before, take_snapshot(self.conn))
            if changed:
                problem = f"refused with {status} yet changed {', '.join(changed)}"
                self._violation(case, identity, status, problem, headers)

    def _violation(
        self,
        case: Case[Any],
        identity: Identity,
        status: int | None,
        problem: str,
        headers: dict[str, str],
    ) -> None:
        reproduce = case.as_curl_command(headers=headers, base_url=self.base_url)
        self.tally.add(Violation(self.operation.label, identity.name, status, problem, reproduce))
