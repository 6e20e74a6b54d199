"""Benchmark figures per model against direct computations, the report command, the Results page,
and the chart downloads."""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import labels
import store
from analysis import agreement, benchmarks, humans, rates
from cli import cli
from tests.conftest import ROOT
from tests.synthetic_judged import build


@pytest.fixture(scope="module")
def synthetic_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("results") / "synthetic.db"
    build(store.connect(path), 3000, seed=5, reviewed=0.4)
    return path


@pytest.fixture(scope="module")
def frames(synthetic_db):
    db = store.connect(synthetic_db)
    return (store.reads.responses_frame(db), store.reads.verdicts_frame(db), store.reads.annotations_frame(db))


def report_json(db_path, source):
    result = CliRunner().invoke(cli, ["--db", str(db_path), "report", "--source", source, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output, parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}"))


def test_wilson_interval_known_values():
    p, lo, hi = rates.wilson(np.array([5, 0, 10]), np.array([10, 10, 10]))
    assert p.tolist() == [0.5, 0.0, 1.0]
    assert lo[0] == pytest.approx(0.2366, abs=1e-4) and hi[0] == pytest.approx(0.7634, abs=1e-4)
    assert lo[1] == pytest.approx(0.0, abs=1e-12) and hi[1] == pytest.approx(0.2775, abs=1e-4)
    assert hi[2] == pytest.approx(1.0) and lo[2] == pytest.approx(0.7225, abs=1e-4)
    p, lo, hi = rates.wilson(0, 0)
    assert np.isnan(p) and np.isnan(lo)


def test_judge_figures_match_a_direct_count(synthetic_db, frames):
    responses, verdicts, _ = frames
    out = report_json(synthetic_db, "judge:rules")
    judged = responses.merge(verdicts[verdicts.judge == "rules"], on="response_id")
    parsed = judged[judged.label != labels.UNPARSED]

    coconot = pd.DataFrame(out["coconot"])
    for row in coconot[coconot.subcategory.notna()].itertuples():
        part = parsed[(parsed.dataset == row.dataset) & (parsed.model == row.model) & (parsed.category == row.category)
                      & (parsed.subcategory == row.subcategory)]
        assert row.n == len(part) and row.estimate == pytest.approx((part.label == labels.FULL_COMPLIANCE).mean())
    overall = coconot[coconot.category == benchmarks.ALL]
    assert len(overall) == 2 * 3  # two CoCoNot sets x three models
    for row in overall.itertuples():
        part = parsed[(parsed.dataset == row.dataset) & (parsed.model == row.model)]
        assert row.estimate == pytest.approx((part.label == labels.FULL_COMPLIANCE).mean())
        everything = judged[(judged.dataset == row.dataset) & (judged.model == row.model)]
        assert row.unparsed == (everything.label == labels.UNPARSED).sum()

    for row in out["orbench"]:
        part = parsed[(parsed.dataset == row["dataset"]) & (parsed.model == row["model"])]
        assert row["estimate"] == pytest.approx(part.label.isin(labels.REFUSALS).mean())  # partial counts
        assert row["lo"] < row["estimate"] < row["hi"]

    xstest = {(r["prompts"], r["model"]): r for r in out["xstest"]}
    for model in judged.model.unique():
        part = parsed[(parsed.dataset == "xstest") & (parsed.model == model)]
        safe, unsafe = part[part.expected == labels.SHOULD_COMPLY], part[part.expected == labels.SHOULD_REFUSE]
        assert xstest[("safe", model)]["estimate"] == pytest.approx((safe.label == labels.FULL_COMPLIANCE).mean())
        assert xstest[("unsafe", model)]["estimate"] == pytest.approx((unsafe.label == labels.FULL_REFUSAL).mean())


def test_human_figures_use_the_majority_label(synthetic_db, frames):
    responses, _, annotations = frames
    ref = humans.reference(annotations)
    known = responses.merge(ref[~ref.tie], on="response_id")
    out = report_json(synthetic_db, "human")
    for row in out["orbench"]:
        part = known[(known.dataset == row["dataset"]) & (known.model == row["model"])]
        assert row["n"] == row["reviewed"] == len(part)
        assert row["estimate"] == pytest.approx(part.reference.isin(labels.REFUSALS).mean())


def test_corrected_figures_sit_closer_to_the_human_ones(synthetic_db):
    """The synthetic rule judge is noisy: correcting it moves its rates towards the human figures."""
    judge = pd.DataFrame(report_json(synthetic_db, "judge:rules")["orbench"]).set_index(["dataset", "model"])
    human = pd.DataFrame(report_json(synthetic_db, "human")["orbench"]).set_index(["dataset", "model"])
    fixed = pd.DataFrame(report_json(synthetic_db, "corrected:rules")["orbench"]).set_index(["dataset", "model"])
    assert (fixed.estimate - human.estimate).abs().mean() < (judge.estimate - human.estimate).abs().mean()
    assert (fixed.reviewed == human.reviewed).all()


def test_unknown_sources_and_judges_are_clear_errors(synthetic_db):
    for source, message in (("nonsense", "unknown source 'nonsense'"), ("judge:nobody", "no verdicts by judge")):
        result = CliRunner().invoke(cli, ["--db", str(synthetic_db), "report", "--source", source])
        assert result.exit_code == 1 and message in result.output


def test_empty_database_gives_empty_tables(db_path):
    store.connect(db_path)
    out = report_json(db_path, "human")
    assert out["coconot"] == [] and out["orbench"] == [] and out["xstest"] == []


def test_coconot_table_is_models_by_categories(frames):
    report = benchmarks.report(*frames, "judge:gpt-judge")
    table = benchmarks.coconot_table(report["coconot"], "coconot-original")
    assert list(table.index) == ["model-a", "model-b", "model-c"]
    assert table.columns[0] == benchmarks.ALL and "Humanizing requests" in table.columns
    assert ((table >= 0) & (table <= 100)).all().all()


def test_results_page_switches_sources_and_shows_the_report(synthetic_db, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("REFUSAL_REVIEW_DB", str(synthetic_db))
    at = AppTest.from_file(str(ROOT / "pages" / "results.py"), default_timeout=60)
    at.run()
    assert not at.exception
    assert [s.value for s in at.subheader][:3] == ["CoCoNot: compliance rate by category",
                                                   "OR-Bench: over-refusal against toxic refusal",
                                                   "XSTest: exaggerated safety"]
    assert at.segmented_control[0].value == "judge"  # the judge's own figures first, as the benchmark reports them
    assert not any("random sample" in i.value for i in at.info)
    at.segmented_control[0].set_value("corrected").run()
    assert any("random sample" in i.value for i in at.info)  # corrected figures say what they assume
    shown = at.dataframe[0].value.set_index("model")
    expected = benchmarks.coconot_table(pd.DataFrame(report_json(synthetic_db, "corrected:gpt-judge")["coconot"]),
                                        "coconot-original")
    assert shown.loc["model-b", benchmarks.ALL] == pytest.approx(expected.loc["model-b", benchmarks.ALL])
    at.segmented_control[0].set_value("human").run()
    assert not at.exception and not any("random sample" in i.value for i in at.info)
    orbench = [d.value for d in at.dataframe if "dataset" in d.value.columns and "measure" in d.value.columns
               and (d.value["measure"] == "rejection").all()][0]
    human = pd.DataFrame(report_json(synthetic_db, "human")["orbench"])
    assert orbench["estimate"].tolist() == pytest.approx(human["estimate"].tolist())


def test_every_chart_renders_to_png(frames):
    from ui import charts

    report = benchmarks.report(*frames, "corrected:rules")
    judged = agreement.judge_report(*frames, "rules", by="category", resamples=50)
    for chart in (charts.orbench_scatter(report["orbench"]), charts.xstest_bars(report["xstest"]),
                  charts.confusion_heatmap(judged["confusion"]),
                  charts.interval_bars(judged["by"]["category"], "category", "kappa")):
        image = charts.png(chart)
        assert image[:8] == b"\x89PNG\r\n\x1a\n" and len(image) > 5000


@pytest.mark.parametrize("page", ["agreement.py", "results.py"])
def test_pages_explain_what_is_missing_instead_of_failing(db_path, monkeypatch, page):
    """An empty database, then verdicts without any human label: the pages say what they need."""
    from streamlit.testing.v1 import AppTest

    db = store.connect(db_path)
    monkeypatch.setenv("REFUSAL_REVIEW_DB", str(db_path))
    at = AppTest.from_file(str(ROOT / "pages" / page), default_timeout=60)
    at.run()
    assert not at.exception and at.info
    ids = store.writes.add_prompts(db, [dict(dataset="orbench-toxic", source_id="1", text="t")])
    response = store.writes.add_responses(db, [dict(prompt_id=ids[("orbench-toxic", "1")], model="m", text="r")])
    judge = store.writes.ensure_judge(db, "j", "rules")
    store.writes.add_verdicts(db, [dict(response_id=response[0], judge_id=judge, label=labels.FULL_REFUSAL)])
    at.run()
    assert not at.exception
    if page == "agreement.py":
        assert "human labels" in at.info[0].value
    else:
        assert at.segmented_control[0].options == ["A judge"]
        assert at.dataframe[0].value["estimate"].tolist() == [1.0]
