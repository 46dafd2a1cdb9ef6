"""Issue 15: importers on the files the peer tools really write.

``tests/fixtures/peer-outputs/uqlm`` holds two real uqlm 0.6.7 files and the tool's own numbers
(``expected.json``); the luq and TruthTorchLM files are hand-written to the published
structure (see the README there)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from uqlens.cli import main
from uqlens.data.importers import import_any
from uqlens.data.schema import DataError

PEER = Path(__file__).parent / "fixtures" / "peer-outputs"
UQLM = PEER / "uqlm"
EXPECTED = json.loads((UQLM / "expected.json").read_text())
QUESTIONS = pd.read_csv(UQLM / "questions.csv")
# uqlm confidences are stored as 1 - confidence; entropies and set counts as they are.
AS_PROVIDED = {"discrete_entropy_values", "tokenprob_entropy_values", "num_semantic_sets"}
FILES = {"bb": UQLM / "bb_dict.json", "se": UQLM / "se_df.csv"}


def provided(dataset) -> dict[str, list[float]]:
    """``{method: [uncertainty per question, in question order]}``."""
    out: dict[str, list[float]] = {}
    for text in dataset.questions["provided_scores"]:
        for method, value in json.loads(text).items():
            out.setdefault(method, []).append(value)
    return out


def tool_numbers(key: str) -> dict[str, list[float]]:
    """expected.json turned into uqlens's orientation, by the rule in its README."""
    return {f"uqlm:{name}": values if name in AS_PROVIDED else [1.0 - v for v in values]
            for name, values in EXPECTED[key].items()}


@pytest.mark.parametrize("key", ["bb", "se"])
def test_real_uqlm_files_import_without_references_with_the_tools_numbers(key):
    result = import_any(FILES[key])
    ds = result.dataset
    assert ds.n_questions == 4
    assert ds.questions["references"].tolist() == [[]] * 4
    assert ds.questions["question_id"].tolist() == ["0", "1", "2", "3"]  # the tool's order
    got = provided(ds)
    want = tool_numbers(key)
    assert set(got) == set(want)
    for method, values in want.items():
        assert got[method] == pytest.approx(values, abs=1e-15), method


def test_to_df_singular_column_is_the_to_dict_method():
    result = import_any(FILES["se"], questions=UQLM / "questions.csv")
    assert provided(result.dataset)["uqlm:num_semantic_sets"] == [2, 1, 3, 4]
    assert result.flipped["uqlm:num_semantic_sets"].startswith("as provided")
    assert any("'num_semantic_set'" in n for n in result.notes)


def test_semantic_entropy_temperatures_come_from_metadata_parameters(tmp_path):
    """SemanticEntropy.to_dict() puts them under metadata.parameters (uqlm 0.6.7)."""
    frame = pd.read_csv(FILES["se"], index_col=0)
    doc = {"data": {"prompts": frame["prompt"].tolist(), "responses": frame["response"].tolist(),
                    "sampled_responses": [eval(s) for s in frame["sampled_responses"]],  # noqa: S307 - our own fixture
                    "discrete_entropy_values": EXPECTED["se"]["discrete_entropy_values"]},
           "metadata": {"parameters": {"temperature": 0.5, "sampling_temperature": 1.0,
                                       "num_responses": 5}}}
    path = tmp_path / "se_dict.json"
    path.write_text(json.dumps(doc))
    g = import_any(path, questions=UQLM / "questions.csv").dataset.generations
    assert g.loc[g["is_greedy"], "temperature"].tolist() == [0.5] * 4
    assert g.loc[~g["is_greedy"], "temperature"].tolist() == [1.0] * 20


def test_questions_file_matches_by_position_when_the_tool_saved_no_prompts():
    ds = import_any(FILES["bb"], questions=UQLM / "questions.csv").dataset
    assert ds.questions["question_id"].tolist() == ["0", "1", "2", "3"]
    assert ds.questions["question"].tolist() == QUESTIONS["question"].tolist()
    assert ds.questions["references"].tolist() == [[a] for a in QUESTIONS["answer"]]


