"""server/vigil_server/app.py keeps the process's lifecycle (start, stop, the entry points);
what each role and job is built of lives in server/vigil_server/wiring/, one module each, so
that a new job or integration is wired in a small file instead of a 700-line one."""

from __future__ import annotations

import ast

from support import REPO

APP = REPO / "server/vigil_server/app.py"
WIRING = REPO / "server/vigil_server/wiring"


def test_app_py_holds_the_lifecycle_and_no_factories() -> None:
    tree = ast.parse(APP.read_text())
    functions = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    factories = [name for name in functions if name.startswith(("make_", "ensure_", "migrate_"))]
    assert factories == [], f"app.py builds parts that belong in wiring/: {factories}"
    assert len(APP.read_text().splitlines()) <= 450


def test_each_role_and_job_has_its_wiring_module() -> None:
    modules = {p.stem for p in WIRING.glob("*.py")} - {"__init__"}
    assert modules == {"schema", "auth", "ingest", "query", "alerting", "jobs"}
    index = (WIRING / "__init__.py").read_text()
    assert all(f"``{m}.py``" in index for m in modules), "wiring/__init__.py names every module"
