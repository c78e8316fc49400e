"""The database as source of truth: migrations, runs without duplicates, atomic claims, one result per job."""

import json
from datetime import timedelta

import pytest
from helpers import plan_run
from sqlalchemy import select, text

from ragq.shared.config import load_settings
from ragq.shared.errors import DatabaseError, QuestionFileError
from ragq.shared.records import QAPair, RetrievalConfig, RunSettings
from ragq.shared.store import db, inputs, jobs, runs, standing
from ragq.shared.store.schema import IndexRow, Job, ModelRow, QuestionSet, Result, Run

PAIRS = [QAPair("Q1?", "A1"), QAPair("Q2?", "A2", [3]), QAPair("Q3?", "A3")]
MANIFEST = {"name": "docs", "chunk_count": 3, "embedder": "e", "sources": []}


def result_fields(**overrides):
    from datetime import datetime

    now = datetime(2026, 1, 1)
    fields = dict(
        answer="a",
        prompt="p",
        chunk_ids=["c1"],
        dropped_chunks=0,
        cosine=0.5,
        retrieval_ms=1.0,
        ttft_s=0.1,
        prompt_tokens=10,
        prompt_eval_s=0.1,
        gen_tokens=5,
        gen_s=0.2,
        total_s=0.3,
        peak_rss_mb=100.0,
        cpu_s=0.2,
        prefix_reused_tokens=0,
        worker="w",
        provenance={},
        host="h",
        pid=1,
        started_at=now,
        finished_at=now,
    )
    return {**fields, **overrides}


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, home):
    if request.param == "postgresql":
        request.getfixturevalue("postgres")
    return db.engine_for(load_settings())


def make_plan(engine, new_run=False):
    with db.session(engine) as s:
        index = inputs.record_index(s, MANIFEST, "/tmp/x")
        qset, _ = inputs.import_questions(s, "qs", "file", PAIRS)
        model = inputs.record_model(s, "m", {})
        return plan_run(s, model, index, qset, new_run=new_run)


def test_new_database_is_migrated_to_head(engine, home):
    assert db.current_revision(engine) == db.head_revision(str(engine.url))


def test_a_0001_database_with_rows_upgrades_in_place(home):
    """Runs made before spec digests keep the spec their model had at first use, and show as 'legacy'."""
    from alembic import command
    from sqlalchemy import create_engine

    settings = load_settings()
    home.mkdir(exist_ok=True)
    command.upgrade(db.alembic_config(settings.db_url), "0001")
    old_spec = {"name": "m", "params": {"max_tokens": 64, "temperature": 0.01}}
    with create_engine(settings.db_url).begin() as conn:
        conn.execute(
            text(
                "INSERT INTO indexes (id, name, path, chunk_count, embedder, manifest, updated_at) VALUES (1, 'i', '/x', 1, 'e', '{}', '2026-11-20')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO question_sets (id, name, source, sha256, created_at) VALUES (1, 'q', 'f', 'h', '2026-11-20')"
            )
        )
        conn.execute(text("INSERT INTO models (id, name, spec) VALUES (1, 'm', :spec)"), {"spec": json.dumps(old_spec)})
        conn.execute(
            text(
                "INSERT INTO runs (id, key, generation, model_id, index_id, set_id, ratio, fusion, k, candidates, c, repeat, "
                "kv_reuse, created_at) VALUES (1, 'm|i|q|seed|0.3|x1|kv-reset', 1, 1, 1, 1, 0.3, 'seed', 4, 20, 60, 1, 0, '2026-11-20')"
            )
        )
    assert db.upgrade(settings) == ("0001", db.head_revision(settings.db_url))
    with db.session(db.engine_for(settings)) as s:
        run = s.get(Run, 1)
        assert (run.spec, run.spec_digest, run.prompt_kind) == (old_spec, None, "chat")
        assert RunSettings.from_dict(run.settings) == RunSettings()  # seed, 4, 20, 60; once; the KV cache reset
        assert runs.last_spec(s, "m", "chat") == (None, old_spec)
        assert runs.spec_history(s, "m")[0]["spec_id"] == "legacy"


