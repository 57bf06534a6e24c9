"""The `annotator` command line. Each command's docstring is its --help.

Every command creates or upgrades the schema of a new, empty database itself. Bad input prints
one line naming the file, row and field, exits with status 1 and leaves the database as it was.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click
from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from annotator.config import get_settings
from annotator.errors import AnnotatorError, InvalidInput, RowErrors

log = logging.getLogger("annotator")


class Context:
    def __init__(self, db: str | None):
        self.settings = get_settings(database_url=db)
        self._engine = None

    @property
    def engine(self):
        if self._engine is None:
            from annotator.data.engine import ensure_schema, make_engine

            self._engine = make_engine(self.settings.database_url)
            ensure_schema(self._engine)
        return self._engine

    def session(self):
        from annotator.data.engine import session_scope

        return session_scope(self.engine)


class Group(click.Group):
    """Turns user errors into one line on stderr and exit status 1, never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except AnnotatorError as exc:
            click.echo(f"error: {exc.cli_message()}", err=True)
            if isinstance(exc, RowErrors) and len(exc.problems) > 1:
                for row, field, reason in exc.problems[1:20]:
                    click.echo(f"  row {row}{f', field {field!r}' if field else ''}: {reason}", err=True)
                if len(exc.problems) > 20:
                    click.echo(f"  ... and {len(exc.problems) - 20} more", err=True)
            sys.exit(1)
        except ValidationError as exc:  # a bad setting in the environment or .env
            first = exc.errors()[0] if exc.errors() else {}
            name = ".".join(str(p) for p in first.get("loc", ())) or "?"
            click.echo(f"error: setting ANNOTATOR_{name.upper()}: {first.get('msg', 'invalid value')}", err=True)
            sys.exit(1)
        except OperationalError as exc:
            url = ctx.obj.settings.database_url if isinstance(ctx.obj, Context) else "?"
            safe = make_url(url).render_as_string(hide_password=True)
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "operational error"
            click.echo(f"error: database {safe}: {reason}", err=True)
            sys.exit(1)
        except SQLAlchemyError as exc:
            click.echo(f"error: database error ({type(exc).__name__}); nothing was changed", err=True)
            sys.exit(1)
        except OSError as exc:  # an unwritable --out/--report path or SQLite directory
            where = f": {exc.filename}" if exc.filename else ""
            reason = exc.strerror or (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            click.echo(f"error: {reason}{where}", err=True)
            sys.exit(1)


pass_ctx = click.make_pass_decorator(Context)


@click.group(cls=Group)
@click.option("--db", envvar="ANNOTATOR_DATABASE_URL", default=None,
              help="Database URL (default: SQLite file db/annotator.sqlite3; or postgresql://user@host/db).")
@click.option("-v", "--verbose", is_flag=True, help="Log progress to stderr.")
@click.version_option(package_name="annotator")
@click.pass_context
def cli(ctx, db, verbose):
    """annotator: find out what staff use an LLM chat tool for."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    ctx.obj = Context(db)


@cli.command()
@pass_ctx
def init(c: Context):
    """Create the database schema, or upgrade it to the newest version."""
    from annotator.data.engine import upgrade

    from annotator.data.engine import make_engine

    engine = make_engine(c.settings.database_url)
    upgrade(engine)
    click.echo(f"schema is current: {make_url(c.settings.database_url).render_as_string(hide_password=True)}")


@cli.command("import-threads")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--map", "mapping", help="Column mapping FIELD=COLUMN,... (fields: thread_id, text, user_id, role, department, "
                                       "created_at; with --messages also sender and position).")
@click.option("--messages", is_flag=True, help="One row per message: assemble one thread per conversation (thread_id) "
                                               "from its user messages in order (position).")
@click.option("--user-senders", help="With --messages: sender values meaning the user (default: user,human).")
@click.option("--assistant-senders", help="With --messages: sender values meaning the assistant "
                                          "(default: assistant,gpt,bot,model,ai,chatbot).")
@click.option("--system-senders", help="With --messages: sender values meaning system/tool messages "
                                       "(default: system,developer,tool,function).")
@click.option("--keep-assistant", is_flag=True, help="Keep assistant turns in the assembled text ('assistant: ...').")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl", "json", "xlsx", "parquet"]),
              help="Override the format guessed from the file name.")
@click.option("--truncate-at", type=int, default=None, help="Truncate texts longer than this many characters (default 32000).")
@click.option("--strict", is_flag=True, help="Import nothing if any row is bad.")
@click.option("--update", "update_changed", is_flag=True,
              help="Replace the stored text of threads whose text changed, if they carry no labels yet.")
@click.option("--dry-run", is_flag=True, help="Read and check everything, show the preview, write nothing.")
@click.option("--report", "report_path", type=click.Path(path_type=Path), help="Write every skipped row (row, field, reason) to this CSV.")
@pass_ctx
def import_threads_cmd(c: Context, file, mapping, messages, user_senders, assistant_senders, system_senders,
                       keep_assistant, fmt, truncate_at, strict, update_changed, dry_run, report_path):
    """Import threads from a CSV, JSONL, XLSX or Parquet export (idempotent on thread_id), a message log
    (--messages) or a conversation file (OpenAI 'messages' / ShareGPT 'conversations' JSON, detected by itself)."""
    from annotator.importing import FIELDS, MESSAGE_FIELDS, parse_mapping
    from annotator.importing.messages import MessageOptions, SenderValues
    from annotator.reports.imports import preview_lines, problems_csv
    from annotator.services.threads import import_threads

    if report_path and not Path(report_path).resolve().parent.is_dir():
        raise InvalidInput(f"--report: the folder of {report_path} does not exist; nothing was imported")
    if not messages and (user_senders or assistant_senders or system_senders or keep_assistant):
        raise click.UsageError("--user-senders, --assistant-senders, --system-senders and --keep-assistant go with "
                               "--messages")
    options = MessageOptions(SenderValues.parse(user_senders, assistant_senders, system_senders), keep_assistant)
    report = import_threads(c.engine, file, mapping=parse_mapping(mapping, fields=MESSAGE_FIELDS if messages else FIELDS),
                            fmt=fmt, truncate_at=truncate_at or c.settings.truncate_at, strict=strict,
                            messages=messages, options=options, update_changed=update_changed, dry_run=dry_run)
    if dry_run:
        for line in preview_lines(report):
            click.echo(line)
    else:
        click.echo(report.summary())
        for note in report.notes:
            click.echo(f"  note: {note}", err=True)
        for row, ext in report.changed[:20]:
            what = ("updated" if (row, ext) in set(report.updated) else
                    "kept (it has labels)" if (row, ext) in set(report.kept_labeled) else "kept (use --update to replace)")
            click.echo(f"  changed text: row {row}, thread {ext!r}: {what}", err=True)
        if len(report.changed) > 20:
            click.echo(f"  ... and {len(report.changed) - 20} more changed threads", err=True)
    if report.problems:
        for p in report.problems[:20]:
            click.echo(f"  skipped row {p.row}{f', field {p.field!r}' if p.field else ''}: {p.reason}", err=True)
        if len(report.problems) > 20:
            click.echo(f"  ... and {len(report.problems) - 20} more (use --report FILE for all)", err=True)
    if report_path:
        Path(report_path).write_text(problems_csv(report.problems), encoding="utf-8")


@cli.command("import-codebook")
@click.argument("file", type=click.Path(path_type=Path))
@pass_ctx
def import_codebook_cmd(c: Context, file):
    """Load a codebook (YAML or JSON) as a new version (nothing changes if it equals the newest)."""
    from annotator.services.codebook import import_codebook

    with c.session() as s:
        version, created = import_codebook(s, file)
        click.echo(f"codebook version {version.version} {'created' if created else 'unchanged (same as newest)'}")


@cli.command("export-codebook")
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
@click.option("--version", "version", type=int, help="Codebook version (default: newest).")
@click.option("--out", type=click.Path(path_type=Path), help="Output file (default: standard output).")
@pass_ctx
def export_codebook_cmd(c: Context, fmt, version, out):
    """Write the codebook in the format import-codebook reads back."""
    from annotator.services.codebook import export_codebook

    with c.session() as s:
        text = export_codebook(s, fmt=fmt, version=version)
    if out:
        Path(out).write_text(text, encoding="utf-8")
        click.echo(f"wrote {out}")
    else:
        click.echo(text, nl=False)


@cli.command()
@click.option("--round", "round_name", required=True, help="Name of the new round.")
@click.option("--size", type=int, required=True, help="Number of threads to sample.")
@click.option("--reviewers", required=True, help="Comma-separated reviewer usernames (created if missing).")
@click.option("--per-thread", type=int, default=3, show_default=True, help="Reviewers per thread (K).")
@click.option("--seed", type=int, required=True, help="Random seed (stored with the round).")
@click.option("--stratify", type=click.Choice(["department", "role", "role_group"]), help="Keep the corpus mix of this column.")
@click.option("--frequent-users-only", is_flag=True, help="Only threads of users with at least --min-user-threads threads.")
@click.option("--min-user-threads", type=int, default=6, show_default=True)
@click.option("--exclude-sampled", is_flag=True, help="Skip threads already in any round.")
@click.option("--codebook-version", type=int, help="Codebook version for the round (default: newest).")
@click.option("--acceptance", type=click.Choice(["unanimous", "majority"]), default="unanimous", show_default=True,
              help="Which agreement is accepted without adjudication.")
@click.option("--reveal", is_flag=True, help="After a blind label, show the model's label and record a second one.")
@pass_ctx
def sample(c: Context, round_name, size, reviewers, per_thread, seed, stratify, frequent_users_only, min_user_threads,
           exclude_sampled, codebook_version, acceptance, reveal):
    """Draw a seeded random sample into a new labeling round, K reviewers per thread."""
    from annotator.services.rounds import create_sampled_round

    with c.session() as s:
        res = create_sampled_round(
            s, name=round_name, size=size, reviewers=reviewers.split(","), per_thread=per_thread, seed=seed,
            stratify=stratify, frequent_users_only=frequent_users_only, min_user_threads=min_user_threads,
            exclude_sampled=exclude_sampled, codebook_version=codebook_version, acceptance_rule=acceptance,
            reveal_enabled=reveal)
    loads = ", ".join(f"{r}={n}" for r, n in sorted(res.per_reviewer.items()))
    click.echo(f"round '{round_name}': {res.n_threads} threads, {res.n_assignments} assignments ({loads})")


@cli.command("import-labels")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--round", "round_name", required=True, help="Round name (created if it does not exist).")
@pass_ctx
def import_labels_cmd(c: Context, file, round_name):
    """Import a long CSV thread_id,reviewer,category[,note,unsure,seconds_spent] into a round."""
    from annotator.services.rounds import import_labels

    with c.session() as s:
        res = import_labels(s, file, round_name=round_name)
    extra = f"; new reviewer accounts (no password): {', '.join(res.new_reviewers)}" if res.new_reviewers else ""
    click.echo(f"round '{round_name}'{' (created)' if res.created_round else ''}: {res.inserted} labels added, "
               f"{res.updated} changed, {res.unchanged} unchanged{extra}")


@cli.command("import-decisions")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--round", "round_name", required=True, help="Round whose pending threads the decisions settle.")
@pass_ctx
def import_decisions_cmd(c: Context, file, round_name):
    """Record lead decisions from a CSV thread_id,category[,rationale,decided_by] (e.g. a consensus meeting's
    sheet, or 'export consensus' output with pending rows filled in); empty categories stay pending."""
    from annotator.services.adjudication import import_decisions

    with c.session() as s:
        res = import_decisions(s, file, round_name=round_name)
    click.echo(f"round '{round_name}': {res.recorded} decisions recorded, {res.unchanged} unchanged, "
               f"{res.blank} rows without a category left pending; {res.still_pending} threads still pending")


@cli.group(cls=Group)
def export():
    """Export labels, consensus labels or model predictions."""


@export.command("labels")
@click.option("--round", "round_name", required=True)
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl", "parquet"]), default="csv", show_default=True)
@click.option("--out", type=click.Path(path_type=Path), required=True)
@pass_ctx
def export_labels(c: Context, round_name, fmt, out):
    """Write every label of a round (reviewer, category, note, unsure, time spent)."""
    from annotator.services.rounds import labels_frame
    from annotator.services.tables import write_frame

    with c.session() as s:
        df = labels_frame(s, round_name)
    write_frame(df, fmt, out)
    click.echo(f"wrote {len(df)} labels to {out}")


@export.command("consensus")
@click.option("--round", "round_name", required=True)
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl", "parquet"]), default="csv", show_default=True)
@click.option("--out", type=click.Path(path_type=Path), required=True)
@pass_ctx
def export_consensus(c: Context, round_name, fmt, out):
    """Write every sampled thread with its final label, how and by whom it was decided, or why it is pending
    (the CSV reads back with import-decisions once pending rows have a category)."""
    from annotator.services.consensus import read_consensus
    from annotator.services.tables import write_frame

    with c.session() as s:
        df = read_consensus(s, [round_name]).frame()
    write_frame(df, fmt, out)
    decided = int((df["status"] == "decided").sum())
    click.echo(f"wrote {len(df)} threads to {out} ({decided} decided, {len(df) - decided} pending)")


def _write_report(text, out: Path | None) -> None:
    if out is None:
        click.echo(text if isinstance(text, str) else text.decode("utf-8"), nl=False)
        return
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    click.echo(f"wrote {out}")


@cli.group(cls=Group)
def report():
    """Publishable reports: agreement, model against consensus, prevalence."""


@report.command("agreement")
@click.option("--round", "rounds", multiple=True, required=True, help="Round name (repeat for several rounds together).")
@click.option("--format", "fmt", type=click.Choice(["json", "csv", "md", "html"]), default="json", show_default=True)
@click.option("--out", type=click.Path(path_type=Path), help="Output file (default: standard output).")
@click.option("--boot", "n_boot", type=int, default=1000, show_default=True, help="Bootstrap resamples for the CIs.")
@click.option("--seed", type=int, default=0, show_default=True, help="Bootstrap seed (stored in the report).")
@click.option("--exclude-reviewer", "excluded", multiple=True,
              help="Leave this reviewer's labels out (repeat for several), e.g. one who labelled too few threads.")
@click.option("--interval", type=click.Choice(["bca", "percentile"]), default="bca", show_default=True,
              help="Bootstrap interval: bias-corrected and accelerated, or plain percentile.")
@pass_ctx
def report_agreement(c: Context, rounds, fmt, out, n_boot, seed, excluded, interval):
    """Inter-rater agreement of the independent labels: alpha, Fleiss, AC1, PABAK, kappas with 95% intervals, per
    category, each reviewer against the others (leave-one-out), and how complete the gold standard is."""
    from annotator.reports.agreement import render_agreement
    from annotator.services.agreement import agreement_for_rounds

    with c.session() as s:
        rep = agreement_for_rounds(s, list(rounds), n_boot=n_boot, seed=seed, exclude_reviewers=excluded,
                                   interval=interval)
    _write_report(render_agreement(rep, fmt, title=f"Inter-rater agreement: {', '.join(rounds)}",
                                   resolution=rep["resolution"]), out)


@report.command("model")
@click.option("--run", "run_ref", default="latest", show_default=True, help="Run id, or 'latest'.")
@click.option("--round", "round_name", help="Round whose consensus to compare with (default: the run's round).")
@click.option("--against-run", help="Compare with another run instead of the consensus (two models or codebook versions).")
@click.option("--format", "fmt", type=click.Choice(["json", "csv", "md", "html"]), default="json", show_default=True)
@click.option("--out", type=click.Path(path_type=Path), help="Output file (default: standard output).")
@click.option("--boot", "n_boot", type=int, default=1000, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--allow-pending", is_flag=True,
              help="Score the decided threads even while others are pending (not a random sample; the report says so).")
@click.option("--exclude-reviewer", "excluded", multiple=True, help="Leave this reviewer's labels out (repeatable).")
@pass_ctx
def report_model(c: Context, run_ref, round_name, against_run, fmt, out, n_boot, seed, allow_pending, excluded):
    """The model against the final labels (out of sample) and as another reviewer: accuracy, F1, kappa with CIs,
    the model's agreement with reviewers beside theirs with each other, confusion matrix."""
    from annotator.reports.model import render_model_report
    from annotator.services.model_eval import compare_run, compare_two_runs

    with c.session() as s:
        if against_run:
            rep = compare_two_runs(s, run_ref, against_run)
            if fmt != "json":
                raise click.UsageError("--against-run writes JSON only")
            _write_report(json.dumps(rep, indent=2, allow_nan=False) + "\n", out)
            return
        rep = compare_run(s, run_ref, round_name=round_name, n_boot=n_boot, seed=seed, allow_pending=allow_pending,
                          exclude_reviewers=excluded)
    title = f"Model run {rep['run_id']} ({rep['model']}) against the final labels of {rep['round']}"
    _write_report(render_model_report(rep, fmt, title=title), out)


@export.command("predictions")
@click.option("--run", "run_ref", default="latest", show_default=True, help="Run id, or 'latest'.")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl", "parquet"]), default="csv", show_default=True)
@click.option("--out", type=click.Path(path_type=Path), required=True)
@pass_ctx
def export_predictions(c: Context, run_ref, fmt, out):
    """Write a run's predictions: thread_id, category, status, rationale, confidence, tokens."""
    from annotator.services.classify import resolve_run
    from annotator.services.model_eval import predictions_frame
    from annotator.services.tables import write_frame

    with c.session() as s:
        run = resolve_run(s, run_ref)
        df = predictions_frame(s, run)
    write_frame(df, fmt, out)
    click.echo(f"wrote {len(df)} predictions of run {run.id} to {out}")


@cli.command()
@click.option("--thread", "thread_id", required=True, help="External thread id.")
@click.option("--codebook-version", type=int, help="Codebook version (default: newest).")
@pass_ctx
def prompt(c: Context, thread_id, codebook_version):
    """Show the exact prompt a thread is classified with."""
    from annotator.services.classify import prompt_text

    with c.session() as s:
        click.echo(prompt_text(s, thread_external_id=thread_id, version=codebook_version))


@cli.command()
@click.option("--round", "round_name", help="Classify the threads of this round.")
@click.option("--all", "all_threads", is_flag=True, help="Classify every thread of the corpus.")
@click.option("--backend", type=click.Choice(["openai", "azure", "local"]), default="openai", show_default=True,
              help="openai: OpenAI or any OpenAI-compatible server (--base-url); azure: Azure OpenAI; local: scikit-learn.")
@click.option("--model", help="Model name (default: ANNOTATOR_LLM_MODEL or gpt-4o); for Azure, the deployment's model.")
@click.option("--base-url", help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1 (vLLM, Ollama, LM Studio).")
@click.option("--concurrency", type=int, help="Requests in flight (default: ANNOTATOR_LLM_CONCURRENCY or 8).")
@click.option("--codebook-version", type=int, help="Codebook version for the prompt (default: newest).")
@click.option("--limit", type=int, help="Classify at most this many threads.")
@click.option("--dry-run", is_flag=True, help="Print requests, estimated tokens and cost; send nothing.")
@click.option("--batch", is_flag=True, help="Use the Batch API (half price; results within 24 h). Rerun to resume.")
@click.option("--no-wait", is_flag=True, help="With --batch: submit or poll once and return.")
@click.option("--poll-seconds", type=float, default=30.0, show_default=True, help="With --batch: seconds between polls.")
@click.option("--retry-failed", is_flag=True, help="Ask again for threads whose earlier answer failed.")
@click.option("--train-round", "train_rounds", multiple=True, help="local: rounds whose consensus trains the model (default: all).")
@pass_ctx
def classify(c: Context, round_name, all_threads, backend, model, base_url, concurrency, codebook_version, limit,
             dry_run, batch, no_wait, poll_seconds, retry_failed, train_rounds):
    """Classify threads with GPT-4o (or any OpenAI-compatible / Azure model) or the local model."""
    from annotator.services import classify as svc

    if bool(round_name) == bool(all_threads):
        raise click.UsageError("give exactly one of --round NAME or --all")
    if (no_wait or poll_seconds != 30.0) and not batch:
        raise click.UsageError("--no-wait and --poll-seconds go with --batch")
    if backend == "local":
        if dry_run:
            click.echo("local backend: no requests, no cost")
            return
        res = svc.classify_local(c.engine, round_name=round_name, train_rounds=list(train_rounds) or None,
                                 version=codebook_version, limit=limit)
        click.echo(f"run {res.run_id}: {res.n_threads} threads classified locally in {res.elapsed_s:.1f} s")
        return
    settings = c.settings
    if dry_run:  # an estimate sends nothing, so it needs no API key
        with c.session() as s:
            plan = svc.plan_run(s, backend=backend, model=model or settings.llm_model,
                                base_url=base_url or settings.llm_base_url, round_name=round_name,
                                version=codebook_version, limit=limit, batch=batch, retry_failed=retry_failed,
                                price_table=settings.price_table, create=False)
        cost = f"${plan.est_cost_usd:,.2f}" if plan.est_cost_usd is not None else f"unknown ({plan.cost_note})"
        click.echo(f"dry run: {plan.n_threads} threads, {plan.n_cached} answered before (cache), "
                   f"{len(plan.to_request)} requests, ~{plan.est_prompt_tokens:,} prompt + "
                   f"~{plan.est_completion_tokens:,} completion tokens, estimated cost {cost}"
                   f"{' (batch price)' if batch else ''}; nothing was sent")
        return
    cfg = svc.llm_config(settings, model=model, base_url=base_url, provider=backend)
    if batch:
        from annotator.llm.batch import BATCH_BYTE_MARGIN

        res = svc.classify_batch(c.engine, cfg, round_name=round_name, version=codebook_version, limit=limit,
                                 retry_failed=retry_failed, price_table=settings.price_table, wait=not no_wait,
                                 poll_seconds=poll_seconds, max_batch_requests=settings.batch_max_requests,
                                 max_batch_bytes=int(settings.batch_max_bytes * BATCH_BYTE_MARGIN))
    else:
        with click.progressbar(length=1, label="classifying", file=sys.stderr) as bar:
            state = {"total": None}

            def progress(done, total):
                if total and state["total"] is None:
                    state["total"] = total
                    bar.length = total
                bar.update(1)

            res = svc.classify_llm(c.engine, cfg, round_name=round_name, version=codebook_version, limit=limit,
                                   concurrency=concurrency or settings.llm_concurrency, retry_failed=retry_failed,
                                   price_table=settings.price_table, on_progress=progress)
    cost = f"${res.cost_usd:,.4f}" if res.cost_usd is not None else "unknown (no price for this model)"
    click.echo(f"run {res.run_id} ({res.status}): {res.n_threads} threads, {res.n_cached} from cache, "
               f"{res.n_requested} asked, {res.ok} ok, {res.failed} failed, {res.requests} requests, "
               f"{res.prompt_tokens:,}+{res.completion_tokens:,} tokens, cost {cost}, {res.elapsed_s:.1f} s")


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["json", "text"]), default="text", show_default=True)
@pass_ctx
def status(c: Context, fmt):
    """What the database holds: threads, truncated threads, rounds, labels, reviewers, codebook version."""
    from annotator.services.status import status as get_status

    with c.session() as s:
        st = get_status(s)
    if fmt == "json":
        click.echo(json.dumps(st, indent=2))
    else:
        for k, v in st.items():
            click.echo(f"{k:>18}: {v}")


