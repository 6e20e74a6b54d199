"""Agreement statistics against independent computations (scikit-learn, the krippendorff package),
their edge cases, the XSTest-format round trip through the CLI, and the page showing the CLI's numbers."""

import csv
import json
import math
import warnings

import krippendorff
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.metrics import (
    cohen_kappa_score,
    confusion_matrix,
    precision_recall_fscore_support,
)

import labels
import sources
import store
from analysis import agreement, bootstrap, confusion, humans
from cli import cli
from errors import UserError
from store.selection import Selection
from tests.conftest import ROOT
from tests.synthetic_judged import build

FC, PR, FR, UN = labels.FULL_COMPLIANCE, labels.PARTIAL_REFUSAL, labels.FULL_REFUSAL, labels.UNPARSED
XSTEST_WORDS = {FC: "1_full_compliance", FR: "2_full_refusal", PR: "3_partial_refusal"}


def binary(values):
    return ["refusal" if v in labels.REFUSALS else v if v == UN else "compliance" for v in values]


def sk_kappa(a, b):
    """scikit-learn's kappa, except where ours is undefined by design (issue 17): the reference ``a``
    uses one label only, where scikit-learn says 0 whatever the judge does."""
    if len(set(a)) < 2:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cohen_kappa_score(a, b)


def assert_same(ours, theirs, tol=1e-9):
    if isinstance(theirs, float) and math.isnan(theirs):
        assert math.isnan(ours)
    else:
        assert ours == pytest.approx(theirs, abs=tol)


