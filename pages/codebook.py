"""Codebook (leads and admins): the current version's categories, every version, loading a codebook
file as a new version, and exporting one as YAML or JSON.

The load/export part is the function `load_and_export` below; the editor sections follow it as tabs:
edit (inline forms per category with the evidence next to each; add, rename, merge, split, retire, each
with a change note), changes between two versions, candidate examples (propose, vote, adopt), the review
of "Other" threads (suggested names, groups, create a category), and the versions compared.
Every action is a service call from an on_click callback; its outcome is flashed at the top.
"""

import streamlit as st

from annotator import ui
from annotator.errors import AnnotatorError
from annotator.reports.textdiff import diff_table_html
from annotator.services import refine
from annotator.services.classify import list_runs, llm_config
from annotator.services.rounds import list_rounds
from annotator.services import admin
from annotator.services.codebook import export_codebook, get_version, list_versions

user = ui.require_user("lead", "admin")
st.title("Codebook")
ui.show_flash()


def load_and_export(versions: list) -> None:
    """Upload a YAML/JSON codebook as a new version; download any version as YAML or JSON."""
    left, right = st.columns(2, gap="large")
    with left:
        st.subheader("Load a codebook file")
        with st.form("codebook.load", clear_on_submit=True):
            upload = st.file_uploader("YAML or JSON, in the format the export below writes",
                                      type=["yaml", "yml", "json"], key="codebook.file")
            go = st.form_submit_button("Load as a new version", type="primary")
        if go:
            if upload is None:
                st.warning("Choose a file first.")
            else:
                try:
                    with ui.session() as s:
                        version, created = admin.load_codebook_upload(s, upload.name, upload.getvalue(),
                                                                      actor=user.username)
                except Exception as exc:  # noqa: BLE001 - report_error: user errors as one line, anything else calmly
                    ui.report_error(exc)
                else:
                    ui.flash(f"Codebook version {version.version} created." if created
                             else f"Unchanged: the file equals the newest version ({version.version}).",
                             "success" if created else "info")
                    st.rerun()
    with right:
        st.subheader("Export")
        if not versions:
            st.caption("Nothing to export yet.")
            return
        numbers = [v.version for v in reversed(versions)]
        number = st.selectbox("Version", numbers, key="codebook.export_version")
        cols = st.columns(2)
        for col, fmt, mime in zip(cols, ("yaml", "json"), ("application/yaml", "application/json")):
            col.download_button(fmt.upper(), data=lambda f=fmt, n=number: _export(f, n), file_name=f"codebook-v{number}.{fmt}",
                                mime=mime, key=f"codebook.export.{fmt}", on_click="ignore")


def _export(fmt: str, number: int) -> str:
    def write() -> str:
        with ui.session() as s:
            return export_codebook(s, fmt=fmt, version=number)

    return ui.guarded(write, "lead", "admin")() or ""


with ui.session() as s:
    current = get_version(s)
    versions = list_versions(s)

if current is None:
    st.info("No codebook loaded yet: load one below (the default is sample_data/codebook.yaml).")
else:
    st.subheader(f"Version {current.version}: {ui.esc(current.name)}")
    if current.note:
        st.caption(ui.esc(current.note))
    ui.codebook_table(current.id, versions)



# --- actions (on_click callbacks: the outcome is flashed at the top of the next run) ----------------------
# Every callback is wrapped in ui.guarded (see `lead` below): it re-checks the session and the account's
# current role before anything runs, and shows a user error as one line.

def _do(action, done) -> None:
    """Run `action(session)`; flash `done(result)` (or `done`)."""
    with ui.session() as s:
        result = action(s)
    ui.flash(done(result) if callable(done) else done)


def lead(callback):
    """The callback behind the one guard, for leads and admins."""
    return ui.guarded(callback, "lead", "admin")


def _saved(result) -> str:
    version, created = result
    return f"Saved as codebook version {version.version}." if created else "Nothing changed."


def _val(key: str, default=""):
    return st.session_state.get(key, default)


def _llm_cfg():
    try:
        return llm_config(ui.settings())
    except AnnotatorError:
        return None


def edit(name: str, k: str) -> None:
    _do(lambda s: refine.edit_category(
        s, name=name, definition=_val(f"{k}.definition"), examples=_val(f"{k}.examples").splitlines(),
        medhelm_category=_val(f"{k}.medhelm"), medhelm_subcategory=_val(f"{k}.medhelm_sub"),
        note=_val(f"{k}.note"), actor=user.username), _saved)


def rename(name: str, k: str) -> None:
    _do(lambda s: refine.rename_category(s, old=name, new=_val(f"{k}.new_name"), note=_val(f"{k}.rename_note"),
                                         actor=user.username), _saved)


