"""Sealed cursors and the merge of several lists (each residency's) into one, newest first."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.domain.errors import ValidationFailed
from billing.domain.paging import Page, list_binding, merged_page, open_cursor, seal_cursor


def filtered_source(keys: list[str], page_size: int):
    """A list sorted newest first whose pages are like a filtered index's: `page_size` keys are
    read, only the kept ones (odd last digit) answered, so a page may be short or empty with more
    behind it."""
    ordered = sorted(keys, reverse=True)

    def read(before, cursor):
        rest = [k for k in ordered if before is None or k < before]
        start = int(open_cursor(cursor)["at"]) if cursor else 0
        evaluated = rest[start : start + page_size]
        more = start + page_size < len(rest)
        kept = [k for k in evaluated if int(k[-1]) % 2]
        return Page(items=kept, next_cursor=seal_cursor({"at": start + page_size}) if more else None)

    return read


@settings(max_examples=60, deadline=None)
@given(
    keys=st.lists(st.integers(0, 999), unique=True, max_size=40).map(lambda ns: [f"{n:03d}" for n in ns]),
    split=st.lists(st.sampled_from(["us", "eu", "ap"]), min_size=40, max_size=40),
    limit=st.integers(1, 7),
    page_size=st.integers(1, 5),
)
def test_every_page_walked_is_the_merged_list_in_order_once(keys, split, limit, page_size):
    by_residency = {r: [k for k, s in zip(keys, split, strict=False) if s == r] for r in ("us", "eu", "ap")}
    sources = {r: filtered_source(ks, page_size) for r, ks in by_residency.items()}
    binding = list_binding("test", sorted(sources))
    walked, cursor = [], None
    for _ in range(100):
        page = merged_page(sources, lambda k: k, limit=limit, cursor=cursor, binding=binding)
        assert len(page.items) <= limit
        walked += page.items
        cursor = page.next_cursor
        if cursor is None:
            break
    assert walked == sorted((k for k in keys if int(k[-1]) % 2), reverse=True)


def test_a_cursor_of_another_list_or_edited_is_refused():
    sources = {"us": filtered_source(["101", "103", "105"], 1)}
    page = merged_page(sources, lambda k: k, limit=1, cursor=None, binding="a")
    with pytest.raises(ValidationFailed):
        merged_page(sources, lambda k: k, limit=1, cursor=page.next_cursor, binding="b")
    body, _, seal = page.next_cursor.partition(".")
    with pytest.raises(ValidationFailed):
        open_cursor(body[:-2] + "AA." + seal)
