"""Agreement of the independent labels (leads, methodologists): the publishable report with downloads."""

import streamlit as st

from annotator import ui
from annotator.reports.agreement import render_agreement
from annotator.services.agreement import agreement_for_rounds
from annotator.services.rounds import list_rounds

user = ui.require_user("lead", "admin")
st.title("Agreement")
with ui.session() as s:
    names = [r.name for r in list_rounds(s)]
if not names:
    st.info("No rounds yet.")
    st.stop()
with st.form("agreement.form"):
    chosen = st.multiselect("Rounds (several are pooled, each thread counted per round)", names, default=names[:1])
    cols = st.columns(2)
    n_boot = cols[0].number_input("Bootstrap resamples", 0, 10_000, 1000, step=100)
    seed = cols[1].number_input("Seed", 0, 2**31 - 1, 0)
    go = st.form_submit_button("Compute", type="primary")
if go and chosen:
    with st.spinner("Computing agreement..."), ui.session() as s:
        st.session_state["agreement.report"] = agreement_for_rounds(s, chosen, n_boot=int(n_boot), seed=int(seed))
rep = st.session_state.get("agreement.report")
if not rep:
    st.caption("Choose rounds and press Compute.")
    st.stop()


def fmt(v, digits=3):
    return "—" if v is None else f"{v:.{digits}f}"


ci = rep["krippendorff_alpha_ci95"]
cols = st.columns(5)
cols[0].metric("Krippendorff's α", fmt(rep["krippendorff_alpha"]), help=f"95% CI {fmt(ci[0])}–{fmt(ci[1])}")
cols[1].metric("Fleiss' κ", fmt(rep["fleiss_kappa"]), help=f"on {rep['fleiss_n_items']} items rated by all")
cols[2].metric("Gwet's AC1", fmt(rep["gwet_ac1"]))
cols[3].metric("PABAK", fmt(rep.get("pabak")))
cols[4].metric("Agreement", fmt(rep["percent_agreement"]))
st.caption(f"{rep['n_items']} threads · {rep['n_reviewers']} reviewers · {rep['n_ratings']} ratings · "
           f"α 95% CI {fmt(ci[0])} to {fmt(ci[1])} · {rep['resolution']}")
title = f"Inter-rater agreement: {', '.join(rep['rounds'])}"
st.iframe(render_agreement(rep, "html", title=title, resolution=rep["resolution"]), height=900)  # our own escaped report HTML
dl = st.columns(4)
for col, f, mime in zip(dl, ["html", "md", "json", "csv"], ["text/html", "text/markdown", "application/json", "text/csv"]):
    data = render_agreement(rep, f, title=title, resolution=rep["resolution"])
    col.download_button(f"Download {f.upper()}", data=data, file_name=f"agreement.{f}", mime=mime, key=f"agreement.dl.{f}")
