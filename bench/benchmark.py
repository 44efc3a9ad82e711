"""`make bench`: the design's performance targets, measured in one run on this machine; the figures
go to docs/performance.md.

  cold start       importing + initialising a handler vs a bare boto3 import with one DynamoDB client
  service overhead a handler's latency vs the time spent inside the boto3 calls it makes (the
                   entitlement check's target is 1.2x: it makes only reads)
  what DynamoDB    requests, write units and our own code's CPU per usage event: single POST /usage,
  charges          a full POST /usage/batch, the usage bus one event an invocation and batched
  drafting         an invoice draft for a period of many events vs one of 10 events
  invoicing run    100 due among 50,000 subscriptions vs 100 due among 1,000 (run + its workers),
                   DynamoDB items read and write units per due subscription, our own code's CPU
  moto events/s    batch vs single POST /usage and bus batched vs one event an invocation, as
                   events per second through the local stack (secondary: moto's costs, not DynamoDB's)

The backend is the local stack's embedded moto server: its absolute speed is not DynamoDB's, so
times are reported as ratios, and what DynamoDB charges is counted (DESIGN.md: don't benchmark
moto as if it were DynamoDB)."""

from __future__ import annotations

import cProfile
import json
import os
import platform
import pstats
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "billing")]
os.environ.setdefault("BILLING_LOG_LEVEL", "ERROR")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")  # no EMF metrics lines in the report

# 25 pairs a function: in a probe of 50 pairs here, medians of 15 consecutive pairs ranged over
# ±0.035x of the whole run's, medians of 25 over ±0.01x.
COLD_RUNS = int(os.environ.get("BENCH_COLD_RUNS", "25"))
# Another version (a git ref such as `main`, or a checkout's directory) whose functions are measured
# in the same interleaved rounds as ours: before and after in one run, under the same load.
COLD_BASELINE = os.environ.get("BENCH_COLD_BASELINE")
COLD_FUNCTIONS = {name for name in os.environ.get("BENCH_COLD_FUNCTIONS", "").split(",") if name}  # all when unset
LATENCY_RUNS = int(os.environ.get("BENCH_LATENCY_RUNS", "60"))
SINGLE_EVENTS = int(os.environ.get("BENCH_SINGLE_EVENTS", "200"))
BATCHES = int(os.environ.get("BENCH_BATCHES", "5"))
DRAFT_EVENTS = int(os.environ.get("BENCH_DRAFT_EVENTS", "5000"))  # 100,000 works, but loading it into moto takes long
INVOICING_SMALL = int(os.environ.get("BENCH_INVOICING_SMALL", "1000"))
INVOICING_LARGE = int(os.environ.get("BENCH_INVOICING_LARGE", "50000"))
INVOICING_DUE = 100
INVOICING_ROUNDS = int(os.environ.get("BENCH_INVOICING_ROUNDS", "3"))  # timed; one more, profiled
BUS_SINGLE_EVENTS = int(os.environ.get("BENCH_BUS_SINGLE_EVENTS", "200"))
BUS_ROUNDS = int(os.environ.get("BENCH_BUS_ROUNDS", "5"))  # each: singles, then one queue of 100 events


REPORT = ROOT / "docs" / "performance.md"
LINES: list[dict[str, str]] = []


def line(name: str, ratio: float, target: str, ok: bool, detail: str, *, unit: str = "x") -> None:
    figure = f"{ratio:.2f}{unit}" if unit == "x" else f"{ratio:.3g} {unit}".strip()
    print(f"{name:<40} {figure:>10}  target {target:<9} {'ok  ' if ok else 'MISS'}  {detail}", flush=True)
    LINES.append(
        {"name": name, "figure": figure, "target": target, "verdict": "ok" if ok else "MISS", "detail": detail}
    )


# --- cold start ---------------------------------------------------------------------------------

LAMBDA_SITE = ROOT / ".bench" / "lambda-site"


def lambda_site() -> Path:
    """What a function sees in Lambda: the layer's pinned requirements and the runtime's boto3,
    nothing from the dev environment (which holds moto, the X-Ray SDK and more)."""
    stamp = LAMBDA_SITE / ".requirements"
    wanted = (ROOT / "layers" / "billing" / "requirements.txt").read_text() + (
        ROOT / "functions" / "authorizer" / "requirements.txt"
    ).read_text()
    if not stamp.exists() or stamp.read_text() != wanted:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--target",
                str(LAMBDA_SITE),
                "--upgrade",
                "-r",
                str(ROOT / "layers" / "billing" / "requirements.txt"),
                "-r",
                str(ROOT / "functions" / "authorizer" / "requirements.txt"),
                "boto3==1.44.5",
            ],
            check=True,
            capture_output=True,
        )
        stamp.write_text(wanted)
    return LAMBDA_SITE


def compile_sources(root: Path = ROOT) -> None:
    """Bytecode for the layer and the functions, as the pinned dependencies have it (pip writes it
    when it installs them): a cold start is then imports and initialisation, as with the baseline,
    whatever PYTHONDONTWRITEBYTECODE says. Deployed, the layer's Makefile compiles it all too
    (docs/performance.md); the functions' own modules are compiled on their cold start."""
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    sources = [str(root / "layers" / "billing" / "billing"), str(root / "functions")]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *sources], env=environment, check=True)


