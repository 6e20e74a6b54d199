"""``export --format hf``: the dataset folder (Parquet + dataset card) and the upload, which the
tests follow up to huggingface_hub's HfApi and no further (its upload methods record their
arguments instead of reaching the network)."""

import pandas as pd
import pytest

from analysis import agreement
from errors import UserError
from exports import hf_dataset
from store import reads
from tests.conftest import run_cli
from tests.fixture_db import JUDGES, build


@pytest.fixture
def fixture(db):
    return build(db)


def test_the_folder_holds_every_row_and_a_card_that_explains_the_labels(db, db_path, fixture, tmp_path):
    folder = tmp_path / "refusal-audit"
    done = run_cli(db_path, "export", "--format", "hf", folder)
    assert done.returncode == 0, done.stderr
    frame = pd.read_parquet(folder / hf_dataset.DATA_FILE)
    stats = reads.stats(db)
    assert len(frame) == stats["responses"]  # every fixture prompt has responses: one row each
    assert set(frame["model"]) == {"gpt-4o-mini", "llama-3-8b", "mistral-7b"}
    judged = frame["verdicts"].map(len).sum()
    assert judged == stats["verdicts"]
    labelled = frame[frame["labels"].map(len) > 0]
    assert labelled["labels"].map(len).sum() == stats["annotations"] - len(db.execute(
        "SELECT 1 FROM annotations WHERE id NOT IN (SELECT id FROM current_annotations)").fetchall())
    assert labelled["human_label"].notna().any()

    card = (folder / "README.md").read_text()
    from huggingface_hub import DatasetCard

    meta = DatasetCard.load(folder / "README.md").data
    assert meta.configs[0]["data_files"][0]["path"] == hf_dataset.DATA_FILE
    for word in ("full_compliance", "partial_refusal", "full_refusal", "unparsed", "should_refuse"):
        assert f"`{word}`" in card
    assert all(judge in card for judge in JUDGES)
    assert "## How agreement was measured" in card and "bootstrap" in card and "Tied responses" in card
    board = agreement.overview(*reads.analysis_frames(db))["leaderboard"]
    best = board.iloc[0]
    assert f"| {best['judge']} | {best['n']} | {best['accuracy']:.3f} [" in card  # the measured figures, not a template


def test_push_uploads_the_folder_to_a_dataset_repo(db, fixture, tmp_path, monkeypatch):
    from huggingface_hub import HfApi

    calls = []
    monkeypatch.setattr(HfApi, "create_repo", lambda self, *a, **k: calls.append(("create_repo", a, k)))
    monkeypatch.setattr(HfApi, "upload_folder", lambda self, *a, **k: calls.append(("upload_folder", a, k)))
    folder = hf_dataset.write(db, tmp_path / "out")
    url = hf_dataset.push(folder, "team/refusal-audit", private=True)
    assert url.endswith("/datasets/team/refusal-audit")
    assert calls[0] == ("create_repo", ("team/refusal-audit",),
                        {"repo_type": "dataset", "private": True, "exist_ok": True})
    name, args, kwargs = calls[1]
    assert name == "upload_folder" and kwargs["folder_path"] == str(folder)
    assert (kwargs["repo_id"], kwargs["repo_type"]) == ("team/refusal-audit", "dataset")
    assert set(kwargs["allow_patterns"]) == {"README.md", "data/*.parquet"}


def test_a_failed_upload_is_one_sentence(db, fixture, tmp_path, monkeypatch):
    from huggingface_hub import HfApi

    def refuse(self, *args, **kwargs):
        raise PermissionError("401 Unauthorized")

    monkeypatch.setattr(HfApi, "create_repo", refuse)
    folder = hf_dataset.write(db, tmp_path / "out")
    with pytest.raises(UserError, match=r"hf://datasets/team/x: upload failed \(PermissionError: 401"):
        hf_dataset.push(folder, "team/x")
    with pytest.raises(UserError, match="not a dataset folder"):
        hf_dataset.push(tmp_path, "team/x")
