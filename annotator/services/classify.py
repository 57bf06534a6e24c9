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
import uuid
from dataclasses import dataclass, field
from typing import Callable, Iterator

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from annotator.config import Settings, base_url_problem, redact_url
from annotator.data.locks import advisory_lock
from annotator.data.models import Assignment, Category, CodebookVersion, ModelRun, Prediction, Thread, utcnow
from annotator.errors import EndpointError, InvalidInput, NotFound
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
    problem = base_url_problem(base)
    if problem:
        raise InvalidInput(f"{problem}: give the server's address only (--base-url or ANNOTATOR_LLM_BASE_URL) and put "
                           "the key in OPENAI_API_KEY (or AZURE_OPENAI_API_KEY); nothing was sent or stored")
    if not key and base:
        key = "not-needed"  # local OpenAI-compatible servers (vLLM, Ollama, LM Studio) ignore the key
    if not key:
        env = "AZURE_OPENAI_API_KEY" if provider == "azure" else "OPENAI_API_KEY"
        raise InvalidInput(f"no API key: set {env} in the server's environment, or set ANNOTATOR_LLM_BASE_URL to a "
                           "local OpenAI-compatible server",
                           cli=f"no API key: set {env} in the environment (or use --base-url for a local server)")
    return LLMConfig(provider=provider, model=model or settings.llm_model, base_url=base, api_key=key,
                     azure_endpoint=settings.azure_endpoint, azure_deployment=settings.azure_deployment,
                     api_version=settings.azure_api_version, timeout=settings.llm_timeout,
                     max_retries=settings.llm_max_retries)


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
    run = ModelRun(backend=backend, model=cfg_model, base_url=redact_url(base_url), codebook_version_id=version.id,
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


def one_run_per_scope(classify: Callable[..., RunSummary]) -> Callable[..., RunSummary]:
    """Classifications of the same scope with the same model take turns across processes (an advisory
    lock on SQLite and PostgreSQL): a second `classify` waits for the first, then finds its answers in
    the cache and asks nothing, so the same request is never paid for twice."""

    @functools.wraps(classify)
    def run(engine: Engine, cfg: LLMConfig, *, round_name: str | None = None, **kwargs) -> RunSummary:
        with advisory_lock(engine, f"classify|{cfg.provider}|{cfg.model}|{round_name or '*'}",
                           waiting="another classification of the same threads with the same model is running; "
                                   "waiting for it to finish (its answers are reused, not paid for again)"):
            return classify(engine, cfg, round_name=round_name, **kwargs)

    return run


@one_run_per_scope
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
        unreached: list[tuple[int, str, Outcome]] = []  # stored only if the endpoint did not go down
        with engine.connect() as conn:  # one connection for the run's writes: each answer is still its own commit

            def on_result(item_id: str, outcome: Outcome) -> None:
                tid = int(item_id)
                if outcome.transport:
                    unreached.append((tid, keys.pop(tid), outcome))
                    return
                _store_outcome(conn, run.id, tid, keys.pop(tid), outcome)

            try:
                stats = run_classification(_messages_stream(engine, plan.to_request, specs, cfg.model, keys), cfg,
                                           category_names=names, concurrency=concurrency, on_result=on_result,
                                           on_progress=on_progress, total=len(plan.to_request),
                                           client_factory=client_factory)
            except EndpointError as exc:  # the run stays open; threads without an answer are asked on resume
                raise exc.with_hint(f"answers so far are stored: run the same command again to resume run {run.id}") \
                    from None
            for tid, key, outcome in unreached:
                _store_outcome(conn, run.id, tid, key, outcome)
    done = _finish(engine, run.id, model=cfg.model, batch=False, price_table=price_table,
                   requests=stats.requests if stats else 0, actor=actor)
    return RunSummary(run.id, plan.n_threads, plan.n_cached, len(plan.to_request), stats.ok if stats else 0,
                      stats.failed if stats else 0, stats.requests if stats else 0, done.prompt_tokens,
                      done.completion_tokens, done.cost_usd, time.perf_counter() - started, done.status)


@one_run_per_scope
def classify_batch(engine: Engine, cfg: LLMConfig, *, round_name: str | None = None, version: int | None = None,
                   limit: int | None = None, retry_failed: bool = False, price_table: str | None = None,
                   actor: str = "cli", wait: bool = True, poll_seconds: float = 30.0, client_sync=None,
                   max_batch_bytes: int | None = None, max_batch_requests: int | None = None) -> RunSummary:
    """Classify through the Batch API (half price). Resumable: the batch ids are stored on the run, and
    running the same command again polls them instead of submitting again.

    A thread a finished batch has no result for (an expired, failed or cancelled batch) is stored failed,
    so every thread of the run has a prediction and `retry_failed` asks again for it.

    Input files are split by request count and by bytes (``max_batch_bytes``, default 90% of the Batch
    API's 200 MB) and submitted one after another. Each part is recorded (with a random tag, sent as
    batch metadata) before its batch is created, so a run killed or cut off between the two finds its
    batch again instead of paying twice. A lost connection, a timeout or an HTTP error raises one
    EndpointError line saying how to resume."""
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

    def save(**values) -> None:
        params["batches"] = batches
        with engine.begin() as conn:
            conn.execute(update(ModelRun).where(ModelRun.id == run.id).values(params=dict(params), **values))

    hint = (f"nothing was lost: run the same command again to resume run {run.id} (submitted batches are polled, "
            "not sent again)")
    try:
        # a part recorded before its batch was created: find it by its tag, or send it again
        unknown = [b for b in batches if not b.get("id")]
        for b in unknown:
            found = batch_api.find_batch(client_sync, "annotator_part", b["tag"])
            if found:
                b["id"] = found
            else:
                batches.remove(b)
        if unknown:
            save()
        pending_ids = set(plan.to_request) - {int(t) for b in batches for t in b.get("threads", [])}
        keys: dict[int, str] = {}
        ids = sorted(pending_ids)
        for part_ids, jsonl in batch_api.split_batches(_messages_stream(engine, ids, specs, cfg.model, keys), cfg, names,
                                                        max_requests=max_batch_requests, max_bytes=max_batch_bytes):
            part = {"id": None, "tag": uuid.uuid4().hex, "threads": [int(t) for t in part_ids], "ingested": False}
            batches.append(part)
            save(status="batch_pending")
            try:
                part["id"] = batch_api.submit_batch(client_sync, jsonl, metadata={"annotator_run": str(run.id),
                                                                                  "annotator_part": part["tag"]})
            except EndpointError as exc:
                if exc.what != "creating a batch":
                    raise
                part["id"] = batch_api.find_batch(client_sync, "annotator_part", part["tag"])  # created, answer lost?
                if not part["id"]:
                    raise
            save(status="batch_pending", batch_id=part["id"])
            log.info("run %d: batch %s holds %d threads (%d bytes)", run.id, part["id"], len(part_ids), len(jsonl))
    except EndpointError as exc:
        raise exc.with_hint(hint) from None
    ok = failed = 0
    while True:
        pending = False
        for b in batches:
            try:
                info = batch_api.get_batch(client_sync, b["id"]) if not b.get("ingested") else None
            except EndpointError as exc:
                raise exc.with_hint(hint) from None
            if b.get("ingested"):
                continue
            if info.status not in batch_api.TERMINAL_STATUSES:
                pending = True
                continue
            with Session(engine) as s:
                texts = dict(s.execute(select(Thread.id, Thread.text).where(Thread.id.in_(b["threads"]))).all())
                have = set(s.execute(select(Prediction.thread_id).where(Prediction.run_id == run.id)).scalars())
            try:
                results = list(batch_api.iter_batch_results(client_sync, info, names))
            except EndpointError as exc:
                raise exc.with_hint(hint) from None
            for custom_id, outcome in results:
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
    """Train the local TF-IDF + logistic-regression model on final labels, then classify.

    Training threads are the decided threads of ``train_rounds`` (default: every round), with their
    final label under today's category names (a thread decided in several rounds: the newest). Every
    training thread in scope gets its out-of-fold prediction (K-fold cross-fitting, see
    annotator.llm.local), every other thread the model trained on all of them; the run records which
    threads trained it and the fold that held each out (``TrainingThread``), and its params say K.
    """
    from annotator.data.models import TrainingThread
    from annotator.llm.local import train_local_model
    from annotator.services.consensus import read_consensus

    started = time.perf_counter()
    with Session(engine, expire_on_commit=False) as s:
        cb = require_version(s, version)
        consensus = read_consensus(s, train_rounds or None)
        latest = consensus.latest()
        if len(set(r.category for r in latest.values())) < 2:
            raise InvalidInput("the local model needs consensus labels of at least two categories: adjudicate a round first")
        train_ids = sorted(latest)
        texts: dict[int, str] = {}
        for start in range(0, len(train_ids), 5000):
            chunk = train_ids[start:start + 5000]
            texts.update(dict(s.execute(select(Thread.id, Thread.text).where(Thread.id.in_(chunk))).all()))
        labels = [latest[t].category for t in train_ids]
        try:
            model = train_local_model([texts[t] for t in train_ids], labels, seed=seed)
        except ValueError as exc:
            raise InvalidInput(f"cannot train the local model: {exc}") from None
        if model.out_of_fold is None:
            raise InvalidInput("the local model needs at least 2 final labels in each of 2 categories, so that every "
                               "training thread can be predicted by a model that did not see it: adjudicate more threads")
        scope, ids = _scope_ids(s, round_name, limit)
        folds = model.cv["folds"]
        params = {"train_rounds": [r.name for r in consensus.rounds], "n_train": len(train_ids),
                  "n_pending_not_trained": consensus.n_pending, "cross_fit": True, "folds": folds,
                  "folds_note": _folds_note(model.cv),
                  "cv": model.cv, "seed": seed, "actor": actor}
        run = ModelRun(backend="local", model=f"tfidf-logreg:{model.fingerprint[:12]}", codebook_version_id=cb.id,
                       prompt_template_version="local", codebook_hash=model.fingerprint, scope=scope, params=params,
                       local_model=model.to_bytes())
        s.add(run)
        s.flush()
        run_id = run.id
        s.execute(insert(TrainingThread), [
            dict(run_id=run_id, thread_id=t, round_id=latest[t].round_id, category=label, fold=fold)
            for t, label, fold in zip(train_ids, labels, model.fold_of)])
        audit.record(s, actor=actor, action="model_run_started", entity="model_run", entity_id=run_id,
                     detail={"backend": "local", "scope": scope, "n_train": len(train_ids), "folds": folds})
        s.commit()
    held_out = {t: (cat, conf, fold) for t, (cat, conf), fold in zip(train_ids, model.out_of_fold, model.fold_of)}
    everything = f"local model trained on all {len(train_ids)} labelled threads"
    for start in range(0, len(ids), 5000):
        chunk = ids[start:start + 5000]
        with Session(engine) as s:
            rows = s.execute(select(Thread.id, Thread.text).where(Thread.id.in_(chunk))).all()
        fresh = [(tid, text) for tid, text in rows if tid not in held_out]
        answers = dict(zip((tid for tid, _ in fresh), model.predict([text for _, text in fresh])))
        values = []
        for tid, _ in rows:
            if tid in held_out:
                cat, conf, fold = held_out[tid]
                why = f"local model, out of fold: fold {fold + 1} of {folds} held this thread out of training"
            else:
                (cat, conf), why = answers[tid], everything
            values.append(dict(run_id=run_id, thread_id=tid, category=cat, status="ok", rationale=why, confidence=conf,
                               cache_key="", cached=False, created_at=utcnow()))
        with engine.begin() as conn:
            conn.execute(insert(Prediction), values)
    done = _finish(engine, run_id, model="local", batch=False, price_table=None, requests=0, actor=actor)
    return RunSummary(run_id, len(ids), 0, 0, len(ids), 0, 0, 0, 0, done.cost_usd, time.perf_counter() - started,
                      done.status)


def _folds_note(cv: dict) -> str:
    folds, small, single = cv["folds"], cv.get("small_classes") or [], cv.get("singleton_classes") or []
    note = f"{folds}-fold cross-fitting" + ("" if folds == 5 else " (fewer than 5: no category has 5 final labels)")
    if small:
        note += f"; {', '.join(small)} had fewer than {folds} final labels, so only some folds hold one out"
    if single:
        note += f"; {', '.join(single)} had a single final label, which its fold's model never saw"
    return note


def training_threads(session: Session, run: ModelRun) -> dict[int, int | None]:
    """thread_id -> fold that held it out, for the threads whose labels trained the run (empty for a run
    that trained on nothing, e.g. an LLM)."""
    from annotator.data.models import TrainingThread

    rows = session.execute(select(TrainingThread.thread_id, TrainingThread.fold)
                           .where(TrainingThread.run_id == run.id)).all()
    return {t: f for t, f in rows}


def in_sample_guard(session: Session, run: ModelRun, round_names: list[str] | tuple[str, ...], scored: set[int]) -> None:
    """Refuse to use a run's predictions on threads whose labels trained it, unless they are out of fold."""
    params = run.params or {}
    if run.backend != "local":
        return
    names = list(round_names)
    training = training_threads(session, run)
    if params.get("cross_fit"):
        if not any(t in training and training[t] is None for t in scored):
            return
        where = ", ".join(f"'{n}'" for n in names)
    else:
        trained_on = [n for n in names if n in (params.get("train_rounds") or [])]
        if not trained_on and not any(t in training for t in scored):
            return
        where = ", ".join(f"'{n}'" for n in trained_on or names)
    raise InvalidInput(
        f"run {run.id} was trained on the final labels of round {where} without out-of-fold predictions (a local "
        "run made before annotator cross-fitted), so its figures there would be in-sample: train a new local run "
        "('annotator classify --backend local ...') and use that one")


MIN_EXAMPLE_CHARS = 30  # shorter codebook examples are too generic to say they came from a thread


def _normalise(text: str) -> str:
    return " ".join(text.casefold().split())


def prompt_example_threads(session: Session, run: ModelRun, thread_ids: list[int] | set[int]) -> dict[int, list[str]]:
    """Threads whose text contains one of the codebook examples the run's prompt showed (an example taken
    from a thread, e.g. a 'local' candidate), with the categories of those examples. Text match: the
    example (at least 30 characters, whitespace and case ignored, a trailing ellipsis dropped) inside the
    thread's text. Local runs have no prompt: nothing."""
    if run.backend == "local":
        return {}
    examples = []
    for name, values in session.execute(select(Category.name, Category.examples)
                                        .where(Category.codebook_version_id == run.codebook_version_id)).all():
        for example in values or []:
            norm = _normalise(str(example)).rstrip("…").rstrip(".").strip()
            if len(norm) >= MIN_EXAMPLE_CHARS:
                examples.append((name, norm))
    if not examples:
        return {}
    found: dict[int, list[str]] = {}
    ids = sorted(set(thread_ids))
    for start in range(0, len(ids), CHUNK):
        for tid, text in session.execute(select(Thread.id, Thread.text).where(Thread.id.in_(ids[start:start + CHUNK]))):
            norm = _normalise(text)
            hits = sorted({name for name, example in examples if example in norm})
            if hits:
                found[tid] = hits
    return found


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
