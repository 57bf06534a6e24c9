"""The bad-file corpus (tests/data/test_bad_files.py) through the upload pages: Import threads (thread
exports, message logs, conversation files), Roles and roster (roster, role mapping) and Codebook
(codebook files). Each shows one calm error line naming the file, no exception, and the database
exactly as before."""

from __future__ import annotations

import pytest

from tests.data.test_bad_files import CASES, small_limits  # noqa: F401  (fixture)
from tests.factories import dump_tables
from tests.pages.conftest import open_page

ACCEPTS = {"threads": {"csv", "gz", "bz2", "xz", "tsv", "jsonl", "ndjson", "json", "xlsx", "parquet"},
           "messages": {"csv", "gz", "bz2", "xz", "tsv", "jsonl", "ndjson", "json", "xlsx", "parquet"},
           "roster": {"csv", "xlsx", "parquet", "jsonl"}, "mapping": {"csv", "xlsx"}, "codebook": {"yaml", "yml", "json"}}
# labels are imported on the command line only; a file type the uploader does not offer cannot be chosen
PAGE_CASES = [c for c in CASES if c.importer != "labels" and c.name.rsplit(".", 1)[-1] in ACCEPTS[c.importer]]
MIME = "application/octet-stream"


def _upload(at, case):
    name, data = case.name, case.content()
    if case.importer in ("threads", "messages"):
        at.file_uploader(key="import.file").set_value((name, data, MIME)).run()
        if case.importer == "messages":
            at.radio(key="import.kind").set_value("messages").run()
            at.text_input(key="import.map.thread_id").input("conversation_id")
            at.text_input(key="import.map.text").input("content")
            at.text_input(key="import.map.position").input("message_index")
        return at.button(key="import.go").click().run()
    if case.importer == "roster":
        at.file_uploader(key="roles.roster_file").set_value((name, data, MIME)).run()
        return at.button(key="roles.import_roster").click().run()
    if case.importer == "mapping":
        at.file_uploader(key="roles.mapping_file").set_value((name, data, MIME)).run()
        return at.button(key="roles.import_mapping").click().run()
    at.session_state["codebook.tab"] = "Load / export"  # the tabs keep their state; only the open tab runs
    at.run()
    at.file_uploader(key="codebook.file").set_value((name, data, MIME))
    return next(b for b in at.button if b.label == "Load as a new version").click().run()


@pytest.mark.parametrize("case", PAGE_CASES, ids=[c.name for c in PAGE_CASES])
def test_a_bad_upload_is_one_calm_line_and_changes_nothing(app, world, app_db, small_limits, case):  # noqa: F811
    page = {"threads": "import_threads.py", "messages": "import_threads.py", "roster": "role_mapping.py",
            "mapping": "role_mapping.py", "codebook": "codebook.py"}[case.importer]
    at = open_page(app(world.admin), page)
    before = dump_tables(app_db)

    at = _upload(at, case)

    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error]
    assert len(errors) == 1, errors
    assert case.name in errors[0] and "\n" not in errors[0].strip(), errors[0]
    for fragment in case.expect:
        assert fragment in errors[0], (fragment, errors[0])
    assert dump_tables(app_db) == before
