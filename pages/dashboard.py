"""Usage dashboard (leads, admins): what staff use the chat tool for, as in the study's Figure 1,
by department, role group and week; honest prevalence; alert rules; exports; the next round
stratified by predicted category. Aggregates come from services (SQL), cached for 60 s."""

from datetime import date

import streamlit as st

from annotator import ui
from annotator.errors import PendingThreads
from annotator.services import alerts as alert_service
from annotator.services import dashboard as dash_service
from annotator.services.accounts import list_accounts
from annotator.services.classify import list_runs
from annotator.services.prevalence import create_stratified_round, prevalence_for, prevalence_table
from annotator.roles import soc_label
from annotator.services.rounds import list_rounds

PCT = st.column_config.NumberColumn(format="percent")
user = ui.require_user("lead", "admin")
st.title("Usage dashboard")
ui.show_flash()


@st.cache_data(ttl=60, show_spinner=False)
def _version(run_id):
    with ui.session() as s:
        return dash_service.data_version(s, run_id)


@st.cache_data(ttl=3600, max_entries=4, show_spinner="Counting threads per category (once per run and data change)...")
def _cube(run_id, version):
    with ui.session() as s:
        return dash_service.stored_cube(s, run_id)


@st.cache_data(ttl=60, show_spinner=False)
def _dashboard(run_id, version, start, end, departments, roles, role_groups, frequent_only, soc_groups=()):
    filters = dash_service.Filters(start=start, end=end, departments=departments, roles=roles,
                                   role_groups=role_groups, frequent_only=frequent_only, soc_groups=soc_groups)
    with ui.session() as s:
        return dash_service.build_dashboard(s, run_id=run_id, filters=filters, cube=_cube(run_id, version))


@st.cache_data(ttl=60, show_spinner=False)
def _figure(run_id, version, key):
    return dash_service.figure1_png(_dashboard(run_id, version, *key).distribution)


@st.cache_data(ttl=60, show_spinner=False)
def _options(run_id, version):
    with ui.session() as s:
        return dash_service.filter_options(s, _cube(run_id, version))


@st.cache_data(ttl=60, show_spinner=False)
def _prevalence(run_id, version, rounds, method, allow_pending):
    with ui.session() as s:
        return prevalence_for(s, run_id=run_id, round_names=list(rounds) or None, method=method,
                              cube=_cube(run_id, version), allow_pending=allow_pending)


@st.cache_data(ttl=60, show_spinner=False)
def _alerts(run_id, version, rules_key):
    with ui.session() as s:
        return alert_service.evaluate_all(s, run_id=run_id, cube=_cube(run_id, version))


def _set_default_run(run_id):
    with ui.session() as s:
        dash_service.set_dashboard_run(s, run_id=run_id, actor=user.username)
    ui.flash("Saved as the dashboard's default run.")


def _toggle_rule(rule_id, active):
    with ui.session() as s:
        alert_service.set_rule_active(s, rule_id=rule_id, active=active, actor=user.username)


def _delete_rule(rule_id):
    with ui.session() as s:
        alert_service.delete_rule(s, rule_id=rule_id, actor=user.username)


# ---- which labels -------------------------------------------------------------------------------
with ui.session() as s:
    runs = list_runs(s)
    default_run = dash_service.default_run_id(s)
    rules = alert_service.list_rules(s)
    round_names = [r.name for r in list_rounds(s)]
    categories = list(dash_service.codebook_frame(s)["category"])
    reviewers = [a.username for a in list_accounts(s) if a.active]
run_labels = {None: "No model run (consensus labels only)"}
run_labels.update({r.id: f"#{r.id} {r.backend}:{r.model} · {r.scope} · {r.status}" for r in runs})
choices = list(run_labels)
cols = st.columns([3, 1])
run_id = cols[0].selectbox("Labels: consensus where it exists, elsewhere this model run", choices,
                           index=choices.index(default_run) if default_run in choices else 0,
                           format_func=run_labels.get, key="dash.run")
cols[1].button("Make default", key="dash.default_run", on_click=ui.guarded(_set_default_run, "lead", "admin"), args=(run_id,),
               disabled=run_id == default_run, help="Store this run as the dashboard's default (setting dashboard_run).")
version = _version(run_id)
options = _options(run_id, version)
if options["first"] is None:
    st.info("No threads yet: import threads first.")
    st.stop()

# ---- filters ------------------------------------------------------------------------------------
with st.expander("Filters", expanded=True):
    fc = st.columns([2, 2, 2, 1])
    picked = fc[0].date_input("Date range (UTC)", value=(options["first"], options["last"]),
                              min_value=options["first"], max_value=options["last"], key="dash.dates")
    departments = fc[1].multiselect("Departments", options["departments"], key="dash.departments")
    roles = fc[2].multiselect("Roles", options["roles"], key="dash.roles")
    role_groups = fc[2].multiselect("Role groups", options["role_groups"], key="dash.role_groups")
    soc_groups = fc[1].multiselect("SOC major groups (2018)", options["soc_groups"], key="dash.soc_groups",
                                   format_func=soc_label)
    frequent_only = fc[3].checkbox("Frequent users only", key="dash.frequent",
                                   help=f"Users with at least {dash_service.FREQUENT_MIN_THREADS} threads.")
