"""Human labels in the app: mark answers, clusters and references, with an optional note.

Labels go to the run's append-only ``labels.jsonl`` through :mod:`uqlens.run.labels`; cached
views recompute because their cache key holds the labels file's stamp
(:func:`components.runs.version`). Model text is shown with ``st.text``/``st.dataframe``
or as plain selectbox options, never as Markdown or HTML.
"""

from __future__ import annotations

import os

import pandas as pd
import streamlit as st

from components.cache import cached
from components.shell import flash
from components.sidebar import View
from components.tables import visible
from uqlens.analysis import overview
from uqlens.run import labels as store

REVIEWER = "uq.reviewer"
ANSWER_BUTTONS = (("correct", ":material/check:"), ("incorrect", ":material/close:"),
                  ("unclear", ":material/help:"), (store.CLEAR, ":material/undo:"))


def reviewer() -> str:
    """The reviewer's name (sidebar field, kept for the session; default ``$USER``)."""
    st.session_state.setdefault(REVIEWER, os.environ.get("USER", "") or "reviewer")
    st.session_state.setdefault("w.reviewer", st.session_state[REVIEWER])
    st.sidebar.text_input("Reviewer name", key="w.reviewer", help="Stored with each label.",
                          on_change=lambda: st.session_state.update(
                              {REVIEWER: st.session_state["w.reviewer"]}))
    return st.session_state[REVIEWER]


def save(view: View, records: list[dict], what: str) -> None:
    """Append ``records`` to the run's labels and say so (a toast survives the rerun)."""
    try:
        store.append(view.run.path, records, who=st.session_state.get(REVIEWER) or None)
    except (store.LabelError, OSError) as exc:
        flash(f"Label not saved: {exc}")
        return
    st.toast(f"Saved: {what}", icon=":material/check:")


def human_caption(view: View) -> None:
    """Under a ``human+`` judge: how many verdicts come from people."""
    base = store.human_base(view.judge)
    if base is None:
        return
    n = store.human_counts(view.run, view.judge)
    st.caption(f"Judge `{view.judge}`: a person's label wins where there is one "
               f"({n['judged']} judged answers, {n['answers']} answers in all, from "
               f"{n['labels']} labelled answer texts); elsewhere `{base}` decides.")


def _short(text, n: int = 70) -> str:
    t = " ".join(str(text).split())
    return t if len(t) <= n else t[: n - 1] + "…"


def _cluster_option(row) -> str:
    return (f"cluster {int(row['rank'])} · {int(row['size'])} answers · "
            f"{_short(row['representative'])}")


def answer_panel(view: View, qid: str, clusters: pd.DataFrame, judged_text: str,
                 key: str) -> None:
    """Mark a whole cluster, or the judged answer alone, correct / incorrect / unclear."""
    rows = clusters.sort_values("rank")
    options = [("cluster", i) for i in range(len(rows))] + [("judged", None)]

    def label(opt):
        return _cluster_option(rows.iloc[opt[1]]) if opt[0] == "cluster" else \
            f"judged answer only · {_short(judged_text)}"

    st.selectbox("Mark", options, format_func=label, key=f"{key}.target")
    st.text_input("Note (optional)", key=f"{key}.note")

    def mark(value: str) -> None:  # a callback: the page then redraws with the new label
        target, note = st.session_state[f"{key}.target"], st.session_state[f"{key}.note"]
        if target[0] == "cluster":
            row = rows.iloc[target[1]]
            recs = store.cluster_labels(qid, row["members"], value, note, rule=view.rule,
                                        cluster_id=int(row["cluster_id"]))
            save(view, recs, f"cluster {int(row['rank'])} {value}")
        else:
            save(view, [store.answer_label(qid, judged_text, value, note)],
                 f"judged answer {value}")

    cols = st.columns(len(ANSWER_BUTTONS))
    for col, (value, icon) in zip(cols, ANSWER_BUTTONS, strict=True):
        col.button(value.capitalize(), icon=icon, key=f"{key}.{value}", width="stretch",
                   on_click=mark, args=(value,))


