"""Model runs: classify threads with an OpenAI-compatible / Azure model or the local scikit-learn model.

Every answer is stored as it arrives (one short transaction each), so a killed run resumes without
asking again. Answers are cached by prompt hash (template version, model, codebook content, thread
text): a rerun with nothing changed sends no request. API keys come from Settings only and are
never stored or logged.
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from annotator.config import Settings
from annotator.data.models import Assignment, CodebookVersion, ModelRun, Prediction, Thread, utcnow
from annotator.errors import InvalidInput, NotFound
from annotator.llm.client import LLMConfig, Outcome, run_classification
from annotator.llm.pricing import estimate_cost, estimate_prompt_tokens, load_price_table
from annotator.llm.prompt import (PROMPT_TEMPLATE_VERSION, CategorySpec, build_messages, category_names as prompt_names,
                                  codebook_hash, prompt_hasher, render_prompt_text)
from annotator.services import audit
from annotator.services.codebook import list_categories, require_version
from annotator.services.rounds import require_round

log = logging.getLogger(__name__)
CHUNK = 1000
EXPECTED_COMPLETION_TOKENS = 40


def specs_for(session: Session, version_id: int) -> list[CategorySpec]:
    return [CategorySpec(c.name, c.definition, list(c.examples or [])) for c in list_categories(session, version_id)]


def llm_config(settings: Settings, *, model: str | None = None, base_url: str | None = None,
               provider: str | None = None, concurrency: int | None = None) -> LLMConfig:
    """The endpoint from Settings (environment), overridable per run. The key never leaves memory."""
    provider = provider or settings.llm_provider
    key = settings.azure_api_key if provider == "azure" else settings.openai_api_key
    base = base_url or settings.llm_base_url
    if not key and base:
        key = "not-needed"  # local OpenAI-compatible servers (vLLM, Ollama, LM Studio) ignore the key
    if not key:
        env = "AZURE_OPENAI_API_KEY" if provider == "azure" else "OPENAI_API_KEY"
        raise InvalidInput(f"no API key: set {env} in the server's environment, or set ANNOTATOR_LLM_BASE_URL to a "
                           "local OpenAI-compatible server",
                           cli=f"no API key: set {env} in the environment (or use --base-url for a local server)")
    return LLMConfig(provider=provider, model=model or settings.llm_model, base_url=base, api_key=key,
                     azure_endpoint=settings.azure_endpoint, azure_deployment=settings.azure_deployment,
                     api_version=settings.azure_api_version, timeout=settings.llm_timeout)


def prompt_text(session: Session, *, thread_external_id: str, version: int | None = None) -> str:
    """The exact prompt a thread is classified with under a codebook version."""
    cb = require_version(session, version)
    thread = session.execute(select(Thread).where(Thread.external_id == thread_external_id)).scalars().first()
    if thread is None:
        raise NotFound(f"no thread '{thread_external_id}'")
    return render_prompt_text(build_messages(specs_for(session, cb.id), thread.text))


def _scope_ids(session: Session, round_name: str | None, limit: int | None) -> tuple[str, list[int]]:
    if round_name:
        rnd = require_round(session, round_name)
        stmt = select(Assignment.thread_id).where(Assignment.round_id == rnd.id).distinct().order_by(Assignment.thread_id)
        scope = f"round:{round_name}"
    else:
        stmt = select(Thread.id).order_by(Thread.id)
        scope = "all"
    if limit:
        stmt = stmt.limit(limit)
    return scope, list(session.execute(stmt).scalars())


@dataclass
class Plan:
    run: ModelRun | None
    scope: str
    n_threads: int
    n_cached: int
    to_request: list[int] = field(default_factory=list)
    est_prompt_tokens: int = 0
    est_completion_tokens: int = 0
    est_cost_usd: float | None = None
    cost_note: str | None = None


def _find_or_create_run(session: Session, *, backend: str, cfg_model: str, base_url: str | None, version: CodebookVersion,
                        cb_hash: str, scope: str, params: dict, create: bool) -> ModelRun | None:
    """An unfinished run with the same parameters is resumed; otherwise a new one starts."""
    existing = session.execute(select(ModelRun).where(
        ModelRun.backend == backend, ModelRun.model == cfg_model, ModelRun.codebook_hash == cb_hash,
        ModelRun.scope == scope, ModelRun.prompt_template_version == PROMPT_TEMPLATE_VERSION,
        ModelRun.status.in_(["running", "batch_pending"])).order_by(ModelRun.id.desc())).scalars().first()
    if existing or not create:
        return existing
    run = ModelRun(backend=backend, model=cfg_model, base_url=base_url, codebook_version_id=version.id,
                   prompt_template_version=PROMPT_TEMPLATE_VERSION, codebook_hash=cb_hash, scope=scope, params=params)
    session.add(run)
    session.flush()
    audit.record(session, actor=params.get("actor", "cli"), action="model_run_started", entity="model_run",
                 entity_id=run.id, detail={"backend": backend, "model": cfg_model, "scope": scope})
    session.commit()
    return run


def plan_run(session: Session, *, backend: str, model: str, base_url: str | None = None, round_name: str | None = None,
             version: int | None = None, limit: int | None = None, batch: bool = False, retry_failed: bool = False,
             price_table: str | None = None, create: bool = True, actor: str = "cli") -> Plan:
    """Decide what to ask: copy cached answers into the run, list the threads still needing a request.

    The cache serves, per prompt hash, the newest ok answer, else the newest failed one (never with
    retry_failed). With create=False (a dry run) nothing is written.
    """
    cb = require_version(session, version)
    specs = specs_for(session, cb.id)
    cb_hash = codebook_hash(specs)
    hasher = prompt_hasher(model, specs)
    scope, ids = _scope_ids(session, round_name, limit)
    if not ids:
        raise InvalidInput("no threads to classify: import threads (or check the round)")
    run = _find_or_create_run(session, backend=backend, cfg_model=model, base_url=base_url, version=cb, cb_hash=cb_hash,
                              scope=scope, params={"limit": limit, "batch": batch, "actor": actor}, create=create)
    plan = Plan(run=run, scope=scope, n_threads=len(ids), n_cached=0)
    done_in_run: set[int] = set()
    if run is not None:
        done_in_run = set(session.execute(select(Prediction.thread_id).where(Prediction.run_id == run.id)).scalars())
    for start in range(0, len(ids), CHUNK):
        chunk = [t for t in ids[start:start + CHUNK] if t not in done_in_run]
        if not chunk:
            continue
        texts = dict(session.execute(select(Thread.id, Thread.text).where(Thread.id.in_(chunk))).all())
        keys = {tid: hasher(texts[tid]) for tid in chunk}
        cached: dict[str, Prediction] = {}
        key_list = list(set(keys.values()))
        stmt = select(Prediction).where(Prediction.cache_key.in_(key_list), Prediction.cached == False)  # noqa: E712
        if retry_failed:  # failed answers are asked again; by default they are not paid for twice
            stmt = stmt.where(Prediction.status == "ok")
        for p in session.execute(stmt.order_by(Prediction.id.desc())).scalars():  # newest first
            best = cached.get(p.cache_key)
            if best is None or (best.status != "ok" and p.status == "ok"):  # a good answer beats a failed one
                cached[p.cache_key] = p
        rows = []
        for tid in chunk:
            hit = cached.get(keys[tid])
            if hit is not None:
                plan.n_cached += 1
                rows.append(dict(run_id=run.id if run else None, thread_id=tid, category=hit.category, status=hit.status,
                                 rationale=hit.rationale, confidence=hit.confidence, raw=hit.raw, error=hit.error,
                                 prompt_tokens=0, completion_tokens=0, cache_key=hit.cache_key, cached=True,
                                 created_at=utcnow()))
            else:
                plan.to_request.append(tid)
                plan.est_prompt_tokens += estimate_prompt_tokens(build_messages(specs, texts[tid]))
                plan.est_completion_tokens += EXPECTED_COMPLETION_TOKENS
        if rows and run is not None and create:
            session.execute(insert(Prediction), rows)
            session.commit()
    cost = estimate_cost(model, plan.est_prompt_tokens, plan.est_completion_tokens, batch=batch,
                         table=load_price_table(price_table))
    plan.est_cost_usd, plan.cost_note = cost.usd, cost.reason
    return plan


@dataclass
class RunSummary:
    run_id: int
    n_threads: int
    n_cached: int
    n_requested: int
    ok: int
    failed: int
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    elapsed_s: float
    status: str


@functools.lru_cache(maxsize=4)
def _insert_prediction(dialect: str):
    """INSERT ... ON CONFLICT (run_id, thread_id) DO NOTHING: when two processes resume the same run,
    the first stored answer for a thread stands and the other is dropped instead of failing the run."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    return dialect_insert(Prediction.__table__).on_conflict_do_nothing(index_elements=["run_id", "thread_id"])


