"""The code a task runs, derived from its source: what goes into a cache key besides the task's inputs.

Starting from the task function, every project name it uses is followed to its definition — a function, a class, or a
module-level constant, in this module or another one (through `import`s, function-level ones included, and through
packages that re-export names) — and so on from there. The key holds exactly the definitions reached. Nothing is
listed by hand: code a task starts to call is in its key from that moment, and code it never reaches (report wording,
other strategies' helpers, readers it does not use) stays out of it, even when it sits in a module the task imports.

Each definition is hashed as its syntax tree without docstrings, so comments, docstrings and formatting never
invalidate a cache, while any change to what the code does does. Code outside the project (libraries) is pinned by
the project's dependencies, not hashed here.
"""

from __future__ import annotations

import ast
import copy
import hashlib
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
WHOLE = "*"  # a unit name meaning "every definition of the module" (the module object itself is used as a value)

Unit = tuple[str, str]  # (module, top-level name defined there)


def module_file(name: str) -> Path | None:
    """The project file of a dotted module name (a package's __init__.py), or None for code outside the project."""
    if not name:
        return None
    base = PROJECT_ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@cache
def _parsed(module: str) -> ast.Module:
    """A project module's syntax tree, read from its file once per process."""
    return ast.parse(module_file(module).read_text(encoding="utf-8"))


def _targets(node: ast.AST) -> list[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.Assign):
        return [n.id for t in node.targets for n in ast.walk(t) if isinstance(n, ast.Name)]
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [node.target.id]
    return []


@cache
def _definitions(module: str) -> dict[str, tuple[ast.AST, ...]]:
    """Top-level name -> the statements that define it (defs, classes, assignments)."""
    found: dict[str, list[ast.AST]] = {}
    for node in _parsed(module).body:
        for name in _targets(node):
            found.setdefault(name, []).append(node)
    return {name: tuple(nodes) for name, nodes in found.items()}


def _absolute(module: str | None, level: int, current: str) -> str:
    """The absolute name of `from <level dots><module> import …` written in `current`."""
    if level == 0:
        return module or ""
    parts = current.split(".")
    if module_file(current).name != "__init__.py":
        parts = parts[:-1]
    parts = parts[: len(parts) - level + 1]
    return ".".join(parts + ([module] if module else []))


def _bindings_of(node: ast.AST, current: str) -> dict[str, tuple[str, str | None]]:
    """Names that import statements inside `node` bind: name -> (module, attribute) or (module, None) for a module."""
    bound: dict[str, tuple[str, str | None]] = {}
    for stmt in ast.walk(node):
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.asname:
                    bound[alias.asname] = (alias.name, None)
                else:  # `import a.b` binds `a`
                    bound[alias.name.split(".")[0]] = (alias.name.split(".")[0], None)
        elif isinstance(stmt, ast.ImportFrom):
            base = _absolute(stmt.module, stmt.level, current)
            for alias in stmt.names:
                bound[alias.asname or alias.name] = (base, alias.name)
    return bound


@cache
def _module_bindings(module: str) -> dict[str, tuple[str, str | None]]:
    return _bindings_of(
        ast.Module(
            body=[n for n in _parsed(module).body if isinstance(n, (ast.Import, ast.ImportFrom))], type_ignores=[]
        ),
        module,
    )


def _resolve(module: str, name: str | None, depth: int = 0) -> set[Unit]:
    """The definitions that `name` imported from `module` stands for (a submodule or None: the whole module)."""
    if module_file(module) is None or depth > 20:
        return set()
    if name is None:
        return {(module, WHOLE)}
    if module_file(f"{module}.{name}"):
        return {(f"{module}.{name}", WHOLE)}
    if name in _definitions(module):
        return {(module, name)}
    if name in _module_bindings(module):  # re-exported by a package's __init__
        target, attribute = _module_bindings(module)[name]
        return _resolve(target, attribute, depth + 1)
    return {(module, WHOLE)}  # defined some other way: count the whole module, to be safe


