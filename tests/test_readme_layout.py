"""The README's layout table matches the tree: every package is a row, every row that is not
marked coming is a package, and each row lists exactly the package's modules."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROOTS = ("network_models", "solvers", "gridderms", "scada_bridge", "api")
#: packages the table does not list on their own: Alembic's migration scripts
UNLISTED = {"gridderms/persistence/migrations/", "gridderms/persistence/migrations/versions/"}


def _layout_rows() -> dict[str, tuple[str, set[str]]]:
    """``{package/: (what it holds, {modules})}`` of the README's layout table."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, tuple[str, set[str]]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        package = cells[0].strip("`").split("`")[0]
        rows[package] = (cells[1], set(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", cells[2])))
    return rows


def _packages() -> dict[str, set[str]]:
    """``{package/: {modules}}`` of the tree (modules without ``__init__``/``__main__``)."""
    found: dict[str, set[str]] = {}
    for root in ROOTS:
        for init in sorted((REPO / root).rglob("__init__.py")):
            folder = init.parent
            name = folder.relative_to(REPO).as_posix() + "/"
            if name in UNLISTED:
                continue
            found[name] = {
                p.stem for p in folder.glob("*.py") if p.stem not in ("__init__", "__main__")
            }
    return found


def test_every_package_is_a_row_of_the_layout_table() -> None:
    missing = sorted(set(_packages()) - set(_layout_rows()))
    assert not missing, f"README layout table lacks rows for {missing}"


def test_every_row_is_a_package_or_marked_coming() -> None:
    packages = _packages()
    stale = [
        name
        for name, (what, _) in _layout_rows().items()
        if "/" in name.rstrip("/") or name.rstrip("/") in ROOTS
        if name not in packages and "coming" not in what
    ]
    assert not stale, f"README layout rows without a package (and not marked coming): {stale}"


def test_each_row_lists_exactly_its_packages_modules() -> None:
    rows = _layout_rows()
    wrong = {
        name: {"missing": sorted(modules - rows[name][1]), "stale": sorted(rows[name][1] - modules)}
        for name, modules in _packages().items()
        if name in rows and modules != rows[name][1]
    }
    assert not wrong, f"README layout table and tree disagree on modules: {wrong}"