start, end = (picked if isinstance(picked, (tuple, list)) and len(picked) == 2 else (None, None))
start = None if start == options["first"] else start
end = None if end == options["last"] else end
key = (start, end, tuple(departments), tuple(roles), tuple(role_groups), frequent_only, tuple(soc_groups))
try:
    dash = _dashboard(run_id, version, *key)
except Exception as exc:  # noqa: BLE001 - user errors are shown, anything else propagates
    ui.report_error(exc)
    st.stop()

st.caption(f"{ui.esc(dash.labels_text())} Filter: {ui.esc(dash.filters.describe())}.")
m = st.columns(4)
m[0].metric("Threads in filter", f"{dash.n_threads:,}")
m[1].metric("Labelled", f"{dash.n_consensus + dash.n_model:,}", help="consensus + model run")


def _share_metric(col, label, res):
    value = "—" if res["value"] is None else f"{100 * res['value']:.1f}%"
    col.metric(label, value, help=res["reason"] or f"{res['numerator']} of {res['denominator']} {res['what']}")


_share_metric(m[2], "Off-topic (Other)", dash.offtopic)
_share_metric(m[3], "Medical questions from non-clinicians", dash.clinical_from_nonclinical)

# ---- Figure 1 and tables --------------------------------------------------------------------------
st.subheader("Usage by task category (grouped by MedHELM category)")
png = _figure(run_id, version, key)
st.image(png)
st.dataframe(dash.distribution, hide_index=True, column_config={"share": PCT})
tabs = st.tabs(["By department", "By role group", "By SOC group", "By week", "Frequent users vs all"])
with tabs[0]:
    st.dataframe(dash_service.pivot_shares(dash.by_department, "department", dash.categories),
                 column_config={c: PCT for c in dash.categories})
with tabs[1]:
    st.dataframe(dash_service.pivot_shares(dash.by_role_group, "role_group", dash.categories),
                 column_config={c: PCT for c in dash.categories})
with tabs[2]:
    st.dataframe(dash_service.pivot_shares(dash.by_soc_group, "soc_group", dash.categories).rename(index=soc_label),
                 column_config={c: PCT for c in dash.categories})
with tabs[3]:
    weekly = dash_service.pivot_shares(dash.by_week, "week", dash.categories)
    st.line_chart(weekly.drop(columns="n"), x_label="week (Monday, UTC)", y_label="share of threads")
    st.dataframe(weekly, column_config={c: PCT for c in dash.categories})
with tabs[4]:
    st.dataframe(dash.frequent_vs_all, hide_index=True,
                 column_config={"share_all": PCT, "share_frequent": PCT})

dl = st.columns(3)
dl[0].download_button("Download CSV", dash_service.export_csv(dash), "usage.csv", "text/csv", key="dash.dl.csv")
dl[1].download_button("Download PNG", png, "usage_figure1.png", "image/png", key="dash.dl.png")
dl[2].download_button("Download HTML", dash_service.export_html(dash), "usage.html", "text/html", key="dash.dl.html")

# ---- prevalence -----------------------------------------------------------------------------------
st.subheader("Prevalence: model share vs corrected share (whole corpus)")
if run_id is None:
    st.info("Choose a model run: the correction compares its labels with the consensus of sampled rounds.")
else:
    pc = st.columns([3, 1])
    prev_rounds = pc[0].multiselect("Rounds whose consensus corrects the model (default: all)", round_names,
                                    key="dash.prev_rounds")
    method = pc[1].selectbox("Method", ["ppi", "confusion"], key="dash.prev_method")
    allow_pending = st.checkbox("Use the decided threads even while others are pending (not a random sample: the "
                                "correction may keep part of the model's bias)", key="dash.prev_allow_pending")
    try:
        result = _prevalence(run_id, version, tuple(prev_rounds), method, allow_pending)
    except PendingThreads as exc:
        rounds_text = "; ".join(f"round '{ui.esc(name)}': {pending} of {sampled} sampled threads pending"
                                for name, pending, sampled in exc.rounds)
        st.warning(f"No corrected share yet: {rounds_text}. The decided threads alone are not a random sample. "
                   "Finish them on the Adjudicate page, or tick the box above to use the decided threads only.")
    except Exception as exc:  # noqa: BLE001
        ui.report_error(exc)
    else:
        if result.get("pending"):
            st.warning(ui.esc(result["notes"][0]))
        st.dataframe(prevalence_table(result), hide_index=True,
                     column_config={c: PCT for c in ("model_share", "corrected_share", "ci_low", "ci_high", "upper_bound")})
        st.caption(ui.esc(f"N = {result['N']:,} threads, n = {result['n']} human-labelled ({result['design']}). "
                          f"{result['method_description']}"))
        st.caption(f"Gold standard: {ui.esc(result['completeness_text'])}")
        for note in result["notes"][1 if result.get("pending") else 0:]:
            st.caption(f"Note: {ui.esc(note)}")