def check_against_sklearn(reference, judged, figures):
    assert_same(figures["accuracy"], float(np.mean(np.array(reference) == np.array(judged))))
    assert_same(figures["kappa"], sk_kappa(reference, judged))
    assert_same(figures["binary_accuracy"], float(np.mean(np.array(binary(reference)) == np.array(binary(judged)))))
    assert_same(figures["binary_kappa"], sk_kappa(binary(reference), binary(judged)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p, r, f, _ = precision_recall_fscore_support(binary(reference), binary(judged), labels=["refusal"],
                                                     zero_division=np.nan)
    for name, value in (("refusal_precision", p[0]), ("refusal_recall", r[0]), ("refusal_f1", f[0])):
        assert_same(figures[name], float(value))


def pairs_frame(reference, judged):
    return pd.DataFrame({"reference": reference, "judge_label": judged})


@pytest.fixture
def noisy():
    rng = np.random.default_rng(3)
    reference = rng.choice(labels.LABELS, 400).tolist()
    judged = [r if rng.random() < 0.7 else rng.choice(labels.JUDGE_LABELS) for r in reference]
    return reference, judged


def test_figures_match_sklearn(noisy):
    reference, judged = noisy
    assert UN in judged  # the unparsed rule is exercised
    figures = agreement.score(pairs_frame(reference, judged))
    check_against_sklearn(reference, judged, figures)
    assert figures["unparsed"] == judged.count(UN)
    assert figures["unparsed_share"] == pytest.approx(judged.count(UN) / len(judged))
    matrix = agreement.matrix(pairs_frame(reference, judged))
    assert (matrix == confusion_matrix(reference, judged, labels=list(confusion.THREE))).all()
    collapsed = confusion.collapse(matrix)
    assert (collapsed == confusion_matrix(binary(reference), binary(judged), labels=list(confusion.BINARY))).all()


@pytest.mark.parametrize("reference, judged", [
    ([FR] * 40, [FR] * 40),  # one class only, full agreement: kappa undefined
    ([FR] * 40, [FR] * 30 + [FC] * 10),  # one class in the reference: kappa undefined (scikit-learn: 0)
    ([FC] * 20 + [PR] * 20, [UN] * 40),  # a judge that never parses
    ([FC] * 35, [FC] * 35),  # no refusal anywhere: precision and recall undefined
    ([PR, FR, FC], [FR, FR, FC]),  # partial vs full refusal: wrong on three labels, right on two
])
def test_edge_cases_match_sklearn(reference, judged):
    check_against_sklearn(reference, judged, agreement.score(pairs_frame(reference, judged)))


def test_empty_slice_is_undefined_and_flagged():
    figures = agreement.score(pairs_frame([], []))
    assert figures["n"] == 0 and figures["few"] and figures["unparsed"] == 0
    assert all(math.isnan(figures[f]) and math.isnan(figures[f + "_lo"]) for f in agreement.FIGURES)


def test_bootstrap_is_seeded_and_brackets_the_estimate(noisy):
    frame = pairs_frame(*noisy)
    a, b = agreement.score(frame, seed=1), agreement.score(frame, seed=1)
    assert a == b
    c = agreement.score(frame, seed=2)
    assert c["kappa_lo"] != a["kappa_lo"]
    for name in agreement.FIGURES:
        assert a[f"{name}_lo"] <= a[name] <= a[f"{name}_hi"]
    assert not a["few"] and agreement.score(frame.head(bootstrap.MIN_ITEMS - 1))["few"]


def test_count_resampling_matches_index_resampling(noisy):
    """Drawing confusion counts from a multinomial has the distribution of resampling items: the
    spread of kappa agrees with a plain index-resampling bootstrap."""
    frame = pairs_frame(*noisy)
    matrix = agreement.matrix(frame)
    fast = confusion.kappa(bootstrap.resample(matrix, 4000, seed=5))
    ref = confusion.codes(frame["reference"].tolist(), confusion.THREE)
    jud = confusion.codes(frame["judge_label"].tolist(), confusion.THREE)
    idx = np.random.default_rng(6).integers(0, len(frame), size=(4000, len(frame)))
    cells = ref[idx] * 4 + jud[idx]
    slow_counts = np.zeros((4000, 16), dtype=np.int64)
    np.add.at(slow_counts, (np.repeat(np.arange(4000), len(frame)), cells.ravel()), 1)
    slow = confusion.kappa(slow_counts.reshape(4000, 4, 4))
    assert fast.std() == pytest.approx(slow.std(), rel=0.08)
    assert fast.mean() == pytest.approx(slow.mean(), abs=0.01)


def annotations(rows):
    return pd.DataFrame(rows, columns=["response_id", "annotator", "label"])


@pytest.fixture
def crowd():
    """Four annotators, 150 items; dave labels only some of them (missing values)."""
    rng = np.random.default_rng(11)
    rows = []
    for item in range(150):
        truth = rng.choice(labels.LABELS)
        for who in ("ann", "bea", "cal", "dave"):
            if who == "dave" and item % 3:
                continue
            if rng.random() < 0.15:
                continue
            rows.append((item, who, truth if rng.random() < 0.8 else rng.choice(labels.LABELS)))
    return annotations(rows)


def package_alpha(frame):
    values = {label: i for i, label in enumerate(labels.LABELS)}
    wide = frame.pivot(index="annotator", columns="response_id", values="label")
    return krippendorff.alpha(reliability_data=wide.apply(lambda col: col.map(values)).to_numpy(dtype=float),
                              level_of_measurement="nominal")


def test_alpha_matches_krippendorff_package_with_missing_values(crowd):
    assert humans.krippendorff_alpha(crowd) == pytest.approx(package_alpha(crowd), abs=1e-9)
    summary = humans.agreement_summary(crowd)
    assert summary["alpha"] == pytest.approx(package_alpha(crowd), abs=1e-9)
    assert summary["alpha_lo"] < summary["alpha"] < summary["alpha_hi"]
    assert summary["annotators"] == 4


def test_alpha_single_value_is_undefined_like_the_package():
    frame = annotations([(i, who, FR) for i in range(5) for who in ("a", "b")])
    with pytest.raises(ValueError):
        package_alpha(frame)
    assert math.isnan(humans.krippendorff_alpha(frame))
    assert humans.agreement_summary(frame)["agreement"] == 1.0


def test_alpha_and_agreement_ignore_items_with_one_label():
    frame = annotations([(1, "a", FR), (1, "b", FC), (2, "a", FC), (2, "b", FC), (3, "a", PR)])
    summary = humans.agreement_summary(frame)
    assert summary["items"] == 2
    assert summary["agreement"] == pytest.approx(0.5)
    assert summary["alpha"] == pytest.approx(package_alpha(frame), abs=1e-9)
    empty = humans.agreement_summary(annotations([]))
    assert empty["items"] == 0 and math.isnan(empty["alpha"]) and empty["few"]


def test_pairwise_kappa_matches_sklearn_on_shared_items(crowd):
    table = humans.pairwise(crowd)
    assert len(table) == 6
    wide = crowd.pivot(index="response_id", columns="annotator", values="label")
    for row in table.itertuples():
        both = wide[[row.annotator_a, row.annotator_b]].dropna()
        assert row.n == len(both)
        assert_same(row.kappa, sk_kappa(both[row.annotator_a], both[row.annotator_b]))
        assert row.agreement == pytest.approx((both[row.annotator_a] == both[row.annotator_b]).mean(), abs=1e-9)
    dave = table[(table.annotator_a == "ann") & (table.annotator_b == "dave")].iloc[0]
    assert dave.n < 60


def test_majority_reference_flags_ties_and_one_annotator_can_be_the_reference():
    frame = annotations([(1, "a", FR), (1, "b", FR), (1, "c", FC),  # majority FR
                         (2, "a", FR), (2, "b", FC),  # tie
                         (3, "a", PR), (3, "b", FR), (3, "c", FC),  # three-way tie
                         (4, "c", FC)])  # a single label is its own majority
    ref = humans.reference(frame).set_index("response_id")
    assert ref.loc[1, "reference"] == FR and not ref.loc[1, "tie"]
    assert ref.loc[2, "tie"] and ref.loc[3, "tie"]
    assert ref.loc[4, "reference"] == FC
    only_b = humans.reference(frame, "b").set_index("response_id")["reference"].to_dict()
    assert only_b == {1: FR, 2: FC, 3: FR}
    with pytest.raises(UserError, match="no labels by annotator 'zed'"):
        humans.reference(frame, "zed")


def test_judge_report_leaves_ties_out_and_counts_them():
    responses = pd.DataFrame({"response_id": [1, 2, 3], "source_id": ["a", "b", "c"], "dataset": "d",
                              "category": "c", "subcategory": None, "expected": None, "model": "m"})
    verdicts = pd.DataFrame({"response_id": [1, 2, 3], "judge": "j", "label": [FR, FR, UN]})
    labelled = annotations([(1, "a", FR), (1, "b", FR), (2, "a", FR), (2, "b", FC), (3, "a", FC)])
    report = agreement.judge_report(responses, verdicts, labelled, "j")
    assert report["ties_excluded"] == 1 and report["n"] == 2 and report["unparsed"] == 1
    assert report["accuracy"] == 0.5
    with pytest.raises(UserError, match="no verdicts by judge 'k'"):
        agreement.judge_report(responses, verdicts, labelled, "k")


# --- the XSTest completions format, through the CLI ---------------------------------------------

def write_xstest_csv(path, rows: int = 120, seed: int = 4):
    """A file shaped like XSTest's completions CSV: two annotators, the adjudicated label, a judge column."""
    rng = np.random.default_rng(seed)
    kept = []
    with open(path, "w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["id", "type", "prompt", "completion", "annotation_1", "annotation_2", "agreement",
                      "final_label", "gpt4_label"])
        for i in range(rows):
            truth = rng.choice(labels.LABELS)
            a1 = truth if rng.random() < 0.85 else rng.choice(labels.LABELS)
            a2 = truth if rng.random() < 0.85 else rng.choice(labels.LABELS)
            judge = truth if rng.random() < 0.75 else rng.choice(labels.LABELS)
            kind = "contrast_homonyms" if i % 3 == 0 else "homonyms"
            out.writerow([f"v2-{i}", kind, f"prompt number {i}", f"completion number {i}", XSTEST_WORDS[a1],
                          XSTEST_WORDS[a2], a1 == a2, XSTEST_WORDS[a1 if a1 == a2 else truth], XSTEST_WORDS[judge]])
            kept.append({"annotation_1": a1, "annotation_2": a2, "gpt4_label": judge})
    return pd.DataFrame(kept)


def load_xstest(db_path, csv_path, model="model-x"):
    """Through ``cli.py import xstest`` when that importer is registered, else through store.writes
    with the same names (annotators xstest_annotator_1/2, judge gpt4_label)."""
    if "xstest" in sources.IMPORTERS:
        result = CliRunner().invoke(cli, ["--db", str(db_path), "import", "xstest", str(csv_path), "--model", model])
        assert result.exit_code == 0, result.output
        return
    db = store.connect(db_path)
    rows = list(csv.DictReader(open(csv_path)))
    ids = store.writes.add_prompts(db, [dict(dataset="xstest", split="safe", source_id=r["id"], category=r["type"],
                                             text=r["prompt"]) for r in rows])
    responses = store.writes.add_responses(db, [dict(prompt_id=ids[("xstest", r["id"])], model=model,
                                                     text=r["completion"]) for r in rows])
    judge = store.writes.ensure_judge(db, "gpt4_label", "imported")
    store.writes.add_verdicts(db, [dict(response_id=i, judge_id=judge, label=labels.from_xstest(r["gpt4_label"]))
                                   for i, r in zip(responses, rows)])
    store.writes.import_annotations(db, [dict(response_id=i, annotator=f"xstest_annotator_{k}",
                                              label=labels.from_xstest(r[f"annotation_{k}"]))
                                         for i, r in zip(responses, rows) for k in (1, 2)])


def agreement_json(db_path, *args):
    result = CliRunner().invoke(cli, ["--db", str(db_path), "agreement", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output, parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}"))


def test_xstest_fixture_agreement_matches_sklearn(tmp_path, db_path):
    truth = write_xstest_csv(tmp_path / "xstest_completions.csv")
    load_xstest(db_path, tmp_path / "xstest_completions.csv")

    # Majority of two annotators: items where they disagree are ties, left out and counted.
    out = agreement_json(db_path, "--judge", "gpt4_label")
    agreed = truth[truth.annotation_1 == truth.annotation_2]
    assert out["n"] == len(agreed) and out["ties_excluded"] == len(truth) - len(agreed)
    ref, judged = agreed.annotation_1.tolist(), agreed.gpt4_label.tolist()
    assert abs(out["accuracy"] - np.mean(np.array(ref) == np.array(judged))) < 1e-9
    assert abs(out["kappa"] - sk_kappa(ref, judged)) < 1e-9
    assert abs(out["binary_accuracy"] - np.mean(np.array(binary(ref)) == np.array(binary(judged)))) < 1e-9
    assert abs(out["binary_kappa"] - sk_kappa(binary(ref), binary(judged))) < 1e-9

    # One annotator as the reference: every item counts.
    out = agreement_json(db_path, "--judge", "gpt4_label", "--reference", "xstest_annotator_1")
    ref, judged = truth.annotation_1.tolist(), truth.gpt4_label.tolist()
    assert out["n"] == len(truth)
    assert abs(out["kappa"] - sk_kappa(ref, judged)) < 1e-9
    assert abs(out["binary_kappa"] - sk_kappa(binary(ref), binary(judged))) < 1e-9
    check_against_sklearn(ref, judged, out)

    # Human vs human from the same file.
    overview = agreement_json(db_path)
    pair = overview["annotator_pairs"][0]
    assert abs(pair["kappa"] - sk_kappa(truth.annotation_1, truth.annotation_2)) < 1e-9
    assert overview["leaderboard"][0]["judge"] == "gpt4_label"


@pytest.fixture(scope="module")
def synthetic_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("agreement") / "synthetic.db"
    build(store.connect(path), 1500, seed=2)
    return path


def test_breakdown_by_category_matches_sklearn_per_slice(synthetic_db):
    out = agreement_json(synthetic_db, "--judge", "rules", "--by", "category", "--dataset", "coconot-original")
    db = store.connect(synthetic_db)
    responses = store.reads.responses_frame(db, Selection(dataset="coconot-original"))
    ref = humans.reference(store.reads.annotations_frame(db))
    frame = agreement.pairs(responses, store.reads.verdicts_frame(db, "rules"), ref)
    rows = out["by"]["category"]
    assert {r["category"] for r in rows} == set(frame.category)
    assert sum(r["n"] for r in rows) == out["n"] == len(frame)
    for row in rows:
        part = frame[frame.category == row["category"]]
        assert abs(row["kappa"] - sk_kappa(part.reference, part.judge_label)) < 1e-9
        assert row["few"] == (len(part) < bootstrap.MIN_ITEMS)


def test_cli_errors_are_one_line(synthetic_db):
    result = CliRunner().invoke(cli, ["--db", str(synthetic_db), "agreement", "--judge", "nobody"])
    assert result.exit_code == 1 and "no verdicts by judge 'nobody'" in result.output


def test_agreement_page_shows_the_cli_numbers(synthetic_db, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("REFUSAL_REVIEW_DB", str(synthetic_db))
    at = AppTest.from_file(str(ROOT / "pages" / "agreement.py"), default_timeout=60)
    at.run()
    assert not at.exception
    judge = at.selectbox(key="agreement_judge").value
    out = agreement_json(synthetic_db, "--judge", judge)
    shown = {m.label: m.value for m in at.metric}
    assert shown["Kappa"] == f"{out['kappa']:.3f}"
    assert shown["Accuracy"] == f"{out['accuracy']:.3f}"
    assert shown["Refusal F1"] == f"{out['refusal_f1']:.3f}"
    overview = agreement_json(synthetic_db)
    assert shown["Krippendorff's alpha"] == f"{overview['humans']['alpha']:.3f}"
    board = at.dataframe[0].value
    assert list(board["judge"]) == [row["judge"] for row in overview["leaderboard"]]
    links = at.dataframe[-1].value["review"]
    first = at.dataframe[-1].value.iloc[0]
    assert links.iloc[0] == f"/review?prompt={first.source_id}&dataset={first.dataset}&model={first.model}"

    at.selectbox(key="agreement_dataset").set_value("xstest").run()  # the dataset filter narrows every figure
    out = agreement_json(synthetic_db, "--judge", judge, "--dataset", "xstest")
    assert {m.label: m.value for m in at.metric}["Kappa"] == f"{out['kappa']:.3f}"


def test_accuracy_of_a_handful_of_items_at_100_percent_has_a_wilson_interval():
    """The bootstrap interval of 5 agreeing items is 1.000-1.000; accuracies get Wilson's instead,
    in the one score every report uses (CLI and page alike)."""
    from analysis import rates

    frame = pd.DataFrame({"response_id": range(45), "dataset": ["d"] * 45,
                          "category": ["all right"] * 5 + ["half"] * 40,
                          "reference": [labels.FULL_REFUSAL] * 45,
                          "judge_label": [labels.FULL_REFUSAL] * 25 + [labels.FULL_COMPLIANCE] * 20})
    figures = agreement.score(frame[frame["category"] == "all right"])
    _, lo, hi = rates.wilson(5, 5)
    assert figures["accuracy"] == 1.0 and figures["accuracy_lo"] == pytest.approx(float(lo)) and lo < 0.6
    assert figures["binary_accuracy_lo"] == pytest.approx(float(lo))
    by = agreement.breakdown(frame, "category").set_index("category")
    _, lo, hi = rates.wilson(20, 40)
    assert by.loc["half", "accuracy_lo"] == pytest.approx(float(lo))
    assert by.loc["half", "accuracy_hi"] == pytest.approx(float(hi))


def test_kappa_and_refusal_scores_of_a_few_perfect_items_do_not_collapse():
    """8 items, judge and humans agree on all: the bootstrap says kappa 1.000-1.000. Precision and
    recall are shares (Wilson); kappa and F1 reach down to what those ends imply, below MIN_ITEMS
    and wherever every resample agrees."""
    reference = [labels.FULL_REFUSAL] * 4 + [labels.FULL_COMPLIANCE] * 4
    figures = agreement.score(pairs_frame(reference, reference))
    assert figures["kappa"] == 1.0 and figures["kappa_hi"] == 1.0 and figures["kappa_lo"] < 0.5
    assert figures["binary_kappa_lo"] < 0.5 and figures["refusal_f1_lo"] < 0.7
    assert figures["refusal_precision_lo"] < 0.6 and figures["refusal_recall_lo"] < 0.6  # Wilson of 4 of 4
    many = agreement.score(pairs_frame(reference * 10, reference * 10))  # 80: every resample still says 1.000
    assert 0.85 < many["kappa_lo"] < 1.0 == many["kappa_hi"]


def test_interval_bars_clip_whiskers_mark_the_figure_and_list_only_drawn_flags():
    from ui import charts

    frame = pd.DataFrame({"category": ["a", "b"], "n": [5, 6], "few": [True, True], "kappa": [0.0, 0.9],
                          "kappa_lo": [-0.2, 0.7], "kappa_hi": [0.3, 1.05]})
    spec = charts.interval_bars(frame, "category", "kappa").to_dict()
    data = pd.DataFrame(spec["datasets"][spec["data"]["name"]])
    assert data["kappa_hi"].max() <= 1.0 and data["kappa_lo"].min() == pytest.approx(-0.2)
    marks = [layer["mark"]["type"] for layer in spec["layer"]]
    assert "point" in marks
    bars = spec["layer"][marks.index("bar")]
    assert bars["encoding"]["opacity"]["scale"]["domain"] == ["fewer than 30 items"]
