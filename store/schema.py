"""The schema, as an ordered list of migrations (sqlite-utils ``Migrations``).

A new column or table is a new migration appended at the end; applied migrations are never edited.
``store.connection.migrate`` applies them.
"""

import sqlite_utils
from sqlite_utils import Migrations

migrations = Migrations("refusal_review")

_NOW = "(strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))"


@migrations()
def m001_core(db: sqlite_utils.Database):
    # The label lists are written out, not read from labels.py: a migration is history, and
    # editing the vocabulary later must not silently change what an old database was built with.
    db.executescript(f"""
    CREATE TABLE prompts (
        id INTEGER PRIMARY KEY,
        dataset TEXT NOT NULL,
        split TEXT,
        source_id TEXT NOT NULL,          -- the benchmark's own id, or a hash of the text when it has none
        category TEXT,
        subcategory TEXT,
        text TEXT NOT NULL,
        expected TEXT CHECK (expected IS NULL OR expected IN ('should_refuse', 'should_comply')),
        metadata TEXT NOT NULL DEFAULT '{{}}',
        created_at TEXT NOT NULL DEFAULT {_NOW},
        UNIQUE (dataset, source_id)
    );
    CREATE INDEX prompts_category ON prompts (dataset, category, subcategory);
    CREATE INDEX prompts_source_id ON prompts (source_id);

    CREATE TABLE responses (
        id INTEGER PRIMARY KEY,
        prompt_id INTEGER NOT NULL REFERENCES prompts (id),
        model TEXT NOT NULL,
        text TEXT NOT NULL,
        text_hash TEXT NOT NULL,          -- makes re-imports idempotent without comparing long texts
        origin TEXT NOT NULL,             -- 'import:<file>', 'generate', 'demo'
        settings TEXT NOT NULL DEFAULT '{{}}',
        created_at TEXT NOT NULL DEFAULT {_NOW},
        UNIQUE (prompt_id, model, text_hash)
    );
    CREATE INDEX responses_model ON responses (model, prompt_id);

    CREATE TABLE judges (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,               -- 'rules', 'llm', 'imported'
        config TEXT NOT NULL DEFAULT '{{}}',
        template_hash TEXT,
        created_at TEXT NOT NULL DEFAULT {_NOW}
    );

    CREATE TABLE verdicts (
        id INTEGER PRIMARY KEY,
        response_id INTEGER NOT NULL REFERENCES responses (id),
        judge_id INTEGER NOT NULL REFERENCES judges (id),
        label TEXT NOT NULL CHECK (label IN ('full_compliance', 'partial_refusal', 'full_refusal', 'unparsed')),
        rationale TEXT,
        raw_output TEXT,
        latency_ms REAL,
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        created_at TEXT NOT NULL DEFAULT {_NOW},
        UNIQUE (response_id, judge_id)
    );
    CREATE INDEX verdicts_judge ON verdicts (judge_id, label);

    -- Append-only: an override is a new row; the current label is the newest row per annotator.
    -- An undo is a row too: it names the row it undoes and carries the label that is current again
    -- (NULL when nothing is left: the annotator has no label on that response any more).
    CREATE TABLE annotations (
        id INTEGER PRIMARY KEY,
        response_id INTEGER NOT NULL REFERENCES responses (id),
        annotator TEXT NOT NULL,
        label TEXT CHECK (label IS NULL OR label IN ('full_compliance', 'partial_refusal', 'full_refusal')),
        note TEXT,
        undoes INTEGER REFERENCES annotations (id),
        created_at TEXT NOT NULL DEFAULT {_NOW}
    );
    CREATE INDEX annotations_response ON annotations (response_id, annotator, id);
    CREATE INDEX annotations_annotator ON annotations (annotator, response_id);
    CREATE TRIGGER annotations_no_update BEFORE UPDATE ON annotations
        BEGIN SELECT RAISE(ABORT, 'annotations are append-only: add a row instead'); END;
    CREATE TRIGGER annotations_no_delete BEFORE DELETE ON annotations
        BEGIN SELECT RAISE(ABORT, 'annotations are append-only: nothing is ever deleted'); END;
    CREATE VIEW current_annotations AS
        SELECT * FROM annotations
        WHERE id IN (SELECT max(id) FROM annotations GROUP BY response_id, annotator)
          AND label IS NOT NULL;

    CREATE TABLE categories (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        description TEXT,
        parent_id INTEGER REFERENCES categories (id),
        rubric TEXT,
        created_at TEXT NOT NULL DEFAULT {_NOW}
    );
    CREATE TABLE prompt_categories (
        prompt_id INTEGER NOT NULL REFERENCES prompts (id),
        category_id INTEGER NOT NULL REFERENCES categories (id),
        assigned_by TEXT,
        created_at TEXT NOT NULL DEFAULT {_NOW},
        PRIMARY KEY (prompt_id, category_id)
    );

    -- Roles: admin > reviewer > viewer. The first user of a fresh database becomes admin.
    CREATE TABLE users (
        name TEXT PRIMARY KEY,
        role TEXT NOT NULL CHECK (role IN ('admin', 'reviewer', 'viewer')),
        created_at TEXT NOT NULL DEFAULT {_NOW}
    );
    CREATE TABLE showcases (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        description TEXT,
        created_by TEXT,
        created_at TEXT NOT NULL DEFAULT {_NOW}
    );
    CREATE TABLE showcase_items (
        id INTEGER PRIMARY KEY,
        showcase_id INTEGER NOT NULL REFERENCES showcases (id) ON DELETE CASCADE,
        prompt_id INTEGER NOT NULL REFERENCES prompts (id),
        response_ids TEXT NOT NULL DEFAULT '[]',  -- JSON list: the responses chosen to show
        comment TEXT,
        added_by TEXT,
        created_at TEXT NOT NULL DEFAULT {_NOW}
    );

    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('judge', 'generate')),
        target TEXT NOT NULL,             -- judge name, or model name for generation
        config TEXT NOT NULL DEFAULT '{{}}',
        status TEXT NOT NULL DEFAULT 'running',
        n_items INTEGER NOT NULL DEFAULT 0,
        n_done INTEGER NOT NULL DEFAULT 0,
        n_errors INTEGER NOT NULL DEFAULT 0,
        prompt_tokens INTEGER NOT NULL DEFAULT 0,
        completion_tokens INTEGER NOT NULL DEFAULT 0,
        started_at TEXT NOT NULL DEFAULT {_NOW},
        finished_at TEXT
    );
    CREATE TABLE run_errors (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs (id),
        item_id INTEGER NOT NULL,         -- response id (judging) or prompt id (generation)
        error TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        created_at TEXT NOT NULL DEFAULT {_NOW}
    );
    -- Exact-input cache for LLM calls: a re-run or a resumed run never pays for the same call twice.
    CREATE TABLE llm_cache (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        created_at TEXT NOT NULL DEFAULT {_NOW}
    );
    """)
    db["prompts"].enable_fts(["text"], fts_version="FTS5", create_triggers=True, tokenize="porter")
    db["responses"].enable_fts(["text"], fts_version="FTS5", create_triggers=True, tokenize="porter")


