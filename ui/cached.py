"""The one caching idiom of the UI: reads and analyses cached until the data changes.

Every cached call is keyed on ``session.cache_key()`` (the database path plus
``store.reads.change_token``: one cheap query), so a rerun on an unchanged database costs that
query and a cache lookup whatever the number of responses, and any new response, verdict or label
moves the key by itself. Reads that do not depend on human labels leave them out of the key, so a
label press (the commonest write by far) re-runs only what it can change. ``store_read`` wraps a ``store`` function ``fn(db, *args)``; the analysis
functions below read the three input frames once (shared objects, never copied per hit; the
analysis functions never modify their input).
"""

import functools

import streamlit as st

import store
from analysis import agreement, benchmarks, humans, moderation
from store import adjudication, discussion, prompt_labels, promptsets, review, suggestions
from store import names as naming
from store.selection import Selection
from ui import session


def store_read(fn, max_entries: int = 1024, labels=True):
    """``fn(db, *args)`` cached on (database, change token, args). ``labels``: whether the result
    depends on human labels (a bool, or a function of the args): when it does not, the key leaves
    the labels out and a label press does not invalidate it."""

    def run(key: tuple, *args):
        return fn(session.db(), *args)

    # st.cache_data tells functions apart by module, qualified name and source: give each its own name.
    run.__qualname__ = f"store_read.{fn.__module__}.{fn.__qualname__}"
    cached = st.cache_data(max_entries=max_entries, show_spinner=False)(run)

    @functools.wraps(fn)
    def call(*args):
        return cached(session.cache_key(labels(*args) if callable(labels) else labels), *args)
    return call


def _on_labels(selection: Selection, *_) -> bool:
    """A selection's items depend on human labels (and the team's tags) only through its status
    filter, its tag filter or the disputed order."""
    return bool(selection.status or selection.tag) or selection.order == "disputed"


options = store_read(review.options, 8, labels=False)
count_items = store_read(review.count_items, labels=_on_labels)
item_ids = store_read(review.item_ids, labels=_on_labels)
contains = store_read(review.contains, labels=_on_labels)
position = store_read(review.position, labels=_on_labels)
size = store_read(review.size, labels=_on_labels)
labelled = store_read(review.labelled)
browse_page = store_read(review.browse_page)
prompt_ids = store_read(review.prompt_ids, 64, labels=_on_labels)
queue_left = store_read(review.queue_left)
step_counts = store_read(promptsets.step_counts, 8)
built_datasets = store_read(promptsets.built_datasets, 8)
sample_outputs = store_read(promptsets.sample_outputs, 64)
moderations = store_read(promptsets.moderations_frame, 32)
prompt_labels_frame = store_read(prompt_labels.labels_frame, 8)
count_prompts = store_read(prompt_labels.count_prompts)
prompt_position = store_read(prompt_labels.position)
prompt_contains = store_read(prompt_labels.contains)
prompt_queue_left = store_read(prompt_labels.queue_left)
prompt_progress = store_read(prompt_labels.progress)
names = store_read(naming.shown_names, 8, labels=False)
vocabulary = store_read(discussion.vocabulary, 8)  # tags count as labels (store.reads.LABEL_PARTS)
grid_page = store_read(review.grid_page)
stats = store_read(store.reads.stats, 8, labels=False)
search_matches = store_read(review.search_matches, 256, labels=False)


def shown_as(kind: str):
    """How every page names a ``kind`` ("judge", "model"): its display name, else the stored name
    (a function, for ``map`` and ``format_func``)."""
    table = names()[kind]
    return lambda name: table.get(name, name)


def progress(selection: Selection, reviewer: str | None) -> review.Progress:
    """Labelled / total in the selection: the totals cached apart from the labels (a label press
    recounts only the labelled side)."""
    items, responses = size(selection)
    done, mine = labelled(selection, reviewer)
    return review.Progress(items, responses, done, mine)


def token() -> tuple:
    return session.cache_key()


@st.cache_resource(max_entries=8, show_spinner=False)
def _labelled(key: tuple, selection: Selection):
    """The labelled responses, their verdicts and the labels: what agreement needs, read from the
    labels' side (costs what is labelled, not the database's size)."""
    db = store.connect(key[0])
    try:
        return store.reads.analysis_frames(db, selection, labelled_only=True)
    finally:
        db.conn.close()