def _fresh_interpreter_seconds(code: str, env: dict[str, str]) -> float:
    """The CPU time `code` takes in a fresh interpreter. CPU, not wall time: on this shared 2-core
    machine wall time mostly measures the neighbours' load (a baseline swung from 260 to 600 ms);
    an import is CPU work on files already in the page cache, as on a warm Lambda host."""
    timer = f"import time as _t\n_s=_t.process_time()\n{code}\nprint(_t.process_time()-_s)"
    run = subprocess.run([sys.executable, "-S", "-c", timer], env=env, capture_output=True, text=True, check=True)
    return float(run.stdout.split()[-1])


def _function_cases(root: Path, env: dict[str, str]) -> dict[str, tuple[str, dict[str, str]]]:
    """Each function of the checkout at `root`: the code that loads it as Lambda's init does (the
    function makes the client its requests use as it loads, `deployment.connect()`: one client, as
    the baseline makes), and its environment from that template."""
    from local_stack.server import local_parameters
    from local_stack.template import Stack

    cases = {}
    for name, spec in sorted(Stack(root / "template.yaml", local_parameters(dict(os.environ))).functions().items()):
        load = "\n".join(
            [
                "import importlib.util",
                f"s=importlib.util.spec_from_file_location('app', {str(spec.module_file)!r})",
                "m=importlib.util.module_from_spec(s)",
                "s.loader.exec_module(m)",
            ]
        )
        if name != "AuthorizerFunction":  # a checkout from before `connect`: its client, as the bench made it
            load += "\nfrom billing import deployment\nif not hasattr(deployment, 'connect'): deployment.dynamodb()"
        layer = f"{lambda_site()}{os.pathsep}{root / 'layers' / 'billing'}"
        cases[name] = (load, {**env, **spec.environment, "PYTHONPATH": layer})
    return cases