def _store_outcome(db: Engine | Connection, run_id: int, thread_id: int, key: str, outcome: Outcome) -> None:
    """Store one answer in its own committed transaction (on a connection kept for the run, or a new one)."""
    row = dict(run_id=run_id, thread_id=thread_id, category=outcome.category, status=outcome.status,
               rationale=outcome.rationale or "", confidence=outcome.confidence,
               raw=outcome.raw if outcome.status == "failed" else None, error=outcome.error,
               prompt_tokens=outcome.prompt_tokens, completion_tokens=outcome.completion_tokens, cache_key=key,
               cached=False, created_at=utcnow())
    stmt = _insert_prediction(db.dialect.name)
    if isinstance(db, Connection):
        db.execute(stmt, row)
        db.commit()
        return
    with db.begin() as conn:
        conn.execute(stmt, row)


def _finish(engine: Engine, run_id: int, *, model: str, batch: bool, price_table: str | None, requests: int,
            actor: str) -> ModelRun:
    with Session(engine, expire_on_commit=False) as s:
        run = s.get(ModelRun, run_id)
        pt, ct = s.execute(select(func.coalesce(func.sum(Prediction.prompt_tokens), 0),
                                  func.coalesce(func.sum(Prediction.completion_tokens), 0))
                           .where(Prediction.run_id == run_id)).one()
        run.prompt_tokens, run.completion_tokens = int(pt), int(ct)
        run.n_requests = (run.n_requests or 0) + requests
        run.cost_usd = 0.0 if run.backend == "local" else estimate_cost(
            model, run.prompt_tokens, run.completion_tokens, batch=batch, table=load_price_table(price_table)).usd
        run.status, run.finished_at = "done", utcnow()
        s.add(run)
        audit.record(s, actor=actor, action="model_run_finished", entity="model_run", entity_id=run_id,
                     detail={"requests": requests, "prompt_tokens": run.prompt_tokens, "cost_usd": run.cost_usd})
        s.commit()
        if run.scope == "all":  # warm the dashboard's stored aggregate for this run
            from annotator.services.dashboard import stored_cube

            stored_cube(s, run_id)
        return run


