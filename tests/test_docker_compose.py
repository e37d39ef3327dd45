"""The production deployment files: docker-compose.yml, the Dockerfile and .env.example.

Docker does not run here: these tests validate docker-compose.yml against the Compose
Specification's JSON schema (tests/schemas/compose-spec.json) and read the files to check the
services and their wiring.
"""

import copy
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tokenbill.devstack.temporal import search_attribute_flags
from tokenbill.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_SCHEMA = ROOT / "tests" / "schemas" / "compose-spec.json"
TOKENBILL_SERVICES = ("migrate", "api", "worker")
SETTING_NAMES = {name.upper() for name in Settings.model_fields}
_VARIABLE = re.compile(r"\$\{(\w+)(?::?([-?])([^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def compose_errors(document: dict[str, Any]) -> list[str]:
    """Where the document breaks the Compose Specification's schema (none when it is valid)."""
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(schema)
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(document)
    ]


def interpolate(value: str) -> str:
    """Compose's ${VAR:-default} with nothing set; a required ${VAR:?message} gets a value."""

    def replace(match: re.Match[str]) -> str:
        name, kind, rest = match.groups()
        if kind == "?":
            return f"value-of-{name.lower()}-given-at-deploy-time"
        return rest or ""

    return _VARIABLE.sub(replace, value)


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    assert isinstance(env, dict), "environment is written as a mapping"
    return {key: interpolate(str(value)) for key, value in env.items()}


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    return {name: spec["condition"] for name, spec in service.get("depends_on", {}).items()}


def test_compose_file_is_valid_under_the_compose_specification(compose: dict[str, Any]) -> None:
    assert compose_errors(compose) == []


@pytest.mark.parametrize(
    "break_it",
    [
        pytest.param(lambda c: c["services"]["api"].update(restart_policy="always"), id="unknown"),
        pytest.param(lambda c: c["services"]["api"].update(ports="3000:3000"), id="ports-string"),
        pytest.param(
            lambda c: c["services"]["worker"]["depends_on"]["migrate"].update(
                condition="service_finished"
            ),
            id="condition",
        ),
        pytest.param(lambda c: c["configs"].update(broken=[]), id="config-list"),
    ],
)
def test_the_schema_check_catches_a_broken_compose_file(
    compose: dict[str, Any], break_it: Any
) -> None:
    broken = copy.deepcopy(compose)
    break_it(broken)
    assert compose_errors(broken) != []


