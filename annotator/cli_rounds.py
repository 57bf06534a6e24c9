"""CLI commands that manage existing rounds (registered on annotator.cli as the `round` group)."""

from __future__ import annotations

import datetime as dt

import click

from annotator.cli import Context, Group, cli, pass_ctx
from annotator.errors import InvalidInput


@cli.group("round", cls=Group)
def round_group():
    """Manage a round: list, close, reopen, archive, delete, set a due date, move unlabeled work."""


@round_group.command("list")
@pass_ctx
def round_list(c: Context):
    """Every round with its status, labels done / assigned and due date."""
    from annotator.services.admin import rounds_overview

    with c.session() as s:
        rows = rounds_overview(s)
    for r in rows:
        state = r.status + (", archived" if r.archived else "")
        due = f", due {r.due_on:%Y-%m-%d}" if r.due_on else ""
        click.echo(f"{r.name}: {state}, {r.done}/{r.assigned} labels{due}")
    if not rows:
        click.echo("no rounds yet")


def _status(c: Context, name: str, status: str) -> None:
    from annotator.services.rounds import set_round_status

    with c.session() as s:
        set_round_status(s, name=name, status=status, actor="cli")
    click.echo(f"round '{name}' is {status}")


@round_group.command("close")
@click.argument("name")
@pass_ctx
def round_close(c: Context, name):
    """Close a round: reviewers can no longer change their labels."""
    _status(c, name, "closed")


@round_group.command("reopen")
@click.argument("name")
@pass_ctx
def round_reopen(c: Context, name):
    """Reopen a closed (or archived) round."""
    _status(c, name, "open")


@round_group.command("archive")
@click.argument("name")
@click.option("--restore", is_flag=True, help="Bring an archived round back into reviewers' lists.")
@pass_ctx
def round_archive(c: Context, name, restore):
    """Archive a closed round: hidden from reviewers, kept for reports and exports."""
    from annotator.services.rounds import archive_round

    with c.session() as s:
        archive_round(s, name=name, archived=not restore, actor="cli")
    click.echo(f"round '{name}' is {'back from the archive' if restore else 'archived'}")


@round_group.command("delete")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_ctx
def round_delete(c: Context, name, yes):
    """Delete a round that has no labels yet, with its assignments (audited)."""
    from annotator.services.rounds import delete_round

    if not yes:
        click.confirm(f"Delete round '{name}' and its assignments?", abort=True)
    with c.session() as s:
        n = delete_round(s, name=name, actor="cli")
    click.echo(f"round '{name}' deleted ({n} assignments)")


@round_group.command("due")
@click.argument("name")
@click.option("--date", "due", help="Due date, YYYY-MM-DD.")
@click.option("--clear", is_flag=True, help="Remove the due date.")
@pass_ctx
def round_due(c: Context, name, due, clear):
    """Set or clear the date by which a round's labels are due (reviewers see it)."""
    from annotator.services.rounds import set_due_date

    if bool(due) == bool(clear):
        raise click.UsageError("give exactly one of --date YYYY-MM-DD or --clear")
    value = None
    if due:
        try:
            value = dt.date.fromisoformat(due)
        except ValueError:
            raise InvalidInput(f"'{due}' is not a date; write it as YYYY-MM-DD", option="date") from None
    with c.session() as s:
        set_due_date(s, name=name, due_on=value, actor="cli")
    click.echo(f"round '{name}': " + (f"due {value:%Y-%m-%d}" if value else "no due date"))


@round_group.command("reassign")
@click.argument("name")
@click.option("--from", "source", required=True, help="Reviewer whose unlabeled threads move.")
@click.option("--to", "targets", required=True, help="Comma-separated reviewers who take them (existing accounts).")
@click.option("--count", type=int, help="Move only this many, from the end of their queue (default: all; replaces them).")
@pass_ctx
def round_reassign(c: Context, name, source, targets, count):
    """Move a reviewer's unlabeled threads to other reviewers, balanced (replace a reviewer, or rebalance)."""
    from annotator.services.rounds import reassign_unlabeled

    with c.session() as s:
        res = reassign_unlabeled(s, name=name, from_reviewer=source, to_reviewers=targets.split(","), count=count,
                                 actor="cli")
    given = ", ".join(f"{who}={n}" for who, n in res.moved.items())
    kept = f"; {res.kept} stayed with {source} (every target already had them)" if res.kept else ""
    click.echo(f"round '{name}': moved {res.n_moved} unlabeled threads from {source} ({given}){kept}")
