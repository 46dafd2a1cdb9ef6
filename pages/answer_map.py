"""Answer map: every answer in 2-D; select points to see their answers and clusters."""

import streamlit as st

from components import reproject, shell
from components.cache import cached
from components.tables import label_text, visible
from components.url import question_links
from components.widgets import persist
from uqlens.analysis import overview as analysis
from uqlens.analysis.marks import selected_ids
from uqlens.viz import answers as figures

view = shell.start("Answer map")
st.title("Answer map")
proj = view.run.manifest.get("projection") or {}
st.caption(
    f"Answers placed by `{proj.get('method', 'a 2-D projection')}` of their meaning; "
    "diamonds are judged answers. Lasso or box marks (tools at the top right) to inspect them."
)

c1, c2 = st.columns([3, 1])
color_by = c1.segmented_control(
    "Colour by", figures.COLOR_BY, required=True,
    format_func=lambda c: {"uncertainty": f"uncertainty ({view.method})"}.get(c, c),
    **persist("w.map.color", "correctness"),
)
opacity = c2.slider("Opacity", 0.1, 1.0, step=0.05, help="Lower it to see through dense areas.",
                    **persist("w.map.opacity", 0.7))

marks = cached(figures.map_marks_shown, view.run, view.rule, view.method, view.judge)
fig = figures.mark_map(marks, color_by=color_by, method=view.method, opacity=opacity)
layers = ""
if color_by in ("correctness", "cluster"):
    order = figures.class_order(marks, color_by)
    layers = (f" Layers: {', '.join(order)} (most answers first, so the "
              f"{'smaller classes lie' if len(order) > 2 else 'smaller class lies'} on top).")
st.caption(f"**{len(marks):,} marks for {int(marks['count'].sum()):,} answers** (all of them, "
           "no sample): one mark per distinct answer of a question (same text up to case and "
           "surrounding whitespace), its area ∝ how often it was given (capped at 36 answers). "
           f"Colour by correctness or cluster uses the mark's majority (ties: incorrect).{layers}")
event = st.plotly_chart(fig, on_select="rerun", selection_mode=("points", "box", "lasso"),
                        key=f"map.{view.path}.{view.rule}.{view.method}.{view.judge}.{color_by}",
                        width="stretch", config=figures.MODEBAR)

ids = selected_ids([p.get("customdata") for p in (event.selection.points if event else [])])
reproject.show(view, ids, lambda: cached(analysis.map_points, view.run, view.rule, view.method,
                                         view.judge), color_by)
if not ids:
    st.info("Select answers on the map (box or lasso) to list them here.",
            icon=":material/gesture:")
else:
    answers, clusters = cached(analysis.selection_summary, view.run, view.rule, view.method,
                               view.judge, tuple(ids))
    c = st.columns(4)
    c[0].metric("Selected answers", len(answers))
    c[1].metric("Questions", answers["question_id"].nunique())
    acc = answers["correct"].dropna()
    c[2].metric("Correct", "–" if acc.empty else f"{acc.astype(float).mean():.0%}")
    c[3].metric(f"Mean {view.method}", f"{answers['uncertainty'].mean():.3f}")

    st.subheader("Selected clusters")
    clusters = clusters.assign(representative=visible(clusters["representative"]))
    st.dataframe(clusters, hide_index=True, width="stretch", column_config={
        "representative": st.column_config.TextColumn("representative answer", width="large"),
        "selected": st.column_config.NumberColumn("selected answers"),
        "size": st.column_config.NumberColumn("cluster size", help="Sampled answers in the cluster "
                                              "(the judged answer is not counted)."),
        "accuracy": st.column_config.ProgressColumn("accuracy of selected", format="percent",
                                                    min_value=0.0, max_value=1.0, color="green"),
        "mean_uncertainty": st.column_config.NumberColumn(f"mean {view.method}", format="%.3f"),
    })
    st.subheader("Selected answers")
    table = answers.assign(
        correct=label_text(answers["correct"]),
        open=question_links(view, answers["question_id"]),
    )
    for col in ("question", "text"):
        if col in table:
            table[col] = visible(table[col])
    st.dataframe(table, hide_index=True, width="stretch", key="map.selected", column_config={
        "open": st.column_config.LinkColumn("question view", display_text="open"),
        "uncertainty": st.column_config.NumberColumn(format="%.3f"),
    })