@migrations()
def m002_settings(db: sqlite_utils.Database):
    """Team settings an admin changes in the app (e.g. ``users.self_signup``): one row per key."""
    db.executescript(f"""
    CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated_by TEXT,
        updated_at TEXT NOT NULL DEFAULT {_NOW}
    );
    """)


@migrations()
def m003_edit_counter(db: sqlite_utils.Database):
    """A counter bumped by every edit that keeps ids unchanged (category definitions, category
    assignments, a prompt enriched by a later import), so ``reads.change_token`` can be ids plus
    this one number instead of counting tables. Only low-volume tables carry the triggers."""
    db.executescript("""
    CREATE TABLE edit_counter (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL);
    INSERT INTO edit_counter (id, n) VALUES (1, 0);
    """)
    for table in ("categories", "prompt_categories"):
        for event in ("INSERT", "UPDATE", "DELETE"):
            db.execute(f"CREATE TRIGGER {table}_{event.lower()}_counts AFTER {event} ON {table} "
                       "BEGIN UPDATE edit_counter SET n = n + 1; END")
    db.execute("CREATE TRIGGER prompts_update_counts AFTER UPDATE ON prompts "
               "BEGIN UPDATE edit_counter SET n = n + 1; END")


@migrations()
def m004_current_label_view(db: sqlite_utils.Database):
    """The one definition of "the current label": each annotator's newest row on a response, unless
    that row withdraws it. Written per row (the newest id of that response and annotator) rather
    than as one GROUP BY over the whole table, so a lookup for one response costs an index probe
    whatever the table's size; every query that needs the current label reads this view."""
    db.executescript("""
    DROP VIEW current_annotations;
    CREATE VIEW current_annotations AS
        SELECT * FROM annotations a
        WHERE a.label IS NOT NULL
          AND a.id = (SELECT max(b.id) FROM annotations b
                      WHERE b.response_id = a.response_id AND b.annotator = a.annotator);
    """)



