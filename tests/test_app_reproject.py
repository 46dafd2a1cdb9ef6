"""Answer-map re-projection under AppTest: a copy of the tiny fixture with a hand-made
``embeddings`` table (the committed fixture has none)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
FIXTURE = ROOT / "tests" / "fixtures" / "tiny_run"


def make_app(run: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["uq.run"] = run
    at.switch_page("pages/answer_map.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_run_without_embeddings_says_so():
    at = make_app("tests/fixtures/tiny_run")
    assert any("no `embeddings` table" in i.value for i in at.info)
    assert len(at.get("plotly_chart")) == 1  # the map itself is unchanged


def test_reproject_one_question(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(FIXTURE, run)
    gens = pd.read_parquet(run / "generations.parquet")
    rng = np.random.default_rng(0)
    pd.DataFrame({"question_id": gens["question_id"], "sample_id": gens["sample_id"],
                  "embedding": [rng.normal(size=8).tolist() for _ in range(len(gens))]}
                 ).to_parquet(run / "embeddings.parquet")
    at = make_app(str(run))
    assert at.button(key="w.map.rp.go").disabled  # nothing selected on the map yet
    at.radio(key="w.map.rp.scope").set_value("question").run()
    at.selectbox(key="w.map.rp.q").set_value("q04").run()
    at.number_input(key="w.map.rp.k").set_value(4).run()
    at.button(key="w.map.rp.go").click().run()
    assert not at.exception, [e.value for e in at.exception]
    charts = at.get("plotly_chart")
    assert len(charts) == 2
    data = json.loads(charts[1].proto.spec)["data"]
    ids = [i for t in data for i in t["customdata"]]
    assert len(ids) == 6 and all(i.startswith("q04|") for i in ids)
    hover = " ".join(h for t in data for h in t["text"])
    assert "<script>" not in hover and "&lt;script&gt;" in hover
    assert any("UMAP (n_neighbors=4" in c.value for c in at.caption)
    # the request survives a change of colouring (cached, not recomputed)
    at.session_state["uq.map.color"] = "cluster"
    at.switch_page("pages/answer_map.py").run()
    assert len(at.get("plotly_chart")) == 2