def baseline_checkout(version: str) -> tuple[Path, str]:
    """BENCH_COLD_BASELINE's tree and how the lines name it: a directory as it is, or a git ref
    exported (`git archive`) to .bench/baseline."""
    if Path(version).is_dir():
        return Path(version), version
    commit = subprocess.run(
        ["git", "rev-parse", "--short", version], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    tree = ROOT / ".bench" / "baseline"
    shutil.rmtree(tree, ignore_errors=True)
    tree.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", commit], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree, f"{version} ({commit})"


def cold_start() -> None:
    """Each function's runs are interleaved with the baseline's (baseline, function, baseline, ...),
    so a neighbour's load on this shared machine weighs on both alike; medians of COLD_RUNS each.
    With BENCH_COLD_BASELINE, that checkout's function runs in the same rounds (its own pair)."""
    env = {
        **os.environ,
        "PYTHONPATH": f"{lambda_site()}{os.pathsep}{ROOT / 'layers' / 'billing'}",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
    }
    env.pop("POWERTOOLS_TRACE_DISABLED", None)  # as deployed
    compile_sources()
    bare = "import boto3\nboto3.client('dynamodb')"
    # What every billing function loads before any code of ours: pydantic, Powertools' logger,
    # metrics and REST resolver. Shown, not judged: it says how much of the 1.5x our code has left.
    libraries = "\n".join(
        [
            "from pydantic import BaseModel, ConfigDict",
            "class Floor(BaseModel):",
            "    model_config = ConfigDict(defer_build=True)",
            "    a: int",
            "from aws_lambda_powertools import Logger, Metrics",
            "Logger(), Metrics()",
            "from billing.lazy_packages import lean_powertools",
            "lean_powertools()",
        ]
    )
    # The functions load all of it with the garbage collector paused (billing/cold_start.py): this
    # floor is the one their ratios are to be read against.
    paused = "import gc\ngc.disable()\n" + bare + "\n" + libraries + "\ngc.freeze()\ngc.enable()"
    # Part of what the pause saves a function is boto3's own import: this line says how much.
    bare_paused = "import gc\ngc.disable()\n" + bare
    cases = [
        ("floor (boto3 + pydantic + Powertools)", bare + "\n" + libraries, env, None),
        ("floor, collector paused", paused, env, None),
        ("boto3 + client alone, collector paused", bare_paused, env, None),
    ]
    before, baseline_name = {}, ""
    if COLD_BASELINE:
        baseline_tree, baseline_name = baseline_checkout(COLD_BASELINE)
        compile_sources(baseline_tree)
        before = _function_cases(baseline_tree, env)
    for name, (code, environment) in _function_cases(ROOT, env).items():
        if not COLD_FUNCTIONS or name in COLD_FUNCTIONS:
            cases.append((name, code, environment, before.get(name)))
    for name, code, environment, baseline_case in cases:
        baseline_runs, function_runs, before_ratios = [], [], []
        for _ in range(COLD_RUNS):
            baseline_runs.append(_fresh_interpreter_seconds(bare, env))
            function_runs.append(_fresh_interpreter_seconds(code, environment))
            if baseline_case:
                before_ratios.append(
                    _fresh_interpreter_seconds(baseline_case[0], baseline_case[1])
                    / _fresh_interpreter_seconds(bare, env)
                )
        # Each run against the baseline run just before it: neighbours' load drifts by the second.
        ratio = statistics.median(f / b for f, b in zip(function_runs, baseline_runs, strict=True))
        seconds, baseline = statistics.median(function_runs), statistics.median(baseline_runs)
        detail = (
            f"{seconds * 1000:.0f} ms vs boto3 {baseline * 1000:.0f} ms (CPU; median of {COLD_RUNS} interleaved pairs)"
        )
        if before_ratios:
            detail += f"; {baseline_name}: {statistics.median(before_ratios):.2f}x in the same rounds"
        if name.startswith(("floor", "boto3")):
            print(f"{'cold start ' + name:<40} {ratio:>9.2f}x  (no target: for reading the functions' lines)")
            LINES.append(
                {
                    "name": f"cold start {name}",
                    "figure": f"{ratio:.2f}x",
                    "target": "none",
                    "verdict": "info",
                    "detail": detail,
                }
            )
            continue
        line(f"cold start {name}", ratio, "<= 1.5", ratio <= 1.5, detail)


# --- handler overhead -----------------------------------------------------------------------------


class BotoTimer:
    """Time spent inside DynamoDB calls, from botocore's own before/after-call events."""

    def __init__(self, client):
        self.spent = 0.0
        self._started: list[float] = []
        client.meta.events.register("before-call.dynamodb", lambda **_: self._started.append(time.perf_counter()))
        client.meta.events.register("after-call.dynamodb", lambda **_: self._stop())

    def _stop(self) -> None:
        self.spent += time.perf_counter() - self._started.pop()


def api_event(name: str, *, body=None, path_parameters=None, authorizer=None) -> dict:
    event = json.loads((ROOT / "events" / name).read_text())
    if body is not None:
        event["body"] = json.dumps(body)
    if path_parameters:
        event["pathParameters"] = path_parameters
        path = event["resource"]
        for key, value in path_parameters.items():
            path = path.replace("{" + key + "}", value)
        event["path"] = path
    if authorizer:
        event["requestContext"]["authorizer"] = authorizer
    return event


ADMIN = {"principalId": "bench", "sub": "bench", "roles": '["marketplace:admin"]', "org": "", "residency": "us"}
SERVICE = {"principalId": "svc", "sub": "svc", "roles": '["service"]', "org": "", "residency": "us"}


def overhead(stack, org: str, subscription_id: str) -> None:
    from billing import deployment

    timer = BotoTimer(deployment.dynamodb())
    cases = {
        "GET /plans/{plan_id}": ("PlanCatalogFunction", lambda: api_event("plan_catalog/get_plan.json"), 1.3),
        "GET /subscriptions/{id}": (
            "SubscriptionsFunction",
            lambda: api_event(
                "subscriptions/get_subscription.json",
                path_parameters={"subscription_id": subscription_id},
                authorizer=ADMIN,
            ),
            1.3,
        ),
        "POST /usage": (
            "UsageRecordingFunction",
            lambda: api_event(
                "usage_recording/record_usage.json",
                authorizer=SERVICE,
                body={
                    "organization_id": org,
                    "service": "planner",
                    "quantity": "1",
                    "idempotency_key": uuid.uuid4().hex,
                },
            ),
            1.3,
        ),
        # DESIGN.md: the check costs at most 1.2x the DynamoDB reads it makes (guard, subscription).
        "POST /entitlements/check": (
            "HoldsFunction",
            lambda: api_event(
                "holds/check_entitlement.json",
                authorizer=SERVICE,
                body={"organization_id": org, "service": "planner", "quantity": "3"},
            ),
            1.2,
        ),
    }
    for name, (function_id, make_event, target) in cases.items():
        function = stack.functions[function_id]
        function.invoke(make_event())  # warm: cold start is measured above
        ratios = []
        for _ in range(LATENCY_RUNS):
            event = make_event()
            timer.spent = 0.0
            started = time.perf_counter()
            result = function.invoke(event)
            total = time.perf_counter() - started
            assert result["statusCode"] < 300, result
            ratios.append(total / timer.spent)
        ratio = statistics.median(ratios)
        line(f"handler overhead {name}", ratio, f"<= {target}", ratio <= target, f"median of {LATENCY_RUNS}")


# --- usage: single, batch ----------------------------------------------------------------------------


def usage_paths(stack, org: str, meter: DynamoMeter) -> None:
    """One hot subscription's usage, one event a POST /usage vs a full POST /usage/batch of 100:
    what DynamoDB charges per event (metered), our own code's CPU per event in a full batch
    (profiled), then events/s through the local stack (secondary: those are moto's costs)."""
    function = stack.functions["UsageRecordingFunction"]

    def usage() -> dict:
        return {
            "organization_id": org,
            "service": "analytics",
            "quantity": "1",
            "idempotency_key": f"bench-{uuid.uuid4().hex}",
        }

    def single() -> dict:
        return api_event("usage_recording/record_usage.json", authorizer=SERVICE, body=usage())

    def singles() -> list[dict]:
        return [single() for _ in range(20)]

    def batch() -> dict:
        return api_event(
            "usage_recording/record_usage_batch.json",
            authorizer=SERVICE,
            body={"events": [usage() for _ in range(100)]},
        )

    def recorded(result: dict, status: int) -> dict:
        assert result["statusCode"] == status, result
        return json.loads(result["body"])

    single_charge = charged(
        meter, [lambda event=event: recorded(function.invoke(event), 201) for event in singles()], 20
    )
    full = batch()
    report: dict = {}
    batch_charge = charged(meter, [lambda: report.update(recorded(function.invoke(full), 200))], 100)
    assert report["write_units"]["accepted_events"] == 100, "every batched event should be accepted"
    events = [batch() for _ in range(BATCHES)]
    own = statistics.median(own_code_seconds(lambda e=e: recorded(function.invoke(e), 200))[0] / 100 for e in events)
    profiled = profiled_own_code_seconds(lambda: recorded(function.invoke(batch()), 200)) / 100
    charge_lines(
        "usage",
        single_charge,
        batch_charge,
        own,
        profiled,
        f"POST /usage/batch of 100 (the service's own estimate: {report['write_units']['per_accepted_event']:.2f} "
        "write units/event)",
    )

    # Secondary, moto's speed: rounds alternate singles and batches so both meet the same table sizes.
    single_seconds = batch_seconds = 0.0
    per_round = SINGLE_EVENTS // BATCHES
    for _ in range(BATCHES):
        events = [single() for _ in range(per_round)]
        started = time.process_time()
        for event in events:
            recorded(function.invoke(event), 201)
        single_seconds += time.process_time() - started
        event = batch()
        started = time.process_time()
        recorded(function.invoke(event), 200)
        batch_seconds += time.process_time() - started
    single_rate, batch_rate = per_round * BATCHES / single_seconds, BATCHES * 100 / batch_seconds
    line(
        "usage (moto): batch vs single events/s",
        batch_rate / single_rate,
        ">= 20",
        batch_rate / single_rate >= 20,
        f"{batch_rate:.0f} vs {single_rate:.0f} events per CPU second, moto included (secondary)",
    )


def drafting(stack) -> None:
    """Drafting reads the period aggregate, so its cost must not follow the number of events."""
    usage_function, invoices = stack.functions["UsageRecordingFunction"], stack.functions["InvoicesFunction"]
    finance = {"principalId": "fin", "sub": "fin", "roles": '["finance"]', "org": "", "residency": "us"}

    def subscription_with(events: int) -> str:
        org = f"org-draft-{uuid.uuid4().hex[:6]}"
        provisioned = stack.functions["SubscriptionsFunction"].invoke(
            api_event(
                "subscriptions/provision.json",
                authorizer=ADMIN,
                body=json.loads(api_event("subscriptions/provision.json")["body"]),
                path_parameters={"organization_id": org},
            )
        )
        for start in range(0, events, 100):
            batch = [
                {"organization_id": org, "service": "analytics", "quantity": "1", "idempotency_key": f"d{i}"}
                for i in range(start, min(events, start + 100))
            ]
            usage_function.invoke(
                api_event("usage_recording/record_usage_batch.json", authorizer=SERVICE, body={"events": batch})
            )
        return json.loads(provisioned["body"])["subscription_id"]

    def draft_seconds(subscription_id: str) -> float:
        """CPU seconds of this process (the function and the embedded database) for one draft."""
        event = api_event(
            "invoices/draft_invoice.json",
            authorizer=finance,
            path_parameters={"subscription_id": subscription_id},
            body={},
        )
        started = time.process_time()
        assert invoices.invoke(event)["statusCode"] in (200, 201)
        return time.process_time() - started

    few, many = subscription_with(10), subscription_with(DRAFT_EVENTS)
    pairs = [(draft_seconds(many), draft_seconds(few)) for _ in range(30)]  # interleaved: the same load on both
    ratio = statistics.median(large / small for large, small in pairs)
    line(
        f"drafting {DRAFT_EVENTS} events vs 10",
        ratio,
        "<= 1.2",
        ratio <= 1.2,
        "CPU, function and local database; median of 30 interleaved pairs of drafts",
    )


# --- what DynamoDB charges, and our own code's CPU -------------------------------------------------


class DynamoMeter:
    """What DynamoDB would charge for the calls made on the deployment's client while `on`: the
    requests, the items read (GetItem found, Query/Scan counts, BatchGetItem/TransactGetItems
    responses) and the write units, by DynamoDB's sizing rules (store/capacity.py) applied to each
    written item as the embedded database holds it just before and just after the call (read
    straight from its tables): the larger of the two images per KB rounded up, twice in a
    transaction (condition checks too); plus, per index entry a write puts, changes or deletes,
    one write per KB of what the index projects (a changed index key is a delete and a put)."""

    def __init__(self, client, database):
        self.tables = database.table
        self.on = False
        self.reset()
        client.meta.events.register("before-parameter-build.dynamodb", self._before)
        client.meta.events.register("after-call.dynamodb", self._after)

    def reset(self) -> None:
        self.requests, self.items_read, self.table_units, self.index_units = 0, 0, 0.0, 0.0
        self._writing: list = []

    @property
    def write_units(self) -> float:
        return self.table_units + self.index_units

    def measure(self, call: Callable[[], Any]) -> Any:
        self.on = True
        try:
            return call()
        finally:
            self.on = False

    def _before(self, model, params, **_):
        if not self.on:
            return
        self.requests += 1
        self._writing = [(*write, self._image(write[0], write[1])) for write in self._writes(model.name, params)]

    def _after(self, model, parsed, **_):
        if not self.on:
            return
        if model.name == "GetItem":
            self.items_read += "Item" in parsed
        elif model.name in ("Query", "Scan"):
            self.items_read += parsed.get("Count", 0)
        elif model.name == "BatchGetItem":
            self.items_read += sum(len(items) for items in parsed.get("Responses", {}).values())
        elif model.name == "TransactGetItems":
            self.items_read += sum("Item" in response for response in parsed.get("Responses", []))
        if "Error" in parsed:  # a refused write changed nothing (its charge is left out)
            self._writing = []
        for table_name, key, transactional, before in self._writing:
            table_units, index_units = self._units(table_name, before, self._image(table_name, key), transactional)
            self.table_units, self.index_units = self.table_units + table_units, self.index_units + index_units
        self._writing = []

    def _writes(self, operation: str, params: dict) -> list[tuple[str, dict, bool]]:
        """(table, key, transactional) of each item the request may write."""
        if operation == "TransactWriteItems":
            return [
                (action["TableName"], self._key(action["TableName"], action.get("Item") or action["Key"]), True)
                for entry in params["TransactItems"]
                for action in entry.values()
            ]
        if operation == "BatchWriteItem":
            return [
                (
                    name,
                    self._key(name, (request.get("PutRequest") or {}).get("Item") or request["DeleteRequest"]["Key"]),
                    False,
                )
                for name, requests in params["RequestItems"].items()
                for request in requests
            ]
        if operation in ("PutItem", "UpdateItem", "DeleteItem"):
            return [(params["TableName"], self._key(params["TableName"], params.get("Item") or params["Key"]), False)]
        return []

    def _key(self, table_name: str, item: dict) -> dict:
        table = self.tables(table_name)
        return {name: item[name] for name in (table.hash_key_attr, table.range_key_attr) if name}

    def _image(self, table_name: str, key: dict) -> dict | None:
        from moto.dynamodb.models.dynamo_type import DynamoType

        table = self.tables(table_name)
        found = table.get_item(*(DynamoType(key[n]) for n in (table.hash_key_attr, table.range_key_attr) if n))
        return None if found is None else found.to_json()["Attributes"]

    def _units(
        self, table_name: str, before: dict | None, after: dict | None, transactional: bool
    ) -> tuple[float, float]:
        """(table write units, index write units) of one item's write."""
        from billing.store.capacity import item_size, kilobytes

        larger = max(item_size(before) if before else 0, item_size(after) if after else 0)
        table_units, units = (2 if transactional else 1) * kilobytes(larger), 0
        table = self.tables(table_name)
        for index in table.global_indexes or []:
            keys = [k["AttributeName"] for k in index.schema]
            old, new = (self._projected(table, index, keys, image) for image in (before, after))
            if old and new and all(old[k] == new[k] for k in keys):
                units += kilobytes(item_size(new)) if old != new else 0
            else:
                units += sum(kilobytes(item_size(entry)) for entry in (old, new) if entry)
        return table_units, units

    @staticmethod
    def _projected(table, index, keys: list[str], image: dict | None) -> dict | None:
        """The index's entry for an item image, or None when the item is not in the index."""
        if image is None or any(k not in image for k in keys):
            return None
        projection = index.projection or {}
        if projection.get("ProjectionType", "ALL") == "ALL":
            return image
        kept = {*keys, table.hash_key_attr, table.range_key_attr, *projection.get("NonKeyAttributes", [])}
        return {name: attribute for name, attribute in image.items() if name in kept}


class SdkTime:
    """CPU seconds this thread spends inside botocore's API calls (validating and building each
    request, HTTP, parsing the answer), by wrapping the one method every client call goes through."""

    seconds, _depth = 0.0, 0

    @classmethod
    def install(cls) -> None:
        from botocore.client import BaseClient

        if getattr(BaseClient._make_api_call, "timed", False):
            return
        make_api_call = BaseClient._make_api_call

        def timed(client, operation_name, api_params):
            cls._depth += 1
            started = time.thread_time()
            try:
                return make_api_call(client, operation_name, api_params)
            finally:
                cls._depth -= 1
                if cls._depth == 0:
                    cls.seconds += time.thread_time() - started

        timed.timed = True
        BaseClient._make_api_call = timed


def own_code_seconds(call: Callable[[], Any]) -> tuple[float, Any]:
    """(CPU seconds `call` spends in our own code, its result): this thread's CPU time less what it
    spends inside botocore's calls; the embedded database (moto) answers on its own thread, so none
    of its work is on this one. What remains is our handlers, services, domain and store code
    with the libraries they call (pydantic, powertools, boto3's type serializer, the standard
    library), plus the local stack's thin Lambda and SQS emulation: the figure errs high."""
    SdkTime.install()
    sdk, started = SdkTime.seconds, time.thread_time()
    result = call()
    return time.thread_time() - started - (SdkTime.seconds - sdk), result


FOREIGN = ("/botocore/", "/boto3/", "/urllib3/", "/moto/", "/s3transfer/", "/local_stack/", "/bench/")


def profiled_own_code_seconds(call: Callable[[], Any]) -> float:
    """The same figure by cProfile (CPU clock, this thread): botocore and boto3 taken out as the time
    of every call into them from outside, the local stack's emulation as its own frames. The
    profiler's overhead (a few microseconds a Python call) stays in: it overstates our code by
    about 3x, so it is shown beside the figure above, not judged."""
    profile = cProfile.Profile(time.thread_time)
    profile.enable()
    try:
        call()
    finally:
        profile.disable()
    stats = pstats.Stats(profile).stats  # {function: (calls, calls, own time, total time, callers)}

    def foreign(function: tuple) -> bool:
        return any(part in function[0] for part in FOREIGN)

    total = sum(own for _, _, own, _, _ in stats.values())
    excluded = 0.0
    for function, (_, _, own, _, callers) in stats.items():
        if not foreign(function):
            continue
        if "/local_stack/" in function[0] or "/bench/" in function[0]:
            excluded += own
            continue
        excluded += sum(edge[3] for caller, edge in callers.items() if not foreign(caller))
    return max(total - excluded, 0.0)


@dataclass
class Charge:
    """What DynamoDB charges per event on one path."""

    requests: float
    table: float
    indexes: float


def charged(meter: DynamoMeter, calls: list[Callable[[], Any]], events: int) -> Charge:
    meter.reset()
    for call in calls:
        meter.measure(call)
    return Charge(meter.requests / events, meter.table_units / events, meter.index_units / events)


def charge_lines(path: str, single: Charge, batch: Charge, own: float, profiled: float, batched: str) -> None:
    """A path's lines: requests and write units per event one at a time and in a batch of 100,
    and our own code's CPU per event in the batch. The write-unit targets (DESIGN.md) are judged on
    the table's writes; the index entries' writes are shown beside them, and the sum is the bill."""
    line(
        f"{path}: DynamoDB requests/event, batch",
        batch.requests,
        "<= 0.05",
        batch.requests <= 0.05,
        f"{batched}; one event at a time: {single.requests:.2f}",
        unit="",
    )
    for name, charge, target in (("single", single, 8), ("batch", batch, 2.5)):
        line(
            f"{path}: write units/event, {name}",
            charge.table,
            f"<= {target}",
            charge.table <= target,
            f"table; +{charge.indexes:.2f} for index entries: {charge.table + charge.indexes:.2f} billed (metered)",
            unit="",
        )
    line(
        f"{path}: own code CPU/event, batch",
        own * 1000,
        "<= 1 ms",
        own <= 0.001,
        f"this thread's CPU outside botocore's calls, moto on its own thread (cProfile's figure, its overhead "
        f"in: {profiled * 1000:.2f} ms)",
        unit="ms",
    )


# --- the invoicing run at scale ---------------------------------------------------------------------


def invoicing(stack, meter: DynamoMeter) -> None:
    """The run (due index, queue) and its workers (closes) for one residency holding INVOICING_SMALL
    subscriptions and another holding INVOICING_LARGE, in the same table: the run is per residency
    and reads only its residency's partitions of the due index, as on DynamoDB (the local database
    answers an index query from its sorted partitions, not by walking the table). Each residency
    gets a batch of 100 falling due per round, an hour apart, and the rest ten days later; a round
    runs the two residencies in turn (order alternating), so the machine's drift weighs on both.
    Timed rounds count CPU seconds of this process (functions and embedded database alike) and
    what DynamoDB would charge; one more round profiles our own code alone."""
    from datetime import timedelta

    from msgspec.structs import replace

    from billing import deployment
    from billing.services.invoicing_run import run_invoicing
    from tests.seed import seed_subscriptions

    tag, write = uuid.uuid4().hex[:6], stack.database.put_items if stack.database else None
    sizes = {"eu": INVOICING_SMALL, "us": INVOICING_LARGE}
    rounds, started_at = INVOICING_ROUNDS + 1, stack.clock.now() + timedelta(seconds=1)
    batches: list[dict[str, datetime]] = []
    seeding = time.perf_counter()
    for number in range(rounds):
        stack.clock.freeze(started_at + timedelta(hours=number))
        due = {
            residency: seed_subscriptions(
                [f"due-{tag}-{residency}-{number}-{i}" for i in range(INVOICING_DUE)], residency=residency, write=write
            )
            for residency in sizes
        }
        batches.append({residency: max(s.current_period_end for s in found) for residency, found in due.items()})
    stack.clock.freeze(started_at + timedelta(days=10))  # the rest fall due ten days after
    for residency, size in sizes.items():
        organizations = [f"later-{tag}-{residency}-{i}" for i in range(size - rounds * INVOICING_DUE)]
        for first in range(0, len(organizations), 5000):
            seed_subscriptions(organizations[first : first + 5000], residency=residency, write=write)
    seeding = time.perf_counter() - seeding

    def run(residency: str, moment: datetime, measure: Callable[[Callable[[], Any]], Any]) -> float:
        stack.clock.freeze(moment)
        billing = replace(deployment.billing(), residencies=(residency,))

        def run_and_workers():
            report = run_invoicing(billing, scheduled_at=moment)
            drained = stack.queues.drain("PeriodClosingQueue")["PeriodClosingQueue"]
            assert report.subscriptions_due == INVOICING_DUE and drained["failures"] == 0, (report, drained)

        return measure(run_and_workers)

    def cpu(call) -> float:
        started = time.process_time()
        meter.measure(call)
        return time.process_time() - started

    seconds: dict[str, list[float]] = {residency: [] for residency in sizes}
    read = dict.fromkeys(sizes, 0)
    units = dict.fromkeys(sizes, 0.0)
    for number, due in enumerate(batches[:INVOICING_ROUNDS]):
        order = list(sizes) if number % 2 == 0 else list(reversed(sizes))
        moment = max(due.values()) + timedelta(minutes=15)
        for residency in order:
            meter.reset()
            seconds[residency].append(run(residency, moment, cpu))
            read[residency] += meter.items_read
            units[residency] += meter.write_units
    moment = max(batches[-1].values()) + timedelta(minutes=15)
    own = {residency: run(residency, moment, lambda call: own_code_seconds(call)[0]) for residency in sizes}

    closes = INVOICING_ROUNDS * INVOICING_DUE
    ratios = [large / small for small, large in zip(seconds["eu"], seconds["us"], strict=True)]
    ratio, own_ratio = statistics.median(ratios), own["us"] / own["eu"]

    def charged(residency: str) -> str:
        return f"{read[residency] / closes:.1f} items read, {units[residency] / closes:.1f} write units per due one"

    line(
        f"invoicing {INVOICING_DUE} due of {INVOICING_LARGE} vs of {INVOICING_SMALL}",
        ratio,
        "<= 1.2",
        ratio <= 1.2,
        f"CPU {statistics.median(seconds['us']):.2f} s vs {statistics.median(seconds['eu']):.2f} s (run + workers, "
        f"local database included; median of {INVOICING_ROUNDS} interleaved rounds); "
        f"of {INVOICING_LARGE}: {charged('us')}; of {INVOICING_SMALL}: {charged('eu')}; seeding took {seeding:.0f} s",
    )
    line(
        "invoicing: own code CPU, of 50,000 vs 1,000"
        if (INVOICING_LARGE, INVOICING_SMALL) == (50000, 1000)
        else f"invoicing: own code CPU, {INVOICING_LARGE} vs {INVOICING_SMALL}",
        own_ratio,
        "<= 1.2",
        own_ratio <= 1.2,
        f"{own['us']:.2f} s vs {own['eu']:.2f} s for 100 closes (this thread's CPU outside botocore's calls; "
        "moto on its own thread)",
    )


# --- the usage bus ----------------------------------------------------------------------------------


def usage_bus(stack, meter: DynamoMeter) -> None:
    """One hot subscription's events through the usage bus's consumer: one per invocation (an SQS
    record each) vs the usage queue's batches of 100. What DynamoDB charges per event (metered),
    our own code's CPU per event in a batch (profiled); then events per CPU second of this process
    (the functions and the embedded database both run in it; secondary: moto's costs)."""
    org = f"org-bus-{uuid.uuid4().hex[:6]}"
    provisioned = stack.functions["SubscriptionsFunction"].invoke(
        api_event(
            "subscriptions/provision.json",
            authorizer=ADMIN,
            body=json.loads(api_event("subscriptions/provision.json")["body"]),
            path_parameters={"organization_id": org},
        )
    )
    assert provisioned["statusCode"] == 201, provisioned
    consumer = stack.functions["UsageBusFunction"]

    def event() -> str:
        detail = {"organization_id": org, "service": "analytics", "quantity": "1", "idempotency_key": uuid.uuid4().hex}
        return json.dumps({"detail-type": "UsageRecorded", "source": "bench", "detail": detail})

    def one(body: str) -> None:
        assert consumer.invoke({"Records": [{"messageId": uuid.uuid4().hex, "body": body}]})["batchItemFailures"] == []

    def queued_batch() -> None:
        for _ in range(100):
            stack.queues.send("UsageQueue", event())

    def drain() -> None:
        drained = stack.queues.drain("UsageQueue")["UsageQueue"]
        assert (drained["deliveries"], drained["failures"]) == (100, 0), drained

    single_charge = charged(meter, [lambda body=body: one(body) for body in [event() for _ in range(20)]], 20)
    queued_batch()
    batch_charge = charged(meter, [drain], 100)

    def own_code(measure: Callable[[Callable[[], None]], float]) -> float:
        queued_batch()
        return measure(drain) / 100

    own = statistics.median(own_code(lambda call: own_code_seconds(call)[0]) for _ in range(BUS_ROUNDS))
    profiled = own_code(profiled_own_code_seconds)
    charge_lines("bus", single_charge, batch_charge, own, profiled, "a queue batch of 100 (one SQS delivery)")

    single_seconds = batch_seconds = 0.0
    per_round = BUS_SINGLE_EVENTS // BUS_ROUNDS
    for _ in range(BUS_ROUNDS):
        bodies = [event() for _ in range(per_round)]
        started = time.process_time()
        for body in bodies:
            one(body)
        single_seconds += time.process_time() - started
        queued_batch()
        started = time.process_time()
        drain()
        batch_seconds += time.process_time() - started
    single_rate, batch_rate = per_round * BUS_ROUNDS / single_seconds, 100 * BUS_ROUNDS / batch_seconds
    line(
        "bus (moto): batched vs one event/invocation",
        batch_rate / single_rate,
        ">= 20",
        batch_rate / single_rate >= 20,
        f"{batch_rate:.0f} vs {single_rate:.0f} events per CPU second, moto included (secondary)",
    )


SECTIONS = ("cold", "invoicing", "overhead", "batch", "drafting", "bus", "analytics")


def selected() -> set[str]:
    """BENCH_ONLY=cold,invoicing,... picks lines (all when unset)."""
    wanted = {part.strip() for part in os.environ.get("BENCH_ONLY", "").split(",") if part.strip()}
    unknown = wanted - set(SECTIONS)
    if unknown:
        raise SystemExit(f"BENCH_ONLY: no such lines {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
    return wanted or set(SECTIONS)


def machine() -> str:
    load = " / ".join(f"{figure:.2f}" for figure in os.getloadavg())
    return f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, load {load}"


KEPT = "<!-- Everything above is rewritten by each full `make bench`; everything below is kept as written. -->"


def write_report(started: datetime, before: str, seconds: float) -> None:
    """docs/performance.md: this run's lines, each with its target and verdict, above what people
    wrote there (kept as it is, below the KEPT marker)."""
    rows = "\n".join(
        f"| {entry['name']} | {entry['figure']} | {entry['target']} | {entry['verdict']} | {entry['detail']} |"
        for entry in LINES
    )
    judged = [entry for entry in LINES if entry["verdict"] != "info"]
    missed = sum(entry["verdict"] != "ok" for entry in judged)
    kept = ""
    if REPORT.exists():
        written = REPORT.read_text()
        if KEPT in written:
            kept = written.split(KEPT, 1)[1].lstrip("\n")
        else:  # the first run: what was there becomes the notes below
            kept = "## Earlier measurements and notes\n\n" + written.split("\n", 1)[1].lstrip("\n")
    REPORT.write_text(
        f"""# Performance

Written by `make bench` (bench/benchmark.py) on {started:%Y-%m-%d %H:%M} UTC in {seconds / 60:.0f} min:
{len(judged) - missed} of {len(judged)} lines ok. Machine at the start: {before}; at the end: {machine()}.
The targets are DESIGN.md's.

{__doc__.split(chr(10) + chr(10), 1)[1]}

How to read it:

- Times are ratios of two things measured in the same run, interleaved (A, B, A, B, ...) and
  reduced to medians, so a neighbour's load weighs on both sides. Cold starts count the CPU time
  of a fresh interpreter (each function's run against the baseline run just before it), with
  bytecode for our code as for the dependencies, as the layer ships it (its Makefile compiles
  it; SAM's python builder shipped none, and each Lambda cold start compiled it). A function's
  load includes the one client its requests use, made at init as the baseline makes one
  (`deployment.connect()`).
- The cold start floor is what every billing function loads before any code of ours (boto3's
  client, pydantic, Powertools' logger, metrics and REST resolver). The functions load it with
  the garbage collector paused (billing/cold_start.py), so a function's ratio minus the paused
  floor's is what our code costs; the plain floor is what a function without the pause pays, and
  "boto3 + client alone, collector paused" is how much of the pause's saving is boto3's own import.
- What DynamoDB charges is counted, not timed: requests made, items read and write units by
  DynamoDB's sizing rules on the items as written, read back from the local database. The write
  unit targets are judged on the table's writes; index entries are shown beside them.
- Our own code's CPU is this thread's CPU time less what it spends inside botocore's calls; moto
  answers on its own thread, so none of its work is counted. cProfile's figure for the same
  code is shown beside it: the profiler's own overhead makes it several times larger.
- The "(moto)" events/s lines are secondary: they time the local stack, whose writes cost what
  moto's Python does, not what DynamoDB does.

| line | figure | target | verdict | detail |
| --- | --- | --- | --- | --- |
{rows}

{KEPT}

{kept}"""
    )
    print(f"written to {REPORT.relative_to(ROOT)}")


def main() -> None:
    from billing import deployment
    from local_stack.server import LocalStack

    only, started, before, clock = selected(), datetime.now(UTC), machine(), time.perf_counter()
    stack = LocalStack()
    stack.functions["PlanCatalogFunction"].invoke(api_event("plan_catalog/list_plans.json"))  # seeds the catalog
    meter = DynamoMeter(deployment.dynamodb(), stack.database) if stack.database else None
    if meter is None and only & {"invoicing", "batch", "bus"}:
        raise SystemExit(
            "the invoicing, batch and bus lines meter the embedded database: unset BILLING_DYNAMODB_ENDPOINT"
        )
    print(__doc__.split("\n\n")[0])
    if "cold" in only:
        cold_start()
    if "invoicing" in only:  # first: each of its runs must find only the subscriptions it made due
        invoicing(stack, meter)
    if only & {"overhead", "batch"}:
        admin_event = api_event("subscriptions/provision.json", authorizer=ADMIN)
        org = f"org-bench-{uuid.uuid4().hex[:6]}"
        body = json.loads(admin_event["body"])
        provisioned = stack.functions["SubscriptionsFunction"].invoke(
            api_event(
                "subscriptions/provision.json", authorizer=ADMIN, body=body, path_parameters={"organization_id": org}
            )
        )
        subscription_id = json.loads(provisioned["body"])["subscription_id"]
        if "overhead" in only:
            overhead(stack, org, subscription_id)
        if "batch" in only:
            usage_paths(stack, org, meter)
    if "drafting" in only:
        drafting(stack)
    if "bus" in only:
        usage_bus(stack, meter)
    if "analytics" in only:
        sys.modules.setdefault("benchmark", sys.modules[__name__])  # analytics.py's `from benchmark import line`
        __import__("analytics").run(stack)  # bench/analytics.py: compliance analytics' three lines
    stack.database and stack.database.stop()
    if only == set(SECTIONS):
        write_report(started, before, time.perf_counter() - clock)
    else:
        print(f"{REPORT.relative_to(ROOT)} not written: BENCH_ONLY runs part of the lines")


if __name__ == "__main__":
    main()