def test_questions_file_matches_by_id_and_by_text(tmp_path):
    by_id = tmp_path / "by_id.csv"
    QUESTIONS.assign(question_id=["0", "1", "2", "3"]).iloc[::-1].to_csv(by_id, index=False)
    ds = import_any(FILES["bb"], questions=by_id).dataset
    assert ds.questions["references"].tolist() == [[a] for a in QUESTIONS["answer"]]
    by_text = tmp_path / "by_text.csv"
    QUESTIONS.iloc[::-1].to_csv(by_text, index=False)  # the CSV has prompts: text decides
    ds = import_any(FILES["se"], questions=by_text).dataset
    assert ds.questions["references"].tolist() == [[a] for a in QUESTIONS["answer"]]


def test_questions_file_of_another_length_cannot_match_by_position(tmp_path):
    short = tmp_path / "short.csv"
    QUESTIONS.iloc[:3].to_csv(short, index=False)
    with pytest.raises(DataError, match="cannot match by position"):
        import_any(FILES["bb"], questions=short)


def test_import_report_never_lists_a_dropped_field_as_mapped(tmp_path):
    frame = pd.read_csv(FILES["se"], index_col=0).assign(response_correct="maybe")
    path = tmp_path / "se.csv"
    frame.to_csv(path)
    result = import_any(path, questions=UQLM / "questions.csv")
    assert result.dataset.generations["provided_correct"].isna().all()
    assert not [m for m in result.mapped if m.startswith("response_correct")]
    assert [m for m in result.missing if m.startswith("response_correct")]


def test_luq_prompt_prefix_stripped_and_soft_accuracies_kept():
    result = import_any(PEER / "luq" / "luq_accuracy.json")
    g = result.dataset.generations
    q0 = g[g["question_id"] == "validation-0"]  # luq split "validation", record 0
    assert q0["text"].tolist() == ["Sydney", "Canberra", "Sydney", "Canberra"]
    assert q0["provided_correct_value"].tolist()[:3] == [0.031, 0.965, 0.028]
    assert q0["provided_correct"].tolist()[:3] == [False, True, False]  # cut at 0.5
    assert any("0.5" in m and "individual_accuracies" in m for m in result.mapped)
    assert any("8 of 8 answers began with their question" in n for n in result.notes)


def test_truthtorchlm_clusters_by_index_keep_identical_texts_apart():
    g = import_any(PEER / "truthtorchlm" / "tt_eval.json").dataset.generations
    samples = g[~g["is_greedy"]].set_index(["question_id", "sample_id"])["provided_cluster"]
    assert [samples[("0", f"s{k}")] for k in range(3)] == [0, 1, 1]
    assert [samples[("1", f"s{k}")] for k in range(3)] == [0, 0, 0]


def test_provided_correctness_is_a_default_judge():
    from uqlens.build.pipeline import DEFAULT_JUDGES, judge_run

    ds = import_any(PEER / "luq" / "luq_accuracy.json").dataset
    gens = ds.generations.assign(text_id=range(len(ds.generations)))
    texts = gens[["question_id", "text_id", "text"]]
    skipped: dict[str, str] = {}
    frame = judge_run(ds.questions.assign(references=[[]] * ds.n_questions), gens, texts,
                      DEFAULT_JUDGES, None, {}, skipped=skipped)
    assert frame["judge"].unique().tolist() == ["provided"]
    assert frame["value"].tolist()[:3] == [0.031, 0.965, 0.028]  # the soft score is the value
    assert set(skipped) == {"squad_f1", "rouge_l", "exact_match", "embedding_similarity"}
    assert all("reference" in why for why in skipped.values())


