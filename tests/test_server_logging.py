"""The server's log configuration (vigil_server/logs.py): one line per event, and no library
repeating what Vigil's own log already says."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from vigil_server.logs import configure_logging


@pytest.fixture
def restored_logging() -> Iterator[None]:
    root, urllib3 = logging.getLogger(), logging.getLogger("urllib3")
    handlers, level, urllib3_level = root.handlers[:], root.level, urllib3.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        urllib3.setLevel(urllib3_level)


def test_urllib3_retry_warnings_are_left_out_unless_debugging(
    restored_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    logging.getLogger("urllib3").setLevel(logging.WARNING)  # as clickhouse-connect sets it
    configure_logging("INFO", "json", ["pw-1234"])
    # What urllib3 logs before retrying a refused connection (ClickHouse down).
    logging.getLogger("urllib3.connectionpool").warning("Retrying (Retry(total=0)) after connection broken")
    logging.getLogger("vigil_collector.batch.batcher").warning("records 0-1 not written, retrying: pw-1234")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [line["logger"] for line in lines] == ["vigil_collector.batch.batcher"]
    assert lines[0]["msg"] == "records 0-1 not written, retrying: ***"

    configure_logging("DEBUG", "json")
    logging.getLogger("urllib3.connectionpool").warning("Retrying (Retry(total=0)) after connection broken")
    assert "urllib3.connectionpool" in capsys.readouterr().err