@migrations()
def m005_prompt_sets(db: sqlite_utils.Database):
    """Building prompt sets (OR-Bench's pipeline): every answered generation call, where each
    generated prompt came from, moderators' verdicts on prompts, and human labels on prompts.

    A generated prompt is an ordinary row of ``prompts`` (so it can be reviewed, answered, judged
    and exported like any other); ``prompt_provenance`` says which step, call, model and template
    made it and from which prompt. ``generation_calls`` keeps one row per answered call, its raw
    output and what was read from it, so a resumed step knows which calls are done (the sample
    index tells apart the identical requests a sampling step asks on purpose) and the counts of
    dropped duplicates and unreadable answers are facts, not estimates. Moderations are verdicts on
    prompts; the ensemble's decision is derived from them when needed and never stored. The label
    lists are written out, not read from labels.py: a migration is history."""
    db.executescript(f"""
    CREATE TABLE generation_calls (
        id INTEGER PRIMARY KEY,
        run_id INTEGER REFERENCES runs (id),
        step TEXT NOT NULL CHECK (step IN ('seed', 'rewrite')),
        dataset TEXT NOT NULL,            -- the dataset its prompts went into
        category TEXT,                    -- seed: the category asked for
        parent_id INTEGER REFERENCES prompts (id),  -- rewrite: the seed it rewrote
        sample INTEGER NOT NULL,          -- which of the identical requests this answer is
        generator TEXT NOT NULL,          -- the step's name: kind, model and a hash of template and settings
        model TEXT NOT NULL,
        template_hash TEXT NOT NULL,
        raw_output TEXT NOT NULL,
        format TEXT NOT NULL,             -- what the parser read: brackets, guillemets, numbered, none
        parsed INTEGER NOT NULL,          -- prompts read from the answer
        kept INTEGER NOT NULL,            -- of those, new prompts added to the dataset
        duplicates INTEGER NOT NULL,      -- dropped: same normalised text as a prompt already kept
        echoes INTEGER NOT NULL,          -- dropped: a line of the request repeated back
        latency_ms REAL,
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        created_at TEXT NOT NULL DEFAULT {_NOW}
    );
    CREATE UNIQUE INDEX generation_calls_item
        ON generation_calls (generator, dataset, step, coalesce(category, ''), coalesce(parent_id, 0), sample);
    CREATE INDEX generation_calls_dataset ON generation_calls (dataset, step);

    CREATE TABLE prompt_provenance (
        prompt_id INTEGER PRIMARY KEY REFERENCES prompts (id),
        step TEXT NOT NULL CHECK (step IN ('seed', 'rewrite', 'hard', 'publish')),
        parent_id INTEGER REFERENCES prompts (id),  -- the prompt it was made from (none for a seed)
        call_id INTEGER REFERENCES generation_calls (id),  -- the call that wrote it (seed, rewrite)
        model TEXT,
        template_hash TEXT,
        detail TEXT NOT NULL DEFAULT '{{}}',  -- hard: judge and refusing models; publish: where expected came from
        created_at TEXT NOT NULL DEFAULT {_NOW}
    );
    CREATE INDEX prompt_provenance_parent ON prompt_provenance (parent_id);

    CREATE TABLE moderations (
        id INTEGER PRIMARY KEY,
        prompt_id INTEGER NOT NULL REFERENCES prompts (id),
        judge_id INTEGER NOT NULL REFERENCES judges (id),
        label TEXT NOT NULL CHECK (label IN ('hate', 'self-harm', 'sexual', 'violence', 'harassment', 'harmful',
                                             'illegal', 'unethical', 'privacy', 'deception', 'none', 'unparsed')),
        rationale TEXT,
        raw_output TEXT,
        latency_ms REAL,
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        created_at TEXT NOT NULL DEFAULT {_NOW},
        UNIQUE (prompt_id, judge_id)
    );
    CREATE INDEX moderations_judge ON moderations (judge_id, label);

    -- Append-only like annotations: a change is a new row, an undo names the row it undoes and
    -- carries what is current again (label NULL: nothing left).
    CREATE TABLE prompt_annotations (
        id INTEGER PRIMARY KEY,
        prompt_id INTEGER NOT NULL REFERENCES prompts (id),
        annotator TEXT NOT NULL,
        label TEXT CHECK (label IS NULL OR label IN ('should_refuse', 'should_comply', 'unclear')),
        category TEXT,
        note TEXT,
        undoes INTEGER REFERENCES prompt_annotations (id),
        created_at TEXT NOT NULL DEFAULT {_NOW}
    );
    CREATE INDEX prompt_annotations_prompt ON prompt_annotations (prompt_id, annotator, id);
    CREATE TRIGGER prompt_annotations_no_update BEFORE UPDATE ON prompt_annotations
        BEGIN SELECT RAISE(ABORT, 'prompt annotations are append-only: add a row instead'); END;
    CREATE TRIGGER prompt_annotations_no_delete BEFORE DELETE ON prompt_annotations
        BEGIN SELECT RAISE(ABORT, 'prompt annotations are append-only: nothing is ever deleted'); END;
    CREATE VIEW current_prompt_annotations AS
        SELECT * FROM prompt_annotations a
        WHERE a.label IS NOT NULL
          AND a.id = (SELECT max(b.id) FROM prompt_annotations b
                      WHERE b.prompt_id = a.prompt_id AND b.annotator = a.annotator);
    """)