def reference_panel(view: View, qid: str, references, key: str) -> None:
    """Mark the references (all, or one of them) wrong, disputed or fine."""
    refs = [""] + [str(r) for r in list(references)]
    st.selectbox("Reference", refs, key=f"{key}.ref",
                       format_func=lambda r: "all references" if r == "" else _short(r))
    st.text_input("Note (optional)", key=f"{key}.refnote")

    def mark(value: str) -> None:
        save(view, [store.reference_label(qid, value, st.session_state[f"{key}.ref"],
                                          st.session_state[f"{key}.refnote"])],
             f"reference {value}")

    cols = st.columns(3)
    for col, value in zip(cols, ("wrong", "disputed", "ok"), strict=True):
        col.button(f"Reference {value}", key=f"{key}.ref.{value}", width="stretch",
                   on_click=mark, args=(value,))


def cluster_error_panel(view: View, qid: str, clusters: pd.DataFrame, key: str) -> None:
    """Mark a cluster as mixing meanings, or two clusters as one meaning."""
    rows = clusters.sort_values("rank").reset_index(drop=True)
    idx = list(range(len(rows)))
    st.text_input("Note (optional)", key=f"{key}.clnote")

    def merge() -> None:
        r = rows.iloc[st.session_state[f"{key}.merge"]]
        save(view, [store.merge_error(qid, r["members"], "mixed",
                                      st.session_state[f"{key}.clnote"], rule=view.rule,
                                      cluster_id=int(r["cluster_id"]))], "merge error")

    def split() -> None:
        i, j = st.session_state[f"{key}.split"]
        save(view, [store.split_error(qid, rows.iloc[i]["members"], rows.iloc[j]["members"],
                                      "same", st.session_state[f"{key}.clnote"],
                                      rule=view.rule)], "split error")

    st.selectbox("Cluster", idx, key=f"{key}.merge",
                 format_func=lambda i: _cluster_option(rows.iloc[i]))
    st.button("Mixes meanings (merge error)", key=f"{key}.merge.go", on_click=merge)
    pair = st.multiselect("Two clusters", idx, max_selections=2, key=f"{key}.split",
                          format_func=lambda i: _cluster_option(rows.iloc[i]))
    st.button("Same meaning (split error)", key=f"{key}.split.go", disabled=len(pair) != 2,
              on_click=split)


def question_labels(view: View, qid: str) -> pd.DataFrame:
    """The standing (latest) labels of one question, newest first."""
    latest = [r for r in store.latest(store.read(view.run.path)).values()
              if r["question_id"] == qid]
    rows = [{"what": r["kind"].replace("_", " "),
             "about": r.get("text") or r.get("reference") or " | ".join(r.get("texts") or []),
             "value": r["value"], "who": r.get("who", ""), "when": r.get("when", "")[:19],
             "note": r.get("note", "")} for r in latest]
    out = pd.DataFrame(rows, columns=["what", "about", "value", "who", "when", "note"])
    return out.sort_values("when", ascending=False).reset_index(drop=True)


def review_box(view: View, qid: str, clusters: pd.DataFrame, judged_text: str,
               references, key: str = "lab") -> None:
    """The whole review panel of one question: answers, references, cluster errors, and the
    labels already given."""
    reviewer()
    with st.container(border=True):
        st.markdown("**Review** · your labels are stored beside the run in `labels.jsonl`")
        tabs = st.tabs(["Answers", "Reference", "Cluster errors", "Labels given"])
        with tabs[0]:
            if len(clusters):
                answer_panel(view, qid, clusters, judged_text, key)
            else:
                st.info("No clusters for this question.")
        with tabs[1]:
            reference_panel(view, qid, references, key)
        with tabs[2]:
            if len(clusters):
                cluster_error_panel(view, qid, clusters, key)
        with tabs[3]:
            given = question_labels(view, qid)
            if given.empty:
                st.caption("No labels on this question yet.")
            else:
                st.dataframe(given.assign(about=visible(given["about"])), hide_index=True,
                             width="stretch", key=f"{key}.given")