def test_validate_says_which_views_missing_references_disable(tmp_path, capsys):
    out = tmp_path / "bb.jsonl"
    assert main(["import", str(FILES["bb"]), "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["validate", str(out)]) == 0
    text = capsys.readouterr().out
    assert "references: 4 of 4 questions have none" in text
    assert "views off (no correctness labels at all)" in text and "Conformal" in text


# ---- build ------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["bb", "se"])
def built(request, tmp_path_factory):
    from uqlens.build.pipeline import BuildConfig, build
    from uqlens.data.export import write_dataset

    root = tmp_path_factory.mktemp(request.param)
    data = write_dataset(import_any(FILES[request.param]).dataset, root / "data.jsonl")
    config = BuildConfig(rules=("exact",), projection="pca")
    build(data, root / "run", config, cache_dir=root / "cache", progress=False,
          log=lambda _m: None)
    return request.param, root / "run"


def test_real_uqlm_files_build_with_the_tools_numbers_and_no_correctness(built):
    from uqlens.run.folder import correctness_off, load_run

    key, path = built
    run = load_run(path)
    assert run.judges == [] and len(run.table("correctness")) == 0
    assert run.manifest["questions_without_references"] == 4
    assert "reference" in run.manifest["skipped_judges"]["squad_f1"]
    why = correctness_off(run)
    assert why is not None and "none of its 4 questions has reference answers" in why
    scores = run.table("scores")
    for method, values in tool_numbers(key).items():
        got = scores[scores["method"] == method].set_index("question_id")["uncertainty"]
        assert [got[q] for q in ("0", "1", "2", "3")] == pytest.approx(values, abs=1e-15)


def test_report_without_correctness_says_why(built, tmp_path, capsys):
    _, path = built
    assert main(["report", str(path), "--out", str(tmp_path / "r.html")]) == 1
    assert "The report needs correctness labels" in capsys.readouterr().err


def test_pages_without_correctness_work_or_say_why_they_are_off(built):
    from streamlit.testing.v1 import AppTest

    app = str(Path(__file__).resolve().parent.parent / "app.py")
    _, path = built
    seen = {}
    for page in ("pages/tail.py", "pages/answer_map.py", "pages/agreement.py"):
        at = AppTest.from_file(app, default_timeout=120)
        at.session_state["uq.run"] = str(path)
        at.switch_page(page)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        seen[page] = [i.value for i in at.info]
    assert any("needs correctness labels" in i for i in seen["pages/tail.py"])
    assert not any("needs correctness labels" in i for i in seen["pages/answer_map.py"])
    assert not any("needs correctness labels" in i for i in seen["pages/agreement.py"])


def test_references_added_later_to_an_imported_file(tmp_path, capsys):
    """Import without references, then `uqlens import DATA --questions FILE`: the tool saved
    no prompts, so the questions match by position and get their texts too."""
    first, second = tmp_path / "bb.jsonl", tmp_path / "bb_refs.jsonl"
    assert main(["import", str(FILES["bb"]), "--out", str(first)]) == 0
    assert main(["import", str(first), "--questions", str(UQLM / "questions.csv"),
                 "--out", str(second)]) == 0
    assert "4 by position" in capsys.readouterr().out
    from uqlens.data.loaders import load

    q = load(second).questions
    assert q["question"].tolist() == QUESTIONS["question"].tolist()
    assert q["references"].tolist() == [[a] for a in QUESTIONS["answer"]]
    assert provided(load(second)) == provided(load(first))


def test_add_data_with_a_references_file_builds_a_judged_run(tmp_path):
    """The Data page's "References file" field: uqlm output plus questions.csv."""
    from uqlens.build.add_data import add_data
    from uqlens.run.folder import correctness_off, load_run

    result = add_data(FILES["bb"], "bb", tmp_path / "runs", questions=UQLM / "questions.csv",
                      cache_dir=tmp_path / "cache", log=lambda _m: None)
    run = load_run(result.run_path)
    assert correctness_off(run) is None
    assert {"squad_f1", "exact_match"} <= set(run.judges)
    c = run.table("correctness")
    greedy = c[(c["judge"] == "exact_match") & (c["sample_id"] == "greedy")]
    # Sydney, George Orwell, Au, 1989 against Canberra, George Orwell, Au, 1989
    assert greedy.set_index("question_id")["label"].to_dict() == {
        "0": False, "1": True, "2": True, "3": True}


def test_reference_judges_judge_only_questions_with_references():
    from uqlens.build.pipeline import judge_run

    ds = import_any(FILES["bb"]).dataset
    questions = ds.questions.assign(references=[["Canberra"], [], [], []])
    gens = ds.generations.assign(text_id=range(len(ds.generations)))
    texts = gens[["question_id", "text_id", "text"]]
    skipped: dict[str, str] = {}
    frame = judge_run(questions, gens, texts, ("exact_match", "provided"), None, {},
                      skipped=skipped)
    assert set(frame["question_id"]) == {"0"}
    # Sydney ×4 and Canberra ×1 among the judged answer and five samples
    assert frame.sort_values("sample_id")["label"].tolist() == [False] + [
        t == "Canberra" for t in ("Sydney", "Sydney", "Canberra", "Sydney", "Sydney")]
    assert list(skipped) == ["provided"]
