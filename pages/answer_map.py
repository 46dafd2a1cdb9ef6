"""Answer map: every answer in 2-D; select points to see their answers and clusters."""

import streamlit as st

from components import reproject, shell
from components.cache import cached
from components.tables import label_text, visible
from components.url import link
from components.widgets import persist
from uqlens.analysis import overview as analysis
from uqlens.viz import answers as figures

view = shell.start("Answer map")
st.title("Answer map")
proj = view.run.manifest.get("projection") or {}
st.caption(
    f"Each point is one answer, placed by `{proj.get('method', 'a 2-D projection')}` of its "
    "meaning; diamonds are judged answers. Box or lasso points to inspect them."
)

c1, c2 = st.columns([3, 1])
color_by = c1.segmented_control(
    "Colour by", figures.COLOR_BY, required=True,
    format_func=lambda c: {"uncertainty": f"uncertainty ({view.method})"}.get(c, c),
    **persist("w.map.color", "correctness"),
)
cap = c2.number_input("Max points", min_value=10, step=5000,
                      help="Above this, a fixed-seed random sample is drawn. Raise it to see all.",
                      **persist("w.map.cap", 20_000))

points = cached(analysis.map_points, view.run, view.rule, view.method, view.judge)
shown, capped = cached(analysis.cap_points_of, view.run, view.rule, view.method, view.judge,
                       int(cap))
if capped:
    st.warning(f"Showing a random sample of {len(shown):,} of {len(points):,} answers "
               "(fixed seed). Raise *Max points* to show all.", icon=":material/filter_alt:")

fig = figures.answer_map(shown, color_by=color_by, method=view.method)
event = st.plotly_chart(fig, on_select="rerun", selection_mode=("points", "box", "lasso"),
                        key=f"map.{view.path}.{view.rule}.{view.method}.{view.judge}.{color_by}",
                        width="stretch")

ids = [p.get("customdata") for p in (event.selection.points if event else [])]
ids = [i[0] if isinstance(i, list) else i for i in ids if i is not None]
reproject.show(view, ids, points, color_by)
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
    st.dataframe(clusters, hide_index=True, width="stretch", column_config={
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
        open=[link("question", view, q=q) for q in answers["question_id"]],
    )
    for col in ("question", "text"):
        if col in table:
            table[col] = visible(table[col])
    st.dataframe(table, hide_index=True, width="stretch", key="map.selected", column_config={
        "open": st.column_config.LinkColumn("question view", display_text="open"),
        "uncertainty": st.column_config.NumberColumn(format="%.3f"),
    })