def test_stale_schema_is_refused(engine):
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    with pytest.raises(DatabaseError, match="ragq db upgrade"):
        db.engine_for(load_settings())


def test_same_work_is_not_enqueued_twice(engine):
    first = make_plan(engine)
    again = make_plan(engine)
    assert first.created and not again.created and again.run_id == first.run_id
    assert again.job_ids == first.job_ids and len(first.job_ids) == 3
    newer = make_plan(engine, new_run=True)
    assert newer.created and newer.run_id != first.run_id


def test_question_sets_import_once(engine):
    with db.session(engine) as s:
        assert inputs.import_questions(s, "qs", "f", PAIRS)[1]
        assert not inputs.import_questions(s, "qs", "f", PAIRS)[1]
        with pytest.raises(QuestionFileError, match="another --set"):
            inputs.import_questions(s, "qs", "f", PAIRS[:1])


def test_claim_is_exclusive_and_lease_expiry_frees_it(engine):
    job = make_plan(engine).job_ids[0]
    with db.session(engine) as s:
        assert jobs.claim(s, job, "w1", timedelta(minutes=5), 3)
    with db.session(engine) as s:
        assert jobs.claim(s, job, "w2", timedelta(minutes=5), 3) == jobs.NotClaimed("held by w1")
        s.execute(text("UPDATE jobs SET lease_until = :t WHERE id = :id"), {"t": "2000-01-01 00:00:00", "id": job})
    with db.session(engine) as s:
        assert jobs.claim(s, job, "w2", timedelta(minutes=5), 3)
        assert s.get(Job, job).attempts == 2


def test_one_result_per_job(engine):
    job = make_plan(engine).job_ids[0]
    with db.session(engine) as s:
        holder = jobs.claim(s, job, "w1", timedelta(minutes=5), 3)
        assert holder == jobs.Holder("w1", 1)
        assert jobs.complete(s, job, result_fields(), holder) == "done"
    # the same holder again: its first COMMIT landed but the connection broke before it heard so (a database
    # restart) and db.retrying tried again; it is told "done", nothing is stored twice, nothing counted as late
    with db.session(engine) as s:
        assert jobs.complete(s, job, result_fields(answer="second"), holder) == "done"
    with db.session(engine) as s:
        assert [r.answer for r in s.scalars(select(Result))] == ["a"]
        assert (s.get(Job, job).state, s.get(Job, job).refused) == ("done", 0)
    # anyone else, or a failure after the result, is late work: refused and counted
    with db.session(engine) as s:
        assert jobs.complete(s, job, result_fields(answer="third"), jobs.Holder("w2", 1)) == "refused"
        assert jobs.fail(s, job, "too late", holder) == "refused"
    with db.session(engine) as s:
        assert [r.answer for r in s.scalars(select(Result))] == ["a"]
        assert (s.get(Job, job).state, s.get(Job, job).refused) == ("done", 2)
    # a job put back to running by hand, its result kept: its holder's second result is a duplicate, not stored
    with db.session(engine) as s:
        s.execute(text("UPDATE jobs SET state = 'running' WHERE id = :id"), {"id": job})
        assert jobs.complete(s, job, result_fields(answer="fourth"), holder) == "duplicate"
    with db.session(engine) as s:
        assert [r.answer for r in s.scalars(select(Result))] == ["a"]


