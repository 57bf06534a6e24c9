"""Agreement of the independent labels (leads, methodologists): the publishable report with downloads,
each reviewer against the others (leave-one-out), and how complete the gold standard is."""

import streamlit as st

from annotator import ui
from annotator.errors import AnnotatorError
from annotator.reports.agreement import render_agreement
from annotator.reports.common import num, pct
from annotator.services.agreement import agreement_for_rounds
from annotator.services.rounds import list_rounds, round_progress

user = ui.require_user("lead", "admin")
st.title("Agreement")
with ui.session() as s:
    names = [r.name for r in list_rounds(s)]
    labelled_by = {name: {p.reviewer for p in round_progress(s, name) if p.done} for name in names}
reviewers = sorted(set().union(*labelled_by.values()))
if not names:
    st.info("No rounds yet.")
    st.stop()
with st.form("agreement.form"):
    chosen = st.multiselect("Rounds (several are pooled, each thread counted per round)", names, default=names[:1])
    cols = st.columns(2)
    n_boot = cols[0].number_input("Bootstrap resamples", 0, 10_000, 1000, step=100)
    seed = cols[1].number_input("Seed", 0, 2**31 - 1, 0)
    excluded = st.multiselect("Leave out reviewers (e.g. one who shares fewer than two threads with anyone)",
                              reviewers, key="agreement.exclude")
    go = st.form_submit_button("Compute", type="primary")
if go and chosen:
    st.session_state.pop("agreement.report", None)
    try:
        with st.spinner("Computing agreement..."), ui.session() as s:
            st.session_state["agreement.report"] = agreement_for_rounds(s, chosen, n_boot=int(n_boot), seed=int(seed),
                                                                        exclude_reviewers=[
            r for r in excluded if any(r in labelled_by[name] for name in chosen)])
    except AnnotatorError as exc:
        st.error(str(exc))
rep = st.session_state.get("agreement.report")
if not rep:
    st.caption("Choose rounds and press Compute.")
    st.stop()


def fmt(v, digits=3):
    return num(v, digits)


def ci_help(key):
    entry = rep.get("coefficients", {}).get(key, {})
    lo, hi = entry.get("ci95") or [None, None]
    if lo is None:
        return f"95% CI withheld: {entry.get('ci_reason') or 'undefined'}"
    return f"95% CI {fmt(lo)}–{fmt(hi)} ({entry.get('ci_method')}), n = {entry.get('n_threads')} threads"


cols = st.columns(5)
cols[0].metric("Krippendorff's α", fmt(rep["krippendorff_alpha"]), help=ci_help("krippendorff_alpha"))
cols[1].metric("Fleiss' κ", fmt(rep["fleiss_kappa"]), help=ci_help("fleiss_kappa"))
cols[2].metric("Gwet's AC1", fmt(rep["gwet_ac1"]), help=ci_help("gwet_ac1"))
cols[3].metric("PABAK", fmt(rep.get("pabak")), help=ci_help("pabak"))
cols[4].metric("Agreement", pct(rep["percent_agreement"]), help=ci_help("percent_agreement"))
ci = rep["krippendorff_alpha_ci95"]
st.caption(f"{rep['n_items']} threads · {rep['n_reviewers']} reviewers · {rep['n_ratings']} ratings · "
           f"α 95% CI {fmt(ci[0])} to {fmt(ci[1])}")
(st.warning if rep["consensus_pending"] else st.info)(ui.esc(rep["resolution"]))
title = f"Inter-rater agreement: {', '.join(rep['rounds'])}"
st.iframe(render_agreement(rep, "html", title=title, resolution=rep["resolution"]), height=900)  # our own escaped report HTML
dl = st.columns(4)
for col, f, mime in zip(dl, ["html", "md", "json", "csv"], ["text/html", "text/markdown", "application/json", "text/csv"]):
    data = render_agreement(rep, f, title=title, resolution=rep["resolution"])
    col.download_button(f"Download {f.upper()}", data=data, file_name=f"agreement.{f}", mime=mime, key=f"agreement.dl.{f}")
