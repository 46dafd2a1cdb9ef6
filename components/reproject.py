"""Answer-map re-projection: UMAP over a chosen subset of answers, on demand and cached.

``show(view, selected_ids, points, color_by)`` renders the controls and, once the button was
pressed, a second scatter with the map's colouring and hover. The last request is kept in
the session key ``uq.map.reproj`` so that changing the colouring or the selection does not
rerun (or drop) it; pressing the button again replaces it.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st

from components.cache import cached
from components.sidebar import View
from uqlens.core.projection import reproject
from uqlens.viz import answers as figures

KEY = "uq.map.reproj"
SCOPES = ("selection", "question")


def _scope_label(scope: str) -> str:
    return {"selection": "Current selection", "question": "One question's answers"}[scope]


def show(view: View, selected_ids: list[str], points: Callable[[], pd.DataFrame],
         color_by: str) -> None:
    """The re-projection section of the answer map. ``points()``: every map point (uncapped),
    asked for only when the section needs them (a million answers cost a second to hand
    over from the cache on every rerun)."""
    req = st.session_state.get(KEY)
    if req and req.get("run") != view.path:
        req = None
    with st.expander("Re-project with UMAP", icon=":material/scatter_plot:",
                     expanded=req is not None):
        _body(view, selected_ids, points, color_by)


def _has_embeddings(run) -> bool:
    """Whether the run has answer embeddings, without expanding the stored one-per-text
    vectors to one per answer (a second at a million answers)."""
    import pyarrow.parquet as pq

    stored = run.path / "text_embeddings.parquet"
    if run.subset is None and "embeddings" not in run._tables and stored.is_file():
        return pq.ParquetFile(stored).metadata.num_rows > 0
    return not run.table("embeddings").empty


def _body(view: View, selected_ids: list[str], get_points: Callable[[], pd.DataFrame],
          color_by: str) -> None:
    if not _has_embeddings(view.run):
        st.info("This run has no `embeddings` table, so its answers cannot be re-projected "
                "here. Runs written by `uqlens build` include one.", icon=":material/info:")
        return
    c1, c2, c3, c4 = st.columns([3, 3, 1, 1])
    scope = c1.radio("Answers", SCOPES, format_func=_scope_label, key="w.map.rp.scope",
                     horizontal=True)
    qid = None
    if scope == "question":
        points = get_points()
        questions = list(dict.fromkeys(points["question_id"]))
        qtext = dict(zip(points["question_id"], points["question"], strict=True))
        qid = c2.selectbox("Question", questions, key="w.map.rp.q",
                           format_func=lambda q: f"{q}: {str(qtext.get(q, ''))[:60]}")
        ids = [i for i, q in zip(points["id"], points["question_id"], strict=True) if q == qid]
    else:
        ids = list(selected_ids)
        c2.caption(f"{len(ids)} answer(s) selected on the map above (box or lasso)."
                   if ids else "Select answers on the map above first (box or lasso).")
    k = c3.number_input("n_neighbors", min_value=2, max_value=200, value=15, step=1,
                        key="w.map.rp.k", help="Larger: more global structure.")
    d = c4.number_input("min_dist", min_value=0.0, max_value=1.0, value=0.1, step=0.05,
                        key="w.map.rp.d", help="Smaller: tighter clumps.")
    if st.button("Re-project", icon=":material/scatter_plot:", key="w.map.rp.go",
                 disabled=not ids):
        st.session_state[KEY] = {"ids": tuple(sorted(ids)), "k": int(k), "d": float(d),
                                 "run": view.path,
                                 "what": f"question {qid}" if qid else "the map selection"}
    req = st.session_state.get(KEY)
    if not req or req.get("run") != view.path:
        return
    with st.spinner(f"Running UMAP on {len(req['ids'])} answers (the first fit in a new "
                    "server process also compiles numba: about 10 s)…"):
        res = cached(reproject, view.run, req["ids"], req["k"], req["d"], 0)
    if res.note:
        st.caption(res.note)
    if res.coords.empty:
        return
    sub = get_points().drop(columns=["x", "y"]).merge(res.coords, on=["question_id", "sample_id"],
                                                how="inner")
    params = (f"n_neighbors={res.n_neighbors}, min_dist={req['d']:g}" if res.method == "umap"
              else "PCA")
    st.caption(f"{len(sub)} answers ({req['what']}) re-projected: {res.method.upper()} "
               f"({params}). Axes carry no meaning; distances only within this plot.")
    fig = figures.answer_map(sub, color_by=color_by, method=view.method, height=480)
    st.plotly_chart(fig, key=f"map.rp.{color_by}", width="stretch")
