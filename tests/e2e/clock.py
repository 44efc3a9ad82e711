"""Moving the local stack through time: its test clock (`/_local/clock`) and the schedule."""

from billing.domain.values import format_timestamp, parse_timestamp


def move_clock(server, moment):
    """The test clock of the whole stack: every function's billing time moves to `moment`."""
    now = parse_timestamp(server.request("GET", "/_local/clock").json()["now"])
    if moment > now:
        response = server.request("POST", "/_local/clock", json={"now": format_timestamp(moment)})
        assert response.status_code == 200 and response.json()["now"] == format_timestamp(moment)


def invoke_run(server, moment):
    """The schedule fires at `moment`: the stack's clock gets there first, as time would."""
    move_clock(server, moment)
    response = server.request(
        "POST", "/_local/invoke/InvoicingRunFunction", json={"scheduled_time": format_timestamp(moment)}
    )
    assert response.status_code == 200, response.text
    return response.json()