def _module_of(module: str, name: str | None) -> str | None:
    """The project module a binding names, if it names a module (for attribute access `module.name`)."""
    if module_file(module) is None:
        return None
    if name is None:
        return module
    if module_file(f"{module}.{name}"):
        return f"{module}.{name}"
    if name in _module_bindings(module) and name not in _definitions(module):
        return _module_of(*_module_bindings(module)[name])
    return None


def _annotation_ids(node: ast.AST) -> set[int]:
    """ids of the nodes in parameter and return annotations: types document a signature, they do not run."""
    skip: set[int] = set()
    for fn in ast.walk(node):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            a = fn.args
            for annotation in [
                x.annotation for x in (*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg) if x
            ] + [fn.returns]:
                if annotation is not None:
                    skip.update(id(n) for n in ast.walk(annotation))
    return skip


def _references(module: str, nodes: tuple[ast.AST, ...]) -> set[Unit]:
    """The definitions that some code of `module` refers to."""
    found: set[Unit] = set()
    definitions = _definitions(module)
    for node in nodes:
        bindings = {**_module_bindings(module), **_bindings_of(node, module)}
        skip = _annotation_ids(node)
        attribute_roots: set[int] = set()
        for sub in ast.walk(node):
            if isinstance(sub, ast.Attribute) and id(sub) not in skip:
                chain, root = [sub.attr], sub.value
                while isinstance(root, ast.Attribute):
                    chain.append(root.attr)
                    root = root.value
                if isinstance(root, ast.Name) and root.id in bindings and root.id not in definitions:
                    target = _module_of(*bindings[root.id])
                    for attr in reversed(chain):  # walk a.b.c down through submodules
                        if target is None:
                            break
                        deeper = _module_of(target, attr)
                        if deeper is None:
                            found |= _resolve(target, attr)
                            target = None
                            break
                        target = deeper
                    if target is not None:
                        found.add((target, WHOLE))
                    attribute_roots.add(id(root))
        for sub in ast.walk(node):
            if (
                not isinstance(sub, ast.Name)
                or not isinstance(sub.ctx, ast.Load)
                or id(sub) in skip
                or id(sub) in attribute_roots
            ):
                continue
            if sub.id in definitions:
                found.add((module, sub.id))
            elif sub.id in bindings:
                found |= _resolve(*bindings[sub.id])
    return found


def _unit_nodes(unit: Unit, strip_decorators: bool = False) -> tuple[ast.AST, ...]:
    module, name = unit
    if name == WHOLE:
        return tuple(_parsed(module).body)
    nodes = _definitions(module).get(name, ())
    if strip_decorators:
        nodes = tuple(_without_decorators(n) for n in nodes)
    return nodes


def _without_decorators(node: ast.AST) -> ast.AST:
    """A task's decorator configures orchestration (retries, cache policy), not what the task computes."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.decorator_list:
        node = copy.copy(node)
        node.decorator_list = []
    return node


def code_dependencies(fn: Callable[..., Any]) -> list[Unit]:
    """Every project definition `fn` reaches, sorted: (module, name), name WHOLE for a module used as a value."""
    start: Unit = (fn.__module__, fn.__name__)
    seen: set[Unit] = set()
    todo = [start]
    while todo:
        unit = todo.pop()
        if unit in seen:
            continue
        seen.add(unit)
        todo.extend(_references(unit[0], _unit_nodes(unit, strip_decorators=unit == start)) - seen)
    return sorted(seen)


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                node.body = body[1:] or [ast.Pass()]
    return tree


@cache
def code_digest(fn: Callable[..., Any]) -> str:
    """sha256 of every project definition `fn` reaches, as syntax trees without docstrings.

    Computed once per process: a long-running worker keys its tasks by the code it imported.
    """
    start = (fn.__module__, fn.__name__)
    digest = hashlib.sha256()
    for unit in code_dependencies(fn):
        for node in _unit_nodes(unit, strip_decorators=unit == start):
            tree = _strip_docstrings(copy.deepcopy(node))
            digest.update(
                f"{unit[0]}:{unit[1]}".encode() + b"\0" + ast.dump(tree, include_attributes=False).encode() + b"\0"
            )
    return digest.hexdigest()
