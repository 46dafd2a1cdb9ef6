"""Data: the run's questions and answers, searchable, filterable and downloadable."""

import pandas as pd
import streamlit as st

from components import add_data, shell
from components.cache import cached
from components.tables import download_buttons, label_text, visible
from uqlens.analysis import overview as analysis
from uqlens.core.frames import isin
from uqlens.run.folder import OPTIONAL_TABLES, TABLES

view = shell.start("Data")
run = view.run
st.title("Data")
st.caption(f"Run `{view.path}` · rule `{view.rule}` · judge `{view.judge}`")
add_data.show()

questions = run.table("questions")
dominant = cached(analysis.dominant_clusters, view.run, view.rule, view.judge)
answers = cached(analysis.answer_table, view.run, view.rule, view.judge)

c1, c2, c3 = st.columns([3, 2, 2])
search = c1.text_input("Search questions and answers", key="w.data.search",
                       placeholder="words in a question, reference or answer")
datasets = sorted(str(d) for d in dominant["dataset"].dropna().unique())
chosen = c2.multiselect("Dataset", datasets, key="w.data.dataset", placeholder="all")
verdict = c3.segmented_control("Judged answer", ["correct", "incorrect", "unjudged"],
                               selection_mode="multi", key="w.data.verdict")

q = dominant[["question_id", "dataset", "question", "judged_text", "judged_correct",
              "n_clusters", "dominant_share"]].merge(
    questions[["question_id", "references"]], on="question_id", how="left")
q["references"] = q["references"].map(lambda r: " | ".join(str(x) for x in list(r)))
if chosen:
    q = q[q["dataset"].astype(str).isin(chosen)]
if verdict:
    q = q[label_text(q["judged_correct"]).str.split(" ").str[-1].isin(verdict)]
a = answers[isin(answers["question_id"], q["question_id"])]  # Arrow's isin: 1,000,000 rows
if search:
    needle = search.lower()
    hit_a = a["text"].str.lower().str.contains(needle, regex=False)
    hit_q = (q["question"].str.lower().str.contains(needle, regex=False)
             | q["references"].str.lower().str.contains(needle, regex=False)
             | q["question_id"].isin(a.loc[hit_a, "question_id"]))
    q = q[hit_q]
    a = a[isin(a["question_id"], q["question_id"])]
q = q.assign(judged_correct=label_text(q["judged_correct"]))
a = a.assign(correct=label_text(a["correct"]))
# what is shown (the downloads keep the text as stored)
q_shown = q.assign(**{c: visible(q[c]) for c in ("question", "judged_text", "references")})
a_shown = a.assign(text=visible(a["text"]))

tab_q, tab_a, tab_all = st.tabs([f"Questions ({len(q):,})", f"Answers ({len(a):,})",
                                 "All tables"])
with tab_q:
    st.dataframe(q_shown, hide_index=True, width="stretch", key="data.questions",
                 column_config={"dominant_share": st.column_config.ProgressColumn(
                     "dominant share", format="percent", min_value=0.0, max_value=1.0,
                     color="blue")})
    download_buttons(q, "questions_filtered", "dl.q")
with tab_a:
    cols = ["question_id", "sample_id", "text", "is_greedy", "cluster_id", "correct"]
    st.dataframe(a_shown[cols], hide_index=True, width="stretch", key="data.answers")
    download_buttons(a[cols], "answers_filtered", "dl.a")
with tab_all:
    st.caption("The run's tables as stored (not filtered).")
    for name in TABLES + OPTIONAL_TABLES:
        df = run.table(name)
        if isinstance(df, pd.DataFrame) and len(df.columns):
            st.markdown(f"**{name}** · {len(df):,} rows")
            download_buttons(df, name, f"dl.{name}")