@migrations()
def m006_runs_owned_batched_learned(db: sqlite_utils.Database):
    """Three things a run needs to survive the real world.

    ``runs.pid`` / ``runs.owner``: the process running it (owner: host, boot id and the process's
    start time, so a reused pid is not mistaken for the run's), so a run whose process is gone can
    be marked ``interrupted`` instead of staying ``running`` forever.
    ``run_batches``: a run sent through a provider's Batch API: the uploaded file and the batch id,
    written the moment each exists, so a restarted process resumes polling instead of paying twice.
    ``endpoint_features``: what an endpoint (base URL) and model accept (structured output mode,
    ``max_completion_tokens``, no temperature), learned once from its errors and remembered."""
    db.executescript(f"""
    ALTER TABLE runs ADD COLUMN pid INTEGER;
    ALTER TABLE runs ADD COLUMN owner TEXT;
    CREATE INDEX runs_status ON runs (status);

    CREATE TABLE run_batches (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs (id),
        base_url TEXT NOT NULL,
        input_file_id TEXT NOT NULL,      -- the uploaded requests file
        batch_id TEXT,                    -- NULL between the upload and the batch's creation
        n_requests INTEGER NOT NULL,
        status TEXT NOT NULL DEFAULT 'uploaded',  -- uploaded, then the provider's, then 'collected'
        created_at TEXT NOT NULL DEFAULT {_NOW},
        collected_at TEXT
    );
    CREATE INDEX run_batches_run ON run_batches (run_id);

    CREATE TABLE endpoint_features (
        base_url TEXT NOT NULL,
        model TEXT NOT NULL,
        feature TEXT NOT NULL,            -- 'structured', 'max_completion_tokens', 'no_temperature'
        value TEXT NOT NULL,
        learned_at TEXT NOT NULL DEFAULT {_NOW},
        PRIMARY KEY (base_url, model, feature)
    );
    """)


