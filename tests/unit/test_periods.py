"""Period arithmetic: periods tile time from the anchor, month-end safe."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from billing.domain.periods import CADENCE_MONTHS, add_months, period_at, period_containing, period_index

UTC = UTC
anchors = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 12, 31), timezones=st.just(UTC))
cadences = st.sampled_from(sorted(CADENCE_MONTHS))
indexes = st.integers(min_value=-50, max_value=300)


@given(anchors, cadences, indexes)
def test_consecutive_periods_meet_with_no_gap_or_overlap(anchor, cadence, k):
    this, following = period_at(anchor, cadence, k), period_at(anchor, cadence, k + 1)
    assert this.end == following.start
    assert this.start < this.end


@given(anchors, cadences, indexes)
def test_period_lengths_match_the_cadence(anchor, cadence, k):
    period = period_at(anchor, cadence, k)
    months = CADENCE_MONTHS[cadence]
    assert (
        timedelta(days=28 * months - (3 if months > 1 else 0))
        <= period.end - period.start
        <= timedelta(days=31 * months + 1)
    )


@given(
    anchors,
    cadences,
    st.datetimes(min_value=datetime(1999, 1, 1), max_value=datetime(2099, 1, 1), timezones=st.just(UTC)),
)
def test_every_moment_falls_in_exactly_one_period(anchor, cadence, moment):
    k = period_index(anchor, cadence, moment)
    assert period_at(anchor, cadence, k).contains(moment)
    assert not period_at(anchor, cadence, k - 1).contains(moment)
    assert not period_at(anchor, cadence, k + 1).contains(moment)
    assert period_containing(anchor, cadence, moment) == period_at(anchor, cadence, k)


@given(anchors, cadences)
def test_period_zero_starts_at_the_anchor(anchor, cadence):
    assert period_at(anchor, cadence, 0).start == anchor


def test_month_ends_clamp_and_come_back():
    anchor = datetime(2027, 1, 31, 9, 30, tzinfo=UTC)
    starts = [period_at(anchor, "monthly", k).start.date().isoformat() for k in range(4)]
    assert starts == ["2027-01-31", "2027-02-28", "2027-03-31", "2027-04-30"]
    assert add_months(datetime(2028, 1, 31, tzinfo=UTC), 1).day == 29  # leap year
    assert period_at(datetime(2028, 2, 29, tzinfo=UTC), "annual", 1).start.date().isoformat() == "2029-02-28"
    assert period_at(datetime(2026, 11, 30, tzinfo=UTC), "quarterly", 1).start.date().isoformat() == "2027-02-28"