def frames(selection: Selection = Selection()):
    """(responses, verdicts, annotations) of the labelled responses, as
    ``store.reads.analysis_frames(labelled_only=True)`` gives them."""
    return _labelled(session.cache_key(), selection)


@st.cache_data(max_entries=16, show_spinner=False)
def _label_counts(key: tuple, judge: str | None):
    """(responses per slice and judge label, judges with verdicts): keyed without the labels
    (``session.cache_key(labels=False)``), so a label press never counts them again."""
    db = store.connect(key[0])
    try:
        return store.reads.judge_label_counts(db, Selection(), judge), store.reads.judges_with_verdicts(db)
    finally:
        db.conn.close()


@st.cache_resource(max_entries=4, show_spinner=False)
def team_frames(key: tuple):
    """(final labels, tags): what the team adds to the labels, for the analyses; ``key`` is ``token()``."""
    db = store.connect(key[0])
    try:
        return adjudication.finals_frame(db), discussion.tags_frame(db)
    finally:
        db.conn.close()


@st.cache_data(max_entries=32, show_spinner="Measuring agreement...")
def overview(key: tuple, selection: Selection, reference: str) -> dict:
    return agreement.overview(*frames(selection), reference, final=team_frames(key)[0])


@st.cache_data(max_entries=64, show_spinner="Measuring agreement...")
def judge_report(key: tuple, selection: Selection, judge: str, reference: str, by: str) -> dict:
    final, tags = team_frames(key)
    return agreement.judge_report(*frames(selection), judge, reference, by, final=final, tags=tags)


@st.cache_data(max_entries=32, show_spinner=False)
def disagreements(key: tuple, selection: Selection, judge: str, reference: str):
    responses, verdicts, annotations = frames(selection)
    ref = humans.reference(annotations, reference, team_frames(key)[0])
    return agreement.disagreements(agreement.pairs(responses, verdicts[verdicts["judge"] == judge], ref))


@st.cache_data(max_entries=8, show_spinner="Training the learned judge on growing sets of labels...")
def learning_curve(key: tuple, reference: str):
    """The learned judge's learning curve; ``key`` is ``token()`` (new labels, new curve)."""
    from runs import learned

    return learned.curve(session.db(), reference)


@st.cache_data(max_entries=32, show_spinner="Computing benchmark figures...")
def report(key: tuple, source: str) -> dict:
    """``active:NAME`` reads the suggested batches too: a new batch changes no figure until one of
    its responses is labelled, and a label changes ``key``."""
    batches = suggestions.batches_frame(session.db()) if source.startswith("active:") else None
    counts, judges = _label_counts(session.cache_key(labels=False), benchmarks.parse_source(source)[1])
    return benchmarks.report(*frames(), source, final=team_frames(key)[0], batches=batches, counts=counts,
                             judges=judges)


@st.cache_data(max_entries=8, show_spinner=False)
def batches_labelled(key: tuple) -> int:
    """How many suggested responses carry a human label (the active estimate's labels)."""
    return int(suggestions.batches_frame(session.db())["labelled"].sum())


@st.cache_data(max_entries=8, show_spinner=False)
def analysis_options(key: tuple) -> dict:
    """What the analysis pages offer: datasets, judges and annotators present in the database."""
    fields = options()  # keyed without the labels: a label press does not scan the responses again
    return {"datasets": fields["dataset"], "judges": fields["judge"],
            "annotators": store.reads.annotators(session.db())}


@st.cache_resource(max_entries=4, show_spinner=False)
def prompt_frames(key: tuple, dataset: str = ""):
    """(moderations of ``dataset``'s prompts, current human prompt labels); ``key`` is ``token()``."""
    db = store.connect(key[0])
    try:
        return promptsets.moderations_frame(db, dataset), prompt_labels.labels_frame(db)
    finally:
        db.conn.close()


@st.cache_data(max_entries=32, show_spinner="Measuring agreement...")
def moderator_agreement(key: tuple, dataset: str, rule: str, reference: str) -> dict:
    return moderation.moderator_agreement(*prompt_frames(key, dataset), rule, reference)


@st.cache_data(max_entries=32, show_spinner=False)
def moderator_disagreements(key: tuple, dataset: str, rule: str, reference: str):
    moderations, labels = prompt_frames(key, dataset)
    wrong = moderation.moderator_disagreements(moderations, labels, rule, reference)
    where = moderations.drop_duplicates("prompt_id").set_index("prompt_id")[["dataset", "source_id"]]
    return wrong.join(where, on="prompt_id")