@migrations()
def m007_import_journal(db: sqlite_utils.Database):
    """The id ranges an import has published so far (store/staging.py): an import publishes in
    short transactions, and these ranges are what an undo deletes if it fails or is killed. Empty
    whenever no import is publishing."""
    db.executescript("""
    CREATE TABLE import_journal (
        id INTEGER PRIMARY KEY,
        import_id TEXT NOT NULL,          -- host:pid:random, one per import
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        tbl TEXT NOT NULL CHECK (tbl IN ('prompts', 'responses', 'verdicts', 'judges')),
        first_id INTEGER NOT NULL,
        last_id INTEGER NOT NULL
    );
    CREATE INDEX import_journal_import ON import_journal (import_id);
    """)


@migrations()
def m008_team_review(db: sqlite_utils.Database):
    """What a team adds around the labels: display names for judges and models (an admin's choice;
    stakeholders should not read hashes), free per-response tags (a team vocabulary; "needs
    discussion" is the flag), a comment thread per response, and an adjudicator's final label.

    Tags, comments and final labels are append-only like annotations: removing a tag or withdrawing
    a final label is a new row (their newest ids are part of reads.change_token, like the labels'); a
    display name is an edit, so it bumps the edit counter (m003). CoCoNot's preference prompts belong to its contrast set (the README counts them there),
    so ones imported before that was known get their expected behaviour."""
    db.executescript(f"""
    CREATE TABLE display_names (
        kind TEXT NOT NULL CHECK (kind IN ('judge', 'model')),
        name TEXT NOT NULL,
        display TEXT NOT NULL,
        updated_by TEXT,
        updated_at TEXT NOT NULL DEFAULT {_NOW},
        PRIMARY KEY (kind, name)
    );
    -- added = 1 puts a tag on a response, 0 takes it off; the newest row per (response, tag) decides.
    CREATE TABLE tag_events (
        id INTEGER PRIMARY KEY,
        response_id INTEGER NOT NULL REFERENCES responses (id),
        tag TEXT NOT NULL,
        added INTEGER NOT NULL CHECK (added IN (0, 1)),
        author TEXT NOT NULL,
        created_at TEXT NOT NULL DEFAULT {_NOW}
    );
    CREATE INDEX tag_events_response ON tag_events (response_id, tag, id);
    CREATE INDEX tag_events_tag ON tag_events (tag, response_id);
    CREATE VIEW current_tags AS
        SELECT t.response_id, t.tag, t.author, t.created_at FROM tag_events t
        WHERE t.added = 1
          AND t.id = (SELECT max(u.id) FROM tag_events u WHERE u.response_id = t.response_id AND u.tag = t.tag);
    CREATE TABLE comments (
        id INTEGER PRIMARY KEY,
        response_id INTEGER NOT NULL REFERENCES responses (id),
        author TEXT NOT NULL,
        body TEXT NOT NULL,
        created_at TEXT NOT NULL DEFAULT {_NOW}
    );
    CREATE INDEX comments_response ON comments (response_id, id);
    -- The adjudicator's final label on a response; label NULL withdraws it. The newest row decides.
    CREATE TABLE adjudications (
        id INTEGER PRIMARY KEY,
        response_id INTEGER NOT NULL REFERENCES responses (id),
        label TEXT CHECK (label IS NULL OR label IN ('full_compliance', 'partial_refusal', 'full_refusal')),
        adjudicator TEXT NOT NULL,
        note TEXT,
        created_at TEXT NOT NULL DEFAULT {_NOW}
    );
    CREATE INDEX adjudications_response ON adjudications (response_id, id);
    CREATE VIEW current_adjudications AS
        SELECT * FROM adjudications a
        WHERE a.label IS NOT NULL
          AND a.id = (SELECT max(b.id) FROM adjudications b WHERE b.response_id = a.response_id);
    UPDATE prompts SET expected = 'should_comply' WHERE dataset = 'coconot-pref' AND expected IS NULL;
    """)
    for table in ("tag_events", "comments", "adjudications"):
        for event, what in (("update", "append-only: add a row instead"), ("delete", "append-only: nothing is ever deleted")):
            db.execute(f"CREATE TRIGGER {table}_no_{event} BEFORE {event.upper()} ON {table} "
                       f"BEGIN SELECT RAISE(ABORT, '{table} are {what}'); END")
    for event in ("INSERT", "UPDATE", "DELETE"):
        db.execute(f"CREATE TRIGGER display_names_{event.lower()}_counts AFTER {event} ON display_names "
                   "BEGIN UPDATE edit_counter SET n = n + 1; END")


