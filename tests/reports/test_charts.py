"""The server-drawn SVG charts: well-formed, escaped, accessible, and honest about their numbers."""
import xml.etree.ElementTree as ET
from decimal import Decimal

from experts_service.reports.charts import render
from experts_service.reports.tables import Chart, Series

SVG = "{http://www.w3.org/2000/svg}"


def _tree(chart):
    return ET.fromstring(str(render(chart)))


def _bars(root):
    return [rect for rect in root.iter(f"{SVG}rect") if rect.get("class") == "chart-bar"]


def test_vertical_bars_are_as_tall_as_their_values():
    root = _tree(Chart("c", "标题", "bar", ("一", "二", "三"), (Series("人数", (2, 4, 0)),), unit="人"))
    assert root.get("role") == "img" and root.get("aria-label") == "标题" and root.get("id") == "chart-c"
    assert root.find(f"{SVG}title").text == "标题"
    assert root.find(f"{SVG}desc").text == "一：人数 2；二：人数 4；三：人数 0（单位：人）"
    bars = _bars(root)
    assert [bar.get("data-category") for bar in bars] == ["一", "二"]  # no bar for zero
    heights = [float(bar.get("height")) for bar in bars]
    assert abs(heights[1] - 2 * heights[0]) < 0.2
    assert root.get("data-bars") == "2"


def test_horizontal_stacked_bars_add_up():
    chart = Chart("s", "堆叠", "hbar", ("甲", "乙"), (Series("A", (1, 3)), Series("B", (2, 0))))
    bars = _bars(_tree(chart))
    widths = {(bar.get("data-category"), bar.get("data-series")): float(bar.get("width")) for bar in bars}
    assert set(widths) == {("甲", "A"), ("甲", "B"), ("乙", "A")}
    assert abs(widths[("甲", "A")] + widths[("甲", "B")] - widths[("乙", "A")]) < 0.2
    legend = [text.text for text in _tree(chart).iter(f"{SVG}text") if text.text in ("A", "B")]
    assert legend == ["A", "B"]


def test_fixed_scale_draws_measures_side_by_side():
    chart = Chart("g", "得分", "hbar", ("甲",), (Series("总分", (Decimal("50.00"),)), Series("评价", (None,))),
                  scale_max=100)
    bars = _bars(_tree(chart))
    assert [(bar.get("data-series"), bar.get("data-value")) for bar in bars] == [("总分", "50.00")]


def test_labels_are_escaped():
    hostile = '<script>alert("x")</script>&'
    markup = str(render(Chart('k"><x', hostile, "hbar", (hostile,), (Series(hostile, (1,)),))))
    assert "<script>" not in markup and 'k"><x' not in markup
    root = ET.fromstring(markup)  # still well-formed
    assert root.get("aria-label") == hostile
    assert root.find(f"{SVG}title").text == hostile


def test_nothing_to_draw_says_so():
    for chart in (Chart("e", "空", "bar", ("一",), (Series("人数", (0,)),)), Chart("f", "空", "hbar", (), ())):
        root = _tree(chart)
        assert _bars(root) == [] and root.get("data-bars") == "0"
        assert any(text.text == "暂无数据" for text in root.iter(f"{SVG}text"))


def test_no_script_or_style_in_a_chart():
    markup = str(render(Chart("c", "标题", "bar", ("一",), (Series("人数", (3,)),))))
    assert "<script" not in markup and "style=" not in markup and "<style" not in markup
    assert "http" not in markup.replace('xmlns="http://www.w3.org/2000/svg"', "")
