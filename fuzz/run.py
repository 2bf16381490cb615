"""Coverage-guided fuzzing of the OTLP decoders with atheris (libFuzzer for Python).

    make fuzz                                   # the long run: 1,000,000 inputs
    python fuzz/run.py -runs=100000             # any libFuzzer flags
    python fuzz/run.py -max_total_time=25 DIR   # what `make test` runs (test_fuzz.py)

Inputs start from seeds (fuzz/targets.py: valid protobuf, JSON, gzip and deflate bodies),
written to a fresh corpus directory unless directories are given. A crash (any exception
but the decoders' typed refusals), a hang (-timeout, 10 s by default here) or memory beyond
-rss_limit_mb (2048) stops the run with a non-zero exit and leaves the input as crash-* /
timeout-* / oom-* in the working directory: add it under tests/fuzz_regressions/.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import atheris

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "bench")]

with atheris.instrument_imports(include=["vigil_collector", "targets"]):
    import targets


def main() -> None:
    args = [a for a in sys.argv[1:] if a.startswith("-")]
    corpora = [a for a in sys.argv[1:] if not a.startswith("-")]
    if not corpora:
        corpus = Path(tempfile.mkdtemp(prefix="vigil-fuzz-"))
        corpora = [str(corpus)]
    for i, seed in enumerate(targets.seeds()):
        (Path(corpora[0]) / f"seed-{i}").write_bytes(seed)
    defaults = {"-timeout": "10", "-rss_limit_mb": "2048", "-max_len": "65536"}
    for flag, value in defaults.items():
        if not any(a.startswith(flag + "=") for a in args):
            args.append(f"{flag}={value}")
    atheris.Setup([sys.argv[0], *args, *corpora], targets.run)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
