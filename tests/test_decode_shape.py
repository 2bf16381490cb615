"""Decode has one shape for the three signals: one hex-id walker (otlp_json.rewrite_hex_ids),
told by a table where each signal keeps its ids, and DecodeLimits in a module of its own."""

from __future__ import annotations

import ast
import base64
import json
import re

import pytest

from vigil_collector.decode.limits import DecodeLimits
from vigil_collector.decode.otlp_json import LOG_IDS, METRIC_IDS, TRACE_IDS, HexIds, rewrite_hex_ids
from vigil_collector.errors import MalformedRequest

from support import REPO

TRACE = "0102030405060708090a0b0c0d0e0f10"
SPAN = "a1a2a3a4a5a6a7a8"


def b64(hex_id: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_id)).decode()


@pytest.mark.parametrize(
    ("ids", "document", "where"),
    [
        (
            TRACE_IDS,
            {
                "resourceSpans": [
                    {"scopeSpans": [{"spans": [{"traceId": TRACE, "links": [{"spanId": SPAN}]}]}]}
                ]
            },
            "resourceSpans[0].scopeSpans[0].spans[0].links[0].spanId",
        ),
        (
            LOG_IDS,
            {"resource_logs": [{"scope_logs": [{"log_records": [{}, {"traceId": TRACE, "spanId": SPAN}]}]}]},
            "resourceLogs[0].scopeLogs[0].logRecords[1].spanId",
        ),
        (
            METRIC_IDS,
            {
                "resourceMetrics": [
                    {
                        "scopeMetrics": [
                            {"metrics": [{"sum": {"dataPoints": [{"exemplars": [{"spanId": SPAN}]}]}}]}
                        ]
                    }
                ]
            },
            "resourceMetrics[0].scopeMetrics[0].metrics[0].dataPoints[0].exemplars[0].spanId",
        ),
    ],
)
def test_one_walker_rewrites_every_signals_ids_and_names_a_bad_one(
    ids: HexIds, document: dict, where: str
) -> None:
    good = json.loads(json.dumps(document))
    rewrite_hex_ids(good, ids)
    text = json.dumps(good)
    assert b64(SPAN) in text and SPAN not in text and TRACE not in text
    bad = json.loads(json.dumps(document).replace(SPAN, "not hex"))
    with pytest.raises(MalformedRequest, match=re.escape(f"{where} is not a hex")):
        rewrite_hex_ids(bad, ids)


def test_no_decoder_walks_json_ids_by_itself() -> None:
    """Only otlp_json.py touches hex ids; the signals' modules give it their table."""
    decode = REPO / "collector/vigil_collector/decode"
    walkers = []
    for path in sorted(decode.glob("*.py")):
        if path.name == "otlp_json.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Name) and node.id in ("hex_ids", "json_list"):
                walkers.append(path.name)
    assert walkers == []


def test_decode_limits_serve_every_signal_from_their_own_module() -> None:
    assert DecodeLimits.__module__ == "vigil_collector.decode.limits"
