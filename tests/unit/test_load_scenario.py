"""Scenario files, built-in profiles and the open model's timetable."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from prodready.errors import UsageError
from prodready.load.profiles import PROFILES, profile_stages, rescale
from prodready.load.requests import RequestFactory
from prodready.load.scenario import (
    Endpoint,
    Scenario,
    Stage,
    load_scenario,
    parse_duration,
    parse_scenario,
)
from prodready.load.schedule import intended_offsets
from prodready.load.target import Target

FULL = """\
name = "checkout"
timeout = "2s"
connections = 50
thresholds = ["p95<500ms", "error_rate<1%"]

[vars]
product = [1, 2, 3]
order = { range = [10, 12] }
user = { csv = "users.csv", column = "id" }

[[stages]]
duration = "10s"
rate = 20

[[stages]]
duration = "5s"
start_rate = 20
rate = 100

[[endpoints]]
name = "product"
path = "/products/${product}"
weight = 3

[[endpoints]]
name = "order"
method = "post"
path = "/orders"
headers = { Authorization = "Bearer ${user}" }
body = '{"order": ${order}, "user": "${user}"}'
"""


def parse(text: str, tmp_path: Path) -> Scenario:
    path = tmp_path / "scenario.toml"
    path.write_text(text)
    return parse_scenario(text, path)


def error_of(text: str, tmp_path: Path) -> str:
    with pytest.raises(UsageError) as info:
        parse(text, tmp_path)
    return str(info.value)


def test_a_full_scenario_parses(tmp_path: Path) -> None:
    (tmp_path / "users.csv").write_text("id,name\nu1,a\nu2,b\n")
    scenario = parse(FULL, tmp_path)
    assert scenario.name == "checkout"
    assert scenario.timeout_s == 2.0 and scenario.connections == 50
    assert [e.name for e in scenario.endpoints] == ["product", "order"]
    order = scenario.endpoints[1]
    assert order.method == "POST" and order.templated and order.weight == 1.0
    assert scenario.variables == {
        "product": ("1", "2", "3"),
        "order": ("10", "11", "12"),
        "user": ("u1", "u2"),
    }
    assert scenario.stages == (Stage(10.0, 20.0), Stage(5.0, 100.0, 20.0))
    assert scenario.total_requests == 200 + 300
    assert scenario.thresholds == ("p95<500ms", "error_rate<1%")


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ('name = "x"\n[[endpoints]]\npath = "/a"\nweight = \n', 4, "malformed TOML"),
        ('name = "x"\nrates = 5\n', 2, "unknown key 'rates'"),
        ('[[endpoints]]\npath = "/a"\n\n[[endpoints]]\npath = "/b"\nweight = -1\n', 6, "weight"),
        ('[[endpoints]]\npath = "/a"\nmethod = "FETCH"\n', 3, "unknown method"),
        ('[[endpoints]]\npath = "a"\n', 2, "path starting with /"),
        ('[[endpoints]]\npath = "/a/${nope}"\n', 2, "${nope} is not defined"),
        (
            '[[stages]]\nduration = "10s"\nrate = 5\n\n[[stages]]\nduration = "ten"\nrate = 5\n',
            6,
            "duration",
        ),
        ('[[stages]]\nduration = "10s"\n', 1, "needs rate"),
        ('thresholds = [\n  "p95<500ms",\n  "p95 < fast",\n]\n', 3, "threshold 2"),
        ('profile = "burst"\n', 1, "unknown profile"),
        ("[vars]\nid = []\n", 2, "non-empty list"),
        ('[vars]\nid = { csv = "missing.csv" }\n', 2, "cannot read"),
        (
            '[[endpoints]]\nname = "a"\npath = "/a"\n[[endpoints]]\nname = "a"\npath = "/b"\n',
            5,
            "two endpoints",
        ),
    ],
)
def test_a_malformed_file_names_the_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    message = error_of(text, tmp_path)
    assert f"scenario.toml:{line}" in message or f"line {line}" in message, message
    assert words in message


def test_a_missing_file_lists_the_profiles() -> None:
    with pytest.raises(UsageError, match="built-in profiles: smoke"):
        load_scenario("/nonexistent/scenario.toml")


def test_profiles_are_short_bounded_and_scale() -> None:
    for name in PROFILES:
        scenario = load_scenario(name)
        assert 0 < scenario.duration <= 300 and scenario.total_requests <= 20_000
    spike = profile_stages("spike", rate=500, duration=60)
    assert max(s.rate for s in spike) == 500 and min(s.rate for s in spike) == 100
    assert sum(s.duration for s in spike) == pytest.approx(60)
    scaled = rescale(spike, rate=1000, duration=None)
    assert max(s.rate for s in scaled) == 1000
    assert [s.duration for s in scaled] == [s.duration for s in spike]


def test_a_profile_file_with_rate_and_duration(tmp_path: Path) -> None:
    scenario = parse('profile = "stress"\nrate = 40\nduration = "20s"\n', tmp_path)
    assert scenario.peak_rate == 40 and scenario.duration == pytest.approx(20)


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("5m", 300), ("500ms", 0.5), (2, 2)])
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["0s", "soon", "-1", True])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_a_constant_stage_is_evenly_spaced() -> None:
    offsets = list(intended_offsets((Stage(2.0, 10.0),)))
    assert len(offsets) == 20
    assert offsets[0] == pytest.approx(0.1) and offsets[-1] == pytest.approx(2.0)
    gaps = {round(b - a, 9) for a, b in itertools.pairwise(offsets)}
    assert gaps == {0.1}


def test_a_ramp_sends_its_area_and_speeds_up() -> None:
    offsets = list(intended_offsets((Stage(10.0, 100.0, 0.0),)))
    assert len(offsets) == 500  # the area under 0 → 100 req/s over 10 s
    assert offsets == sorted(offsets) and offsets[-1] <= 10.0 + 1e-9
    first_half = sum(1 for t in offsets if t <= 5.0 + 1e-9)
    assert first_half == 125  # a quarter of the area lies in the first half of a ramp


def test_stages_join_without_losing_requests() -> None:
    stages = (Stage(1.5, 3.0), Stage(1.5, 3.0), Stage(1.0, 0.0), Stage(1.0, 2.0))
    offsets = list(intended_offsets(stages))
    assert len(offsets) == 11
    assert all(t <= 2.0 or t > 4.0 for t in offsets if t > 3.0)  # nothing during the pause


def test_requests_render_templates_once_per_request() -> None:
    scenario = Scenario(
        name="t",
        endpoints=(
            Endpoint("fixed", "/health"),
            Endpoint(
                "order",
                "/orders/${id}",
                method="POST",
                headers={"X-Id": "${id}"},
                body='{"id": "${id}"}',
            ),
        ),
        stages=(Stage(1.0, 1.0),),
        variables={"id": ("a b", "c")},
    )
    target = Target("http://127.0.0.1:8000/api", "http", "127.0.0.1", 8000, "/api", "127.0.0.1")
    factory = RequestFactory(scenario, target, seed=1)
    assert factory.build(0).startswith(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n")
    for _ in range(10):
        raw = factory.build(1).decode()
        value = "a b" if "X-Id: a b" in raw else "c"
        escaped = "a%20b" if value == "a b" else "c"
        assert raw.startswith(f"POST /api/orders/{escaped} HTTP/1.1\r\n")
        assert raw.endswith(f'{{"id": "{value}"}}')
        assert "Content-Type: application/json" in raw
    picks = [factory.pick() for _ in range(2000)]
    assert 800 < picks.count(0) < 1200