@migrations()
def m009_learned_judge(db: sqlite_utils.Database):
    """The learned judge and its review queue (issue 15). ``verdicts.probability``: the probability
    a judge gives its own label (the learned judge; NULL for judges without one). A suggested batch
    ("most informative first") is a random sample of responses whose inclusion probabilities are
    known; ``suggestions.pi`` keeps each one, because corrected rates weight every label from a
    batch by 1 / pi (analysis/active.py). Whether a suggestion has been labelled is read from the
    labels, never stored."""
    db.executescript(f"""
    ALTER TABLE verdicts ADD COLUMN probability REAL;

    CREATE TABLE suggestion_batches (
        id INTEGER PRIMARY KEY,
        judge TEXT,                       -- the learned judge whose probabilities weighted the draw; NULL: none
        n INTEGER NOT NULL,               -- responses drawn
        pool INTEGER NOT NULL,            -- responses they were drawn from (the selection)
        seed INTEGER NOT NULL,
        selection TEXT NOT NULL DEFAULT '{{}}',
        created_by TEXT,
        created_at TEXT NOT NULL DEFAULT {_NOW}
    );
    CREATE TABLE suggestions (
        batch_id INTEGER NOT NULL REFERENCES suggestion_batches (id),
        position INTEGER NOT NULL,        -- the order to review them in (random)
        response_id INTEGER NOT NULL REFERENCES responses (id),
        pi REAL NOT NULL CHECK (pi > 0 AND pi <= 1),
        PRIMARY KEY (batch_id, position)
    );
    CREATE INDEX suggestions_response ON suggestions (response_id);
    """)


#: A response's side of a preference pair ("chosen" / "rejected"; response alias ``{r}``), from its settings.
SIDE_OF = ("CASE WHEN {r}.settings = '{{}}' THEN NULL "
           "WHEN json_valid({r}.settings) THEN json_extract({r}.settings, '$.preference') END")
# A response's slice as ``slice_counts`` keys it (store.reads.SLICE, as JSON: NULL and '' stay apart).
_SLICE_OF = "json_array(p.dataset, p.category, p.subcategory, p.expected, {r}.model, " + SIDE_OF + ")"


def fill_slice_counts(db: sqlite_utils.Database) -> None:
    """(Re)count ``slice_counts`` from the rows and mark them current (migration 010, and
    store.reads.rebuild_slice_counts after an edit made them stale). Inside the caller's transaction."""
    db.conn.execute("DELETE FROM slice_counts")
    db.conn.execute(f"""INSERT INTO slice_counts (judge_id, slice, label, n)
                        SELECT 0, {_SLICE_OF.format(r="r")}, '', count(*)
                        FROM responses r NOT INDEXED JOIN prompts p ON p.id = r.prompt_id WHERE 1 GROUP BY 2""")
    db.conn.execute(f"""INSERT INTO slice_counts (judge_id, slice, label, n)
                        SELECT v.judge_id, {_SLICE_OF.format(r="r")}, v.label, count(*)
                        FROM verdicts v JOIN responses r ON r.id = v.response_id JOIN prompts p ON p.id = r.prompt_id
                        WHERE 1 GROUP BY 1, 2, 3""")
    db.conn.execute("UPDATE slice_counts_state SET stale = 0")


