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
