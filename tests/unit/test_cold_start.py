"""A function loads with the garbage collector paused, and leaves it running, with what it loaded
frozen (billing/cold_start.py)."""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = sorted(path for path in (ROOT / "functions").glob("*/app.py") if path.parent.name != "authorizer")
TABLES = ("PLANS", "SUBSCRIPTIONS", "USAGE_EVENTS", "CREDIT_LEDGER", "INVOICES", "IDEMPOTENCY", "OUTBOX")


def fresh_interpreter(code: str) -> dict:
    env = os.environ | {f"{table}_TABLE": "t" for table in TABLES} | {"AWS_DEFAULT_REGION": "us-east-1"}
    env["PYTHONPATH"] = str(ROOT / "layers" / "billing")
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(run.stdout.splitlines()[-1])


def test_a_function_loads_with_the_collector_paused_and_leaves_it_running_with_its_objects_frozen():
    seen = fresh_interpreter(
        "import gc, importlib.util, json, sys\n"
        "collections = []\n"
        "def seen(phase, info):  # from the pause on (the package's own import may collect before it)\n"
        "    if phase == 'start' and 'billing.cold_start' in sys.modules:\n"
        "        collections.append(info['generation'])\n"
        "gc.callbacks.append(seen)\n"
        f"spec = importlib.util.spec_from_file_location('app', {str(ROOT / 'functions/usage_recording/app.py')!r})\n"
        "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        "print(json.dumps({'collections': len(collections), 'enabled': gc.isenabled(),"
        " 'frozen': gc.get_freeze_count()}))"
    )
    assert seen["collections"] == 0, "no collection while the function loads"
    assert seen["enabled"], "the collector runs again once the handler is built"
    assert seen["frozen"] > 10_000, "what the function loaded is frozen"


def test_a_process_that_paused_the_collector_itself_keeps_it_paused():
    seen = fresh_interpreter(
        "import gc, json\n"
        "gc.disable()\n"
        "import billing.cold_start\n"
        "from billing.observability import instrumented\n"
        "instrumented(lambda event, context: None)\n"
        "print(json.dumps({'enabled': gc.isenabled()}))"
    )
    assert not seen["enabled"]


def test_every_function_pauses_the_collector_before_it_imports_anything_else():
    for app in FUNCTIONS:
        tree = ast.parse(app.read_text())
        imports = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
        first = imports[0]
        assert isinstance(first, ast.Import) and first.names[0].name == "billing.cold_start", app
