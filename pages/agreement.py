"""Method agreement: do two UQ methods flag the same questions? (the paper's Table 1)"""

import streamlit as st

from components import shell
from components.cache import cached
from uqlens.analysis import agreement
from uqlens.viz.metrics import heatmap

view = shell.start("Method agreement")
st.title("Method agreement")
st.caption("Jaccard overlap of the top-k % most uncertain questions of two methods, against "
           "the chance level k/(2 − k) of two random rankings. Ties in uncertainty are broken "
           "by question id; `ties_at_cut` marks pairs where that rule decided the set.")

table = cached(agreement.run_agreement, view.run, view.rule)
if table.empty:
    st.info("This run has fewer than two methods under this rule.")
    st.stop()
k = st.segmented_control("Top fraction k", list(agreement.DEFAULT_KS), default=0.2,
                         format_func=lambda x: f"{x:.0%}", key="w.agr.k") or 0.2
c1, c2 = st.columns(2)
c1.plotly_chart(heatmap(agreement.jaccard_matrix(table, k),
                        f"Top-{k:.0%} Jaccard (chance {agreement.top_k_chance(k):.3f})"),
                width="stretch", key="agr.jac")
c2.plotly_chart(heatmap(agreement.jaccard_matrix(table, k, "kendall_tau"), "Kendall's τ",
                        zmin=-1.0, zmax=1.0), width="stretch", key="agr.tau")
st.subheader("Per method pair")
st.dataframe(agreement.paper_table(table), hide_index=True, width="stretch", key="agr.paper")
with st.expander("Long table (with tie flags)"):
    st.dataframe(table, hide_index=True, width="stretch", key="agr.long")
