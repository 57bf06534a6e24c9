"""Model runs (leads): classify with the configured endpoint or the local model, see the prompt,
and compare a run with a round's final labels (out of sample) and with its reviewers as another reviewer."""

import streamlit as st

from annotator import ui
from annotator.config import redact_url
from annotator.errors import AnnotatorError, PendingThreads
from annotator.reports.model import caution_sentences, claim_sentence, render_model_report
from annotator.services import classify as svc
from annotator.services.model_eval import compare_run, compare_two_runs
from annotator.services.adjudication import default_round_name
from annotator.services.rounds import list_rounds, round_progress

user = ui.require_user("lead", "admin")
st.title("Model")
ui.show_flash()
cfg_settings = ui.settings()
with ui.session() as s:
    rounds = [r.name for r in list_rounds(s)]
    preferred = default_round_name(s)
    runs = svc.list_runs(s)

tab_run, tab_compare, tab_prompt = st.tabs(["Classify", "Compare with consensus", "Prompt"])
with tab_run:
    endpoint = redact_url(cfg_settings.llm_base_url or (cfg_settings.azure_endpoint if cfg_settings.llm_provider == "azure"
                                                      else "api.openai.com"))
    st.caption(f"Endpoint: {cfg_settings.llm_provider} · {endpoint} · model {cfg_settings.llm_model}. "
               "Keys come from the server's environment and are never shown or stored.")
    with st.form("model.classify"):
        cols = st.columns(3)
        backend = cols[0].radio("Backend", ["openai", "azure", "local"], horizontal=True,
                                index=["openai", "azure"].index(cfg_settings.llm_provider))
        scope = cols[1].selectbox("Threads", ["(all threads)"] + rounds)
        limit = cols[2].number_input("Limit (0 = no limit)", 0, 10_000_000, 0)
        model = st.text_input("Model", value=cfg_settings.llm_model)
        dry = st.checkbox("Dry run: estimate requests, tokens and cost only", value=True)
        go = st.form_submit_button("Run", type="primary")
    if go:
        round_name = None if scope == "(all threads)" else scope
        try:
            if backend == "local":
                with st.spinner("Training the local model on the final labels (cross-fitted) and classifying..."):
                    res = svc.classify_local(ui.engine(), round_name=round_name, limit=limit or None, actor=user.username)
                st.success(f"Run {res.run_id}: {res.n_threads} threads classified locally; the threads it trained on "
                           "carry out-of-fold predictions.")
            else:
                if dry:  # an estimate sends nothing, so it needs no API key
                    with ui.session() as s:
                        plan = svc.plan_run(s, backend=backend, model=model, base_url=cfg_settings.llm_base_url,
                                            round_name=round_name, limit=limit or None, create=False,
                                            price_table=cfg_settings.price_table)
                    cost = f"${plan.est_cost_usd:,.2f}" if plan.est_cost_usd is not None else plan.cost_note
                    st.info(f"{plan.n_threads} threads · {plan.n_cached} cached · {len(plan.to_request)} requests · "
                            f"~{plan.est_prompt_tokens:,} prompt tokens · estimated cost {cost}")
                else:
                    cfg = svc.llm_config(cfg_settings, model=model, provider=backend)
                    bar = st.progress(0.0, text="classifying")

                    def progress(done, total):
                        bar.progress(min(1.0, done / total) if total else 0.0, text=f"{done} / {total or '?'}")

                    res = svc.classify_llm(ui.engine(), cfg, round_name=round_name, limit=limit or None,
                                           concurrency=cfg_settings.llm_concurrency,
                                           price_table=cfg_settings.price_table, actor=user.username,
                                           on_progress=progress)
                    st.success(f"Run {res.run_id}: {res.ok} ok, {res.failed} failed, {res.n_cached} from cache, "
                               f"{res.requests} requests, cost {res.cost_usd if res.cost_usd is not None else '?'} USD")
        except AnnotatorError as exc:
            ui.report_error(exc)
    if runs:
        st.dataframe([{"run": r.id, "backend": r.backend, "model": r.model, "scope": r.scope, "status": r.status,
                       "requests": r.n_requests, "tokens": r.prompt_tokens + r.completion_tokens,
                       "cost (USD)": r.cost_usd, "codebook version id": r.codebook_version_id,
                       "started": r.created_at} for r in runs], hide_index=True, width="stretch")

