"""How the stack is operated, read from template.yaml and docs/runbook.md (no SAM CLI needed):
structured access logs naming the fields on-call needs, function logs carrying the same request
id, every alarm paging the topic and explained in the runbook, the dashboard covering the stack,
and the properties that two skipped checkov checks stand for (see .checkov.yaml)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from local_stack.template import Stack

ROOT = Path(__file__).resolve().parents[2]
STACK = Stack(ROOT / "template.yaml")
RESOURCES = STACK.resources
RUNBOOK = (ROOT / "docs" / "runbook.md").read_text()

CONTEXT_VARIABLE = re.compile(r"\$context\.[A-Za-z0-9_.]+")


def of_type(kind: str) -> dict[str, dict]:
    return STACK.of_type(kind)


def access_log_setting() -> dict:
    (api,) = of_type("AWS::Serverless::Api").values()
    return api["Properties"]["AccessLogSetting"]


def access_log_fields() -> dict[str, str]:
    """The access log format as {field: the $context variable it writes}. A variable is written
    inside quotes, except `...String` ones, which API Gateway quotes itself."""
    placeholders: dict[str, str] = {}

    def placeholder(match: re.Match) -> str:
        key = f"@{len(placeholders)}@"
        placeholders[key] = match.group(0)
        return f'"{key}"' if match.group(0).endswith("String") else key

    line = json.loads(CONTEXT_VARIABLE.sub(placeholder, access_log_setting()["Format"]))
    return {field: placeholders.get(value, value) for field, value in line.items()}


def sub_text(value) -> str:
    return value["Fn::Sub"] if isinstance(value, dict) else value


def refs(value) -> set[str]:
    """Logical ids that a property refers to: !Ref, !GetAtt and ${...} inside !Sub."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref":
                found.add(inner)
            elif key == "Fn::GetAtt":
                found.add(inner[0])
            elif key == "Fn::Sub":
                text = inner if isinstance(inner, str) else inner[0]
                found |= {token.split(".")[0] for token in re.findall(r"\$\{([^}!]+)\}", text)}
            else:
                found |= refs(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= refs(inner)
    return found


# --- access logs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, variable",
    [
        ("requestId", "$context.requestId"),
        ("sub", "$context.authorizer.sub"),
        ("org", "$context.authorizer.org"),
        ("resourcePath", "$context.resourcePath"),
        ("httpMethod", "$context.httpMethod"),
        ("status", "$context.status"),
        ("responseLatency", "$context.responseLatency"),
        ("integrationLatency", "$context.integrationLatency"),
        ("integrationErrorMessage", "$context.integrationErrorMessage"),
        ("errorMessage", "$context.error.messageString"),  # $context.error.message, quoted by API Gateway
        ("errorResponseType", "$context.error.responseType"),
    ],
)
def test_the_access_log_is_one_json_object_naming_the_field(field, variable):
    assert access_log_fields()[field] == variable


def test_the_access_log_format_is_a_single_line_and_only_writes_context_variables():
    fmt = access_log_setting()["Format"]
    assert "\n" not in fmt
    fields = access_log_fields()
    assert all(value.startswith("$context.") for value in fields.values()), fields
    # Roles are left out on purpose: how the authorizer passes them may change, and an
    # unescaped list would break the line. sub/org/residency are plain strings.
    assert not any("roles" in value for value in fields.values())


def test_access_logs_and_function_logs_go_to_groups_with_a_retention_period():
    assert refs(access_log_setting()["DestinationArn"]) >= {"ApiAccessLogGroup"}
    assert refs(STACK.globals["LoggingConfig"]["LogGroup"]) == {"FunctionLogGroup"}
    groups = of_type("AWS::Logs::LogGroup")
    assert set(groups) == {"ApiAccessLogGroup", "FunctionLogGroup"}
    for name, group in groups.items():
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionInDays"}, name
        assert group["DeletionPolicy"] == "Retain", f"{name}: audit logs outlive the stack"
    assert min(STACK.template["Parameters"]["LogRetentionInDays"]["AllowedValues"]) >= 365


