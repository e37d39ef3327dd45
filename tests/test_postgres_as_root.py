"""Where the embedded PostgreSQL's binaries and data live when it is started by root."""

import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tokenbill.devstack import postgres_as_root
from tokenbill.devstack.postgres_as_root import (
    BINARIES_CACHE,
    DATA_OUTSIDE,
    can_enter,
    server_data_dir,
    service_user,
    shared_postgres_install,
)

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root: only root runs PostgreSQL as a service user"
)


@pytest.fixture
def user() -> str:
    name = service_user()
    assert name is not None
    return name


def folder_in_tmp(mode: int) -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="tokenbill-as-root-", dir="/tmp"))
    folder.chmod(mode)
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


@pytest.fixture
def private() -> Iterator[Path]:
    yield from folder_in_tmp(0o700)


@pytest.fixture
def open_folder() -> Iterator[Path]:
    yield from folder_in_tmp(0o755)


def owner(path: Path) -> str:
    return pwd.getpwuid(path.stat().st_uid).pw_name


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_postgres_binaries_run_as_the_service_user_from_a_copy_readable_by_all(user: str) -> None:
    install = shared_postgres_install(user)

    assert install.is_relative_to(BINARIES_CACHE)
    assert owner(install) == "root" and mode(install) == 0o755
    assert shared_postgres_install(user) == install, "made once"
    initdb = subprocess.run(
        [str(install / "bin" / "initdb"), "--version"],
        user=user, cwd="/", capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert initdb.returncode == 0, initdb.stderr
    assert "initdb (PostgreSQL)" in initdb.stdout


def test_sessions_copying_the_binaries_at_once_end_with_one_whole_copy(
    user: str, open_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgres_as_root, "BINARIES_CACHE", open_folder)

    with ThreadPoolExecutor(max_workers=3) as sessions:
        installs = set(sessions.map(lambda _: shared_postgres_install(user), range(3)))

    [install] = installs
    assert [entry.name for entry in open_folder.iterdir()] == [install.parents[1].name]
    assert (install / "bin" / "postgres").is_file()


def test_data_under_a_private_folder_lives_outside_behind_a_stable_link(
    user: str, private: Path
) -> None:
    data_dir = private / ".data" / "postgres"

    outside = server_data_dir(data_dir, user)

    assert outside.is_relative_to(DATA_OUTSIDE)
    assert data_dir.is_symlink() and data_dir.resolve() == outside
    assert owner(outside) == user and can_enter(user, outside)
    assert mode(private) == 0o700
    (outside / "PG_VERSION").write_text("18\n")
    assert server_data_dir(data_dir, user) == outside
    assert (data_dir / "PG_VERSION").exists(), "a second start finds the data through the link"


def test_removing_the_data_folder_starts_from_scratch(user: str, private: Path) -> None:
    data_dir = private / ".data" / "postgres"
    outside = server_data_dir(data_dir, user)
    (outside / "PG_VERSION").write_text("18\n")

    shutil.rmtree(private / ".data")

    assert server_data_dir(data_dir, user) == outside
    assert list(outside.iterdir()) == []


def test_data_whose_folder_is_gone_is_removed_at_the_next_start(
    user: str, private: Path, open_folder: Path
) -> None:
    gone = private / "gone"
    gone.mkdir()
    outside = server_data_dir(gone / "postgres", user)
    shutil.rmtree(gone)

    server_data_dir(open_folder / "postgres", user)

    assert not outside.parent.exists()


def test_data_the_service_user_can_reach_stays_in_place(user: str, open_folder: Path) -> None:
    data_dir = open_folder / "postgres"

    assert server_data_dir(data_dir, user) == data_dir
    assert not data_dir.is_symlink() and owner(data_dir) == user


def test_data_made_in_place_moves_outside_when_its_folder_turns_private(
    user: str, open_folder: Path
) -> None:
    data_dir = open_folder / "postgres"
    server_data_dir(data_dir, user)
    (data_dir / "PG_VERSION").write_text("18\n")
    shutil.chown(data_dir / "PG_VERSION", user)
    open_folder.chmod(0o700)

    outside = server_data_dir(data_dir, user)

    assert data_dir.is_symlink() and outside.is_relative_to(DATA_OUTSIDE)
    assert (outside / "PG_VERSION").read_text() == "18\n"
    assert owner(outside / "PG_VERSION") == user
    assert mode(open_folder) == 0o700