def _messages_stream(engine: Engine, ids: list[int], specs: list[CategorySpec], model: str,
                     keys: dict[int, str]) -> Iterator[tuple[str, list[dict]]]:
    hasher = prompt_hasher(model, specs)
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        with Session(engine) as s:
            texts = dict(s.execute(select(Thread.id, Thread.text).where(Thread.id.in_(chunk))).all())
        for tid in chunk:
            keys[tid] = hasher(texts[tid])
            yield str(tid), build_messages(specs, texts[tid])


def classify_llm(engine: Engine, cfg: LLMConfig, *, round_name: str | None = None, version: int | None = None,
                 limit: int | None = None, concurrency: int = 8, retry_failed: bool = False,
                 price_table: str | None = None, actor: str = "cli",
                 on_progress: Callable[[int, int | None], None] | None = None, client_factory=None) -> RunSummary:
    """Classify the round's (or every) thread with an OpenAI-compatible or Azure model."""
    started = time.perf_counter()
    with Session(engine, expire_on_commit=False) as s:
        plan = plan_run(s, backend=cfg.provider, model=cfg.model, base_url=cfg.base_url, round_name=round_name,
                        version=version, limit=limit, retry_failed=retry_failed, price_table=price_table, actor=actor)
        run = plan.run
        specs = specs_for(s, run.codebook_version_id)
    names = prompt_names(specs)
    keys: dict[int, str] = {}

    stats = None
    if plan.to_request:
        with engine.connect() as conn:  # one connection for the run's writes: each answer is still its own commit

            def on_result(item_id: str, outcome: Outcome) -> None:
                tid = int(item_id)
                _store_outcome(conn, run.id, tid, keys.pop(tid), outcome)

            stats = run_classification(_messages_stream(engine, plan.to_request, specs, cfg.model, keys), cfg,
                                       category_names=names, concurrency=concurrency, on_result=on_result,
                                       on_progress=on_progress, total=len(plan.to_request),
                                       client_factory=client_factory)
    done = _finish(engine, run.id, model=cfg.model, batch=False, price_table=price_table,
                   requests=stats.requests if stats else 0, actor=actor)
    return RunSummary(run.id, plan.n_threads, plan.n_cached, len(plan.to_request), stats.ok if stats else 0,
                      stats.failed if stats else 0, stats.requests if stats else 0, done.prompt_tokens,
                      done.completion_tokens, done.cost_usd, time.perf_counter() - started, done.status)


