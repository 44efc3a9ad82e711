"""Lambda, locally: each function of the template is loaded from its CodeUri with its layers
on the path. Like Lambda, a container serves one invocation at a time; concurrent invocations
get more containers (fresh imports of the function module), up to a cap."""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

from .template import PSEUDO, FunctionSpec

MAX_CONTAINERS = 32


class LambdaContext:
    def __init__(self, spec: FunctionSpec):
        self.function_name = spec.logical_id
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = spec.memory_mb
        self.invoked_function_arn = (
            f"arn:aws:lambda:{PSEUDO['AWS::Region']}:{PSEUDO['AWS::AccountId']}:function:{spec.logical_id}"
        )
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{spec.logical_id}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + spec.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class LocalFunction:
    def __init__(self, spec: FunctionSpec):
        self.spec = spec
        self._idle: list[ModuleType] = []
        self._count = 0
        self._lock = threading.Condition()
        for layer in spec.layer_dirs:
            if str(layer) not in sys.path:
                sys.path.insert(0, str(layer))
        # As in Lambda, a function's own modules (beside app.py) import from its code folder.
        code_dir = str(spec.module_file.parent)
        if code_dir not in sys.path:
            sys.path.append(code_dir)

    def _cold_start(self) -> ModuleType:
        name = f"_local_fn_{self.spec.logical_id}_{self._count}"
        loader = importlib.util.spec_from_file_location(name, self.spec.module_file)
        module = importlib.util.module_from_spec(loader)
        loader.loader.exec_module(module)
        return module

    @contextmanager
    def _container(self) -> Iterator[ModuleType]:
        with self._lock:
            while not self._idle and self._count >= MAX_CONTAINERS:
                self._lock.wait()
            module = self._idle.pop() if self._idle else None
            if module is None:
                self._count += 1
        if module is None:
            try:
                module = self._cold_start()
            except BaseException:
                with self._lock:
                    self._count -= 1
                    self._lock.notify()
                raise
        try:
            yield module
        finally:
            with self._lock:
                self._idle.append(module)
                self._lock.notify()

    def invoke(self, event: dict[str, Any]) -> Any:
        with self._container() as module:
            return getattr(module, self.spec.handler_name)(event, LambdaContext(self.spec))


def merged_environment(specs: dict[str, FunctionSpec]) -> dict[str, str]:
    """All functions share this process, so they share one environment: the union of theirs.
    A variable two functions set differently cannot be honoured here, so it is refused."""
    merged: dict[str, str] = {}
    for spec in specs.values():
        for key, value in spec.environment.items():
            if key in merged and merged[key] != value:
                raise ValueError(f"{key} differs between functions; the local stack cannot serve both")
            merged[key] = value
    return merged
