"""Cluster cards for the Question view. Model text goes through st.text / st.dataframe only."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from components.tables import visible
from uqlens.core.text import visible_controls

TEXT_LIMIT = 1_500  # characters shown before "Show all"


def model_text(text: object, limit: int = TEXT_LIMIT) -> None:
    """Model text as plain text, control characters visible; beyond ``limit`` characters the
    rest sits in an expander (a 200 KB answer must not make a page 200,000 pixels long)."""
    s = visible_controls("" if text is None else str(text))
    if len(s) <= limit:
        st.text(s)
        return
    st.text(s[:limit] + " …")
    with st.expander(f"Show all {len(s):,} characters"):
        st.code(s, language=None, wrap_lines=True, height=400)


def correctness_badge(correct) -> None:
    """A green/red/grey badge for a nullable boolean label."""
    missing = correct is None or correct is pd.NA
    if missing or (isinstance(correct, float) and math.isnan(correct)):
        st.badge("unjudged", color="gray")
    elif bool(correct):
        st.badge("correct", icon=":material/check:", color="green")
    else:
        st.badge("incorrect", icon=":material/close:", color="red")


def cluster_card(row: pd.Series, selected: bool = False) -> None:
    """One bordered card: rank, size and mass, representative, correctness, members."""
    with st.container(border=True):
        n = int(row["size"])
        plural = "s" if n != 1 else ""
        head = f"**Cluster {int(row['rank'])}** · {n} sample{plural} · {row['mass']:.0%} mass"
        st.markdown(head)  # our own text only
        badges = st.container(horizontal=True)
        with badges:
            correctness_badge(row["correct"])
            if row["holds_judged"]:
                st.badge("judged answer", icon=":material/gavel:", color="violet")
            if selected:
                st.badge("selected", icon=":material/my_location:", color="blue")
        share = row["share_correct"]
        st.caption(
            "Representative answer · "
            + ("no member judged" if pd.isna(share) else f"{share:.0%} of members correct")
        )
        model_text(row["representative"], limit=400)
        members = pd.DataFrame({"sample": row["member_ids"],
                                "answer": visible(pd.Series(list(row["members"]), dtype=object))})
        st.dataframe(members, hide_index=True, width="stretch",
                     height=min(36 + 35 * len(members), 220))


def cluster_cards(clusters: pd.DataFrame, selected: int | None = None, per_row: int = 3) -> None:
    """Clusters side by side, largest first, ``per_row`` cards per row."""
    rows = clusters.sort_values("rank")
    for start in range(0, len(rows), per_row):
        cols = st.columns(per_row)
        for col, (_, row) in zip(cols, rows.iloc[start:start + per_row].iterrows(), strict=False):
            with col:
                chosen = selected is not None and int(row["cluster_id"]) == selected
                cluster_card(row, selected=chosen)
