"""SearchLogs' pages read the newest matching records' times first and then only the records
from the page's oldest time on (logs_sql.search_logs): the pages must be exactly the records,
in exactly the order, of ordering every match by (time, row hash), also when many records
share one time across a page's end (the cursor's time)."""

from __future__ import annotations

import time

from clickhouse_connect.driver.client import Client
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource

from vigil import QueryClient

from support import RunningApp

SERVICE = "log-paging"


def test_pages_equal_one_ordering_of_every_match_with_ties_at_the_cursor(app: RunningApp, ch: Client) -> None:
    provider = LoggerProvider(resource=Resource.create({"service.name": SERVICE}))
    provider.add_log_record_processor(
        SimpleLogRecordProcessor(OTLPLogExporter(endpoint=app.grpc_target, insecure=True))
    )
    logger = provider.get_logger("vigil.tests.paging")
    now = time.time_ns() // 10**9 * 10**9
    # 11 records at one time (they span pages of 3 and 4), 6 at the second before, 3 older;
    # every third a WARN, so a severity filter's pages have ties too.
    times = [now] * 11 + [now - 10**9] * 6 + [now - 5 * 10**9 - i for i in range(3)]
    try:
        for i, at in enumerate(times):
            logger.emit(
                timestamp=at,
                body=f"record {i}",
                severity_number=SeverityNumber.WARN if i % 3 == 0 else SeverityNumber.INFO,
                severity_text="WARN" if i % 3 == 0 else "INFO",
                attributes={"i": i},
            )
        provider.force_flush()
    finally:
        provider.shutdown()
    app.flush()
    db = app.settings.database
    for min_severity, where in ((0, ""), (13, " AND SeverityNumber >= 13")):
        expected = [
            r[0]
            for r in ch.query(
                f"SELECT Body FROM {db}.otel_logs WHERE ServiceName = {{s:String}}{where} ORDER BY Timestamp DESC,"
                " cityHash64(Body, TraceId, SpanId, ServiceName, SeverityNumber, LogAttributes) DESC",
                parameters={"s": SERVICE},
            ).result_rows
        ]
        assert len(expected) == (len(times) if not min_severity else 7)
        with QueryClient(app.query_target) as client:
            for size in (1, 3, 4, 100):
                got = [
                    r.body
                    for r in client.iter_logs(service=SERVICE, min_severity=min_severity, page_size=size)
                ]
                assert got == expected, (min_severity, size)
