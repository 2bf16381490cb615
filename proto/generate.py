"""Generate the Python stubs of Vigil's own API (proto/ → sdk/src/vigil/...).

    uv run python proto/generate.py          # write the stubs
    uv run python proto/generate.py --check  # exit 1 if the committed stubs are stale

The stubs live in the SDK package (``vigil.query.v1``) so that both the SDK's query client
and the query service import the same generated code.
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
OUT_ROOT = ROOT / "sdk" / "src"
PROTOS = ["vigil/query/v1/query.proto"]
SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def generate(out: Path) -> None:
    well_known = str(resources.files("grpc_tools") / "_proto")
    for proto in PROTOS:
        args = [
            "protoc",
            f"-I{PROTO_ROOT}",
            f"-I{well_known}",
            f"--python_out={out}",
            f"--pyi_out={out}",
            f"--grpc_python_out={out}",
            proto,
        ]
        if protoc.main(args) != 0:
            raise SystemExit(f"protoc failed on {proto}")


def outputs(base: Path) -> list[Path]:
    return [base / proto.removesuffix(".proto") for proto in PROTOS]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--check", action="store_true", help="compare with the committed stubs instead of writing"
    )
    args = parser.parse_args()
    if not args.check:
        generate(OUT_ROOT)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        stale = []
        for fresh_stem, committed_stem in zip(outputs(Path(tmp)), outputs(OUT_ROOT), strict=True):
            for suffix in SUFFIXES:
                fresh = fresh_stem.with_name(fresh_stem.name + suffix)
                committed = committed_stem.with_name(committed_stem.name + suffix)
                if not committed.exists() or not filecmp.cmp(fresh, committed, shallow=False):
                    stale.append(str(committed.relative_to(ROOT)))
    if stale:
        print("stale generated stubs (run: python proto/generate.py):", *stale, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
