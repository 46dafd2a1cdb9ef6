"""Dominant share, cluster cards and counts use the samples the methods score
(manifest ``params.sample_temperature``), not every sample drawn."""

import pandas as pd
import pytest

from uqlens.analysis import overview


class TableRun:
    """A fake run: in-memory tables and a manifest (what the overview functions read)."""

    def __init__(self, tables: dict[str, pd.DataFrame], manifest: dict):
        self.tables, self.manifest = tables, manifest

    def table(self, name: str) -> pd.DataFrame:
        return self.tables[name]


def _run(sample_temperature):
    # greedy "B"; three samples "A" at T=0.3; two "B" and one "C" at T=0.7
    texts = ["B", "A", "A", "A", "B", "B", "C"]
    temps = [0.0, 0.3, 0.3, 0.3, 0.7, 0.7, 0.7]
    sids = ["greedy", "t0.3-0", "t0.3-1", "t0.3-2", "t0.7-0", "t0.7-1", "t0.7-2"]
    cluster = {"A": 0, "B": 1, "C": 2}
    gens = pd.DataFrame({"question_id": "q1", "sample_id": sids, "text": texts,
                         "text_id": [cluster[t] for t in texts],
                         "is_greedy": [s == "greedy" for s in sids], "temperature": temps})
    clusters = pd.DataFrame({"question_id": "q1", "sample_id": sids, "rule": "r",
                             "cluster_id": [cluster[t] for t in texts],
                             "is_representative": [False, True, False, False, False, False,
                                                   True]})
    correctness = pd.DataFrame({"question_id": "q1", "sample_id": sids, "judge": "j",
                                "value": [float(t == "B") for t in texts],
                                "label": [t == "B" for t in texts]})
    questions = pd.DataFrame({"question_id": ["q1"], "question": ["?"], "dataset": ["d"]})
    return TableRun({"generations": gens, "clusters": clusters, "correctness": correctness,
                     "questions": questions},
                    {"params": {"sample_temperature": sample_temperature}})


def test_dominant_share_over_scored_samples():
    dom = overview.dominant_clusters(_run(0.7), "r", "j").iloc[0]
    # scored: B, B, C → dominant B with 2/3 (over all six samples it would be A with 3/6)
    assert dom["n_samples"] == 3 and dom["n_clusters"] == 2
    assert dom["dominant_share"] == pytest.approx(2 / 3)
    assert dom["dominant_representative"] == "B" and bool(dom["dominant_correct"])
    cards = overview.cluster_summary(_run(0.7), "r", "j", "q1")
    assert cards["size"].tolist() == [2, 1]
    assert cards["members"].iloc[0] == ["B", "B"]


def test_all_samples_when_no_temperature_is_recorded():
    dom = overview.dominant_clusters(_run(None), "r", "j").iloc[0]
    assert dom["n_samples"] == 6 and dom["dominant_share"] == 0.5
    assert dom["dominant_representative"] == "A"


def test_scored_samples_note():
    assert overview.scored_samples_note(_run(0.7)) == (
        "Counts and shares use the 3 samples drawn at temperature 0.7, the ones the methods "
        "score; 3 samples at other temperatures (0.3) are left out.")
    assert overview.scored_samples_note(_run(None)) == (
        "Counts and shares use all 6 sampled answers, the ones the methods score.")
