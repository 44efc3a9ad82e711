"""Reads template.yaml (CloudFormation tags included) and resolves what the local stack needs:
tables, functions with their merged environment, API routes, the authorizer and gateway
responses. The template stays the single source of truth: a route it lacks cannot work here."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PSEUDO = {
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::StackName": "marketplace-billing-local",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::NoValue": None,
}


class _CfnLoader(yaml.SafeLoader):
    pass


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        content: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        content = loader.construct_sequence(node, deep=True)
    else:
        content = loader.construct_mapping(node, deep=True)
    if suffix == "GetAtt" and isinstance(content, str):
        content = content.split(".", 1)
    return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": content}


_CfnLoader.add_multi_constructor("!", _intrinsic)


@dataclass
class ApiRoute:
    function_id: str
    method: str
    path: str
    authorizer: str | None  # None: public
    pattern: re.Pattern = field(init=False)
    static_segments: int = field(init=False)

    def __post_init__(self) -> None:
        regex, static = "", 0
        for segment in self.path.strip("/").split("/"):
            if segment.startswith("{") and segment.endswith("+}"):
                regex += f"/(?P<{segment[1:-2]}>.+)"
            elif segment.startswith("{") and segment.endswith("}"):
                regex += f"/(?P<{segment[1:-1]}>[^/]+)"
            else:
                regex += "/" + re.escape(segment)
                static += 1
        self.pattern = re.compile(f"^{regex or '/'}$")
        self.static_segments = static


@dataclass
class FunctionSpec:
    logical_id: str
    code_dir: Path
    module_file: Path
    handler_name: str
    environment: dict[str, str]
    layer_dirs: list[Path]
    timeout_seconds: int
    memory_mb: int


@dataclass
class StreamSource:
    """A DynamoDB Streams event source: the function, the table it reads and its batch size."""

    function_id: str
    table_name: str
    stream_arn: str
    batch_size: int
    key_names: tuple[str, ...] = ("record_id",)
    filters: tuple[dict, ...] = ()  # the mapping's FilterCriteria patterns (none: every record)
    reports_item_failures: bool = False  # retried from the first failed record, else the whole batch


@dataclass
class QueueSpec:
    logical_id: str
    max_receive_count: int | None  # None: no redrive policy, a failing message stays
    dead_letter_queue: str | None  # logical id


@dataclass
class QueueSource:
    """An SQS event of a function: what Lambda's event source mapping delivers, and how."""

    queue: str
    function_id: str
    batch_size: int
    reports_item_failures: bool


@dataclass
class EventRule:
    bus: str  # the bus's logical id
    pattern: dict[str, Any]
    target_queues: list[str]


def _logical_id(reference: Any) -> str | None:
    """The resource a `!GetAtt X.Arn` or `!Ref X` names."""
    if isinstance(reference, dict) and "Fn::GetAtt" in reference:
        return reference["Fn::GetAtt"][0]
    if isinstance(reference, dict) and "Ref" in reference:
        return reference["Ref"]
    return None


@dataclass
class Authorizer:
    name: str
    function_id: str
    identity_header: str


