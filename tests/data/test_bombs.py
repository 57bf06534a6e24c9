"""Tiny files that would expand to gigabytes, run as a user would (the real `annotator` process) under a
memory cap (RLIMIT_AS) and a CPU-time cap (RLIMIT_CPU): each must stop with one clear line naming the
file and the limit, exit 1, and leave the database as it was. Without the limits the YAML alias bomb
took 73 s and 3.1 GB, the .csv.gz 6.3 GB, and the .xlsx aborted the process (SIGABRT)."""

from __future__ import annotations

import gzip
import io
import os
import resource
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import pytest

from tests.factories import dump_tables

MEMORY_CAP = 1536 * 1024 * 1024  # the budget for a whole import
CPU_SECONDS = 60


def _limits() -> None:  # runs in the child before exec
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))


def _annotator(db_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANNOTATOR_")}
    env["ANNOTATOR_DATABASE_URL"] = db_url
    return subprocess.run([sys.executable, "-m", "annotator.cli", *args], capture_output=True, text=True, env=env,
                          preexec_fn=_limits, timeout=600, cwd=Path(__file__).resolve().parents[2])


def alias_bomb(path: Path) -> Path:
    """About 420 bytes of YAML whose aliases expand to 9**9 strings."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    prev = "a"
    for n in "bcdefghi":
        lines.append(f"{n}: &{n} [" + ",".join([f"*{prev}"] * 9) + "]")
        prev = n
    lines.append(f"categories: [{{name: lol, definition: *{prev}}}]")
    path.write_text("\n".join(lines) + "\n")
    return path


def gzip_bomb(path: Path, expanded: int = 512 * 1024 ** 2) -> Path:
    """A .csv.gz of about 1 MB whose one text field expands to `expanded` bytes."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b"a" * (16 * 1024 * 1024)
    with open(path, "wb") as fh:
        fh.write(comp.compress(b'thread_id,text\nt1,"'))
        for _ in range(expanded // len(block)):
            fh.write(comp.compress(block))
        fh.write(comp.compress(b'"\n'))
        fh.write(comp.flush())
    return path


def xlsx_bombs(tmp: Path) -> list[Path]:
    """A workbook part that expands 1000x, and a sheet whose header reaches column XFD (16,384 columns)."""
    zipped = tmp / "zip_bomb.xlsx"
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "<workbook/>")
        zf.writestr("xl/sharedStrings.xml", b"<sst>" + b"A" * (300 * 1024 * 1024) + b"</sst>")
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws["A1"], ws["B1"] = "thread_id", "text"
    ws.cell(row=1, column=16384, value="far")
    for r in range(2, 2002):
        ws.cell(row=r, column=1, value=f"t{r}")
        ws.cell(row=r, column=16384, value="x")
    wide = tmp / "wide.xlsx"
    wb.save(wide)
    return [zipped, wide]


@pytest.fixture
def migrated(sqlite_url):
    from annotator.data.engine import ensure_schema, make_engine

    eng = make_engine(sqlite_url)
    ensure_schema(eng)
    yield sqlite_url, eng
    eng.dispose()


def _assert_clear_refusal(result, name: str, limit_words: tuple[str, ...]) -> None:
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr and "Aborted" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr[-2000:]
    assert lines[0].startswith("error: ") and name in lines[0]
    assert any(w in lines[0] for w in limit_words), lines[0]


def test_a_yaml_alias_bomb_fails_fast_under_a_memory_cap(migrated, tmp_path):
    url, eng = migrated
    path = alias_bomb(tmp_path / "bomb.yaml")
    assert path.stat().st_size < 450
    before = dump_tables(eng)
    result = _annotator(url, "import-codebook", str(path))
    _assert_clear_refusal(result, "bomb.yaml", ("YAML aliases",))
    assert dump_tables(eng) == before


def test_a_gzip_bomb_fails_fast_under_a_memory_cap(migrated, tmp_path):
    url, eng = migrated
    path = gzip_bomb(tmp_path / "bomb.csv.gz")
    assert path.stat().st_size < 2 * 1024 * 1024
    before = dump_tables(eng)
    result = _annotator(url, "import-threads", str(path))
    _assert_clear_refusal(result, "bomb.csv.gz", ("compression bomb", "longer than"))
    assert dump_tables(eng) == before


def test_xlsx_bombs_fail_fast_under_a_memory_cap(migrated, tmp_path):
    url, eng = migrated
    before = dump_tables(eng)
    for path in xlsx_bombs(tmp_path):
        assert path.stat().st_size < 3 * 1024 * 1024
        result = _annotator(url, "import-threads", str(path))
        _assert_clear_refusal(result, path.name, ("zip bomb", "limit", "over the"))
    assert dump_tables(eng) == before


def test_a_normal_import_works_under_the_same_cap(migrated, tmp_path):
    """The caps themselves do not break an ordinary import (so the refusals above are the limits at work)."""
    url, eng = migrated
    path = tmp_path / "ok.csv"
    path.write_text("thread_id,text\n" + "".join(f"t{i},hello {i}\n" for i in range(1000)))
    result = _annotator(url, "import-threads", str(path))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "1000 threads imported" in result.stdout
