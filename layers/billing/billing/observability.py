"""Logger, metrics and tracer, and the fixed order in which a handler is wrapped by them.
Lambda's active tracing (template.yaml) traces every invocation. Powertools' Tracer adds
subsegments only where the X-Ray SDK is installed: the layer leaves it out on purpose,
because it costs more cold start than boto3 itself and brings a botocore of its own."""

from __future__ import annotations

import importlib.util
import os
import warnings
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger()
metrics = Metrics()
# Every invocation records the cold-start metric at least; an empty flush is not worth a warning.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)

__all__ = ["MetricUnit", "instrumented", "logger", "metrics"]  # MetricUnit: for the functions that add metrics

Handler = Callable[[dict, Any], Any]


def _tracing_enabled() -> bool:
    disabled = os.environ.get("POWERTOOLS_TRACE_DISABLED", "false").lower() in ("true", "1")
    return not disabled and importlib.util.find_spec("aws_xray_sdk") is not None


def instrumented(handler: Handler, *, correlation_id_path: str | None = None) -> Handler:
    """Logger outermost (so everything below logs with context), then tracer, then metrics. The last
    thing a function's module does: it ends the cold start's pause of the garbage collector."""
    # Powertools writes the cold-start metric even with metrics disabled: ask for it only when enabled.
    cold_start_metric = os.environ.get("POWERTOOLS_METRICS_DISABLED", "false").lower() not in ("true", "1")
    wrapped = metrics.log_metrics(handler, capture_cold_start_metric=cold_start_metric, raise_on_empty_metrics=False)
    if _tracing_enabled():
        from aws_lambda_powertools import Tracer

        wrapped = Tracer().capture_lambda_handler(wrapped)
    wrapped = logger.inject_lambda_context(wrapped, correlation_id_path=correlation_id_path)
    from . import cold_start  # the function's module imported it first, to pause the collector

    cold_start.loaded()
    return wrapped
