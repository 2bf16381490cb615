"""The query API definition: buf-lint clean, and the committed Python stubs match it."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from support import REPO

BUF = "@bufbuild/buf@1.75.0"


def test_generated_stubs_are_current() -> None:
    out = subprocess.run(
        [sys.executable, "proto/generate.py", "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.skipif(
    shutil.which("npx") is None, reason="buf comes from the npm registry; npx is not installed"
)
def test_buf_lint() -> None:
    out = subprocess.run(["npx", "--yes", BUF, "lint"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_sdk_names_of_the_stubs_are_the_contract_packages() -> None:
    """SDK users keep `from vigil.query.v1 import query_pb2`: the same classes as vigil_proto's,
    so a message built with either is accepted by the other side's code."""
    from vigil.admin.v1 import admin_pb2, admin_pb2_grpc
    from vigil.alerting.v1 import alerting_pb2, alerting_pb2_grpc
    from vigil.query.v1 import query_pb2, query_pb2_grpc
    from vigil_proto.admin.v1 import admin_pb2 as proto_admin
    from vigil_proto.alerting.v1 import alerting_pb2 as proto_alerting
    from vigil_proto.alerting.v1 import alerting_pb2_grpc as proto_alerting_grpc
    from vigil_proto.query.v1 import query_pb2 as proto_query
    from vigil_proto.query.v1 import query_pb2_grpc as proto_query_grpc

    assert query_pb2.GetTraceRequest is proto_query.GetTraceRequest
    assert query_pb2.DESCRIPTOR is proto_query.DESCRIPTOR
    assert query_pb2_grpc.QueryServiceStub is proto_query_grpc.QueryServiceStub
    assert admin_pb2.DESCRIPTOR is proto_admin.DESCRIPTOR
    assert hasattr(admin_pb2_grpc, "AdminServiceStub")
    assert alerting_pb2.DESCRIPTOR is proto_alerting.DESCRIPTOR
    assert alerting_pb2_grpc.AlertingServiceStub is proto_alerting_grpc.AlertingServiceStub
    # Every message and service of the API, under both names.
    for sdk, proto in ((query_pb2, proto_query), (admin_pb2, proto_admin), (alerting_pb2, proto_alerting)):
        for name in [*proto.DESCRIPTOR.message_types_by_name, *proto.DESCRIPTOR.enum_types_by_name]:
            assert getattr(sdk, name) is getattr(proto, name), name
    assert query_pb2.GetTraceRequest.__module__ == "vigil_proto.query.v1.query_pb2"
