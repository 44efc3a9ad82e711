"""Cold start: a function's module imports ~120,000 long-lived objects (botocore's service models,
pydantic's and our model classes, Powertools), and CPython's cyclic garbage collector, triggered
every 700 allocations, walks them again and again while they load: ~20-45 ms of a ~300 ms cold
start (`make bench`), for ~800 unreachable objects at the end.

Importing this module, first thing in a function's module, pauses the collector; `loaded()`, run by
`observability.instrumented()` when the module builds its handler, moves everything loaded so far
to the collector's permanent generation (`gc.freeze()`: never walked again, which also spares each
invocation's full collections a walk over the libraries) and restarts it. Python's documentation
describes the same pattern for servers that load once and then fork (`gc.freeze`). Only the first
function a process loads does so: the local stack loads the others while it serves requests."""

import gc

_resume = gc.isenabled()  # a process that had paused the collector itself keeps it paused
_loading = True
gc.disable()


def loaded() -> None:
    """The function is loaded: what exists now lives as long as the container; collect from here on."""
    global _loading
    if _loading:
        _loading = False
        gc.freeze()
        if _resume:
            gc.enable()
