"""The code a task runs, derived from its source: what goes into a cache key besides the task's inputs.

A task's code is its own function, the functions and classes of its module it refers to, and every project module
those refer to, followed through the import graph (imports inside functions included, since they run too). Nothing
is listed by hand, so a module a task starts to use is in its key from that moment, and report-only code that the task
never reaches stays out of it.

Each piece is hashed as its syntax tree without docstrings, so comments, docstrings and formatting never invalidate a
cache, while any change to what the code does does.
"""

from __future__ import annotations

import ast
import copy
import hashlib
import inspect
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def module_file(name: str) -> Path | None:
    """The project file of a dotted module name (a package's __init__.py), or None for code outside the project."""
    base = PROJECT_ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file() and ".venv" not in candidate.parts and "site-packages" not in candidate.parts:
            return candidate
    return None


def _resolve(module: str, level: int, current: str, is_package: bool) -> str:
    """The absolute name of `from <level dots><module> import …` written in `current`."""
    if level == 0:
        return module
    parts = current.split(".")
    keep = len(parts) - level + (1 if is_package else 0)
    base = ".".join(parts[:keep])
    return f"{base}.{module}" if module else base


def imported_modules(tree: ast.AST, current: str = "", is_package: bool = False) -> set[str]:
    """Project modules that a piece of code imports, anywhere in it (function-level imports count: they run too).

    `from package import name` counts the submodule when `name` is one, else the package itself.
    """
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if module_file(alias.name):
                    found.add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node.module or "", node.level, current, is_package)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if module_file(sub):
                    found.add(sub)
                elif module_file(base):
                    found.add(base)
    return found


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


@cache
def _parsed(name: str) -> ast.Module:
    """A project module's syntax tree, read from its file once per process."""
    return ast.parse(module_file(name).read_text(encoding="utf-8"))


@cache
def _module_tree(name: str) -> tuple[str, frozenset[str]]:
    """(normalized source, directly imported project modules) of one module."""
    tree = _parsed(name)
    imports = imported_modules(tree, name, module_file(name).name == "__init__.py")
    return ast.dump(_strip_docstrings(copy.deepcopy(tree)), include_attributes=False), frozenset(imports - {name})


def _definition(obj: Any) -> ast.AST:
    """The top-level `def` or `class` of an object in its module's file."""
    for node in _parsed(obj.__module__).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == obj.__name__:
            return node
    raise LookupError(f"{obj.__module__}.{obj.__qualname__} is not defined at the top level of its module's file")


def module_closure(names: set[str]) -> set[str]:
    """The modules and every project module they import, transitively."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen or module_file(name) is None:
            continue
        seen.add(name)
        todo.extend(_module_tree(name)[1])
    return seen


def _annotation_nodes(tree: ast.AST) -> set[int]:
    """ids of the nodes inside type annotations of parameters and returns: types document a signature, they do not run."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        annotations = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args
            annotations = [a.annotation for a in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg) if a]
            annotations.append(node.returns)
        for annotation in annotations:
            if annotation is not None:
                skip.update(id(n) for n in ast.walk(annotation))
    return skip


def _referenced(fn_or_cls: Any) -> tuple[set[str], list[Any]]:
    """(project modules, objects of its own module) that a function or class refers to by global name."""
    tree = _definition(fn_or_cls)
    namespace = getattr(fn_or_cls, "__globals__", None) or vars(inspect.getmodule(fn_or_cls))
    home = fn_or_cls.__module__
    modules = imported_modules(tree, home)
    local: list[Any] = []
    skip = _annotation_nodes(tree)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Name) or not isinstance(node.ctx, ast.Load) or node.id not in namespace or id(node) in skip:
            continue
        value = namespace[node.id]
        if isinstance(value, ModuleType):
            if module_file(value.__name__):
                modules.add(value.__name__)
        elif getattr(value, "__module__", None) == home and (inspect.isfunction(value) or inspect.isclass(value)):
            local.append(value)
        elif module_file(getattr(value, "__module__", "") or ""):
            modules.add(value.__module__)
    return modules, local


def code_dependencies(fn: Callable[..., Any]) -> tuple[dict[str, Any], list[str]]:
    """({name: object} of the function's own module that it reaches, project modules it reaches, sorted)."""
    seen: dict[str, Any] = {}
    modules: set[str] = set()
    todo = [fn]
    while todo:
        obj = todo.pop()
        name = f"{obj.__module__}.{obj.__qualname__}"
        if name in seen:
            continue
        seen[name] = obj
        found, local = _referenced(obj)
        modules |= found
        todo.extend(local)
    home = fn.__module__
    closure = module_closure(modules - {home})
    closure.discard(home)  # the task's own module is represented by the objects it reaches, not its whole file
    return dict(sorted(seen.items())), sorted(closure)


@cache
def code_digest(fn: Callable[..., Any]) -> str:
    """sha256 of everything `fn` runs in this project: its objects' and modules' normalized sources.

    Computed once per process: a long-running worker keys its tasks by the code it imported.
    """
    objects, modules = code_dependencies(fn)
    digest = hashlib.sha256()
    for name, obj in objects.items():
        node = _strip_docstrings(copy.deepcopy(_definition(obj)))
        digest.update(name.encode() + b"\0" + ast.dump(node, include_attributes=False).encode() + b"\0")
    for name in modules:
        digest.update(name.encode() + b"\0" + _module_tree(name)[0].encode() + b"\0")
    return digest.hexdigest()