class Stack:
    def __init__(self, template_path: Path, parameters: dict[str, str] | None = None):
        self.path = template_path
        self.root = template_path.parent
        self.template = yaml.load(template_path.read_text(), Loader=_CfnLoader)  # noqa: S506 - our own loader
        self.resources: dict[str, dict[str, Any]] = self.template["Resources"]
        declared = self.template.get("Parameters", {})
        unknown = set(parameters or {}) - set(declared)
        if unknown:
            raise ValueError(f"template.yaml has no parameters {sorted(unknown)}")
        self.parameters = {name: str(spec.get("Default", "")) for name, spec in declared.items()}
        self.parameters.update(parameters or {})
        self.globals = self.template.get("Globals", {}).get("Function", {})

    # --- intrinsic functions -----------------------------------------------------------------
    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self._ref(arg)
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::GetAtt":
                return self._get_att(*(arg if isinstance(arg, list) else arg.split(".", 1)))
            if key == "Fn::Join":
                return str(arg[0]).join(str(self.resolve(v)) for v in self.resolve(arg[1]))
            if key == "Fn::Select":
                return self.resolve(arg[1])[int(self.resolve(arg[0]))]
            if key == "Fn::Split":
                return str(self.resolve(arg[1])).split(arg[0])
        return {k: self.resolve(v) for k, v in value.items()}

    def _ref(self, name: str) -> Any:
        if name in self.parameters:
            return self.parameters[name]
        if name in PSEUDO:
            return PSEUDO[name]
        resource = self.resources.get(name)
        if resource is None:
            raise KeyError(f"!Ref {name}: no such parameter or resource")
        props = resource.get("Properties", {})
        kind = resource["Type"]
        if kind == "AWS::DynamoDB::Table":
            return self.resolve(props["TableName"])
        if kind == "AWS::Events::EventBus":
            return self.resolve(props["Name"])
        if kind == "AWS::SQS::Queue":
            return f"http://127.0.0.1/queue/{name}"
        return name

    def _get_att(self, name: str, attribute: str) -> str:
        if name not in self.resources:
            raise KeyError(f"!GetAtt {name}.{attribute}: no such resource")
        region, account = PSEUDO["AWS::Region"], PSEUDO["AWS::AccountId"]
        if attribute == "QueueName":
            return name
        return f"arn:aws:local:{region}:{account}:{name}"

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

        def replace(match: re.Match) -> str:
            token = match.group(1)
            if token in variables:
                return str(self.resolve(variables[token]))
            if "." in token:
                return str(self._get_att(*token.split(".", 1)))
            return str(self._ref(token))

        return re.sub(r"\$\{([^}!]+)\}", replace, text)

    # --- what the local stack serves ---------------------------------------------------------
    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {name: r for name, r in self.resources.items() if r["Type"] == kind}

    def tables(self) -> list[dict[str, Any]]:
        """CreateTable arguments for every AWS::DynamoDB::Table."""
        tables = []
        for resource in self.of_type("AWS::DynamoDB::Table").values():
            props = self.resolve(resource["Properties"])
            spec = {
                "TableName": props["TableName"],
                "KeySchema": props["KeySchema"],
                "AttributeDefinitions": props["AttributeDefinitions"],
                "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
            }
            if props.get("GlobalSecondaryIndexes"):
                spec["GlobalSecondaryIndexes"] = [
                    {"IndexName": i["IndexName"], "KeySchema": i["KeySchema"], "Projection": i["Projection"]}
                    for i in props["GlobalSecondaryIndexes"]
                ]
            tables.append(spec)
        return tables

    def functions(self) -> dict[str, FunctionSpec]:
        specs = {}
        for name, resource in self.of_type("AWS::Serverless::Function").items():
            props = resource.get("Properties", {})
            merged_env = {
                **self.globals.get("Environment", {}).get("Variables", {}),
                **props.get("Environment", {}).get("Variables", {}),
            }
            environment = {k: "" if v is None else str(v) for k, v in self.resolve(merged_env).items()}
            module, _, handler = props.get("Handler", self.globals.get("Handler", "")).rpartition(".")
            code_dir = (self.root / props["CodeUri"]).resolve()
            layers = [self._layer_dir(ref) for ref in props.get("Layers", self.globals.get("Layers", []))]
            specs[name] = FunctionSpec(
                logical_id=name,
                code_dir=code_dir,
                module_file=code_dir / (module.replace(".", "/") + ".py"),
                handler_name=handler,
                environment=environment,
                layer_dirs=[d for d in layers if d],
                timeout_seconds=int(props.get("Timeout", self.globals.get("Timeout", 3))),
                memory_mb=int(props.get("MemorySize", self.globals.get("MemorySize", 128))),
            )
        return specs

    def _layer_dir(self, reference: Any) -> Path | None:
        name = reference.get("Ref") if isinstance(reference, dict) else None
        layer = self.resources.get(name or "")
        if not layer or layer["Type"] != "AWS::Serverless::LayerVersion":
            return None  # a published layer ARN: nothing local to load
        return (self.root / layer["Properties"]["ContentUri"]).resolve()

    def queues(self) -> list[QueueSpec]:
        specs = []
        for name, resource in self.of_type("AWS::SQS::Queue").items():
            redrive = resource.get("Properties", {}).get("RedrivePolicy") or {}
            specs.append(
                QueueSpec(
                    name,
                    int(redrive["maxReceiveCount"]) if "maxReceiveCount" in redrive else None,
                    _logical_id(redrive.get("deadLetterTargetArn")),
                )
            )
        return specs

    def queue_sources(self) -> list[QueueSource]:
        sources = []
        for name, resource in self.of_type("AWS::Serverless::Function").items():
            for event in resource.get("Properties", {}).get("Events", {}).values():
                if event.get("Type") == "SQS":
                    props = event["Properties"]
                    sources.append(
                        QueueSource(
                            _logical_id(props["Queue"]),
                            name,
                            int(props.get("BatchSize", 10)),
                            "ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
                        )
                    )
        return sources

    def event_rules(self) -> list[EventRule]:
        rules = []
        for resource in self.of_type("AWS::Events::Rule").values():
            props = resource["Properties"]
            targets = [_logical_id(t["Arn"]) for t in props.get("Targets", [])]
            rules.append(
                EventRule(
                    _logical_id(props.get("EventBusName")) or "default",
                    props.get("EventPattern", {}),
                    [t for t in targets if t in self.of_type("AWS::SQS::Queue")],
                )
            )
        return rules

    def api_routes(self) -> list[ApiRoute]:
        default = {}
        for api in self.of_type("AWS::Serverless::Api").values():
            default = api.get("Properties", {}).get("Auth", {})
        routes = []
        for name, resource in self.of_type("AWS::Serverless::Function").items():
            for event in resource.get("Properties", {}).get("Events", {}).values():
                if event.get("Type") != "Api":
                    continue
                props = event["Properties"]
                authorizer = props.get("Auth", {}).get("Authorizer", default.get("DefaultAuthorizer"))
                routes.append(
                    ApiRoute(
                        name,
                        props["Method"].upper(),
                        props["Path"],
                        None if authorizer in (None, "NONE") else authorizer,
                    )
                )
        # API Gateway prefers the most specific path: more literal segments first.
        return sorted(routes, key=lambda r: -r.static_segments)

    def stream_sources(self) -> list[StreamSource]:
        sources = []
        for name, resource in self.of_type("AWS::Serverless::Function").items():
            for event in resource.get("Properties", {}).get("Events", {}).values():
                if event.get("Type") != "DynamoDB":
                    continue
                props = event["Properties"]
                table_id = props["Stream"]["Fn::GetAtt"][0]
                table = self.resources[table_id]["Properties"]
                sources.append(
                    StreamSource(
                        function_id=name,
                        table_name=self.resolve(table["TableName"]),
                        stream_arn=self.resolve(props["Stream"]),
                        batch_size=int(props.get("BatchSize", 100)),
                        key_names=tuple(k["AttributeName"] for k in table["KeySchema"]),
                        filters=tuple(
                            json.loads(f["Pattern"]) for f in props.get("FilterCriteria", {}).get("Filters", [])
                        ),
                        reports_item_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
                    )
                )
        return sources

    def authorizers(self) -> dict[str, Authorizer]:
        found = {}
        for api in self.of_type("AWS::Serverless::Api").values():
            for name, spec in api.get("Properties", {}).get("Auth", {}).get("Authorizers", {}).items():
                function_arn = spec["FunctionArn"]
                function_id = function_arn["Fn::GetAtt"][0] if isinstance(function_arn, dict) else str(function_arn)
                found[name] = Authorizer(name, function_id, spec.get("Identity", {}).get("Header", "Authorization"))
        return found

    def gateway_responses(self) -> dict[str, dict[str, Any]]:
        for api in self.of_type("AWS::Serverless::Api").values():
            return api.get("Properties", {}).get("GatewayResponses", {})
        return {}

    def stage(self) -> str:
        for api in self.of_type("AWS::Serverless::Api").values():
            return str(self.resolve(api["Properties"].get("StageName", "local")))
        return "local"
