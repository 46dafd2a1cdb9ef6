"""Figures: pure functions from analysis tables to Plotly figures, shared by the dashboard
(app.py, pages/) and ``uqlens report``. No Streamlit here. Every string from a run goes
through :func:`uqlens.viz.common.escape` (Plotly renders a subset of HTML in labels)."""