def test_a_late_holder_is_fenced_off(engine):
    """Worker 1 loses its lease (paused past it); worker 2 takes the job over. Worker 1's late renewal, result and
    failure are refused and counted; worker 2's result is the one stored."""
    job = make_plan(engine).job_ids[0]
    with db.session(engine) as s:
        late = jobs.claim(s, job, "w1", timedelta(seconds=-1), 3)  # its lease already over
    with db.session(engine) as s:
        current = jobs.claim(s, job, "w2", timedelta(minutes=5), 3)
        assert current == jobs.Holder("w2", 2)
    with db.session(engine) as s:
        assert not jobs.renew(s, job, late, timedelta(minutes=5))
        assert jobs.complete(s, job, result_fields(answer="late"), late) == "refused"
        assert jobs.fail(s, job, "late failure", late) == "refused"
        assert jobs.renew(s, job, current, timedelta(minutes=5))
    # the same worker name on a later attempt is another holder: the attempt is part of the fence
    with db.session(engine) as s:
        assert jobs.complete(s, job, result_fields(), jobs.Holder("w2", 1)) == "refused"
        assert jobs.complete(s, job, result_fields(), current) == "done"
    with db.session(engine) as s:
        row = s.get(Job, job)
        assert (row.state, row.refused, row.worker) == ("done", 3, "w2")
        assert [r.answer for r in s.scalars(select(Result))] == ["a"]
        assert standing.refused(s, [row.run_id]) == {row.run_id: 3}


def test_a_finished_job_stays_finished_after_its_lease_ran_out(engine):
    """Only a queued job, or a running one whose lease ran out, may be claimed: a done or failed job keeps the lease
    it ended under, and that lease running out must not make it claimable (it would be answered twice)."""
    plan = make_plan(engine)
    done, failed = plan.job_ids[:2]
    with db.session(engine) as s:
        jobs.complete(s, done, result_fields(), jobs.claim(s, done, "w", timedelta(seconds=-1), 3))
        jobs.fail(s, failed, "boom", jobs.claim(s, failed, "w", timedelta(seconds=-1), 3))
    with db.session(engine) as s:
        assert s.get(Job, done).lease_until is not None  # the lease it ended under, already over
        assert jobs.claim(s, done, "w2", timedelta(minutes=5), 3) == jobs.NotClaimed("done")
        assert jobs.claim(s, failed, "w2", timedelta(minutes=5), 3) == jobs.NotClaimed("failed")
        assert [r.answer for r in s.scalars(select(Result))] == ["a"]
        assert jobs.release_expired(s) == []  # nor does the reaper put them back on a queue
        assert (s.get(Job, done).state, s.get(Job, failed).state) == ("done", "failed")


def test_released_jobs_go_to_their_own_models_queues(engine):
    """Expired jobs of two models' runs (no queue of their own): each is published on its own model's queue."""
    with db.session(engine) as s:
        index = inputs.record_index(s, MANIFEST, "/tmp/x")
        qset, _ = inputs.import_questions(s, "qs", "file", PAIRS)
        plans = [plan_run(s, inputs.record_model(s, name, {}), index, qset) for name in ("m1", "m2")]
        for plan in plans:
            jobs.claim(s, plan.job_ids[0], "dead", timedelta(seconds=-1), 3)
    with db.session(engine) as s:
        want = sorted((plan.job_ids[0], f"ragq.{name}") for plan, name in zip(plans, ("m1", "m2"), strict=True))
        assert jobs.release_expired(s) == want


def test_a_holder_acts_on_its_own_job_alone(engine):
    """One worker holding three jobs (the same name, attempt 1 of each): renewing, finishing or failing the middle one
    leaves the jobs on either side as they were; another worker on the same attempt number is no holder."""
    first, second, third = make_plan(engine).job_ids[:3]
    with db.session(engine) as s:
        holders = [jobs.claim(s, job, "w1", timedelta(minutes=5), 3) for job in (first, second, third)]
        leases = [s.get(Job, job).lease_until for job in (first, third)]
    with db.session(engine) as s:
        for stranger in (jobs.Holder("w0", 1), jobs.Holder("w2", 1), jobs.Holder("w1", 2)):  # either side of w1, 1
            assert not jobs.renew(s, second, stranger, timedelta(minutes=30))
            assert jobs.complete(s, second, result_fields(), stranger) == "refused"
        assert jobs.renew(s, second, holders[1], timedelta(minutes=30))
        assert jobs.complete(s, second, result_fields(), holders[1]) == "done"
        assert jobs.fail(s, third, "boom", holders[2]) == "failed"
    with db.session(engine) as s:
        assert (s.get(Job, first).state, s.get(Job, first).lease_until) == ("running", leases[0])
        assert [s.get(Job, j).state for j in (second, third)] == ["done", "failed"]
        assert s.get(Job, third).lease_until == leases[1]  # failing the last job left its lease as it was


