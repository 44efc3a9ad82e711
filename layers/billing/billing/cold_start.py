"""Cold start: a function's module imports ~120,000 long-lived objects (botocore's service models,
pydantic's and our model classes, Powertools), and CPython's cyclic garbage collector, triggered
every 700 allocations, walks them again and again while they load: ~45 ms of a ~330 ms cold start
(usage recording, `make bench`), for ~800 unreachable objects at the end.

Importing this module, first thing in a function's module, pauses the collector; `loaded()`, run by
`observability.instrumented()` when the module builds its handler, moves everything loaded so far
to the collector's permanent generation (`gc.freeze()`: never walked again, which also spares each
invocation's full collections a walk over the libraries) and restarts it. Python's documentation
describes the same pattern for servers that load once and then fork (`gc.freeze`)."""

import gc

gc.disable()


def loaded() -> None:
    """The function is loaded: what exists now lives as long as the container; collect from here on."""
    gc.freeze()
    gc.enable()