def list_review(view: View, question_ids: list[str], key: str) -> None:
    """Pick a question of a list (e.g. the hallucination list) and review it in place."""
    if not question_ids:
        return
    questions = view.run.table("questions").set_index("question_id")
    # every option's label at once (a .loc per option is seconds for 20,000 questions)
    names = dict(zip(question_ids, questions["question"].reindex(question_ids), strict=True))
    qid = st.selectbox("Review a question of this list", question_ids, key=f"{key}.q",
                       format_func=lambda q: f"{q} · {_short(names[q])}")
    # this question's clusters only: a cache hit copies what it returns, and the whole
    # summary of a large run takes seconds to copy on every rerun
    clusters = cached(overview.cluster_summary, view.run, view.rule, view.judge, qid)
    judged = cached(overview.judged_answers, view.run, view.judge)
    row = judged[judged["question_id"] == qid]
    text = str(row["text"].iloc[0]) if len(row) else ""
    review_box(view, qid, clusters, text, questions.loc[qid, "references"], key=key)


# --------------------------------------------------------------------------- the review queue

QUEUE_Q = "uq.review.q"
KEYS = {"c": "correct", "i": "incorrect", "u": "unclear"}
# Streamlit reserves C (and R) for its own shortcuts, so the buttons use Y for correct; the
# command box takes c / i / u / n / p as the issue asks.
SHORTCUTS = {"correct": "Y", "incorrect": "I", "unclear": "U", "next": "N", "previous": "P"}


def _mark_current(view: View, queue: pd.DataFrame, qid: str, cluster_texts: list[str],
                  judged_text: str, value: str) -> None:
    from uqlens.analysis.review import queue_position

    note = st.session_state.get("w.review.note", "")
    if st.session_state.get("w.review.scope", "cluster") == "cluster" and cluster_texts:
        recs = store.cluster_labels(qid, cluster_texts, value, note, rule=view.rule)
        what = f"{qid}: judged answer's cluster {value}"
    else:
        recs = [store.answer_label(qid, judged_text, value, note, scope="answer")]
        what = f"{qid}: judged answer {value}"
    save(view, recs, what)
    st.session_state["w.review.note"] = ""
    st.session_state[QUEUE_Q] = queue_position(queue, qid)


def _move(queue: pd.DataFrame, qid: str, step: int) -> None:
    from uqlens.analysis.review import queue_position

    st.session_state[QUEUE_Q] = queue_position(queue, qid, step)


def _command(view, queue, qid, cluster_texts, judged_text) -> None:
    typed = st.session_state.get("w.review.cmd", "").strip().lower()
    st.session_state["w.review.cmd"] = ""
    for ch in typed:  # "ccn" works too: each letter in turn
        if ch in KEYS:
            _mark_current(view, queue, qid, cluster_texts, judged_text, KEYS[ch])
            return
        if ch in "np":
            _move(queue, qid, 1 if ch == "n" else -1)
            return


def queue_controls(view: View, queue: pd.DataFrame, qid: str, cluster_texts: list[str],
                   judged_text: str) -> None:
    """Buttons with keyboard shortcuts and a command box for the current queue item."""
    st.radio("Apply to", ["cluster", "answer"], horizontal=True, key="w.review.scope",
             format_func=lambda s: {"cluster": "the judged answer's whole cluster",
                                    "answer": "the judged answer only"}[s])
    st.text_input("Note (optional)", key="w.review.note")
    row = st.columns(5)
    args = (view, queue, qid, cluster_texts, judged_text)
    for col, value in zip(row[:3], ("correct", "incorrect", "unclear"), strict=True):
        col.button(f"{value.capitalize()} ({SHORTCUTS[value]})", key=f"review.{value}",
                   shortcut=SHORTCUTS[value], on_click=_mark_current, args=(*args, value),
                   width="stretch")
    row[3].button("Previous (P)", key="review.prev", shortcut="P", on_click=_move,
                  args=(queue, qid, -1), width="stretch")
    row[4].button("Next (N)", key="review.next", shortcut="N", on_click=_move,
                  args=(queue, qid, 1), width="stretch", type="primary")
    st.text_input("Command: c / i / u (correct, incorrect, unclear; then next), n / p, Enter",
                  key="w.review.cmd", on_change=_command, args=args,
                  placeholder="type a letter and press Enter")
