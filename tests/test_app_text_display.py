"""Model text as the dashboard shows it: control characters made visible (a right-to-left
override must not reorder what a reader sees), long answers cut with the rest one click away.
Unit tests of the sanitiser, then the Question page on a copy of the fixture with a 200 KB
judged answer and an override character in a sample."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
from streamlit.testing.v1 import AppTest

from components.tables import cell_text
from uqlens.core.text import visible_controls
from uqlens.viz.common import escape, method_colors

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
FIXTURE = ROOT / "tests" / "fixtures" / "tiny_run"
RLO = "abc\u202eevil"  # shown raw, a browser draws "abclive"


def test_visible_controls():
    assert visible_controls(RLO) == "abc⟨U+202E⟩evil"
    assert visible_controls("zero\u200bwidth\ufeff") == "zero⟨U+200B⟩width⟨U+FEFF⟩"
    assert visible_controls("bell\x07 esc\x1b[31m") == "bell⟨U+0007⟩ esc⟨U+001B⟩[31m"
    # layout characters, joiners of emoji and scripts, and ordinary text stay as they are
    assert visible_controls("a\nb\tc\r\n") == "a\nb\tc\r\n"
    assert visible_controls("👨\u200d👩 می\u200cخواهم é 中") == "👨\u200d👩 می\u200cخواهم é 中"


def test_cell_text_cuts_long_text_and_shows_controls():
    assert cell_text("x" * 600, limit=500) == "x" * 500 + "… (600 characters)"
    assert cell_text(RLO) == "abc⟨U+202E⟩evil"
    assert cell_text(None) is None and cell_text(3) == 3


def test_figure_text_shows_controls_and_stays_inert():
    assert escape("<b>\u202e</b>") == "&lt;b&gt;⟨U+202E⟩&lt;/b&gt;"


def test_method_colours_are_distinct_for_a_full_run():
    names = [f"method_{i}" for i in range(15)] + ["oracle", "random"]
    colors = method_colors(names)
    assert len(set(colors[n] for n in names[:15])) == 15
    assert colors["oracle"] != colors["random"]
    assert {colors["oracle"], colors["random"]}.isdisjoint(colors[n] for n in names[:15])


def _hostile_copy(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(FIXTURE, run)
    manifest = json.loads((run / "manifest.json").read_text())
    manifest.update(name="hostile text copy", fixture=False)
    (run / "manifest.json").write_text(json.dumps(manifest))
    gens = pd.read_parquet(run / "generations.parquet")
    greedy = (gens["question_id"] == "q01") & (gens["sample_id"] == "greedy")
    gens.loc[greedy, "text"] = "Sydney " + "word " * 40_000  # 200,007 characters
    gens.loc[(gens["question_id"] == "q02") & (gens["sample_id"] == "s4"), "text"] = RLO
    gens.to_parquet(run / "generations.parquet")
    return run


def _question(run: Path, qid: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["uq.run"] = str(run)
    at.query_params["q"] = qid
    at.switch_page("pages/question.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_long_answer_is_cut_with_the_rest_in_an_expander(tmp_path):
    at = _question(_hostile_copy(tmp_path), "q01")
    texts = [t.value for t in at.text]
    assert max(len(t) for t in texts) < 2_000
    assert any(t.startswith("Sydney word word") and t.endswith(" …") for t in texts)
    full = [e for e in at.expander if e.label == "Show all 200,007 characters"]
    assert len(full) == 1
    assert len(full[0].code[0].value) == 200_007


def test_override_character_is_shown_not_obeyed(tmp_path):
    at = _question(_hostile_copy(tmp_path), "q02")
    members = pd.concat([d.value for d in at.dataframe if "answer" in d.value.columns])
    assert "abc⟨U+202E⟩evil" in members["answer"].tolist()
    assert not any("\u202e" in str(v) for v in members["answer"])