@migrations()
def m010_slice_counts(db: sqlite_utils.Database):
    """Running counts behind the judge-only benchmark rates (issue 18): responses per slice
    (judge_id 0, label '') and each judge's verdicts per slice and label, kept by triggers as rows
    come and go (a slice left empty is deleted, so an undone import leaves the table as it was), so a
    report reads a few hundred rows instead of grouping a million. An edit that
    moves rows between slices (a prompt's dataset, category, subcategory or expected behaviour, a
    response's prompt, model or settings, a verdict's label) marks the counts stale instead;
    ``store.reads.judge_label_counts`` then counts from the rows and rebuilds them."""
    db.executescript("""
    CREATE TABLE slice_counts (
        judge_id INTEGER NOT NULL,        -- 0: every response; else one judge's verdicts
        slice TEXT NOT NULL,              -- JSON [dataset, category, subcategory, expected, model, side]
        label TEXT NOT NULL,              -- '' for judge_id 0
        n INTEGER NOT NULL,
        PRIMARY KEY (judge_id, slice, label)
    );
    CREATE TABLE slice_counts_state (id INTEGER PRIMARY KEY CHECK (id = 1), stale INTEGER NOT NULL);
    INSERT INTO slice_counts_state (id, stale) VALUES (1, 0);
    """)
    fill_slice_counts(db)  # a database with responses already: counted once, here
    response = _SLICE_OF.format(r="new")
    gone = _SLICE_OF.format(r="old")
    db.executescript(f"""
    CREATE TRIGGER responses_slice_insert AFTER INSERT ON responses BEGIN
        INSERT INTO slice_counts (judge_id, slice, label, n)
            SELECT 0, {response}, '', 1 FROM prompts p WHERE p.id = new.prompt_id
            ON CONFLICT (judge_id, slice, label) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER responses_slice_delete AFTER DELETE ON responses BEGIN
        UPDATE slice_counts SET n = n - 1 WHERE judge_id = 0 AND label = ''
            AND slice = (SELECT {gone} FROM prompts p WHERE p.id = old.prompt_id);
        DELETE FROM slice_counts WHERE judge_id = 0 AND label = '' AND n = 0
            AND slice = (SELECT {gone} FROM prompts p WHERE p.id = old.prompt_id);
    END;
    CREATE TRIGGER verdicts_slice_insert AFTER INSERT ON verdicts BEGIN
        INSERT INTO slice_counts (judge_id, slice, label, n)
            SELECT new.judge_id, {_SLICE_OF.format(r="r")}, new.label, 1
            FROM responses r JOIN prompts p ON p.id = r.prompt_id WHERE r.id = new.response_id
            ON CONFLICT (judge_id, slice, label) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER verdicts_slice_delete AFTER DELETE ON verdicts BEGIN
        UPDATE slice_counts SET n = n - 1 WHERE judge_id = old.judge_id AND label = old.label
            AND slice = (SELECT {_SLICE_OF.format(r="r")} FROM responses r JOIN prompts p ON p.id = r.prompt_id
                         WHERE r.id = old.response_id);
        DELETE FROM slice_counts WHERE judge_id = old.judge_id AND label = old.label AND n = 0
            AND slice = (SELECT {_SLICE_OF.format(r="r")} FROM responses r JOIN prompts p ON p.id = r.prompt_id
                         WHERE r.id = old.response_id);
    END;
    CREATE TRIGGER prompts_slice_moved AFTER UPDATE OF dataset, category, subcategory, expected ON prompts
        WHEN old.dataset IS NOT new.dataset OR old.category IS NOT new.category
          OR old.subcategory IS NOT new.subcategory OR old.expected IS NOT new.expected
    BEGIN UPDATE slice_counts_state SET stale = 1; END;
    CREATE TRIGGER responses_slice_moved AFTER UPDATE OF prompt_id, model, settings ON responses
    BEGIN UPDATE slice_counts_state SET stale = 1; END;
    CREATE TRIGGER verdicts_slice_moved AFTER UPDATE OF response_id, judge_id, label ON verdicts
    BEGIN UPDATE slice_counts_state SET stale = 1; END;
    """)