def retire_or_restore(name: str, active: bool, k: str) -> None:
    note = _val(f"{k}.retire_note")
    _do(lambda s: refine.retire_category(s, name=name, note=note, actor=user.username) if active else
        refine.edit_category(s, name=name, active=True, note=note, actor=user.username), _saved)


def add(k: str) -> None:
    _do(lambda s: refine.add_category(
        s, name=_val(f"{k}.name"), definition=_val(f"{k}.definition"), examples=_val(f"{k}.examples").splitlines(),
        medhelm_category=_val(f"{k}.medhelm"), medhelm_subcategory=_val(f"{k}.medhelm_sub"), note=_val(f"{k}.note"),
        actor=user.username), _saved)


def merge(k: str) -> None:
    _do(lambda s: refine.merge_categories(s, sources=_val(f"{k}.sources", []), into=_val(f"{k}.into"),
                                          definition=_val(f"{k}.definition") or None, note=_val(f"{k}.note"),
                                          actor=user.username), _saved)


def split(k: str) -> None:
    _do(lambda s: refine.split_category(s, name=_val(f"{k}.name"), parts=refine.parse_parts(_val(f"{k}.parts")),
                                        note=_val(f"{k}.note"), actor=user.username), _saved)


def propose(category: str, backend: str, n: int) -> None:
    _do(lambda s: refine.propose_candidates(s, category=category, backend=backend, cfg=_llm_cfg(), n=n,
                                            actor=user.username),
        lambda rows: f"{len(rows)} new candidate(s) for '{ui.esc(category)}'.")


def toggle_vote(candidate_id: int, voted: bool) -> None:
    _do(lambda s: refine.unvote(s, candidate_id, user.id) if voted else refine.vote(s, candidate_id, user.id),
        "Vote taken back." if voted else "Vote recorded.")


def adopt(category: str) -> None:
    _do(lambda s: refine.adopt_top_examples(s, category, actor=user.username), _saved)


def suggest(round_name: str | None, run_id: int | None, backend: str) -> None:
    _do(lambda s: refine.suggest_other_names(s, round_name=round_name, run_id=run_id, cfg=_llm_cfg(), backend=backend,
                                             actor=user.username),
        lambda r: f"{ui.esc(r.source)}: {r.n_other} Other threads, {r.n_new} named now, {r.n_cached} named before, "
                  f"{r.n_failed} failed.")


def create_from_group(group: dict, k: str) -> None:
    _do(lambda s: refine.create_category_from_group(s, group, name=_val(f"{k}.name") or None,
                                                    definition=_val(f"{k}.definition") or None,
                                                    note=_val(f"{k}.note"), actor=user.username), _saved)


def compare_versions() -> None:
    st.session_state.pop("codebook.comparison", None)
    try:
        with ui.session() as s:
            st.session_state["codebook.comparison"] = refine.version_comparison(
                s, n_boot=500, seed=0, allow_pending=_val("codebook.compare_pending", False))
    except AnnotatorError as exc:  # pending threads: the page says so calmly
        ui.flash(f"{exc}".replace("pass --allow-pending", "tick the box"), "warning")


# --- sections -------------------------------------------------------------------------------------------

def _evidence(name: str) -> None:
    with ui.session() as s:
        ev = refine.category_evidence(s, name)
    st.markdown("**Definition problems** (adjudication)")
    for e in ev["definition_problems"] or []:
        st.markdown(f"- {ui.esc(e['round'])} · {ui.esc(e['thread_id'])} · {ui.esc(e['comment']) or '—'}")
    if not ev["definition_problems"]:
        st.caption("None tagged.")
    st.markdown("**Ambiguous definition** (model errors)")
    for e in ev["ambiguous_definition"]:
        st.markdown(f"- run {e['run_id']} · {ui.esc(e['thread_id'])} · {ui.esc(e['comment']) or '—'}")
    if not ev["ambiguous_definition"]:
        st.caption("None tagged.")