with tab_compare:
    if not runs or not rounds:
        st.info("Classify a round and adjudicate it first.")
    else:
        cols = st.columns(3)
        run_id = cols[0].selectbox("Run", [r.id for r in runs], format_func=lambda i: f"#{i}")
        round_name = cols[1].selectbox("Round (final labels)", rounds, index=rounds.index(preferred) if preferred in rounds else len(rounds) - 1)
        n_boot = cols[2].number_input("Bootstrap resamples", 0, 5000, 1000, step=100)
        with ui.session() as s:
            round_reviewers = [p.reviewer for p in round_progress(s, round_name) if p.done]
        opts = st.columns(2)
        allow_pending = opts[0].checkbox("Score the decided threads even while others are pending (not a random "
                                         "sample; the report says so)", key="model.allow_pending")
        excluded = opts[1].multiselect("Leave out reviewers", round_reviewers, key="model.exclude",
                                       help="For a reviewer who shares fewer than two threads with any other.")
        if st.button("Compare", type="primary", key="model.compare"):
            st.session_state.pop("model.report", None)
            try:
                with st.spinner("Comparing..."), ui.session() as s:
                    st.session_state["model.report"] = compare_run(s, run_id, round_name=round_name,
                                                                   n_boot=int(n_boot), allow_pending=allow_pending,
                                                                   exclude_reviewers=excluded)
            except PendingThreads as exc:
                rounds_text = "; ".join(f"round '{ui.esc(name)}': {pending} of {sampled} sampled threads are still pending"
                                        for name, pending, sampled in exc.rounds)
                st.warning(f"Not scored yet: {rounds_text}. The decided threads alone are not a random sample of the "
                           "round. Finish them on the Adjudicate page (where decisions can also be imported from a "
                           "spreadsheet), or tick the box above to score the decided threads only.")
            except AnnotatorError as exc:
                ui.report_error(exc)
        rep = st.session_state.get("model.report")
        if rep:
            fmt = lambda v: "—" if v is None else f"{v:.3f}"  # noqa: E731
            weighted = " (design-weighted)" if rep.get("weighting") == "design-weighted" else ""
            m = st.columns(5)
            m[0].metric(f"Accuracy{weighted}", fmt(rep["accuracy"]))
            m[1].metric("Macro F1", fmt(rep["macro_f1"]))
            m[2].metric("Weighted F1", fmt(rep["weighted_f1"]))
            m[3].metric("Cohen's κ", fmt(rep["cohen_kappa"]))
            m[4].metric("Compared / failed", f"{rep['n']} / {rep['n_failed']}")
            for caution in caution_sentences(rep):
                st.warning(ui.esc(caution))
            st.caption(f"Gold standard: {ui.esc(rep.get('completeness_text', ''))}")
            claim = claim_sentence(rep)
            if claim:
                st.info(ui.esc(claim))
            title = f"Model run {rep['run_id']} ({rep['model']}) against the final labels of {rep['round']}"
            st.iframe(render_model_report(rep, "html", title=title), height=900)  # our own escaped report HTML
            dl = st.columns(4)
            for col, f in zip(dl, ["html", "md", "json", "csv"]):
                col.download_button(f"Download {f.upper()}", render_model_report(rep, f, title=title),
                                    file_name=f"model_run_{rep['run_id']}.{f}", key=f"model.dl.{f}")

    if len(runs) >= 2:
        with st.expander("Run against run (two models, or two codebook versions)"):
            pick = st.columns(2)
            run_a = pick[0].selectbox("Run A", [r.id for r in runs], format_func=lambda i: f"#{i}", key="model.run_a")
            run_b = pick[1].selectbox("Run B", [r.id for r in runs], index=1, format_func=lambda i: f"#{i}",
                                      key="model.run_b")
            if st.button("Compare runs", key="model.compare_runs"):
                try:
                    with ui.session() as s:
                        both = compare_two_runs(s, run_a, run_b)
                except AnnotatorError as exc:
                    ui.report_error(exc)
                else:
                    fmt2 = lambda v, d=3: "—" if v is None else f"{v:.{d}f}"  # noqa: E731
                    m = st.columns(3)
                    m[0].metric("Threads in both", both["n"])
                    m[1].metric("Agreement", f"{fmt2(both['percent_agreement'], 1)}%")
                    m[2].metric("Cohen's κ", fmt2(both["cohen_kappa"]))
                    cm = both["confusion_matrix"]
                    st.dataframe({"run A \\ run B": cm["labels"], **{b: [row[j] for row in cm["matrix"]]
                                  for j, b in enumerate(cm["labels"])}}, hide_index=True, width="stretch")

with tab_prompt:
    ext = st.text_input("Thread id", key="model.prompt_thread")
    if ext:
        try:
            with ui.session() as s:
                st.code(svc.prompt_text(s, thread_external_id=ext.strip()), language=None)
        except AnnotatorError as exc:
            ui.report_error(exc)
