"""Word-level codebook diffs: the segments rebuild both texts, changes are minimal, HTML is escaped."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from annotator.reports.textdiff import diff_counts, diff_html, diff_table_html, word_diff


def test_a_changed_word_is_deleted_and_inserted_in_place():
    assert word_diff("The user asks for a letter.", "The user asks for an email.") == [
        ("same", "The user asks for "), ("del", "a letter."), ("ins", "an email.")]
    assert diff_counts(word_diff("a b c", "a x c d")) == (1, 2)


def test_identical_and_empty_texts():
    assert word_diff("same text", "same text") == [("same", "same text")]
    assert word_diff("", "new words") == [("ins", "new words")]
    assert word_diff(None, None) == []


def test_html_is_escaped_inside_and_outside_the_marks():
    out = diff_html("<b>bold</b> & co", "<b>bold</b> & <script>x</script>")
    assert "<script>" not in out and "&lt;script&gt;" in out and out.startswith("&lt;b&gt;bold&lt;/b&gt; &amp; ")
    assert "<del>co</del><ins>&lt;script&gt;x&lt;/script&gt;</ins>" in out


def test_the_table_escapes_names_and_shows_other_fields_old_and_new():
    rows = [{"category": "A & <B>", "change": "renamed", "field": "name", "old": "A", "new": "A & <B>"},
            {"category": "A & <B>", "change": "changed", "field": "definition", "old": "one two", "new": "one three"}]
    out = diff_table_html(rows, old_label="version 1", new_label="version 2")
    assert "A &amp; &lt;B&gt;" in out and "<B>" not in out
    assert "<del>A</del> <ins>A &amp; &lt;B&gt;</ins>" in out
    assert "one <del>two</del><ins>three</ins>" in out and "version 1 → version 2" in out


texts = st.text(alphabet=st.sampled_from(list("ab cd\n\t<&é")), max_size=40)


@given(texts, texts)
def test_segments_rebuild_both_texts(old, new):
    segments = word_diff(old, new)
    assert "".join(t for op, t in segments if op != "ins") == old
    assert "".join(t for op, t in segments if op != "del") == new
    assert all(a[0] != b[0] for a, b in zip(segments, segments[1:]))  # adjacent segments differ in kind