@cli.command("create-account")
@click.argument("username")
@click.option("--role", type=click.Choice(["reviewer", "lead", "admin"]), default="reviewer", show_default=True)
@click.option("--name", "display_name", default="", help="Display name.")
@click.option("--adjudicator", is_flag=True, help="May act as the third reviewer whose decision is final.")
@click.password_option("--password", help="Password (prompted when omitted).")
@pass_ctx
def create_account_cmd(c: Context, username, role, display_name, adjudicator, password):
    """Create an account that can sign in to the app."""
    from annotator.services.accounts import create_account

    with c.session() as s:
        create_account(s, username=username, role=role, password=password, display_name=display_name,
                       is_adjudicator=adjudicator)
    click.echo(f"account '{username}' ({role}) created")


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0 for all; behind the hospital's TLS reverse proxy).")
@click.option("--port", type=int, default=8501, show_default=True)
@click.option("--demo", is_flag=True, help="Load sample data, the default codebook, demo accounts and demo rounds first.")
@click.option("--demo-on-network", is_flag=True,
              help="With --demo: allow a --host other than this computer (demo accounts are then reachable by others).")
@pass_ctx
def serve(c: Context, host, port, demo, demo_on_network):
    """Start the web app (Streamlit). With --demo, print the demo accounts' passwords.

    Demo mode exists only through --demo (not through the environment or .env): it signs sessions
    with a random secret made for this start, and listens only on this computer unless
    --demo-on-network is given. Without --demo, ANNOTATOR_SECRET_KEY must be at least 32 random
    bytes, and demo accounts are disabled."""
    import os
    import secrets

    from annotator.config import REPO_ROOT
    from annotator.services.demo import disable_demo_accounts, load_demo

    if demo_on_network and not demo:
        raise click.UsageError("--demo-on-network goes with --demo")
    env = dict(os.environ, ANNOTATOR_DATABASE_URL=c.settings.database_url)  # the app process inherits the settings
    env.pop("ANNOTATOR_DEMO", None)
    if demo:
        if not _is_loopback(host) and not demo_on_network:
            raise InvalidInput(f"--demo listens only on this computer (127.0.0.1), not {host}: the demo's accounts and "
                               "data are for trying the app; add --demo-on-network to expose it anyway")
        env["ANNOTATOR_SECRET_KEY"] = secrets.token_urlsafe(48)  # new on every demo start; never in the source
        creds = load_demo(c.engine, password=c.settings.demo_password)
        click.echo("Demo accounts (passwords are new on every demo start):")
        for user, pw in creds.items():
            click.echo(f"  {user:<12} {pw}")
    else:
        c.settings.signing_key()  # refuses to start without a real secret
        disabled = disable_demo_accounts(c.engine)
        if disabled:
            click.echo(f"demo accounts disabled outside demo mode: {', '.join(disabled)}")
    click.echo(f"annotator on http://{host}:{port}", err=False)
    sys.stdout.flush()
    app = str(REPO_ROOT / "annotator" / "asgi.py")  # st.App: app.py plus the HttpOnly session-cookie route
    args = [sys.executable, "-m", "streamlit", "run", app, "--server.address", host, "--server.port", str(port),
            "--server.headless", "true", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
            "--client.showErrorDetails", "none", "--client.toolbarMode", "minimal", "--theme.base", "light",
            "--theme.primaryColor", "#1f6f8b"]
    os.execve(sys.executable, args, env)


def main() -> None:
    cli(prog_name="annotator")


if __name__ == "__main__":  # `python -m annotator.cli`: run the imported module, where every command is registered
    from annotator.cli import main as _main

    _main()


# Commands defined in their own modules register themselves on the groups above.
from annotator import cli_codebook, cli_data, cli_insights, cli_rounds  # noqa: E402,F401
