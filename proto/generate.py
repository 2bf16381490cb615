"""Generate the Python code of Vigil's .proto files.

    uv run python proto/generate.py          # write the stubs
    uv run python proto/generate.py --check  # exit 1 if the committed stubs are stale

- The query and admin APIs (proto/ → sdk/src/vigil/{query,admin,alerting}/v1/): in the SDK package, so that both the
  SDK's query client and the query service import the same generated code.
- The collector's native-decode schema (collector/vigil_collector/decode/native_schema.proto,
  messages only): it sits beside the code because it is also read at run time, as the
  ClickHouse format schema of the ingest INSERT.
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Target:
    include: Path  # protoc -I root; the stubs land at the same relative path under out
    proto: str  # relative to include
    out: Path
    grpc: bool

    @property
    def suffixes(self) -> tuple[str, ...]:
        return ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py") if self.grpc else ("_pb2.py", "_pb2.pyi")


TARGETS = [
    Target(ROOT / "proto", "vigil/query/v1/query.proto", ROOT / "sdk" / "src", grpc=True),
    Target(ROOT / "proto", "vigil/admin/v1/admin.proto", ROOT / "sdk" / "src", grpc=True),
    Target(ROOT / "proto", "vigil/alerting/v1/alerting.proto", ROOT / "sdk" / "src", grpc=True),
    Target(ROOT / "collector", "vigil_collector/decode/native_schema.proto", ROOT / "collector", grpc=False),
]


def generate(target: Target, out: Path) -> None:
    well_known = str(resources.files("grpc_tools") / "_proto")
    args = ["protoc", f"-I{target.include}", f"-I{well_known}", f"--python_out={out}", f"--pyi_out={out}"]
    if target.grpc:
        args.append(f"--grpc_python_out={out}")
    if protoc.main([*args, target.proto]) != 0:
        raise SystemExit(f"protoc failed on {target.proto}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--check", action="store_true", help="compare with the committed stubs instead of writing"
    )
    args = parser.parse_args()
    if not args.check:
        for target in TARGETS:
            generate(target, target.out)
        return 0
    stale = []
    for target in TARGETS:
        with tempfile.TemporaryDirectory() as tmp:
            generate(target, Path(tmp))
            stem = target.proto.removesuffix(".proto")
            for suffix in target.suffixes:
                fresh = Path(tmp) / (stem + suffix)
                committed = target.out / (stem + suffix)
                if not committed.exists() or not filecmp.cmp(fresh, committed, shallow=False):
                    stale.append(str(committed.relative_to(ROOT)))
    if stale:
        print("stale generated stubs (run: python proto/generate.py):", *stale, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