def classify_batch(engine: Engine, cfg: LLMConfig, *, round_name: str | None = None, version: int | None = None,
                   limit: int | None = None, retry_failed: bool = False, price_table: str | None = None,
                   actor: str = "cli", wait: bool = True, poll_seconds: float = 30.0, client_sync=None) -> RunSummary:
    """Classify through the Batch API (half price). Resumable: the batch ids are stored on the run, and
    running the same command again polls them instead of submitting again.

    A thread a finished batch has no result for (an expired, failed or cancelled batch) is stored failed,
    so every thread of the run has a prediction and `retry_failed` asks again for it."""
    from annotator.llm import batch as batch_api
    from annotator.llm.client import make_sync_client

    started = time.perf_counter()
    client_sync = client_sync or make_sync_client(cfg)
    with Session(engine, expire_on_commit=False) as s:
        plan = plan_run(s, backend=cfg.provider, model=cfg.model, base_url=cfg.base_url, round_name=round_name,
                        version=version, limit=limit, batch=True, retry_failed=retry_failed, price_table=price_table,
                        actor=actor)
        run = plan.run
        specs = specs_for(s, run.codebook_version_id)
    names = prompt_names(specs)
    hasher = prompt_hasher(cfg.model, specs)
    params = dict(run.params or {})
    batches: list[dict] = params.get("batches", [])
    pending_ids = set(plan.to_request) - {int(t) for b in batches for t in b.get("threads", [])}
    keys: dict[int, str] = {}
    ids = sorted(pending_ids)
    for start in range(0, len(ids), batch_api.MAX_REQUESTS_PER_BATCH):
        chunk = ids[start:start + batch_api.MAX_REQUESTS_PER_BATCH]
        jsonl = batch_api.build_batch_jsonl(_messages_stream(engine, chunk, specs, cfg.model, keys), cfg, names)
        batch_id = batch_api.submit_batch(client_sync, jsonl)
        batches.append({"id": batch_id, "threads": chunk, "ingested": False})
        params["batches"] = batches
        with engine.begin() as conn:
            conn.execute(update(ModelRun).where(ModelRun.id == run.id).values(params=params, status="batch_pending",
                                                                                 batch_id=batch_id))
    ok = failed = 0
    while True:
        pending = False
        for b in batches:
            if b.get("ingested"):
                continue
            info = batch_api.get_batch(client_sync, b["id"])
            if info.status not in batch_api.TERMINAL_STATUSES:
                pending = True
                continue
            with Session(engine) as s:
                texts = dict(s.execute(select(Thread.id, Thread.text).where(Thread.id.in_(b["threads"]))).all())
                have = set(s.execute(select(Prediction.thread_id).where(Prediction.run_id == run.id)).scalars())
            for custom_id, outcome in batch_api.iter_batch_results(client_sync, info, names):
                tid = int(custom_id)
                if tid in have or tid not in texts:
                    continue
                _store_outcome(engine, run.id, tid, hasher(texts[tid]), outcome)
                have.add(tid)
                ok += outcome.status == "ok"
                failed += outcome.status != "ok"
            for tid in sorted(texts.keys() - have):
                _store_outcome(engine, run.id, tid, hasher(texts[tid]),
                               Outcome("failed", error=f"batch {info.status}: no result for this thread"))
                failed += 1
            b["ingested"] = True
            with engine.begin() as conn:
                conn.execute(update(ModelRun).where(ModelRun.id == run.id).values(params=dict(params, batches=batches)))
        if not pending:
            break
        if not wait:
            with Session(engine) as s:
                current = s.get(ModelRun, run.id)
            return RunSummary(run.id, plan.n_threads, plan.n_cached, len(plan.to_request), ok, failed, 0,
                              current.prompt_tokens, current.completion_tokens, None,
                              time.perf_counter() - started, "batch_pending")
        time.sleep(poll_seconds)
    done = _finish(engine, run.id, model=cfg.model, batch=True, price_table=price_table, requests=0, actor=actor)
    return RunSummary(run.id, plan.n_threads, plan.n_cached, len(plan.to_request), ok, failed, 0, done.prompt_tokens,
                      done.completion_tokens, done.cost_usd, time.perf_counter() - started, done.status)


