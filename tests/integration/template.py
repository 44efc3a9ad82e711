"""template.yaml as these tests read it: the tables (CreateTable arguments), each function (its
handler and its environment) and each queue a function reads (its batch, its redrive policy).
Only the intrinsics the template uses where these tests look are resolved; any other fails loudly,
so the template cannot drift from what the tests build."""

from __future__ import annotations

import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from billing.api.tokens import LOCAL_SECRET

ROOT = Path(__file__).resolve().parents[2]
PSEUDO = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::NoValue": None}
# The parameters a test deployment differs in (the rest keep the template's defaults): a seeded
# sandbox catalog, and the secret the tests' tokens are signed with.
TEST_PARAMETERS = {"Stage": "it", "Sandbox": "true", "JwtSecret": LOCAL_SECRET, "LogLevel": "WARNING"}


class _CloudFormationLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags: `!Ref X` reads as {"Ref": "X"}, `!Sub s` as {"Fn::Sub": s}."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        content: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        content = loader.construct_sequence(node, deep=True)
    else:
        content = loader.construct_mapping(node, deep=True)
    return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": content}


_CloudFormationLoader.add_multi_constructor("!", _intrinsic)


def _named_by(get_att: dict[str, Any]) -> str:
    """The resource a `!GetAtt X.Arn` names."""
    target = get_att["Fn::GetAtt"]
    return target.split(".")[0] if isinstance(target, str) else target[0]


@dataclass(frozen=True)
class Queue:
    """A queue a function reads, as Lambda's event source mapping delivers it."""

    name: str  # the logical id, also its name on moto
    function_id: str
    batch_size: int
    reports_item_failures: bool
    max_receive_count: int
    dead_letter_queue: str  # logical id


@dataclass(frozen=True)
class Rule:
    """An EventBridge rule routing to queues (its other targets are not modelled)."""

    name: str
    bus: str  # the bus's name
    pattern: dict[str, Any]
    queues: list[str]  # logical ids


class Template:
    def __init__(self, path: Path = ROOT / "template.yaml", parameters: dict[str, str] = TEST_PARAMETERS):
        document = yaml.load(path.read_text(), Loader=_CloudFormationLoader)  # noqa: S506 - a SafeLoader
        self.resources: dict[str, dict[str, Any]] = document["Resources"]
        declared = document["Parameters"]
        self.parameters = {name: str(spec.get("Default", "")) for name, spec in declared.items()} | parameters
        self.globals = document["Globals"]["Function"]
        self.queue_urls: dict[str, str] = {}  # logical id -> URL, once the queues exist

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {name: r for name, r in self.resources.items() if r["Type"] == kind}

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Ref"}:
            return self._ref(value["Ref"])
        if set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
            return re.sub(r"\$\{([^}.!]+)\}", lambda m: str(self._ref(m.group(1))), value["Fn::Sub"])
        if any(key == "Ref" or key.startswith("Fn::") for key in value):
            raise ValueError(f"these tests do not resolve {value}")
        return {k: self.resolve(v) for k, v in value.items()}

    def _ref(self, name: str) -> Any:
        if name in self.parameters:
            return self.parameters[name]
        if name in PSEUDO:
            return PSEUDO[name]
        kind, props = self.resources[name]["Type"], self.resources[name].get("Properties", {})
        if kind == "AWS::DynamoDB::Table":
            return self.resolve(props["TableName"])
        if kind == "AWS::Events::EventBus":
            return self.resolve(props["Name"])
        if kind == "AWS::SQS::Queue":
            return self.queue_urls[name]
        raise ValueError(f"these tests do not resolve !Ref {name} ({kind})")

    def tables(self) -> list[dict[str, Any]]:
        """CreateTable arguments for every AWS::DynamoDB::Table."""
        tables = []
        for resource in self.of_type("AWS::DynamoDB::Table").values():
            props = resource["Properties"]
            table = {
                "TableName": self.resolve(props["TableName"]),
                "KeySchema": props["KeySchema"],
                "AttributeDefinitions": props["AttributeDefinitions"],
                "BillingMode": props["BillingMode"],
            }
            if "GlobalSecondaryIndexes" in props:
                table["GlobalSecondaryIndexes"] = [
                    {key: index[key] for key in ("IndexName", "KeySchema", "Projection")}
                    for index in props["GlobalSecondaryIndexes"]
                ]
            tables.append(table)
        return tables

    def environment(self) -> dict[str, str]:
        """Every function runs in this process, so they share one environment: the union of
        theirs. A variable two functions set differently could not be honoured, so it is refused."""
        merged: dict[str, str] = {}
        for resource in self.of_type("AWS::Serverless::Function").values():
            variables = {
                **self.globals["Environment"]["Variables"],
                **resource["Properties"].get("Environment", {}).get("Variables", {}),
            }
            for key, value in self.resolve(variables).items():
                value = "" if value is None else str(value)
                if merged.setdefault(key, value) != value:
                    raise ValueError(f"{key} differs between functions")
        return merged

    def handler(self, function_id: str):
        """The function's handler, from a fresh import of its module (a cold start)."""
        props = self.resources[function_id]["Properties"]
        module, _, name = props["Handler"].rpartition(".")
        path = ROOT / props["CodeUri"] / (module.replace(".", "/") + ".py")
        spec = importlib.util.spec_from_file_location(f"_it_{function_id}", path)
        loaded = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = loaded
        spec.loader.exec_module(loaded)
        return getattr(loaded, name)

    def queues(self) -> list[Queue]:
        """The queues functions read (each with a redrive policy: a poison message must end somewhere)."""
        found = []
        for function_id, resource in self.of_type("AWS::Serverless::Function").items():
            for event in resource["Properties"].get("Events", {}).values():
                if event["Type"] != "SQS":
                    continue
                props = event["Properties"]
                name = _named_by(props["Queue"])
                redrive = self.resources[name]["Properties"]["RedrivePolicy"]
                found.append(
                    Queue(
                        name,
                        function_id,
                        int(props.get("BatchSize", 10)),
                        "ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
                        int(redrive["maxReceiveCount"]),
                        _named_by(redrive["deadLetterTargetArn"]),
                    )
                )
        return found

    def rules(self) -> list[Rule]:
        found = []
        for name, resource in self.of_type("AWS::Events::Rule").items():
            props = resource["Properties"]
            queues = [_named_by(target["Arn"]) for target in props["Targets"]]
            found.append(Rule(name, self.resolve(props["EventBusName"]), props["EventPattern"], queues))
        return found
