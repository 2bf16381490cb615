"""Fuzzing the OTLP decoders and the HTTP receiver (see fuzz/targets.py for what is checked).

- every input a fuzz run ever crashed on stays here as a regression (tests/fuzz_regressions/);
- a short coverage-guided run (atheris, ~25 s; `make fuzz` runs 1,000,000 inputs);
- generated requests against the real HTTP receiver: every answer is 200/400/413/415 with a
  reason, and the server keeps answering.
"""

from __future__ import annotations

import gzip
import random
import re
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reference_payload import build_request
from support import REPO, RunningApp, http_request

sys.path.insert(0, str(REPO / "fuzz"))
import targets

REGRESSIONS = sorted((Path(__file__).parent / "fuzz_regressions").iterdir())


@pytest.mark.parametrize("path", REGRESSIONS, ids=[p.name for p in REGRESSIONS])
def test_inputs_that_once_crashed(path: Path) -> None:
    targets.run(path.read_bytes())


def test_seeds_pass() -> None:
    for seed in targets.seeds():
        targets.run(seed)


def test_a_short_coverage_guided_run(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    out = subprocess.run(
        [sys.executable, str(REPO / "fuzz" / "run.py"), "-max_total_time=25", str(corpus)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    tail = out.stderr[-3000:]
    assert out.returncode == 0, tail
    runs = int(re.search(r"Done (\d+) runs", out.stderr).group(1))  # type: ignore[union-attr]
    assert runs > 10_000, tail
    print(f"fuzzed {runs:,} inputs")


_VALID = build_request(random.Random(5)).SerializeToString()


@st.composite
def requests(draw: st.DrawFn) -> tuple[bytes, dict[str, str]]:
    """A valid body with bytes flipped, cut or not, under any content type and encoding."""
    body = bytearray(_VALID)
    for _ in range(draw(st.integers(0, 8))):
        body[draw(st.integers(0, len(body) - 1))] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        body = body[: draw(st.integers(0, len(body)))]
    if draw(st.booleans()):
        body = bytearray(draw(st.binary(max_size=2048)))
    encoding = draw(st.sampled_from(["", "identity", "gzip", "deflate", "br", "gzip, gzip", "GZIP"]))
    data = bytes(body)
    if encoding.lower() == "gzip" and draw(st.booleans()):
        data = gzip.compress(data)
    elif encoding == "deflate" and draw(st.booleans()):
        data = zlib.compress(data)
    content_type = draw(
        st.sampled_from(
            [
                "application/x-protobuf",
                "application/json",
                "application/protobuf",
                "text/plain",
                "",
                "application/json; charset=utf-8",
            ]
        )
    )
    headers = {"Content-Type": content_type} if content_type else {}
    if encoding:
        headers["Content-Encoding"] = encoding
    return data, headers


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request=requests())
def test_the_http_receiver_answers_every_request_with_a_reason(
    app: RunningApp, request: tuple[bytes, dict[str, str]]
) -> None:
    body, headers = request
    status, _, answer = http_request(f"{app.http_base}/v1/traces", body, headers)
    assert status in (200, 400, 413, 415), (status, answer[:300])
    if status != 200:
        assert answer  # a Status message (protobuf or JSON) saying why


def test_the_http_receiver_is_still_healthy(app: RunningApp) -> None:
    assert http_request(f"{app.http_base}/health")[0] == 200
