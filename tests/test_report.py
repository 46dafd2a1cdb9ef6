"""`uqlens report`: a self-contained HTML (plotly.js inlined once) + Markdown with every
section, model text escaped, and no model loaded."""

from __future__ import annotations

import pandas as pd
import pytest
from _built_run import built_run, no_model_check

from uqlens import report
from uqlens.cli import main


@pytest.fixture(scope="session")
def built_path(tmp_path_factory):
    return built_run(tmp_path_factory)


@pytest.mark.model
def test_report_cli_writes_html_and_markdown(built_path, tmp_path):
    out = tmp_path / "r" / "report.html"
    assert main(["report", str(built_path), "--out", str(out), "--n-boot", "10"]) == 0
    text = out.read_text(encoding="utf-8")
    md = out.with_suffix(".md").read_text(encoding="utf-8")
    for title in report.SECTIONS:
        assert title in text and f"## {title}" in md
    assert text.count("plotly.js v") == 1  # inlined exactly once: opens offline
    assert "<script src=" not in text  # no external script
    assert "Plotly.newPlot" in text
    # the xss fixture's model text and question never appear unescaped
    assert "<script>alert" not in text and "<b>bold</b>" not in text
    assert "Sydney" in text  # the confident hallucination is listed (escaped text)


def test_model_text_is_escaped_in_tables_and_text():
    s = report.Section("Overview")
    s.text("<img src=x onerror=alert(1)>")
    s.table(pd.DataFrame({"answer": ["<script>alert(2)</script>"]}), "cap <i>")
    html = report.render_html([s], {"run": "<b>x</b>"}, "t <script>")
    assert "<img src=x" not in html and "<script>alert(2)" not in html
    assert "&lt;script&gt;alert(2)" in html and "<b>x</b>" not in html


@pytest.mark.model
def test_report_usage_errors(tmp_path, built_path):
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "x.html")]) == 1
    assert main(["report", str(built_path), "--out", str(tmp_path / "x.html"),
                 "--judge", "nope"]) == 2


@pytest.mark.model
def test_report_loads_no_model(built_path, tmp_path):
    code = ("from uqlens.report import write_report\n"
            f"write_report({str(built_path)!r}, {str(tmp_path / 'r.html')!r}, n_boot=5,"
            " n_splits=2, n_draws=1)\n")
    res = no_model_check(code)
    assert "NO_MODEL_OK" in res.stdout, res.stderr[-2000:]
