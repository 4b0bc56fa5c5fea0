import pytest

from inspector.schema.errors import UserError
from inspector.schema.units import parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("50ms", 0.05),
        ("0.8s", 0.8),
        ("2", 2.0),
        ("1.5", 1.5),
        ("1m", 60.0),
        ("2h", 7200.0),
        ("0", 0.0),
        (" 30 s ", 30.0),
        ("250us", 0.00025),
        (".5s", 0.5),
        ("10MS", 0.01),
        ("1min", 60.0),
    ],
)
def test_parse_duration_accepts(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "abc", "-1", "1x", "ms", "1.2.3", "nan", "inf", "1e3", "5 m s"])
def test_parse_duration_rejects_with_one_line(text: str) -> None:
    with pytest.raises(UserError) as err:
        parse_duration(text)
    assert repr(text) in str(err.value) and "\n" not in str(err.value)


def test_counts_rates_and_plurals_one_style() -> None:
    from inspector.schema.units import count, counted, per_hour, plural

    assert count(16897) == "16 897" and count(16897.4) == "16 897" and count(42.0) == "42" and count(None) == "—"
    assert count(1_234_567) == "1 234 567" and count(0) == "0"
    assert per_hour(16897.2) == "16 897 calls/h" and per_hour(None) == "—"
    assert counted(1, "backend call") == "1 backend call" and counted(2, "backend call") == "2 backend calls"
    assert counted(1, "token") == "1 token" and counted(12000, "token") == "12 000 tokens"
    assert counted(0, "fetch") == "0 fetches" and counted(3, "JWKS fetch") == "3 JWKS fetches"
    assert plural(2, "refetch") == "refetches" and plural(2, "proxy") == "proxies" and plural(2, "key") == "keys"
    assert plural(1, "fetch") == "fetch" and plural(2, "proactive refresh") == "proactive refreshes"


def test_milliseconds_group_thousands_like_counts() -> None:
    from inspector.schema.units import ms

    assert ms(59237.4) == "59 237 ms" and ms(812.6) == "813 ms" and ms(2.04) == "2.0 ms" and ms(None) == "—"
