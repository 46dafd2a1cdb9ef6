"""Method agreement: do two UQ methods flag the same questions? (the paper's Table 1)"""

import streamlit as st

from components import shell
from components.cache import cached
from uqlens.analysis import agreement
from uqlens.viz.metrics import heatmap

view = shell.start("Method agreement")
st.title("Method agreement")
st.caption("Jaccard overlap of the top-k % most uncertain questions of two methods, against "
           "the chance level k/(2 − k) of two random rankings. Scores are rounded to 9 "
           "decimals first. Ties at the cut decide the set: break them by question id (the "
           "same order for both methods, which can look like agreement; `ties_at_cut` marks "
           "where it decided) or average over random tie-breaks (exact).")

table = cached(agreement.run_agreement, view.run, view.rule)
if table.empty:
    st.info("This run has fewer than two methods under this rule.")
    st.stop()
k = st.segmented_control("Top fraction k", list(agreement.DEFAULT_KS), default=0.2,
                         format_func=lambda x: f"{x:.0%}", key="w.agr.k") or 0.2
ties = st.segmented_control("Ties broken", ["jaccard_expected", "jaccard"],
                            default="jaccard_expected", key="w.agr.ties",
                            format_func={"jaccard": "by question id",
                                         "jaccard_expected": "at random (expected)"}.get
                            ) or "jaccard_expected"
c1, c2 = st.columns(2)
c1.plotly_chart(heatmap(agreement.jaccard_matrix(table, k, ties),
                        f"Top-{k:.0%} Jaccard (chance {agreement.top_k_chance(k):.3f})"),
                width="stretch", key="agr.jac")
c2.plotly_chart(heatmap(agreement.jaccard_matrix(table, k, "kendall_tau"), "Kendall's τ",
                        zmin=-1.0, zmax=1.0), width="stretch", key="agr.tau")
st.subheader("Per method pair")
st.dataframe(agreement.paper_table(table), hide_index=True, width="stretch", key="agr.paper")
with st.expander("Long table (with tie flags)"):
    st.dataframe(table, hide_index=True, width="stretch", key="agr.long")
