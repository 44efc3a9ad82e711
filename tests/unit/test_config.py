"""The deployment's settings, read from the environment the template sets."""

import pytest

from billing.config import BillingConfig

from .lambda_env import TABLES

SECRET = "a-cursor-secret-of-forty-characters-long"


def settings(**extra: str) -> BillingConfig:
    return BillingConfig.from_environment({f"{table}_TABLE": f"t-{table.lower()}" for table in TABLES} | extra)


def test_the_cursor_secret_seals_cursors_but_never_shows_in_a_log_line():
    config = settings(BILLING_CURSOR_SECRET=SECRET)
    assert config.cursor_secret == SECRET
    shown = f"{config!r} {config}"
    assert SECRET not in shown
    assert "plans_table='t-plans'" in shown and "residencies=('us', 'eu')" in shown


def test_a_cursor_secret_under_32_characters_is_refused_at_init():
    with pytest.raises(ValueError, match="at least 32 characters"):
        settings(BILLING_CURSOR_SECRET="short")


def test_a_missing_table_is_refused_at_init():
    with pytest.raises(KeyError):
        BillingConfig.from_environment({})