def test_compose_has_the_production_services(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == {
        "postgresql", "temporal-schema", "temporal", "temporal-setup", "temporal-ui",
        "migrate", "api", "worker",
    }  # fmt: skip
    for name, service in services.items():
        for dependency in depends_on(service):
            assert dependency in services, f"{name} depends on unknown {dependency}"


def test_every_image_is_pinned_and_auto_setup_is_gone(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        image, _, tag = service["image"].partition(":")
        assert (tag and tag != "latest") or "build" in service, name
        assert image != "temporalio/auto-setup", name
    server = services["temporal"]["image"].split(":")[1]
    for name in ("temporal-schema", "temporal-setup"):
        assert services[name]["image"] == f"temporalio/admin-tools:{server}", name


def test_postgresql_has_a_healthcheck_and_a_volume(services: dict[str, dict[str, Any]]) -> None:
    postgresql = services["postgresql"]
    assert postgresql["image"].startswith("postgres:")
    assert "pg_isready" in " ".join(postgresql["healthcheck"]["test"])
    assert any(v.endswith(":/var/lib/postgresql/data") for v in postgresql["volumes"])


def test_temporal_schema_is_made_by_the_sql_tool_on_the_postgresql_service(
    services: dict[str, dict[str, Any]],
) -> None:
    schema = services["temporal-schema"]
    postgresql = environment(services["postgresql"])
    assert schema["restart"] == "no"
    assert depends_on(schema) == {"postgresql": "service_healthy"}
    env = environment(schema)
    assert env["SQL_PLUGIN"] == "postgres12"
    assert env["SQL_HOST"] == "postgresql"
    assert (env["SQL_USER"], env["SQL_PASSWORD"]) == (
        postgresql["POSTGRES_USER"], postgresql["POSTGRES_PASSWORD"],
    )  # fmt: skip
    script = "\n".join(schema["command"])
    assert "for database in temporal temporal_visibility" in script
    for step in ("create", "setup-schema -v 0.0", "update-schema -d"):
        assert f'temporal-sql-tool --db "$$database" {step}' in script
    assert "/etc/temporal/schema/postgresql/v12/$$schema/versioned" in script


def test_temporal_runs_on_the_postgresql_service(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    temporal = services["temporal"]
    assert temporal["image"].startswith("temporalio/server:")
    env = environment(temporal)
    assert env["DB"] == "postgres12"
    assert env["POSTGRES_SEEDS"] == "postgresql"
    assert env["POSTGRES_USER"] == environment(services["postgresql"])["POSTGRES_USER"]
    assert env["POSTGRES_PWD"] == environment(services["postgresql"])["POSTGRES_PASSWORD"]
    assert env["BIND_ON_IP"] == "0.0.0.0"
    assert depends_on(temporal) == {"temporal-schema": "service_completed_successfully"}
    assert "7233" in temporal["healthcheck"]["test"]
    # The server refuses to start without its dynamic configuration file.
    [config] = temporal["configs"]
    assert config["target"] == env["DYNAMIC_CONFIG_FILE_PATH"]
    assert "content" in compose["configs"][config["source"]]

    ui = services["temporal-ui"]
    assert ui["image"].startswith("temporalio/ui:")
    assert environment(ui)["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert "8233:8080" in ui["ports"]


def test_temporal_setup_registers_every_search_attribute(
    services: dict[str, dict[str, Any]],
) -> None:
    setup = services["temporal-setup"]
    assert setup["image"].startswith("temporalio/admin-tools:")
    assert setup["restart"] == "no"
    assert depends_on(setup) == {"temporal": "service_healthy"}
    script = "\n".join(setup["command"])
    assert "temporal operator namespace create --address temporal:7233 --namespace default" in (
        script
    )
    assert "temporal operator search-attribute create" in script
    registered = set(re.findall(r"\b(\w+=\w+)\b", script.split("for attribute in", 1)[1]))
    expected = set(search_attribute_flags()[1::2])
    assert expected == {
        "OrganizationId=Keyword", "PurchaseReference=Keyword", "SubscriptionStatus=Keyword",
        "BillingStatus=Keyword", "NextBillingDate=Datetime",
    }  # fmt: skip
    assert expected <= registered


def test_tokenbill_services_are_built_from_the_dockerfile(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in TOKENBILL_SERVICES:
        assert services[name]["build"] == ".", name
    assert services["migrate"]["command"] == ["sh", "-c", "tokenbill migrate && tokenbill seed"]
    assert services["migrate"]["restart"] == "no"
    assert depends_on(services["migrate"]) == {"postgresql": "service_healthy"}
    assert services["api"]["command"] == ["tokenbill", "api"]
    assert services["worker"]["command"] == ["tokenbill", "worker"]


def test_api_and_worker_start_after_a_successful_migration_and_temporal(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in ("api", "worker"):
        assert depends_on(services[name]) == {
            "migrate": "service_completed_successfully",
            "temporal": "service_healthy",
            "temporal-setup": "service_completed_successfully",
        }, name
    assert services["api"]["ports"] == ["3000:3000"]
    assert environment(services["api"])["API_PORT"] == "3000"
    assert "/api/health" in " ".join(services["api"]["healthcheck"]["test"])


def test_tokenbill_services_set_only_real_settings(services: dict[str, dict[str, Any]]) -> None:
    for name in TOKENBILL_SERVICES:
        env = environment(services[name])
        assert set(env) <= SETTING_NAMES, (name, set(env) - SETTING_NAMES)
        settings = Settings.model_validate({k.lower(): v for k, v in env.items()})
        assert settings.database_url_async == (
            "postgresql+psycopg://tokenbill:tokenbill@postgresql:5432/tokenbill"
        )
        assert settings.temporal_address == "temporal:7233"


def test_the_jwt_secret_must_be_given_at_deploy_time(services: dict[str, dict[str, Any]]) -> None:
    for name in TOKENBILL_SERVICES:
        assert services[name]["environment"]["JWT_SECRET"].startswith("${JWT_SECRET:?"), name


def test_dockerfile_installs_the_project_and_runs_as_a_user() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    lines = [line.strip() for line in dockerfile.splitlines()]
    assert lines[next(i for i, line in enumerate(lines) if line.startswith("FROM"))] == (
        "FROM python:3.11-slim"
    )
    assert "pip install ." in dockerfile
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"
    ]["find"]["include"]
    for package in (pattern.rstrip("*") for pattern in packages):
        assert f"COPY {package} ./{package}" in lines, package
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")


def test_env_example_lists_every_setting_with_a_comment() -> None:
    lines = (ROOT / ".env.example").read_text().splitlines()
    listed: dict[str, int] = {}
    for number, line in enumerate(lines):
        match = re.match(r"^#? ?([A-Z][A-Z0-9_]*)=", line)
        if match:
            listed[match.group(1)] = number
    assert set(listed) == SETTING_NAMES
    for name, number in listed.items():
        above = lines[number - 1]
        assert above.startswith("# ") and "=" not in above.split()[1], f"{name} has no comment"


def test_env_example_values_are_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    from_example = Settings(_env_file=ROOT / ".env.example")
    assert from_example.model_dump() == Settings(_env_file=None).model_dump()
