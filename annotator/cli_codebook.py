"""CLI commands for codebook refinement (registered on annotator.cli): candidate examples, names for
"Other" threads and their groups, and the comparison of codebook versions."""

from __future__ import annotations

import click

from annotator.cli import Context, cli, pass_ctx


def _llm(c: Context, backend: str, model: str | None, base_url: str | None):
    """The LLM endpoint for the openai backend (None for local); the key comes from Settings only."""
    if backend == "local":
        return None
    from annotator.services.classify import llm_config

    return llm_config(c.settings, model=model, base_url=base_url)


def _short(text: str, width: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


@cli.command()
@click.option("--category", required=True, help="Category name in the codebook version.")
@click.option("--backend", type=click.Choice(["openai", "local"]), default="openai", show_default=True,
              help="openai: the LLM writes example messages, then classifies them; local: consensus threads nearest "
                   "the category's centroid, classified by the local model.")
@click.option("-n", "--n", "n", type=int, default=5, show_default=True, help="Candidates to propose (1-20).")
@click.option("--codebook-version", type=int, help="Codebook version (default: newest).")
@click.option("--model", help="LLM model (default: ANNOTATOR_LLM_MODEL or gpt-4o).")
@click.option("--base-url", help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the local model.")
@pass_ctx
def candidates(c: Context, category, backend, n, codebook_version, model, base_url, seed):
    """Propose candidate example messages for a category; reviewers vote on them in the app."""
    from annotator.services.refine import propose_candidates

    cfg = _llm(c, backend, model, base_url)
    with c.session() as s:
        rows = propose_candidates(s, category=category, version=codebook_version, backend=backend, cfg=cfg, n=n,
                                  actor="cli", seed=seed)
    fit = sum(r.classified_as == category for r in rows)
    click.echo(f"{len(rows)} new candidates for '{category}' ({backend}); {fit} classified as '{category}'")
    for r in rows:
        click.echo(f"  #{r.id} [{r.classified_as or 'unclassified'}] {_short(r.text)}")


@cli.command("suggest-other")
@click.option("--round", "round_name", help="Threads the round's consensus labeled Other.")
@click.option("--run", "run_id", type=int, help="Threads a model run labeled Other.")
@click.option("--backend", type=click.Choice(["openai", "local"]), default="openai", show_default=True,
              help="openai: the LLM suggests a name; local: the thread's top TF-IDF terms.")
@click.option("--model", help="LLM model (default: ANNOTATOR_LLM_MODEL or gpt-4o).")
@click.option("--base-url", help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1.")
@click.option("--k", type=int, help="Number of groups (default: chosen by silhouette).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the clustering.")
@pass_ctx
def suggest_other(c: Context, round_name, run_id, backend, model, base_url, k, seed):
    """Suggest a category name for each thread labeled Other, then group the names into proposed categories."""
    from annotator.services.refine import group_suggestions, suggest_other_names

    if (round_name is None) == (run_id is None):
        raise click.UsageError("give exactly one of --round NAME or --run ID")
    cfg = _llm(c, backend, model, base_url)
    with c.session() as s:
        res = suggest_other_names(s, round_name=round_name, run_id=run_id, cfg=cfg, backend=backend, actor="cli")
        groups = group_suggestions(s, res.source, k=k, seed=seed)
    click.echo(f"{res.source}: {res.n_other} threads labeled Other, {res.n_cached} named before, "
               f"{res.n_new} named now, {res.n_failed} failed; {len(groups)} proposed categories")
    for g in groups:
        others = ", ".join(f"{name} ({n})" for name, n in g["names"][1:4])
        click.echo(f"  {g['n']:>4}  {g['name']}" + (f"  (also: {others})" if others else ""))


@cli.command()
@click.option("--n-boot", type=int, default=500, show_default=True, help="Bootstrap resamples for alpha's CI.")
@click.option("--seed", type=int, default=0, show_default=True, help="Bootstrap seed.")
@click.option("--format", "fmt", type=click.Choice(["text", "csv", "json"]), default="text", show_default=True)
@click.option("--allow-pending", is_flag=True,
              help="Score models on the decided threads even while others are pending (not a random sample).")
@pass_ctx
def versions(c: Context, n_boot, seed, fmt, allow_pending):
    """Compare codebook versions: reviewers' alpha (95% CI) and the model against the final labels (out of fold)."""
    from annotator.services.refine import version_comparison

    with c.session() as s:
        table = version_comparison(s, n_boot=n_boot, seed=seed, allow_pending=allow_pending)
    if fmt == "csv":
        from annotator.spreadsheet import csv_bytes

        click.echo(csv_bytes(table).decode("utf-8"), nl=False)
    elif fmt == "json":
        click.echo(table.to_json(orient="records", indent=2))
    elif table.empty:
        click.echo("no codebook versions yet")
    else:
        import pandas as pd

        num = lambda v: "—" if pd.isna(v) else f"{v:.3f}"  # noqa: E731
        click.echo(f"{'version':>7}  {'alpha (95% CI)':<24}  {'accuracy':>8}  {'macro F1':>8}  {'kappa':>6}  "
                   "rounds / run")
        for r in table.to_dict("records"):
            ci = f"{num(r['alpha'])} ({num(r['alpha_ci_low'])}–{num(r['alpha_ci_high'])})"
            run = "no run" if pd.isna(r["run_id"]) else f"run {int(r['run_id'])} on {r['model_round']}"
            click.echo(f"{r['version']:>7}  {ci:<24}  {num(r['accuracy']):>8}  {num(r['macro_f1']):>8}  "
                       f"{num(r['kappa']):>6}  {r['rounds'] or '—'} / {run}")
            if r["note"]:
                click.echo(f"{'':>9}{r['note']}")
