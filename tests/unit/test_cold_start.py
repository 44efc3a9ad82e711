"""A function loads with the garbage collector paused, and leaves it running, with what it loaded
frozen (billing/cold_start.py)."""

import ast
import json
import subprocess
import sys
from pathlib import Path

from .lambda_env import function_environment

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = sorted(path for path in (ROOT / "functions").glob("*/app.py") if path.parent.name != "authorizer")


def fresh_interpreter(code: str) -> dict:
    env = function_environment()
    env["PYTHONPATH"] = str(ROOT / "layers" / "billing")
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(run.stdout.splitlines()[-1])


def test_a_function_loads_and_makes_its_client_with_the_collector_paused_then_leaves_it_running_frozen():
    seen = fresh_interpreter(
        "import gc, importlib.util, json, sys\n"
        "collections = []\n"
        "def seen(phase, info):  # from the pause on (the package's own import may collect before it)\n"
        "    if phase == 'start' and 'billing.cold_start' in sys.modules:\n"
        "        collections.append(info['generation'])\n"
        "gc.callbacks.append(seen)\n"
        f"spec = importlib.util.spec_from_file_location('app', {str(ROOT / 'functions/usage_recording/app.py')!r})\n"
        "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        "from billing import deployment\n"
        "print(json.dumps({'collections': len(collections), 'enabled': gc.isenabled(),"
        " 'frozen': gc.get_freeze_count(), 'clients': deployment.dynamodb.cache_info().currsize}))"
    )
    assert seen["collections"] == 0, "no collection while the function loads"
    assert seen["clients"] == 1, "its DynamoDB client is made at init, with the collector paused"
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


def test_the_invoicing_run_reads_the_due_index_without_the_subscription_store_or_the_credit_and_usage_domains():
    # Its cold start and first run: it reads index keys and sends ids, nothing more.
    seen = fresh_interpreter(
        "import importlib.util, json, os, sys\n"
        "os.environ.update(AWS_ACCESS_KEY_ID='x', AWS_SECRET_ACCESS_KEY='x')\n"
        f"spec = importlib.util.spec_from_file_location('app', {str(ROOT / 'functions/invoicing_run/app.py')!r})\n"
        "app = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(app)\n"
        "from botocore.stub import Stubber\n"
        "from billing import deployment\n"
        "stub = Stubber(deployment.dynamodb())\n"
        "for _ in range(32):  # each shard of both residencies: nothing due\n"
        "    stub.add_response('query', {'Items': []})\n"
        "stub.activate()\n"
        "report = app.run({'time': '2026-01-01T00:00:00Z'}, None)\n"
        "stub.assert_no_pending_responses()\n"
        "ours = sorted(name for name in sys.modules if name.startswith('billing.'))\n"
        "print(json.dumps({'report': report, 'modules': ours}))"
    )
    assert seen["report"]["subscriptions_due"] == 0
    loaded = set(seen["modules"])
    assert "billing.store.due_index" in loaded, "the run read the due index"
    unneeded = {"billing.store.dynamodb_subscriptions", "billing.domain.credits", "billing.domain.usage"}
    assert not loaded & unneeded


def test_reading_usage_and_exporting_documents_load_neither_the_credit_write_nor_the_credit_domain():
    # Their cold start and the stores their first request builds: they only read.
    for function, stores in (
        ("usage_reporting", ("subscription_store", "usage_store", "invoice_store")),
        ("document_export", ("subscription_store", "invoice_store")),
    ):
        seen = fresh_interpreter(
            "import importlib.util, json, sys\n"
            f"spec = importlib.util.spec_from_file_location('app', {str(ROOT / 'functions' / function / 'app.py')!r})\n"
            "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
            "from billing import deployment\n"
            + "".join(f"deployment.{store}()\n" for store in stores)
            + "print(json.dumps(sorted(name for name in sys.modules if name.startswith('billing.'))))"
        )
        loaded = set(seen)
        assert "billing.store.dynamodb_subscriptions" in loaded, "the stores were built"
        writing = {"billing.domain.credits", "billing.services.credit_write", "billing.services.subscriptions"}
        assert not loaded & writing, function


def test_every_function_makes_the_client_its_requests_use_as_it_loads():
    # The outbox publisher publishes to EventBridge; every other function reads and writes DynamoDB.
    made = fresh_interpreter(
        "import importlib.util, json\n"
        "from billing import deployment\n"
        "made = {}\n"
        f"for n, path in enumerate({[str(app) for app in FUNCTIONS]!r}):\n"
        "    deployment.reset()\n"
        "    spec = importlib.util.spec_from_file_location(f'app{n}', path)\n"
        "    spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        "    clients = {'dynamodb': deployment.dynamodb, 'events': deployment.events_publisher}\n"
        "    made[path.split('/')[-2]] = sorted(k for k, cached in clients.items() if cached.cache_info().currsize)\n"
        "print(json.dumps(made))"
    )
    expected = {app.parent.name: ["dynamodb"] for app in FUNCTIONS} | {"outbox_publisher": ["events"]}
    assert made == expected
