"""CLI commands for the usage dashboard: the prevalence report and the alert check (registered on annotator.cli)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from annotator.cli import Context, _write_report, cli, pass_ctx, report


@report.command("prevalence")
@click.option("--run", "run_ref", default="latest", show_default=True, help="Run id, or 'latest'.")
@click.option("--round", "rounds", multiple=True,
              help="Round whose consensus corrects the model (repeat for several; default: every round).")
@click.option("--method", type=click.Choice(["ppi", "confusion"]), default="ppi", show_default=True,
              help="ppi: prediction-powered inference; confusion: confusion-matrix correction.")
@click.option("--simultaneous", is_flag=True,
              help="Bonferroni intervals that hold for all categories together (each at 1 - 0.05/K).")
@click.option("--format", "fmt", type=click.Choice(["json", "md", "html"]), default="json", show_default=True)
@click.option("--out", type=click.Path(path_type=Path), help="Output file (default: standard output).")
@click.option("--allow-pending", is_flag=True,
              help="Estimate from the decided threads even while others are pending (not a random sample; said first).")
@pass_ctx
def report_prevalence(c: Context, run_ref, rounds, method, simultaneous, fmt, out, allow_pending):
    """Category shares of all threads: the model's counts corrected with the rounds' final labels, with CIs
    (refused while a sampled thread is pending, unless --allow-pending)."""
    from annotator.reports.prevalence import render_prevalence
    from annotator.services.prevalence import prevalence_for

    with c.session() as s:
        result = prevalence_for(s, run_id=run_ref, round_names=list(rounds) or None, method=method,
                                simultaneous=simultaneous, allow_pending=allow_pending)
    title = (f"Prevalence of task categories: model run {result['run_id']} ({result['model']}) "
             f"corrected with the consensus of {', '.join(result['rounds']) or 'no round'}")
    text = render_prevalence(result, fmt, title=title)
    _write_report(text if text.endswith("\n") else text + "\n", out)


@cli.command("plan-sample")
@click.option("--run", "run_ref", default="latest", show_default=True, help="Run id, or 'latest'.")
@click.option("--category", required=True, help="Category whose share the next sample should pin down.")
@click.option("--width", type=float, required=True, help="Full width of the interval, as a share (0.05 = 5 points).")
@click.option("--level", type=float, default=0.95, show_default=True, help="Confidence level.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@pass_ctx
def plan_sample_cmd(c: Context, run_ref, category, width, level, fmt):
    """How many human labels a target interval width on one category's share needs (random vs stratified)."""
    from annotator.services.planning import plan_sample, plan_text

    with c.session() as s:
        plan = plan_sample(s, run_id=run_ref, category=category, width=width, level=level)
    if fmt == "json":
        click.echo(json.dumps(plan, indent=2, allow_nan=False, ensure_ascii=False))
    else:
        click.echo(plan_text(plan), nl=False)


@cli.command()
@click.option("--run", "run_ref", default=None,
              help="Run id or 'latest' (default: the dashboard's run, else the newest run over all threads).")
@click.option("--format", "fmt", type=click.Choice(["json", "text"]), default="json", show_default=True)
@pass_ctx
def alerts(c: Context, run_ref, fmt):
    """Evaluate the active alert rules; print each rule's triggered periods (JSON list) for a scheduler.

    Labels are the dashboard's: consensus where it exists, the run's predictions elsewhere.
    Exits 0 whether or not a rule fired.
    """
    from annotator.services.alerts import alerts_text, evaluate_all
    from annotator.services.classify import resolve_run
    from annotator.services.dashboard import default_run_id

    with c.session() as s:
        run_id = resolve_run(s, run_ref).id if run_ref else default_run_id(s)
        results = evaluate_all(s, run_id=run_id)
    if fmt == "json":
        click.echo(json.dumps(results, indent=2, allow_nan=False, ensure_ascii=False))
    else:
        click.echo(alerts_text(results), nl=False)