def test_metric_filters_on_the_access_log_read_fields_it_writes():
    fields = set(access_log_fields())
    filters = {
        name: f
        for name, f in of_type("AWS::Logs::MetricFilter").items()
        if refs(f["Properties"]["LogGroupName"]) == {"ApiAccessLogGroup"}
    }
    assert filters
    for name, metric_filter in filters.items():
        read = set(re.findall(r"\$\.(\w+)", metric_filter["Properties"]["FilterPattern"]))
        assert read and read <= fields, f"{name} reads {sorted(read - fields)}, which the access log does not write"


def test_api_function_logs_carry_the_api_gateway_request_id_as_correlation_id(monkeypatch):
    """lambda_entry (every API function's handler) sets Powertools' correlation id from
    requestContext.requestId, the access log's `requestId`."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    from billing.api.http import billing_api, lambda_entry
    from billing.observability import logger, metrics

    monkeypatch.setattr(metrics, "namespace", "MarketplaceBilling/test")  # as the template sets it
    app = billing_api()

    @app.get("/plans")
    def plans():
        logger.error("a line written while handling the request")
        return {"plans": []}

    event = json.loads((ROOT / "events" / "plan_catalog" / "list_plans.json").read_text())
    context = SimpleNamespace(
        function_name="PlanCatalogFunction",
        memory_limit_in_mb=512,
        aws_request_id="lambda-request-1",
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:PlanCatalogFunction",
    )
    handler = logger.registered_handler
    written = io.StringIO()
    previous = handler.setStream(written)
    try:
        response = lambda_entry(app)(event, context)
    finally:
        handler.setStream(previous)
    assert response["statusCode"] == 200
    (line,) = [json.loads(text) for text in written.getvalue().splitlines() if "a line written" in text]
    assert line["correlation_id"] == event["requestContext"]["requestId"]


def test_every_api_function_handler_is_built_by_lambda_entry():
    api_functions = {
        name
        for name, f in of_type("AWS::Serverless::Function").items()
        if any(e.get("Type") == "Api" for e in f["Properties"].get("Events", {}).values())
    }
    assert api_functions
    for name in api_functions:
        source = (ROOT / RESOURCES[name]["Properties"]["CodeUri"] / "app.py").read_text()
        assert "lambda_handler = lambda_entry(app)" in source, name


# --- alarms and the runbook ----------------------------------------------------------------


def alarms() -> dict[str, dict]:
    return of_type("AWS::CloudWatch::Alarm")


def runbook_sections() -> dict[str, str]:
    """### headings under '## Alarms' -> their text."""
    alarms_part = RUNBOOK.split("\n## Alarms", 1)[1].split("\n## ", 1)[0]
    sections = re.split(r"^### ", alarms_part, flags=re.MULTILINE)[1:]
    return {section.split("\n", 1)[0].strip(): section for section in sections}


def test_every_alarm_has_a_runbook_section_and_every_section_an_alarm():
    assert set(alarms()) == set(runbook_sections())


@pytest.mark.parametrize("alarm", sorted(alarms()))
def test_each_runbook_section_says_what_it_means_how_to_look_and_how_to_recover(alarm):
    section = runbook_sections()[alarm]
    for part in ("What it means", "How to look", "How to recover"):
        assert f"**{part}.**" in section, f"docs/runbook.md, {alarm}: no '{part}'"


