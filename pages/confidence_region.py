"""Confidence is a region, not the truth: the method's confident band against the correct
answers, in 2-D, with numbers for how far apart the two sets are."""

import pandas as pd
import streamlit as st

from components import shell
from components.cache import cached
from components.tables import visible
from components.url import question_links
from components.widgets import persist
from uqlens.analysis import probes, regions
from uqlens.viz import regions as region_figures

view = shell.start("Confidence region")
st.title("Confidence region")
shell.require_correctness(view)  # off, with the reason, when the run has no labels
st.caption(
    f"Every answer inherits its question's `{view.method}` score. The least uncertain questions "
    "form the **confident band**, the region a UQ gate would trust. Clustering-based methods "
    "reward consistency, so that region holds answers the model repeats, right or wrong."
)


has_hidden = regions.hidden_states_of(view.run) is not None
badge = cached(probes.badge, view.run, view.method, view.judge)
if badge:
    st.caption(f"`{view.method}`: **{badge}** (scores are out of fold: no question's own label "
               "reaches its score).")
c1, c2, c3 = st.columns([5, 4, 3])
split = c1.slider("Confident band: the least uncertain share of questions", 0.05, 0.95,
                  step=0.05, format="%.2f", **persist("w.region.split", 0.5),
                  help="Ties at the threshold join the band, so it can hold a larger share.")
color_by = c2.segmented_control(
    "Colour by", region_figures.COLOR_BY, required=True,
    format_func=lambda c: {"band": "confidence band"}.get(c, c),
    **persist("w.region.color", "band"))
judged_only = c3.toggle("Judged answers only", **persist("w.region.judged", False),
                        help="One answer per question (the one the judge scores) instead of all.")
space = "auto"
if has_hidden:
    space = st.radio("Place answers by", ("hidden_state", "projection"), horizontal=True,
                     key="w.region.space", format_func=lambda s: {
                         "hidden_state": "model hidden states (PCA)",
                         "projection": "answer-embedding projection"}[s])

shown = cached(regions.region_view, view.run, view.rule, view.method, view.judge,
               float(split), space, bool(judged_only), region_figures.DRAWN)
used, stats, points = shown["used"], shown["stats"], shown["drawn"]
where = regions.space_label(view.run, used) + (
    "" if used == "hidden_state" or has_hidden else " (the generations carry no hidden states)")
symbols = ("✕ judged wrong, ● right, ○ no label" if color_by == "band" else
           "● in the confident band, ○ outside it, ▲ no score")
drawn = len(points)  # at most DRAWN of them, chosen at random
st.caption(f"Space: **{where}**. {shown['answers']:,} answers"
           + (f" (the map draws {drawn:,} of them, chosen at random; the numbers below count all)"
              if drawn < shown["answers"] else "")
           + f". Colour shows the {color_by}, the symbol the other attribute: {symbols}. "
           "Larger markers are judged answers.")


def pct(v: float) -> str:
    return "–" if pd.isna(v) else f"{v:.0%}"


m = st.columns(4)
m[0].metric("Confident answers that are wrong", pct(stats["confident_wrong_share"]),
            help="|confident ∖ correct| / |confident|")
m[1].metric("Correct answers outside the band", pct(stats["correct_outside_share"]),
            help="|correct ∖ confident| / |correct|")
m[2].metric("Overlap (Jaccard)", "–" if pd.isna(stats["jaccard"]) else f"{stats['jaccard']:.2f}",
            help="|confident ∩ correct| / |confident ∪ correct|; 1 = the band is exactly the "
                 "correct answers.")
m[3].metric("Accuracy in band / outside",
            f"{pct(stats['accuracy_inside'])} / {pct(stats['accuracy_outside'])}")
n = st.columns(3)
n[0].metric("Centroid distance, confident vs correct",
            "–" if pd.isna(stats["centroid_distance_relative"])
            else f"{stats['centroid_distance_relative']:.2f}",
            help="Distance between the centroids of the confident and the correct answers in "
                 "the plane shown, divided by the answers' RMS distance from their centre "
                 "(0 = centred alike).")
n[1].metric(f"AUROC of {view.method} for wrong answers",
            "–" if pd.isna(stats["auroc"]) else f"{stats['auroc']:.2f}",
            help="0.5 = no better than chance at ranking wrong answers as more uncertain.")
n[2].metric("Counted answers", stats["answers"])
if stats["excluded"]:
    st.caption(f"{stats['excluded']} answer(s) without a label or a defined score are drawn but "
               "not counted.")

st.plotly_chart(region_figures.region_map(points, color_by=color_by, method=view.method),
                key=f"region.map.{color_by}", width="stretch")

left, right = st.columns(2)
left.plotly_chart(region_figures.region_bars(stats), key="region.bars", width="stretch")
right.dataframe(shown["table"], width="stretch", key="region.table")

WRONG_ROWS = 1_000  # rows listed; all of them go into the download

wrong = shown["wrong"]
st.subheader(f"Confident but wrong ({len(wrong):,})")
if wrong.empty:
    st.success("No answer in the confident band is judged wrong.")
else:
    if len(wrong) > WRONG_ROWS:
        listed = wrong.iloc[:WRONG_ROWS]
        c1, c2 = st.columns([3, 1])
        c1.caption(f"The first {WRONG_ROWS:,} of {len(wrong):,} are listed (in the run's "
                   "order); the download holds all of them.")
        c2.download_button(
            "Download all (CSV)", key="region.wrong.csv", file_name="confident_but_wrong.csv",
            mime="text/csv", icon=":material/download:",
            # made only when clicked: a CSV of hundreds of thousands of rows takes seconds
            data=lambda: wrong[["question_id", "sample_id", "uncertainty", "question", "text",
                                "is_judged"]].to_csv(index=False),
        )
    else:
        listed = wrong
    st.dataframe(pd.DataFrame({
        "uncertainty": listed["uncertainty"],
        "open": question_links(view, listed["question_id"]),
        "question_id": listed["question_id"], "question": visible(listed["question"]),
        "answer": visible(listed["text"]), "judged": listed["is_judged"],
    }), hide_index=True, width="stretch", key="region.wrong", column_config={
        "open": st.column_config.LinkColumn("question view", display_text="open"),
        "uncertainty": st.column_config.NumberColumn(f"{view.method}", format="%.3f"),
    })
