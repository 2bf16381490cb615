"""No package imports across the layers docs/architecture.md draws: each package may import
only the packages below it (the table here is the page's "Dependencies" section), and the
few known exceptions are listed by file, so that a new one fails here instead of creeping in."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from support import REPO

ROOTS = {
    "vigil_proto": "proto/vigil_proto",
    "vigil": "sdk/src/vigil",
    "vigil_storage": "storage/vigil_storage",
    "vigil_auth": "auth/vigil_auth",
    "vigil_collector": "collector/vigil_collector",
    "vigil_query": "query/vigil_query",
    "vigil_alerting": "alerting/vigil_alerting",
    "vigil_simulator": "simulator/vigil_simulator",
    "vigil_server": "server/vigil_server",
}
# What each package may import (besides itself). The SDK and the simulator are clients:
# they import nothing of the server's.
MAY_IMPORT = {
    "vigil_proto": set(),
    "vigil": {"vigil_proto"},
    "vigil_storage": set(),
    "vigil_auth": {"vigil_storage"},
    "vigil_collector": {"vigil_storage", "vigil_auth"},
    "vigil_query": {"vigil_storage", "vigil_auth"},
    "vigil_alerting": {"vigil_storage", "vigil_auth", "vigil_query"},
    "vigil_simulator": set(),
    # Everything but the client SDK: the stubs and wire constants come from vigil_proto.
    "vigil_server": set(ROOTS) - {"vigil_server", "vigil"},
}
# The API contract (generated stubs, wire constants) is shared by both sides: anyone may import it.
for allowed in MAY_IMPORT.values():
    allowed.add("vigil_proto")
MAY_IMPORT["vigil_proto"] = set()
# Known exceptions, to be removed: (file, imported module).
EXCEPTIONS = {
    # The replayed trace is written as OTLP rows with the collector's own decoder.
    ("query/vigil_query/replay/record.py", "vigil_collector.decode"),
}
# Names a package may not use although it may import their package: the registry (auth) is the
# control plane; making a project's telemetry tables is storage's job, done by the registry's
# caller (create_project takes it as a callable).
FORBIDDEN = {
    "vigil_auth": (
        "vigil_storage.apply_migrations",
        "vigil_storage.migrate.apply_migrations",
        "vigil_storage.migrations",
        "vigil_storage.migrate.MIGRATIONS",
        "vigil_storage.MIGRATIONS",
    ),
}
# The server's entry points, imported in a fresh interpreter to see what they pull in.
SERVER_MODULES = (
    "vigil_server.cli",
    "vigil_server.app",
    "vigil_server.admin_cli",
    "vigil_server.wiring.query",
)


def imports_of(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return found


def names_used(path: Path) -> set[str]:
    """Every dotted name a module imports or reaches: `from a.b import c` gives a.b and a.b.c,
    `import a.b` gives a.b, and an attribute chain `a.b.c(...)` in the code gives a.b.c."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Attribute):
            parts, value = [node.attr], node.value
            while isinstance(value, ast.Attribute):
                parts.append(value.attr)
                value = value.value
            if isinstance(value, ast.Name):
                found.add(".".join([value.id, *reversed(parts)]))
    return found


def forbidden_uses(roots: dict[str, str] = ROOTS, repo: Path = REPO) -> list[str]:
    wrong = []
    for package, names in FORBIDDEN.items():
        for path in sorted((repo / roots[package]).rglob("*.py")):
            used = names_used(path)
            wrong += [f"{path.relative_to(repo)} uses {n}" for n in names if n in used or any(
                u.startswith(n + ".") for u in used
            )]  # fmt: skip
    return wrong


def crossings() -> list[str]:
    wrong = []
    for package, folder in ROOTS.items():
        for path in sorted((REPO / folder).rglob("*.py")):
            if path.name.endswith(("_pb2.py", "_pb2_grpc.py")):
                continue
            name = str(path.relative_to(REPO))
            for module in imports_of(path):
                top = module.split(".")[0]
                if top not in ROOTS or top == package or top in MAY_IMPORT[package]:
                    continue
                if (name, module) in EXCEPTIONS:
                    continue
                wrong.append(f"{name} imports {module} ({package} may import {sorted(MAY_IMPORT[package])})")
    return wrong


def test_no_package_imports_across_the_layers() -> None:
    wrong = crossings()
    assert not wrong, "imports across the layers of docs/architecture.md:\n" + "\n".join(wrong)


def test_auth_does_not_make_telemetry_tables() -> None:
    wrong = forbidden_uses()
    assert not wrong, "the registry's caller makes a project's tables, not auth:\n" + "\n".join(wrong)


def test_the_forbidden_names_are_seen_however_imported(tmp_path: Path) -> None:
    for number, source in enumerate(
        (
            "from vigil_storage import apply_migrations\n",
            "from vigil_storage.migrate import apply_migrations as make\n",
            "import vigil_storage\nvigil_storage.apply_migrations(c, 'otel_x')\n",
        )
    ):
        (tmp_path / "auth" / f"case{number}").mkdir(parents=True)
        (tmp_path / "auth" / f"case{number}" / "registry.py").write_text(source)
        found = forbidden_uses({"vigil_auth": f"auth/case{number}"}, tmp_path)
        assert len(found) == 1 and "apply_migrations" in found[0], (source, found)


def test_the_known_exceptions_still_exist() -> None:
    """An exception that was removed is taken off the list, so the list stays true."""
    stale = [f"{name}: {module}" for name, module in EXCEPTIONS if module not in imports_of(REPO / name)]
    assert not stale, f"exceptions no longer in the code, remove them from EXCEPTIONS: {stale}"


def test_the_architecture_page_states_the_same_layers() -> None:
    page = (REPO / "docs" / "architecture.md").read_text()
    for package in ROOTS:
        assert f"`{package}`" in page, f"docs/architecture.md's Dependencies section does not name {package}"


def test_the_server_runs_without_the_client_sdk() -> None:
    """Not one import of the SDK (`vigil`), direct or through another module: the server takes its
    stubs and wire constants from vigil_proto, so it needs no client installed beside it."""
    probe = (
        "import importlib, sys\n"
        f"for name in {SERVER_MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m == 'vigil' or m.startswith('vigil.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", f"the server imports the client SDK: {out.stdout}"


def test_a_server_import_of_the_sdk_stubs_is_a_crossing(tmp_path: Path) -> None:
    """The check itself: `vigil.query.v1` in the query service is what it must refuse."""
    source = tmp_path / "service.py"
    source.write_text("from vigil.query.v1 import query_pb2\nfrom vigil_proto.query.v1 import query_pb2\n")
    modules = imports_of(source)
    allowed = MAY_IMPORT["vigil_query"]
    assert [m for m in modules if m.split(".")[0] not in allowed] == ["vigil.query.v1"]