def test_pending_and_progress(engine):
    plan = make_plan(engine)
    with db.session(engine) as s:
        jobs.claim(s, plan.job_ids[0], "w", timedelta(minutes=5), 3)
        jobs.fail(s, plan.job_ids[1], "boom", jobs.claim(s, plan.job_ids[1], "w", timedelta(minutes=5), 3))
    with db.session(engine) as s:
        assert [j for j, _ in jobs.pending(s, [plan.run_id])] == [plan.job_ids[2]]
        assert standing.progress(s, [plan.run_id])[plan.run_id] == {"queued": 1, "running": 1, "done": 0, "failed": 1}


def test_freed_and_pending_jobs_go_back_to_their_runs_queue(engine):
    plan = make_plan(engine)
    with db.session(engine) as s:
        model, index = s.get(Run, plan.run_id).model_id, s.get(Run, plan.run_id).index_id
        again = plan_run(s, s.get(ModelRow, model), s.get(IndexRow, index), s.get(QuestionSet, 1), queue="gpu-box")
        assert (again.run_id, again.queue) == (plan.run_id, "gpu-box")  # routing moves; the run stays the same
        jobs.claim(s, plan.job_ids[0], "dead", timedelta(seconds=-1), 3)
    with db.session(engine) as s:
        assert jobs.release_expired(s) == [(plan.job_ids[0], "gpu-box")]
        assert {q for _, q in jobs.pending(s, [plan.run_id])} == {"gpu-box"}


def test_holders_flag_expired_leases(engine):
    plan = make_plan(engine)
    with db.session(engine) as s:
        jobs.claim(s, plan.job_ids[0], "alive", timedelta(minutes=5), 3)
        jobs.claim(s, plan.job_ids[1], "dead", timedelta(seconds=-1), 3)
    with db.session(engine) as s:
        held = {h["worker"]: h for h in standing.holders(s, [plan.run_id])}
    assert (held["alive"]["expired"], held["dead"]["expired"]) == (False, True)
    assert held["dead"]["job"] == plan.job_ids[1] and held["dead"]["attempt"] == 1


ROLES = "ValueError: Conversation roles must alternate"


def test_failure_reasons_grouped_with_counts_and_runs(engine):
    plan = make_plan(engine)
    with db.session(engine) as s:
        for job, reason in zip(plan.job_ids, [ROLES, ROLES, "out of context"], strict=True):
            jobs.fail(s, job, reason, jobs.claim(s, job, "w", timedelta(minutes=5), 3))
    with db.session(engine) as s:
        assert standing.failure_reasons(s, [plan.run_id]) == [
            ("ValueError: Conversation roles must alternate", 2, [plan.run_id]),
            ("out of context", 1, [plan.run_id]),
        ]


def test_a_job_that_keeps_killing_workers_ends_failed(engine):
    job = make_plan(engine).job_ids[0]
    for attempt in range(3):  # each claim's worker "dies": the lease runs out, nobody completes
        with db.session(engine) as s:
            assert jobs.claim(s, job, f"w{attempt}", timedelta(minutes=5), 3)
            assert jobs.release_workers(s, [f"w{attempt}"]) == [(job, "ragq.m")]
    with db.session(engine) as s:
        assert jobs.claim(s, job, "w3", timedelta(minutes=5), 3) == jobs.NotClaimed("gave up after 3 attempts")
    with db.session(engine) as s:
        assert jobs.claim(s, job, "w4", timedelta(minutes=5), 3) == jobs.NotClaimed("failed")
        assert jobs.claim(s, 10**6, "w4", timedelta(minutes=5), 3) == jobs.NotClaimed("no such job")
    with db.session(engine) as s:
        row = s.get(Job, job)
        assert (row.state, row.attempts) == ("failed", 3) and "gave up after 3 attempts" in row.error