# ---- alerts ---------------------------------------------------------------------------------------
st.subheader("Alert rules")
rules_key = tuple((r.id, r.active, repr(r.spec)) for r in rules)
evaluated = {e["rule_id"]: e for e in _alerts(run_id, version, rules_key)} if any(r.active for r in rules) else {}
if not rules:
    st.caption("No alert rules yet.")
for rule in rules:
    with st.container(border=True):
        rc = st.columns([6, 1, 1])
        rc[0].markdown(ui.esc(alert_service.describe_rule(alert_service.rule_of(rule))) + ("" if rule.active else " *(paused)*"))
        rc[1].button("Pause" if rule.active else "Resume", key=f"dash.rule.toggle.{rule.id}",
                     on_click=ui.guarded(_toggle_rule, "lead", "admin"), args=(rule.id, not rule.active))
        rc[2].button("Delete", key=f"dash.rule.delete.{rule.id}", on_click=ui.guarded(_delete_rule, "lead", "admin"),
                     args=(rule.id,))
        fired = evaluated.get(rule.id, {}).get("triggered", [])
        if rule.active:
            if fired:
                for a in fired:
                    st.warning(ui.esc(a["message"]))
            else:
                st.caption("Not triggered in any period.")
if evaluated:
    st.caption(next(iter(evaluated.values()))["control"])
with st.form("dash.rule.form", clear_on_submit=True):
    st.markdown("**New alert rule**")
    a = st.columns(3)
    name = a[0].text_input("Name")
    category = a[1].selectbox("Category", categories)
    group = a[2].selectbox("Role group", ["(any)", "clinician", "non-clinician", "unknown"])
    b = st.columns(3)
    department = b[0].selectbox("Department", ["(any)"] + options["departments"])
    role = b[1].selectbox("Role", ["(any)"] + options["roles"])
    window = b[2].selectbox("Window", ["W", "D", "M"], format_func={"W": "week", "D": "day", "M": "month"}.get)
    c = st.columns(5)
    method = c[0].selectbox("Test", ["calibrated", "ratio"],
                            help="calibrated: share and count tests against the baseline's spread, false alerts "
                                 "controlled over all rules and weeks; ratio: also needs the share to move by the factor")
    threshold = c[1].number_input("Ratio (ratio rules)", 1.1, 100.0, 2.0, step=0.5)
    baseline = c[2].number_input("Baseline periods", 2, 104, 8)
    direction = c[3].selectbox("Direction", ["up", "down", "both"])
    min_count = c[4].number_input("Min. threads", 0, 10_000, 5)
    if st.form_submit_button("Create rule"):
        filters = {k: v for k, v in (("role_group", group), ("department", department), ("role", role))
                   if v != "(any)"}
        try:
            with ui.session() as s:
                alert_service.create_rule(s, name=name, category=category, window=window, method=method,
                                          threshold=threshold, baseline_periods=int(baseline), direction=direction,
                                          min_count=int(min_count), filters=filters, actor=user.username)
        except Exception as exc:  # noqa: BLE001
            ui.report_error(exc)
        else:
            ui.flash(f"Alert rule '{ui.esc(name)}' created.")
            st.rerun()

# ---- next round -----------------------------------------------------------------------------------
st.subheader("Next round, stratified by predicted category")
if run_id is None:
    st.caption("Choose a model run to stratify by its predictions.")
else:
    with st.form("dash.round.form"):
        st.caption("Neyman allocation: predicted categories where the model errs more get more threads (a small "
                   "floor each); the design weights are stored with the round, so the corrected prevalence stays "
                   "unbiased. `annotator plan-sample` says how many threads a target interval width needs.")
        r = st.columns(4)
        round_name = r[0].text_input("Round name", value=f"stratified-{date.today().isoformat()}")
        size = r[1].number_input("Threads", 1, 100_000, 200)
        floor = r[2].number_input("At least per category", 0, 10_000, 2)
        seed = r[3].number_input("Seed", 0, 2**31 - 1, 0)
        chosen = st.multiselect("Reviewers", reviewers)
        per_thread = st.number_input("Reviewers per thread", 1, 10, 3)
        if st.form_submit_button("Create round"):
            try:
                with ui.session() as s:
                    made = create_stratified_round(s, name=round_name, run_id=run_id, size=int(size), reviewers=chosen,
                                                   per_thread=int(per_thread), seed=int(seed),
                                                   min_per_stratum=int(floor), actor=user.username)
            except Exception as exc:  # noqa: BLE001
                ui.report_error(exc)
            else:
                ui.flash(f"Round '{ui.esc(made.round.name)}' created: {made.n_threads} threads, "
                         f"{made.n_assignments} assignments.")
                st.rerun()
