"""The SVG charts: their numbers are the data's, and they carry text alternatives."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

from appban.web.charts import STATES, TrendPoint, legend, stacked_bars, trend_chart

SVG = "{http://www.w3.org/2000/svg}"


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def test_stacked_bars_draw_each_count_to_scale_with_a_title_and_description() -> None:
    rows = [("European Commission", {"compliant": 30, "non_compliant": 10, "grace": 5}),
            ("DG DIGIT <&>", {"compliant": 12, "exempt": 3, "unknown": 1})]
    root = _parse(stacked_bars(rows, title="Devices by state", description="Two organisations"))
    assert root.get("role") == "img"
    assert root.find(f"{SVG}title").text == "Devices by state"
    assert root.find(f"{SVG}desc").text == "Two organisations"
    labelled = root.get("aria-labelledby").split()
    assert {root.find(f"{SVG}title").get("id"), root.find(f"{SVG}desc").get("id")} == set(labelled)
    bars = root.findall(f"{SVG}g[@class='bar']")
    assert [b.get("data-label") for b in bars] == ["European Commission", "DG DIGIT <&>"]
    for bar, (_, counts) in zip(bars, rows, strict=True):
        drawn = {rect.get("data-state"): int(rect.get("data-value")) for rect in bar.findall(f"{SVG}rect")}
        assert drawn == counts
        assert int(bar.get("data-total")) == sum(counts.values())
        for rect in bar.findall(f"{SVG}rect"):  # a tooltip names the state in words, not only by colour
            assert rect.find(f"{SVG}title").text.endswith(f"{rect.get('data-value')} "
                                                          + next(s.label for s in STATES
                                                                 if s.state == rect.get("data-state")))
    widths = {rect.get("data-state"): float(rect.get("width")) for rect in bars[0].findall(f"{SVG}rect")}
    assert abs(widths["compliant"] / widths["non_compliant"] - 3.0) < 0.05  # to scale


def test_every_state_has_its_own_pattern_as_well_as_its_colour() -> None:
    patterns = {s.pattern for s in STATES}
    assert len(patterns) == len(STATES)  # compliant is the plain fill, every other state is drawn differently
    assert len({s.colour for s in STATES}) == len(STATES)
    key = legend("k")
    for s in STATES:
        assert f"url(#k-{s.state})" in key and s.label in key


def test_the_trend_chart_plots_each_day_of_both_series() -> None:
    start = dt.date(2026, 1, 1)
    points = [TrendPoint(start + dt.timedelta(days=i), nc, g) for i, (nc, g) in
              enumerate([(0, 3), (2, 3), (5, 1), (4, 0)])]
    root = _parse(trend_chart(points, title="Trend", description="Non-compliant rose from 0 to 4"))
    assert root.find(f"{SVG}title").text == "Trend" and "rose" in root.find(f"{SVG}desc").text
    series = {g.get("data-series"): g for g in root.findall(f"{SVG}g[@class='series']")}
    circles = series["non_compliant"].findall(f"{SVG}circle")
    squares = series["grace"].findall(f"{SVG}rect")
    assert [int(c.get("data-value")) for c in circles] == [p.non_compliant for p in points]
    assert [int(r.get("data-value")) for r in squares] == [p.grace for p in points]
    assert [c.get("data-day") for c in circles] == [p.day.isoformat() for p in points]
    ys = [float(c.get("cy")) for c in circles]
    assert ys[0] > ys[1] > ys[3] > ys[2]  # higher counts are drawn higher
    assert series["grace"].find(f"{SVG}polyline").get("stroke-dasharray")  # not told apart by colour only


def test_charts_of_nothing_still_say_so() -> None:
    root = _parse(stacked_bars([], title="Empty", description="No devices"))
    assert "no devices in scope" in ET.tostring(root, encoding="unicode")
    assert _parse(trend_chart([], title="Empty", description="No history yet.")).find(f"{SVG}desc").text