def classify_local(engine: Engine, *, round_name: str | None = None, train_rounds: list[str] | None = None,
                   version: int | None = None, limit: int | None = None, seed: int = 0, actor: str = "cli") -> RunSummary:
    """Train the local TF-IDF + logistic-regression model on consensus labels, then classify."""
    from annotator.llm.local import train_local_model
    from annotator.services.adjudication import consensus_map
    from annotator.services.rounds import list_rounds

    started = time.perf_counter()
    with Session(engine, expire_on_commit=False) as s:
        cb = require_version(s, version)
        names = train_rounds or [r.name for r in list_rounds(s)]
        train: dict[str, str] = {}
        for name in names:
            train.update(consensus_map(s, name))
        if len(set(train.values())) < 2:
            raise InvalidInput("the local model needs consensus labels of at least two categories: adjudicate a round first")
        texts = dict(s.execute(select(Thread.external_id, Thread.text).where(Thread.external_id.in_(list(train)))).all())
        ext = [e for e in train if e in texts]
        try:
            model = train_local_model([texts[e] for e in ext], [train[e] for e in ext], seed=seed)
        except ValueError as exc:
            raise InvalidInput(f"cannot train the local model: {exc}") from None
        scope, ids = _scope_ids(s, round_name, limit)
        run = ModelRun(backend="local", model=f"tfidf-logreg:{model.fingerprint[:12]}", codebook_version_id=cb.id,
                       prompt_template_version="local", codebook_hash=model.fingerprint, scope=scope,
                       params={"train_rounds": names, "n_train": len(ext), "cv": model.cv, "seed": seed, "actor": actor},
                       local_model=model.to_bytes())
        s.add(run)
        s.flush()
        run_id = run.id
        audit.record(s, actor=actor, action="model_run_started", entity="model_run", entity_id=run_id,
                     detail={"backend": "local", "scope": scope, "n_train": len(ext)})
        s.commit()
    for start in range(0, len(ids), 5000):
        chunk = ids[start:start + 5000]
        with Session(engine) as s:
            rows = s.execute(select(Thread.id, Thread.text).where(Thread.id.in_(chunk))).all()
        preds = model.predict([t for _, t in rows])
        with engine.begin() as conn:
            conn.execute(insert(Prediction), [dict(run_id=run_id, thread_id=tid, category=cat, status="ok",
                                                   rationale="local model", confidence=conf, cache_key="", cached=False,
                                                   created_at=utcnow()) for (tid, _), (cat, conf) in zip(rows, preds)])
    done = _finish(engine, run_id, model="local", batch=False, price_table=None, requests=0, actor=actor)
    return RunSummary(run_id, len(ids), 0, 0, len(ids), 0, 0, 0, 0, done.cost_usd, time.perf_counter() - started,
                      done.status)


def resolve_run(session: Session, run: str | int) -> ModelRun:
    """A run by id, or 'latest' for the newest."""
    if str(run) == "latest":
        found = session.execute(select(ModelRun).order_by(ModelRun.id.desc()).limit(1)).scalars().first()
        if found is None:
            raise NotFound("no model runs yet: classify threads on the Model page first",
                           cli="no model runs yet: run 'annotator classify' first")
        return found
    try:
        found = session.get(ModelRun, int(run))
    except ValueError:
        raise InvalidInput(f"run '{run}' is not a number or 'latest'") from None
    if found is None:
        raise NotFound(f"no model run {run}")
    return found


def list_runs(session: Session) -> list[ModelRun]:
    return list(session.execute(select(ModelRun).order_by(ModelRun.id.desc())).scalars())
