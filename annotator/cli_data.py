"""CLI commands for the corpus data (registered on annotator.cli): the staff roster, the role mapping
(job title -> role group and SOC major group) and the export of the stored threads."""

from __future__ import annotations

from pathlib import Path

import click

from annotator.cli import Context, cli, export, pass_ctx


@cli.command("import-roster")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--map", "mapping", help="Column mapping FIELD=COLUMN,... (fields: user_id, job_title, department, "
                                       "start_date, end_date).")
@pass_ctx
def import_roster_cmd(c: Context, file, mapping):
    """Import a staff roster (user_id, job_title, department, optional start_date/end_date) and give every
    thread of those users the role and department valid at the thread's date."""
    from annotator.importing import parse_mapping
    from annotator.services.roles import ROSTER_FIELDS, import_roster

    with c.session() as s:
        report = import_roster(s, file, mapping=parse_mapping(mapping, fields=ROSTER_FIELDS))
    click.echo(report.summary())


@cli.command("import-role-mapping")
@click.argument("file", type=click.Path(path_type=Path))
@pass_ctx
def import_role_mapping_cmd(c: Context, file):
    """Import a role mapping CSV (title, role_group, soc_group) and update every thread's groups."""
    from annotator.services.roles import import_role_mapping

    with c.session() as s:
        n = import_role_mapping(s, file)
    click.echo(f"{Path(file).name}: {n} job titles added or changed")


@export.command("role-mapping")
@click.option("--out", type=click.Path(path_type=Path), required=True)
@pass_ctx
def export_role_mapping(c: Context, out):
    """Write the role mapping (title, role_group, soc_group, soc_title, threads, mapped) as CSV; unmapped
    titles first, with their suggested groups."""
    from annotator.services.roles import mapping_frame
    from annotator.services.tables import write_frames

    with c.session() as s:
        frame = mapping_frame(s)
    write_frames([frame], "csv", out)
    click.echo(f"wrote {len(frame)} job titles to {out} ({int((~frame['mapped']).sum())} not mapped yet)")


@export.command("threads")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl", "parquet"]), default="csv", show_default=True)
@click.option("--out", type=click.Path(path_type=Path), required=True)
@pass_ctx
def export_threads_cmd(c: Context, fmt, out):
    """Write the stored threads: thread_id, text, truncated, char_count, user_id, role, role_group, soc_group,
    department, first/last message time, user turns."""
    from annotator.services.threads import export_threads

    n = export_threads(c.engine, fmt, out)
    click.echo(f"wrote {n} threads to {out}")
