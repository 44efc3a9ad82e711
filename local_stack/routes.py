"""`python -m local_stack.routes`: write the API's route table into the core layer
(`billing/api/routes.py`) from template.yaml, so a function knows every method of a path it
serves (405 with `Allow`, OPTIONS) without template.yaml at run time. A test keeps it current."""

from __future__ import annotations

from pathlib import Path

from .template import Stack

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "layers" / "billing" / "billing" / "api" / "routes.py"
PREFIX = "/api/billing"


def route_table(stack: Stack) -> dict[str, tuple[str, ...]]:
    methods: dict[str, set[str]] = {}
    for route in stack.api_routes():
        if route.method != "ANY":
            methods.setdefault(route.path.removeprefix(PREFIX), set()).add(route.method)
    return {path: tuple(sorted(found)) for path, found in sorted(methods.items())}


def render(table: dict[str, tuple[str, ...]]) -> str:
    lines = [
        '"""Every route of the API: path (under /api/billing) -> its methods. Generated from',
        'template.yaml by `python -m local_stack.routes`; tests/unit/test_contract.py keeps it current."""',
        "",
        "ROUTES: dict[str, tuple[str, ...]] = {",
        *(f'    "{path}": {_tuple(methods)},' for path, methods in table.items()),
        "}",
        "",
    ]
    return "\n".join(lines)


def _tuple(methods: tuple[str, ...]) -> str:
    quoted = ", ".join(f'"{m}"' for m in methods)
    return f"({quoted},)" if len(methods) == 1 else f"({quoted})"


def main() -> None:
    TABLE.write_text(render(route_table(Stack(ROOT / "template.yaml"))))
    print(f"wrote {TABLE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
