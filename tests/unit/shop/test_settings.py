from __future__ import annotations

import pytest
from pydantic import ValidationError

from resilience.errors import ConfigurationError
from resilience.shop.db import normalise_url
from resilience.shop.durations import parse_duration
from resilience.shop.settings import ShopSettings


def test_platform_variables_are_read_without_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://shop@db:5432/shop")
    monkeypatch.setenv("REDIS_URL", "redis://cache:6379/2")
    monkeypatch.setenv("SHOP_JOB_MAX_RETRIES", "7")
    s = ShopSettings()
    assert (s.database_url, s.redis_url, s.job_max_retries) == (
        "postgresql://shop@db:5432/shop",
        "redis://cache:6379/2",
        7,
    )


def test_prefixed_variable_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "sqlite:///a.db")
    monkeypatch.setenv("SHOP_DATABASE_URL", "sqlite:///b.db")
    assert ShopSettings().database_url == "sqlite:///b.db"


def test_bad_values_name_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_WORKER_THREADS", "0")
    with pytest.raises(ValidationError, match="worker_threads"):
        ShopSettings()


def test_admin_token_never_shows_in_repr() -> None:
    s = ShopSettings(admin_token="s3cret-value")
    assert "s3cret-value" not in repr(s)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://u:p@h:5432/d", "postgresql+psycopg://u:p@h:5432/d"),
        ("postgresql://u@h/d", "postgresql+psycopg://u@h/d"),
        ("postgresql+psycopg://u@h/d", "postgresql+psycopg://u@h/d"),
        ("sqlite:///shop.db", "sqlite:///shop.db"),
    ],
)
def test_database_urls_are_normalised(url: str, expected: str) -> None:
    assert normalise_url(url) == expected


@pytest.mark.parametrize(("url", "names"), [("mysql://h/d", "'mysql'"), ("not a url", "not a url")])
def test_unsupported_database_urls_are_refused(url: str, names: str) -> None:
    with pytest.raises(ConfigurationError, match=names):
        normalise_url(url)


@pytest.mark.parametrize(
    ("text", "seconds"), [("500ms", 0.5), ("30s", 30), ("15m", 900), ("1h", 3600), ("2d", 172800)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "1", "h", "-1h", "1 week"])
def test_bad_durations_say_the_accepted_form(text: str) -> None:
    with pytest.raises(ValueError, match="500ms, 30s, 15m, 1h, 2d"):
        parse_duration(text)


def test_payment_and_refund_events_are_critical_and_others_are_not() -> None:
    s = ShopSettings()
    critical = ["payment_intent.succeeded", "charge.refunded", "PAYMENT.CAPTURE.COMPLETED"]
    assert all(s.is_critical_event(t) for t in critical)
    assert not any(s.is_critical_event(t) for t in ["customer.created", "payment_intent"])
    only = ShopSettings(critical_event_types=" charge.refunded , ")
    assert only.is_critical_event("charge.refunded")
    assert not only.is_critical_event("payment_intent.succeeded")


def test_the_critical_queue_cannot_be_the_throttled_one() -> None:
    with pytest.raises(ValidationError, match="SHOP_CRITICAL_QUEUE='orders' is the throttled"):
        ShopSettings(critical_queue="orders")
