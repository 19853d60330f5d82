"""The import rule import-linter cannot see: server/ never names app/, the launcher or Qt as
a module to load at run time (``importlib.import_module("app.main")``) either.

The static rules (no such imports, the server's layers, no circles) are import-linter's
contracts in pyproject.toml, run by ``make lint``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

SERVER = Path(__file__).resolve().parent.parent / "server"
# A string that is a module path under one of these packages ("app", "app.main").
MODULE_NAME = re.compile(r"^(app|launcher|PySide6|shiboken6)(\.[A-Za-z_][\w.]*)?$")


def _module_names(tree: ast.AST) -> list[str]:
    """The strings in ``tree`` that name a forbidden module (what importlib would load)."""
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and MODULE_NAME.match(node.value)
    ]


def test_server_names_no_desktop_module() -> None:
    offending = [
        f"{path.relative_to(SERVER.parent)}: {name}"
        for path in sorted(SERVER.rglob("*.py"))
        for name in _module_names(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert not offending


def test_the_check_sees_a_module_named_for_importlib() -> None:
    tree = ast.parse('DESKTOP = "app.main"\nimportlib.import_module(DESKTOP)\nx = "apply"\n')
    assert _module_names(tree) == ["app.main"]


def test_test_modules_have_unique_names() -> None:
    """pytest imports test files by their base name (the test folders are not packages): two
    files of one name in two folders stop the whole run at collection."""
    names = [p.name for p in (SERVER.parent / "tests").rglob("test_*.py")]
    assert sorted(n for n in set(names) if names.count(n) > 1) == []