def edit_section(newest: int) -> None:
    """One category at a time (picked by name, so the choice survives a save), then add/merge/split."""
    cols = st.columns([1, 2])
    number = cols[0].selectbox("Version", list(range(newest, 0, -1)), key=f"codebook.edit_version.{newest}",
                               format_func=lambda v: f"{v} (newest: editable)" if v == newest else f"{v} (read only)")
    editable = number == newest
    with ui.session() as s:
        cats = refine.version_categories(s, number)
    names = [c.name for c in cats]
    if st.session_state.get("codebook.edit_category") not in names:
        st.session_state["codebook.edit_category"] = names[0] if names else None
    picked = cols[1].selectbox("Category", names, key="codebook.edit_category",
                               format_func=lambda n: n + ("" if next(c for c in cats if c.name == n).active
                                                          else " (retired)"))
    for i, c in enumerate(cats):
        if c.name != picked:
            continue
        k = f"codebook.v{number}.{i}"
        with st.container(border=True):
            left, right = st.columns([3, 2], gap="large")
            with right:
                _evidence(c.name)
            with left:
                if not editable:
                    ui.category_details(c.definition, c.examples)
                    continue
                with st.form(f"{k}.form"):
                    st.text_area("Definition", c.definition, key=f"{k}.definition")
                    st.text_area("Examples (one per line)", "\n".join(c.examples), key=f"{k}.examples")
                    cols = st.columns(2)
                    cols[0].text_input("MedHELM category", c.medhelm_category, key=f"{k}.medhelm")
                    cols[1].text_input("MedHELM subcategory", c.medhelm_subcategory, key=f"{k}.medhelm_sub")
                    st.text_input("Change note", key=f"{k}.note")
                    st.form_submit_button("Save changes", on_click=lead(edit), args=(c.name, k), type="primary")
                with st.form(f"{k}.rename_form"):
                    cols = st.columns([2, 2, 1], vertical_alignment="bottom")
                    cols[0].text_input("New name", c.name, key=f"{k}.new_name")
                    cols[1].text_input("Change note", key=f"{k}.rename_note")
                    cols[2].form_submit_button("Rename", on_click=lead(rename), args=(c.name, k))
                with st.form(f"{k}.retire_form"):
                    cols = st.columns([4, 1], vertical_alignment="bottom")
                    cols[0].text_input("Change note", key=f"{k}.retire_note")
                    cols[1].form_submit_button("Retire" if c.active else "Reactivate", on_click=lead(retire_or_restore),
                                               args=(c.name, c.active, k))
    if not editable:
        return
    k = f"codebook.v{number}"
    active = [c.name for c in cats if c.active]
    st.markdown("##### Add, merge or split")
    add_col, merge_col, split_col = st.columns(3, gap="large")
    with add_col, st.form(f"{k}.add"):
        st.text_input("Name", key=f"{k}.add.name")
        st.text_area("Definition", key=f"{k}.add.definition")
        st.text_area("Examples (one per line)", key=f"{k}.add.examples")
        cols = st.columns(2)
        cols[0].text_input("MedHELM category", key=f"{k}.add.medhelm")
        cols[1].text_input("MedHELM subcategory", key=f"{k}.add.medhelm_sub")
        st.text_input("Change note", key=f"{k}.add.note")
        st.form_submit_button("Add category", on_click=lead(add), args=(f"{k}.add",))
    with merge_col, st.form(f"{k}.merge"):
        st.multiselect("Merge these categories", active, key=f"{k}.merge.sources")
        st.text_input("Into (a new name, or one of them)", key=f"{k}.merge.into")
        st.text_area("Definition of the merged category (empty: keep or combine)", key=f"{k}.merge.definition")
        st.text_input("Change note", key=f"{k}.merge.note")
        st.form_submit_button("Merge", on_click=lead(merge), args=(f"{k}.merge",))
    with split_col, st.form(f"{k}.split"):
        st.selectbox("Split this category", active, key=f"{k}.split.name")
        st.text_area("Into (one per line: Name: definition)", key=f"{k}.split.parts")
        st.text_input("Change note", key=f"{k}.split.note")
        st.form_submit_button("Split", on_click=lead(split), args=(f"{k}.split",))
        st.caption("The split category is retired; its old labels keep its name in reports.")


def diff_section(newest: int) -> None:
    """Any two versions, newest against the one before by default (keyed by the newest version, so
    right after a save it shows what the save changed)."""
    numbers = list(range(newest, 0, -1))
    cols = st.columns(2)
    a = cols[0].selectbox("From version", numbers, index=min(1, len(numbers) - 1), key=f"codebook.diff_a.{newest}")
    b = cols[1].selectbox("To version", numbers, key=f"codebook.diff_b.{newest}")
    if a == b:
        st.caption(f"Choose two different versions (both are {a}).")
        return
    with ui.session() as s:
        rows = refine.diff_versions(s, a, b)
    if rows:
        st.caption("Removed words are struck through in red, added words are green.")
        st.html(diff_table_html(rows, old_label=f"version {min(a, b)}", new_label=f"version {max(a, b)}"))
    else:
        st.caption(f"No differences between versions {min(a, b)} and {max(a, b)}.")


