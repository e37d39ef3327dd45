"""Starting and stopping child processes so that none is left behind."""

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO


def start_process(
    args: Sequence[str],
    *,
    log_path: Path | None = None,
    env: dict[str, str] | None = None,
    user: str | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start a child in its own process group, its output appended to log_path if given."""
    log: IO[bytes] | int = subprocess.DEVNULL
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = log_path.open("ab")
    try:
        return subprocess.Popen(
            list(args),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            user=user,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_prepare_child,
        )
    finally:
        if not isinstance(log, int):
            log.close()  # the child has its own copy


PR_SET_PDEATHSIG = 1


def _prepare_child() -> None:
    """In the child, before exec: take Ctrl-C as usual even when this process was started with
    it ignored (as a shell's background job is), and on Linux be sent SIGTERM when the parent
    dies, even by SIGKILL, so no orphan stays."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def stop_process(
    process: subprocess.Popen[bytes], *, timeout: float = 15.0, sig: int = signal.SIGTERM
) -> None:
    """Signal the child's process group, wait, and kill what is still there."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        process.wait(timeout=timeout)


def kill_process(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the child's whole process group at once, as a crash would."""
    stop_process(process, sig=signal.SIGKILL)