@pytest.mark.parametrize("alarm", sorted(alarms()))
def test_each_alarm_pages_the_topic_and_points_at_its_runbook_section(alarm):
    properties = alarms()[alarm]["Properties"]
    assert properties["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    assert properties["OKActions"] == [{"Ref": "AlarmTopic"}]
    assert f"docs/runbook.md#{alarm.lower()}" in properties["AlarmDescription"]
    assert properties["TreatMissingData"] == "notBreaching"


def test_the_alarms_cover_what_the_issue_asks_for():
    watched = {
        (json.dumps(p.get("Namespace")), p.get("MetricName")) for p in (a["Properties"] for a in alarms().values())
    }
    for alarm in alarms().values():
        for query in alarm["Properties"].get("Metrics", []):
            metric = query.get("MetricStat", {}).get("Metric", {})
            watched.add((json.dumps(metric.get("Namespace")), metric.get("MetricName")))
    ours = json.dumps({"Fn::Sub": "MarketplaceBilling/${Stage}"})
    for namespace, metric in [
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("AWS/ApiGateway", "5XXError"),
        ("AWS/DynamoDB", "WriteThrottleEvents"),
        ("AWS/DynamoDB", "ReadThrottleEvents"),
        ("AWS/Lambda", "Errors"),
    ]:
        assert (json.dumps(namespace), metric) in watched, metric
    assert (ours, "InvoicingFailures") in watched and (ours, "AuthorizerFailures") in watched
    queues = set(of_type("AWS::SQS::Queue"))
    dlq_alarmed = set().union(*(refs(a["Properties"].get("Dimensions", [])) for a in alarms().values()))
    assert queues <= dlq_alarmed, f"queues without a depth alarm: {sorted(queues - dlq_alarmed)}"


# --- the dashboard -------------------------------------------------------------------------


def dashboard_body() -> dict:
    (dashboard,) = of_type("AWS::CloudWatch::Dashboard").values()
    text = sub_text(dashboard["Properties"]["DashboardBody"])
    return json.loads(re.sub(r"\$\{([^}!]+)\}", lambda m: "SUB_" + re.sub(r"\W", "_", m.group(1)), text))


def test_the_dashboard_is_json_and_shows_every_function_table_queue_and_alarm():
    body = dashboard_body()
    assert body["widgets"]
    (dashboard,) = of_type("AWS::CloudWatch::Dashboard").values()
    shown = refs(dashboard["Properties"]["DashboardBody"])
    for kind in (
        "AWS::Serverless::Function",
        "AWS::DynamoDB::Table",
        "AWS::SQS::Queue",
        "AWS::CloudWatch::Alarm",
        "AWS::Logs::LogGroup",
    ):
        missing = set(of_type(kind)) - shown
        assert not missing, f"the dashboard does not show {kind} {sorted(missing)}"


def test_the_dashboard_graphs_the_metrics_the_code_and_the_filters_emit():
    text = json.dumps(dashboard_body())
    filtered = {
        m["MetricName"]
        for f in of_type("AWS::Logs::MetricFilter").values()
        for m in f["Properties"]["MetricTransformations"]
    }
    invoicing = {
        "SubscriptionsDue",
        "PeriodsClosed",
        "InvoicesDrafted",
        "InvoicingFailures",
    }  # functions/invoicing_run and functions/period_closing
    for metric in filtered | invoicing:
        assert f'"{metric}"' in text, metric


# --- what two skipped checkov checks stand for ---------------------------------------------


def test_every_queue_is_encrypted_at_rest():
    """Stands for CKV_AWS_27, which only knows KmsMasterKeyId: SSE-SQS counts too."""
    for name, queue in of_type("AWS::SQS::Queue").items():
        properties = queue["Properties"]
        assert properties.get("SqsManagedSseEnabled") is True or properties.get("KmsMasterKeyId"), name


def test_every_asynchronously_invoked_function_has_a_dead_letter_queue():
    """Stands for CKV_AWS_116, skipped for the synchronously invoked API functions. A stream's
    poller invokes synchronously too: its failed batches go to the event source's OnFailure queue.
    So does an SQS queue's event source mapping: its dead letters are the queue's (RedrivePolicy),
    and the function must report partial failures so only the failed are retried."""
    queues = of_type("AWS::SQS::Queue")
    for name, function in of_type("AWS::Serverless::Function").items():
        events = function["Properties"].get("Events", {}).values()
        if all(event["Type"] == "Api" for event in events):  # the authorizer has none: API Gateway calls it
            continue
        if all(event["Type"] == "DynamoDB" for event in events):
            for event in events:
                failure = event["Properties"].get("DestinationConfig", {}).get("OnFailure", {})
                assert failure.get("Type") == "SQS" and failure.get("Destination"), f"{name}: no OnFailure queue"
            continue
        if all(event["Type"] == "SQS" for event in events):
            for event in events:
                queue = queues[event["Properties"]["Queue"]["Fn::GetAtt"][0]]
                assert queue["Properties"]["RedrivePolicy"]["maxReceiveCount"] >= 2, name
                assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"], name
                assert event["Properties"]["ScalingConfig"]["MaximumConcurrency"] >= 2, name
            continue
        assert function["Properties"].get("DeadLetterQueue"), f"{name} is invoked asynchronously and has no DLQ"
        for event in events:
            assert event["Properties"].get("DeadLetterConfig"), (
                f"{name}: its {event['Type']} has no DLQ for undeliverable events"
            )