def candidates_section(newest_id: int) -> None:
    names = [c["name"] for c in ui.categories(newest_id)]
    cols = st.columns([3, 2, 1, 1], vertical_alignment="bottom")
    category = cols[0].selectbox("Category", names, key="codebook.cand.category")
    backend = cols[1].radio("Source", ["openai", "local"], horizontal=True, key="codebook.cand.backend",
                            format_func=lambda b: {"openai": "LLM", "local": "Consensus threads"}[b])
    n = cols[2].number_input("How many", 1, 20, 5, key="codebook.cand.n")
    cols[3].button("Propose", on_click=lead(propose), args=(category, backend, int(n)), key="codebook.cand.propose")
    with ui.session() as s:
        cands = refine.list_candidates(s, category)
    if not cands:
        st.caption("No candidates yet.")
        return
    for c in cands:
        row = st.columns([6, 2, 1], vertical_alignment="center")
        with row[0]:
            ui.plain(c["text"], css_class="plain-text candidate")
        fit = ("✓ classified as its category" if c["fits"] else
               f"classified as {ui.esc(c['classified_as'])}" if c["classified_as"] else "not classified")
        voters = f": {ui.esc(', '.join(c['voters']))}" if c["voters"] else ""
        row[1].caption(f"{ui.esc(c['source'])} · {fit} · {c['votes']} vote(s){voters}")
        voted = user.username in c["voters"]
        row[2].button("Unvote" if voted else "Vote", key=f"codebook.cand.vote.{c['id']}", on_click=lead(toggle_vote),
                      args=(c["id"], voted))
    st.button("Adopt the top 3 as the category's examples", on_click=lead(adopt), args=(category,),
              key="codebook.cand.adopt", type="primary")


def other_section() -> None:
    with ui.session() as s:
        rounds = [r.name for r in list_rounds(s)]
        runs = [r.id for r in list_runs(s)]
        sources = refine.suggestion_sources(s)
    cols = st.columns([2, 2, 2, 1], vertical_alignment="bottom")
    kind = cols[0].radio("Threads labeled Other by", ["round", "run"], horizontal=True, key="codebook.other.kind",
                         format_func=lambda v: {"round": "a round's consensus", "run": "a model run"}[v])
    choices = rounds if kind == "round" else runs
    chosen = cols[1].selectbox("Round" if kind == "round" else "Run", choices, key=f"codebook.other.{kind}")
    backend = cols[2].radio("Names from", ["openai", "local"], horizontal=True, key="codebook.other.backend",
                            format_func=lambda b: {"openai": "LLM", "local": "Top TF-IDF terms"}[b])
    cols[3].button("Suggest names", key="codebook.other.suggest", disabled=chosen is None, on_click=lead(suggest),
                   args=(chosen if kind == "round" else None, chosen if kind == "run" else None, backend))
    if not sources:
        st.caption("No suggested names yet.")
        return
    source = st.selectbox("Group the names of", sources, key="codebook.other.source")
    with ui.session() as s:
        groups = refine.group_suggestions(s, source)
    st.caption(f"{len(groups)} proposed categories" + (f" (silhouette {groups[0]['silhouette']:.2f})"
                                                       if groups and groups[0]["silhouette"] is not None else ""))
    for i, g in enumerate(groups):
        k = f"codebook.other.group.{source}.{i}"
        with st.expander(f"{ui.esc(g['name'])} · {g['n']} thread(s)"):
            st.caption("Suggested names: " + ", ".join(f"{ui.esc(n)} ({c})" for n, c in g["names"]))
            if g["examples"]:
                st.html(ui.examples_html(g["examples"]))
            with st.form(f"{k}.form"):
                st.text_input("Category name", g["name"], key=f"{k}.name")
                st.text_area("Definition (empty: a draft naming the suggestions)", key=f"{k}.definition")
                st.text_input("Change note", key=f"{k}.note")
                st.form_submit_button("Create category", on_click=lead(create_from_group), args=(g, k))


def versions_section() -> None:
    st.checkbox("Score models on the decided threads even while others are pending (not a random sample)",
                key="codebook.compare_pending")
    st.button("Compute the comparison", on_click=lead(compare_versions), key="codebook.compare")
    table = st.session_state.get("codebook.comparison")
    if table is None:
        st.caption("Reviewers' agreement (α, 500 bootstrap resamples, seed 0) and the model against the final "
                   "labels (out of fold), per codebook version.")
        return
    st.dataframe(table, hide_index=True, width="stretch")
    png = refine.comparison_chart_png(table)
    if png:
        st.image(png)


TABS = ["Edit", "Changes", "Candidate examples", "Other review", "Versions compared", "Load / export"]
if current is not None:
    st.divider()
    # Stateful tabs: a rerun after an action keeps the user on their tab, and only the open tab runs.
    tabs = st.tabs(TABS, key="codebook.tab", on_change="rerun")
    sections = [lambda: edit_section(current.version), lambda: diff_section(current.version),
                lambda: candidates_section(current.id), other_section, versions_section,
                lambda: load_and_export(versions)]
    for tab, section in zip(tabs, sections):
        if tab.open:
            with tab:
                section()
else:
    st.divider()
    load_and_export(versions)
