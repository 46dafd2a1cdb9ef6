"""The Question page's similarity graph is the ``eigv`` method's own: the caption's
Σ max(0, 1 − λ) equals the eigv score in the page's method table (demo run, AppTest), and
the spectrum behind it is worked out by hand on two-sample graphs."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from uqlens.core.methods import QuestionView, eigv

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")


def _view(contradict: float) -> QuestionView:
    c = np.array([[0.0, contradict], [contradict, 0.0]])
    return QuestionView(question_id="q", question="?", texts=("a", "b"),
                        cluster_ids=np.array([0, 1]), entail=1.0 - c, contradict=c)


def test_spectrum_of_two_agreeing_samples():
    # contra affinity: W = 1 − c = all ones; D = 2I; L = I − W/2 has eigenvalues 0 and 1
    w, lam = eigv.spectrum(_view(0.0))
    assert np.allclose(w, np.ones((2, 2)))
    assert np.allclose(lam, [0.0, 1.0])
    assert eigv.from_eigenvalues(lam) == pytest.approx(1.0)  # (1 − 0) + (1 − 1)
    assert eigv.score(_view(0.0)) == pytest.approx(1.0)


def test_spectrum_of_two_contradicting_samples():
    # c = 1 stays 1 after tempering at T = 3 (e = n = 0); W = I; L = 0: two separate groups
    w, lam = eigv.spectrum(_view(1.0))
    assert np.allclose(w, np.eye(2))
    assert np.allclose(lam, [0.0, 0.0])
    assert eigv.score(_view(1.0)) == pytest.approx(2.0)


def test_fixture_question_graph_by_hand(tiny_run):
    from uqlens.analysis.spectrum import question_spectrum
    from uqlens.run.rescore import Replay

    spec = question_spectrum(Replay(tiny_run), "strict", "q03")
    assert spec.sample_ids == ["s0", "s1", "s2", "s3", "s4"]
    assert spec.texts[:2] == ["Charlotte Brontë", "Jane Austen"]
    # contra affinity at T = 3: w = 1 − c' with c' = c^(1/3) / (e^(1/3) + n^(1/3) + c^(1/3));
    # the pair (Brontë, Austen) has e, n, c = 0.04, 0.16, 0.80 both ways
    cube = np.cbrt([0.04, 0.16, 0.80])
    assert spec.affinity[0, 1] == pytest.approx(1 - cube[2] / cube.sum())
    assert spec.affinity[0, 2] == 1.0  # the same text
    assert spec.eigv == pytest.approx(np.clip(1 - spec.eigenvalues, 0, None).sum())
    assert spec.eigenvalues[0] == pytest.approx(0.0, abs=1e-9)
    # `exact` has no pairs of its own: no graph, rather than a graph of other pairs
    assert question_spectrum(Replay(tiny_run), "exact", "q03") is None


def _question_page(qid: str, rule: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300)
    at.session_state["uq.run"] = "data/demo"
    for key, value in {"q": qid, "rule": rule, "method": "eigv"}.items():
        at.query_params[key] = value
    at.switch_page("pages/question.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.parametrize(("qid", "rule"), [("tqa-000", "exact"),
                                           ("tqa-216", "exact"),  # differed before one view
                                           ("wd-20351", "threshold:0.9@cosine")])
def test_caption_equals_the_eigv_score_in_the_table(qid, rule):
    at = _question_page(qid, rule)
    table = next(d.value for d in at.dataframe if "percentile" in d.value)
    assert table["method"].iloc[0] == "eigv"  # the chosen method heads the table
    shown = float(table.loc[table["method"] == "eigv", "uncertainty"].iloc[0])
    caption = next(c.value for c in at.caption if "Σ max(0, 1 − λ)" in c.value)
    assert "affinity contra, temperature 3" in caption
    value = float(re.search(r"Σ max\(0, 1 − λ\) = ([0-9]+\.[0-9]+)", caption).group(1))
    assert value == pytest.approx(round(shown, 3), abs=1e-9)
    assert not any("re-scored" in w.value for w in at.warning)


@pytest.mark.slow
def test_every_demo_graph_gives_its_stored_eigv():
    """The graph the page draws is the one the build scored, on every question and rule."""
    from uqlens.analysis.spectrum import question_spectrum
    from uqlens.run.folder import load_run
    from uqlens.run.rescore import Replay

    run = load_run(ROOT / "data" / "demo")
    replay = Replay(run)
    scores = run.table("scores")
    for rule in run.rules:
        stored = scores[(scores["rule"] == rule) & (scores["method"] == "eigv")]
        for qid, value in zip(stored["question_id"], stored["uncertainty"], strict=True):
            spec = question_spectrum(replay, rule, qid)
            shown = float("nan") if spec is None else spec.eigv
            assert shown == pytest.approx(value, abs=1e-9, nan_ok=True), (rule, qid)
