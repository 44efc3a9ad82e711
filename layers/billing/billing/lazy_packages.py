"""Cold start: two Powertools packages whose `__init__` re-exports everything they ship, so that
importing the one resolver we use loads all of them. `aws_lambda_powertools.event_handler`
imports every resolver (AppSync brings asyncio; Bedrock, VPC Lattice, ...) and
`aws_lambda_powertools.utilities.data_classes` every event class: together ~50 ms of a ~270 ms
budget, for nothing a billing function calls.

`lazily()` registers such a package without running its `__init__`: its submodules import as
usual, and each name the `__init__` re-exports is loaded from its own submodule on first use
(`from package import Name` included). Only a package whose `__init__` is nothing but a
docstring, `from ... import` lines and `__all__` is treated so; any other is imported as usual."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from types import ModuleType

LAZY = ("aws_lambda_powertools.event_handler", "aws_lambda_powertools.utilities.data_classes")


def lazily(name: str) -> None:
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None or not spec.submodule_search_locations:
        return
    with open(spec.origin, encoding="utf-8") as source:
        tree = ast.parse(source.read())
    exports: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            module = importlib.util.resolve_name("." * node.level + (node.module or ""), name)
            exports.update({alias.asname or alias.name: f"{module}:{alias.name}" for alias in node.names})
        elif not (
            (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))
            or (isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["__all__"])
        ):
            return  # the __init__ does more than re-export: leave it alone
    package = importlib.util.module_from_spec(spec)  # __path__ set, __init__ not run

    def __getattr__(attribute: str):  # noqa: N807 - PEP 562's module hook
        if attribute not in exports:
            raise AttributeError(f"module {name!r} has no attribute {attribute!r}")
        module, _, exported = exports[attribute].partition(":")
        found = getattr(importlib.import_module(module), exported)
        setattr(package, attribute, found)
        return found

    package.__getattr__ = __getattr__
    sys.modules[name] = package
    parent, _, child = name.rpartition(".")
    setattr(importlib.import_module(parent), child, package)


def lean_powertools() -> ModuleType:
    """Powertools' REST resolver module, with its two heavy packages registered lazily first."""
    for name in LAZY:
        lazily(name)
    return importlib.import_module("aws_lambda_powertools.event_handler.api_gateway")