def test_giving_up_takes_the_claimed_job_alone_and_counts_past_the_limit(engine):
    """Three jobs queued again after 3, 5 and 4 attempts (the limit lowered since): claiming the middle one gives up
    on it alone, not on those either side that are as spent; one tried more often than the limit is given up on."""
    first, second, third = make_plan(engine).job_ids[:3]
    with db.session(engine) as s:
        for job, tries in ((first, 3), (second, 5), (third, 4)):
            s.execute(text("UPDATE jobs SET attempts = :n WHERE id = :id"), {"n": tries, "id": job})
    with db.session(engine) as s:
        assert jobs.claim(s, second, "w", timedelta(minutes=5), 3) == jobs.NotClaimed("gave up after 3 attempts")
    with db.session(engine) as s:
        assert [s.get(Job, j).state for j in (first, second, third)] == ["queued", "failed", "queued"]


def test_expired_leases_are_released_once(engine):
    plan = make_plan(engine)
    with db.session(engine) as s:
        jobs.claim(s, plan.job_ids[0], "w", timedelta(seconds=-1), 3)  # a lease already over
        jobs.claim(s, plan.job_ids[1], "w", timedelta(minutes=5), 3)
    with db.session(engine) as s:
        assert jobs.release_expired(s, [plan.run_id]) == [(plan.job_ids[0], "ragq.m")]
    with db.session(engine) as s:
        assert jobs.release_expired(s, [plan.run_id]) == []
        assert s.get(Job, plan.job_ids[0]).state == "queued"


