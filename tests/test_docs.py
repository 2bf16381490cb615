"""The documentation stays navigable: the README is a short quick start, every page under docs/
is reachable from it or from the architecture page, links between pages resolve, and the
architecture page names every Python package of the repository."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from support import REPO

DOCS = REPO / "docs"
ARCHITECTURE = DOCS / "architecture.md"
# Where the Python packages live; a root that does not exist (yet) is skipped.
PACKAGE_ROOTS = (
    "auth",
    "collector",
    "query",
    "server",
    "storage",
    "sdk/src",
    "alerting",
    "simulator",
    "proto",
)
# Generated protobuf stubs (proto/vigil_proto/<api>/v1) and the SDK's re-exports of them
# (sdk/src/vigil/<api>/v1) are named through their parent package.
GENERATED = re.compile(r"^(sdk/src/vigil|proto/vigil_proto)/[^/]+/v1(/|$)")
LINK = re.compile(r"\]\(([^)\s]+)\)")
README_MAX_LINES = 300
MAX_LINE = 120


def python_packages(repo: Path = REPO) -> list[str]:
    found = set()
    for root in PACKAGE_ROOTS:
        for init in (repo / root).rglob("__init__.py"):
            package = init.parent.relative_to(repo).as_posix()
            if not GENERATED.match(package) and "node_modules" not in package:
                found.add(package)
    return sorted(found)


def prose_lines(text: str) -> list[tuple[int, str]]:
    """Lines outside fenced code blocks, with their 1-based numbers."""
    lines, fenced = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced:
            lines.append((number, line))
    return lines


def links(page: Path) -> set[Path]:
    """Local targets of the markdown links on a page, resolved (anchors dropped)."""
    targets = set()
    for target in LINK.findall(page.read_text()):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue
        targets.add((page.parent / target.split("#", 1)[0]).resolve())
    return targets


def test_the_architecture_page_names_every_package() -> None:
    packages = python_packages()
    assert "collector/vigil_collector/wal" in packages and "sdk/src/vigil/query" in packages, packages
    page = ARCHITECTURE.read_text()
    missing = [p for p in packages if f"`{p}`" not in page and f"`{p}/`" not in page]
    assert not missing, f"packages that docs/architecture.md does not name (as `path/`): {missing}"


def test_the_package_check_sees_new_packages_and_skips_generated_ones(tmp_path: Path) -> None:
    for package in (
        "query/vigil_query",
        "query/vigil_query/new_area",
        "sdk/src/vigil/query/v1",
        "proto/vigil_proto/query/v1",
        "alerting/x",
    ):
        (tmp_path / package).mkdir(parents=True)
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "query" / "vigil_query" / "data").mkdir()  # no __init__.py: not a package
    assert python_packages(tmp_path) == ["alerting/x", "query/vigil_query", "query/vigil_query/new_area"]


def test_every_docs_page_is_linked() -> None:
    entry_points = links(REPO / "README.md") | links(ARCHITECTURE)
    top = sorted(DOCS.glob("*.md"))
    assert len(top) >= 10, top
    unlinked = [p.relative_to(REPO).as_posix() for p in top if p.resolve() not in entry_points]
    assert not unlinked, f"docs pages linked neither from README.md nor docs/architecture.md: {unlinked}"
    # Pages in sub-folders (docs/security/…) are reachable through their folder or by name
    # from some docs page.
    everywhere = set().union(*(links(p) for p in DOCS.rglob("*.md")))
    nested = [p for p in DOCS.rglob("*.md") if p.parent != DOCS]
    unreachable = [
        p.relative_to(REPO).as_posix()
        for p in nested
        if p.resolve() not in everywhere and p.parent.resolve() not in everywhere
    ]
    assert not unreachable, f"docs pages no page links to (nor their folder): {unreachable}"


def test_links_to_pages_resolve() -> None:
    broken = [
        f"{page.relative_to(REPO)} → {target}"
        for page in [REPO / "README.md", *DOCS.rglob("*.md")]
        for target in links(page)
        if target.suffix in {".md", ".csv", ".json"} and not target.exists()
    ]
    assert not broken, f"links to files that do not exist: {broken}"


def test_the_readme_is_a_short_quick_start() -> None:
    text = (REPO / "README.md").read_text()
    assert len(text.splitlines()) <= README_MAX_LINES, f"README.md has {len(text.splitlines())} lines"
    long = [f"{n}: {len(line)}" for n, line in prose_lines(text) if len(line) > MAX_LINE]
    assert not long, f"README.md lines over {MAX_LINE} characters outside code blocks: {long}"
    # tests/test_ui.py runs this block as the quick start.
    assert "<!-- quickstart:" in text and "```python\nimport vigil" in text.split("<!-- quickstart:", 1)[1]


def test_docs_prose_fits_in_120_columns() -> None:
    """Paragraphs and lists are wrapped; tables and code blocks may be wider."""
    long = [
        f"{page.relative_to(REPO)}:{n}"
        for page in DOCS.rglob("*.md")
        if page.name != "configuration.md"
        for n, line in prose_lines(page.read_text())
        if len(line) > MAX_LINE and not line.lstrip().startswith("|")
    ]
    assert not long, f"docs lines over {MAX_LINE} characters outside code blocks and tables: {long}"


def test_settings_doc_check_fails_on_a_stale_page(tmp_path: Path) -> None:
    page = tmp_path / "configuration.md"
    command = [sys.executable, "-m", "vigil_server.settings_doc", "--output", str(page)]
    assert subprocess.run(command, capture_output=True).returncode == 0
    assert "VIGIL_WAL_MAX_BYTES" in page.read_text()
    assert subprocess.run([*command, "--check"], capture_output=True).returncode == 0
    page.write_text(page.read_text().replace("VIGIL_WAL_MAX_BYTES", "VIGIL_WAL_MAX_BYTE"))
    stale = subprocess.run([*command, "--check"], capture_output=True, text=True)
    assert stale.returncode == 1 and "make docs" in stale.stderr


def test_no_file_cites_documents_outside_the_repository() -> None:
    """What a reader needs is in the repository's own docs: no citation of the workplace's
    design or reference pages, which a clone does not have."""
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True)
    outside = re.compile(r"\b(" + "|".join(("DESIGN", "REFERENCE", "STYLE")) + r")\.md\b")
    citing = [
        name
        for name in tracked.stdout.splitlines()
        if name.endswith((".py", ".sql", ".ts", ".proto", ".md", ".mjs"))
        and (REPO / name).is_file()
        and outside.search((REPO / name).read_text(errors="replace"))
    ]
    assert not citing, f"files citing the workplace's design pages, which are not in the repository: {citing}"