def test_passwords_never_printed():
    from ragq.shared.transport import redact

    assert redact("postgresql+psycopg://ragq:s3cret@db:5432/ragq") == "postgresql+psycopg://ragq:***@db:5432/ragq"
    assert redact("redis://:pw@host:6379/0") == "redis://:***@host:6379/0"
    assert redact("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"


def test_lock_errors_are_retried_others_are_not():
    from sqlalchemy.exc import OperationalError

    calls, said = [], []

    def locked_twice():
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked"))
        return "ok"

    assert db.retrying(locked_twice, 10, said.append, first_pause_s=0.01) == "ok" and len(calls) == 3
    assert len(said) == 2 and said[0].startswith("database unavailable (database is locked)")
    assert said[1].startswith("database back after")

    def broken():
        raise OperationalError("SELECT", {}, Exception("no such table: jobs"))

    with pytest.raises(OperationalError):
        db.retrying(broken, 10, said.append, first_pause_s=0.01)


def test_a_database_that_stays_away_ends_in_one_clear_error_after_the_limit():
    from sqlalchemy.exc import OperationalError

    from ragq.shared.errors import DatabaseError

    def refused():
        raise OperationalError(
            "SELECT 1", {}, Exception('connection failed: connection to server at "127.0.0.1", port 5999 failed: '
                                      "Connection refused\n\tIs the server running on that host?")
        )  # fmt: skip

    said = []
    with pytest.raises(DatabaseError, match=r"stayed unavailable for .* Connection refused.*RAGQ_DB_OUTAGE_S"):
        db.retrying(refused, 0.3, said.append, first_pause_s=0.05, most_pause_s=0.1)
    assert len(said) == 1 and "\n" not in said[0]  # one line, the server's hint left out


def test_a_broken_connection_counts_as_an_outage_a_bad_query_does_not():
    from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError

    dropped = DBAPIError("SELECT 1", {}, Exception("anything"), connection_invalidated=True)
    assert db.transient(dropped)
    assert db.transient(OperationalError("x", {}, Exception("terminating connection due to administrator command")))
    assert db.transient(OperationalError("x", {}, Exception("the database system is starting up")))
    assert not db.transient(ProgrammingError("x", {}, Exception('relation "jobs" does not exist')))
    assert not db.transient(ValueError("connection refused"))


def test_job_context_carries_the_run_settings(engine):
    with db.session(engine) as s:
        index = inputs.record_index(s, MANIFEST, "/tmp/x")
        qset, _ = inputs.import_questions(s, "qs", "file", PAIRS)
        model = inputs.record_model(s, "m", {})
        cfg = RetrievalConfig(fusion="rrf", k=3, candidates=7, c=30)
        plan = plan_run(s, model, index, qset, cfg, 0.4, repeat=1, kv_reuse=True)
        ctx = jobs.job_context(s, plan.job_ids[1])
    ask = ctx.ask
    assert (ask.question, ask.reference, ask.ratio, ask.settings.retrieval) == ("Q2?", "A2", 0.4, cfg)
    assert (ask.settings.kv_reuse, ctx.index, ctx.model, ask.evidence_pages, ask.doc) == (True, "docs", "m", [3], None)


def test_a_0003_database_gets_answer_metrics_in_place(engine, home):
    """Revision 0004 adds the answer metrics and computes them for stored results from answer and reference;
    groundedness stays empty for them (their retrieved context was not kept apart from the prompt)."""
    from alembic import command
    from helpers import fill

    settings = load_settings()
    fill(engine)
    command.downgrade(db.alembic_config(settings.db_url), "0003")
    with engine.begin() as conn:
        conn.execute(text("UPDATE results SET answer = 'It is A1, I think.' WHERE id = 1"))
    assert db.upgrade(settings) == ("0003", db.head_revision(settings.db_url))
    with db.session(db.engine_for(settings)) as s:
        first = s.get(Result, 1)
        # answer tokens: it is a1 i think (5, "a" is no article here: SQuAD drops only whole words) ... reference: a1
        assert first.token_f1 == pytest.approx(2 * (1 / 5) * 1 / (1 / 5 + 1))
        assert (first.exact_match, first.abstained, first.groundedness, first.answer_words) == (0.0, False, None, 5)
        assert first.number_match is None  # "A1" holds no stand-alone number
        assert all(r.token_f1 is not None for r in s.query(Result).all())


def test_a_0006_database_keeps_its_results_and_says_they_lack_the_likelihood(engine, home):
    """Revision 0007 adds the likelihood's columns; stored results keep every value and get none (only the model can
    score them: `ragq rescore`), and summaries count them as missing."""
    from alembic import command
    from helpers import fill

    from ragq.producer.results.summary import summarize
    from ragq.shared.store.summaries import run_facts

    settings = load_settings()
    run_ids = fill(engine)
    command.downgrade(db.alembic_config(settings.db_url), "0006")
    with engine.connect() as conn:
        before = conn.execute(text("SELECT id, answer, cosine, token_f1 FROM results ORDER BY id")).all()
    assert db.upgrade(settings) == ("0006", db.head_revision(settings.db_url))
    with db.session(db.engine_for(settings)) as s:
        after = [(r.id, r.answer, r.cosine, r.token_f1) for r in s.query(Result).order_by(Result.id)]
        assert after == [tuple(row) for row in before]
        assert all(r.expert_bpb is None and r.expert_tokens is None for r in s.query(Result).all())
        summaries = summarize(run_facts(s, run_ids))
    assert [m.expert_missing for m in summaries] == [m.done for m in summaries]
    assert all(m.metric("expert_bpb")["mean"] is None for m in summaries)


def test_a_0009_database_gets_each_run_s_settings_whole_and_reads_as_before(engine, home):
    """Revision 0010 stores a run's settings whole (`runs.settings`, RunSettings) in place of one column each: every
    run gets the record its columns held, exports and summaries read the same, the same work finds its run again,
    and downgrading writes the columns back."""
    from alembic import command
    from helpers import fill

    from ragq.producer.results.summary import summarize
    from ragq.shared.store.export import export_records
    from ragq.shared.store.summaries import run_facts

    settings = load_settings()
    run_ids = fill(engine)
    with db.session(engine) as s:
        before = (export_records(s, run_ids), summarize(run_facts(s, run_ids)))
        model, index, qset = s.get(ModelRow, 1), s.get(IndexRow, 1), s.get(QuestionSet, 1)
        rrf = plan_run(s, model, index, qset, RetrievalConfig(fusion="rrf", k=3, candidates=7, c=30), 0.5, repeat=2,
                       kv_reuse=True)  # fmt: skip
    command.downgrade(db.alembic_config(settings.db_url), "0009")
    with engine.connect() as conn:
        columns = conn.execute(text("SELECT fusion, k, candidates, c, repeat, kv_reuse FROM runs ORDER BY id")).all()
    assert [tuple(c) for c in columns][-1] == ("rrf", 3, 7, 30, 2, True)
    assert {tuple(c) for c in columns[:-1]} == {("seed", 4, 20, 60, 1, False)}
    assert db.upgrade(settings) == ("0009", db.head_revision(settings.db_url))
    with db.session(db.engine_for(settings)) as s:
        assert (export_records(s, run_ids), summarize(run_facts(s, run_ids))) == before
        stored = s.get(Run, rrf.run_id).settings
        assert RunSettings.from_dict(stored) == RunSettings(
            retrieval=RetrievalConfig(fusion="rrf", k=3, candidates=7, c=30), repeat=2, kv_reuse=True
        )
        again = plan_run(s, model, index, qset, RetrievalConfig(fusion="rrf", k=3, candidates=7, c=30), 0.5, repeat=2,
                         kv_reuse=True)  # fmt: skip
    assert (again.run_id, again.created) == (rrf.run_id, False)


def test_a_setting_newer_than_a_run_reads_as_its_default():
    assert RunSettings.from_dict({"retrieval": {"fusion": "seed"}, "repeat": 3}) == RunSettings(repeat=3)
    assert RunSettings.from_dict(RunSettings(kv_reuse=True).as_dict()) == RunSettings(kv_reuse=True)


def test_reapers_hold_off_for_a_lease_after_the_database_was_away(monkeypatch):
    """No holder can renew while the database is away: leases that ran out meanwhile are not taken as abandoned
    until one lease after it is back."""
    clock = [100.0]
    monkeypatch.setattr(db.time, "monotonic", lambda: clock[0])
    outage = db.Outage(lease_s=30)
    assert outage.may_free()
    outage.seen()
    assert not outage.may_free()
    clock[0] += 60
    assert not outage.may_free()  # still away
    outage.over()
    clock[0] += 29
    assert not outage.may_free()  # back, but holders may not have renewed yet
    clock[0] += 2
    assert outage.may_free()
    outage.over()  # a success with no outage before it changes nothing
    assert outage.may_free()


def test_retrying_tells_the_outage_when_it_starts_and_ends():
    from sqlalchemy.exc import OperationalError

    outage, calls = db.Outage(lease_s=30), []

    def twice_refused():
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError("SELECT 1", {}, Exception("connection refused"))
        return "ok"

    assert db.retrying(twice_refused, 10, lambda line: None, first_pause_s=0.01, outage=outage) == "ok"
    assert not outage.down and not outage.may_free()  # back, within the lease that follows


def test_a_job_met_by_an_outage_past_the_limit_goes_back_on_the_queue(monkeypatch):
    """Acknowledged, its message would be gone while its job is still to do: the task rejects it with requeue and
    the worker stops."""
    import os
    import signal

    from celery.exceptions import Reject

    from ragq.shared.errors import DatabaseError
    from ragq.worker import app as worker_app

    class Runtime:
        def process(self, job_id):
            raise DatabaseError("the database stayed unavailable for 300 s (connection refused): ...")

    signals = []
    monkeypatch.setattr(os, "kill", lambda pid, sig: signals.append((pid, sig)))
    monkeypatch.setattr(worker_app.answer, "runtime", Runtime())
    with pytest.raises(Reject) as rejected:
        worker_app.answer.run(7)
    assert rejected.value.requeue is True
    assert signals == [(os.getpid(), signal.SIGTERM)]
