"""Importers for peer tools' saved outputs. Fixtures are written here, into tmp_path, with
the structures the tools' own code writes (see each importer's docstring for the source)."""

from __future__ import annotations

import json
import pickle
from collections import defaultdict

import pandas as pd
import pytest

from uqlens.cli import main
from uqlens.data.importers import PickleRefused, detect, import_any
from uqlens.data.loaders import load
from uqlens.data.schema import DataError


def scores_of(result, qid: str) -> dict:
    q = result.dataset.questions.set_index("question_id")
    return json.loads(q.loc[qid, "provided_scores"])


def counts(result) -> tuple[int, int, int]:
    g = result.dataset.generations
    return result.dataset.n_questions, int((~g["is_greedy"]).sum()), int(g["is_greedy"].sum())


# ---- LM-Polygraph ---------------------------------------------------------------------------


def write_polygraph(path, *, samples=True, numpy_values=False):
    import numpy as np
    import torch

    stats = defaultdict(list)
    stats["input_texts"] = ["Q: capital of France?", "Q: 2+2?", "Q: 2+2?", "Q: author of Emma?"]
    stats["target_texts"] = ["Paris", "4", "four", "Jane Austen"]
    stats["greedy_texts"] = ["Paris", "4", "4", "Charlotte Bronte"]
    stats["greedy_tokens"] = [[1], [2], [2], [3, 4]]
    stats["greedy_log_likelihoods"] = [[-0.1], [-0.2], [-0.2], [-1.0, -0.5]]
    if samples:
        stats["sample_texts"] = [["Paris", "Paris", "Lyon"], ["4", "5", "4"], ["4", "4", "4"],
                                 ["Bronte", "Austen", "Eliot"]]
        stats["sample_log_probs"] = [[-0.1, -0.2, -2.0], [-0.3, -1.0, -0.3], [-0.1] * 3,
                                     [-1.0, -1.2, -2.0]]
    se = [0.2, 0.5, 0.7, 1.4]
    estimations = defaultdict(list)
    estimations[("sequence", "SemanticEntropy")] = np.array(se) if numpy_values else se
    estimations[("sequence", "MaximumSequenceProbability")] = [0.1, 0.2, 0.2, float("nan")]
    estimations[("token", "MaximumTokenProbability")] = [0.1] * 9
    gen_metrics = defaultdict(list)
    gen_metrics[("sequence", "Accuracy")] = [1.0, 1.0, 0.0, 0.0]
    gen_metrics[("sequence", "Rouge_rougeL")] = [1.0, 1.0, 0.0, 0.2]
    metrics = {("sequence", "SemanticEntropy", "Accuracy", "prr"): 0.4}
    torch.save({"metrics": metrics, "gen_metrics": gen_metrics, "estimations": estimations,
                "stats": stats}, path)
    return path


def test_lm_polygraph_counts_scores_and_orientation(tmp_path):
    path = write_polygraph(tmp_path / "ue_manager_seed1")
    assert detect(path) == "lm-polygraph"
    result = import_any(path, allow_pickle=True)
    # rows 2 and 3 repeat one input (two labels) and are merged into one question
    assert counts(result) == (3, 9, 3)
    assert result.dataset.questions.set_index("question_id").loc["1", "references"] == ["4", "four"]
    s = scores_of(result, "1")
    assert s["lmpolygraph:SemanticEntropy"] == pytest.approx(0.6)  # mean of the two rows
    assert "lmpolygraph:MaximumTokenProbability" not in s  # token level: skipped
    assert "lmpolygraph:MaximumSequenceProbability" not in scores_of(result, "2")  # NaN
    assert result.flipped["lmpolygraph:SemanticEntropy"].startswith("as provided")
    g = result.dataset.generations.set_index(["question_id", "sample_id"])
    assert g.loc[("2", "greedy"), "provided_correct"] == False  # noqa: E712
    assert g.loc[("1", "greedy"), "provided_correct"] == True  # noqa: E712 (max over rows)
    assert g.loc[("0", "s2"), "logprob_sum"] == pytest.approx(-2.0)


def test_lm_polygraph_without_samples_disables_sampling_views(tmp_path):
    path = write_polygraph(tmp_path / "ue_manager_seed2", samples=False, numpy_values=True)
    result = import_any(path, "lm-polygraph", allow_pickle=True)
    assert counts(result) == (3, 0, 3)
    assert any("sample_texts" in m for m in result.missing)
    assert any(v.startswith("Answer map") for v in result.disabled_views)
    assert scores_of(result, "0")["lmpolygraph:SemanticEntropy"] == pytest.approx(0.2)


def test_lm_polygraph_needs_opt_in(tmp_path):
    path = write_polygraph(tmp_path / "ue_manager_seed1")
    with pytest.raises(PickleRefused, match="execute arbitrary code"):
        import_any(path)


def test_lm_polygraph_references_from_hf_dataset(tmp_path):
    import torch

    stats = {"input_texts": ["Q: capital of Italy?"], "greedy_texts": ["Rome"]}
    torch.save({"metrics": {}, "gen_metrics": {}, "stats": stats,
                "estimations": {("sequence", "Perplexity"): [1.5]}}, tmp_path / "ue_manager_seed1")
    pd.DataFrame({"input": ["Q: capital of Italy?"], "output": ["Rome"]}).to_csv(
        tmp_path / "data.csv", index=False)
    result = import_any(tmp_path, allow_pickle=True, questions=tmp_path / "data.csv")
    assert result.dataset.questions["references"].tolist() == [["Rome"]]


# ---- semantic_uncertainty / KLE ---------------------------------------------------------------


def write_semantic_uncertainty(folder, *, with_measures=True):
    folder.mkdir()
    gens = {}
    for i, (q, refs, best, acc, samples) in enumerate([
        ("Capital of France?", ["Paris"], "Paris", 1.0, ["Paris", "Paris", "Lyon"]),
        ("Who wrote Emma?", ["Jane Austen"], "Bronte", 0.0, ["Bronte", "Bronte", "Bronte"]),
        ("Unanswerable?", [], "x", 0.0, ["a", "b", "c"]),
    ]):
        gens[f"id{i}"] = {
            "question": q,
            "context": "",
            "reference": {"answers": {"text": refs, "answer_start": []}, "id": f"id{i}"},
            "most_likely_answer": {"response": best, "token_log_likelihoods": [-0.1, -0.2],
                                   "embedding": [[0.1, 0.2, 0.3]], "accuracy": acc},
            "responses": [(s, [-0.5, -0.4], [[0.0, 1.0, 0.0]], 0.0) for s in samples],
        }
    with open(folder / "validation_generations.pkl", "wb") as handle:
        pickle.dump(gens, handle)
    if with_measures:
        measures = {
            "uncertainty_measures": {
                "semantic_entropy": [0.6, 0.0, 1.1],
                "cluster_assignment_entropy": [0.64, 0.0, 1.1],
                "p_false_fixed": [0.1, 0.2, 0.9],
                "kernel_language_entropy_heat": [0.3, 0.05, 0.9],
            },
            "semantic_ids": [[0, 0, 1], [0, 0, 0], [0, 1, 2]],
            "validation_is_false": [0.0, 1.0, 1.0],
            "validation_unanswerable": [0.0, 0.0, 1.0],
        }
        with open(folder / "uncertainty_measures.pkl", "wb") as handle:
            pickle.dump(measures, handle)
    import argparse

    args = argparse.Namespace(model_name="Llama-2-7b-chat", dataset="trivia_qa",
                              temperature=1.0, compute_accuracy_at_all_temps=False)
    with open(folder / "experiment_details.pkl", "wb") as handle:
        pickle.dump({"args": args, "prompt": "Answer briefly.", "BRIEF": "brief"}, handle)
    return folder


def test_semantic_uncertainty_counts_scores_and_clusters(tmp_path):
    folder = write_semantic_uncertainty(tmp_path / "files")
    assert detect(folder) == "semantic-uncertainty"
    result = import_any(folder, allow_pickle=True)
    assert counts(result) == (2, 6, 2)  # the unanswerable example is dropped
    s = scores_of(result, "id1")
    assert s["semantic_uncertainty:semantic_entropy"] == 0.0
    assert s["semantic_uncertainty:kernel_language_entropy_heat"] == pytest.approx(0.05)
    assert all(v.startswith("as provided") for v in result.flipped.values())
    g = result.dataset.generations.set_index(["question_id", "sample_id"])
    assert g.loc[("id0", "s2"), "provided_cluster"] == 1
    assert g.loc[("id1", "s0"), "provided_cluster"] == 0
    assert g.loc[("id0", "greedy"), "provided_correct"] == True  # noqa: E712
    # accuracy 0.0 at high temperature means "not computed" in generate_answers.py
    assert pd.isna(g.loc[("id0", "s0"), "provided_correct"])
    assert g.loc[("id0", "s0"), "temperature"] == 1.0
    assert g.loc[("id0", "greedy"), "hidden_state"] == [0.1, 0.2, 0.3]
    q = result.dataset.questions.set_index("question_id")
    assert q.loc["id0", "model"] == "Llama-2-7b-chat"


def test_semantic_uncertainty_labels_from_validation_is_false(tmp_path):
    """Without most_likely_answer.accuracy, the label is 1 - validation_is_false."""
    folder = write_semantic_uncertainty(tmp_path / "files")
    with open(folder / "validation_generations.pkl", "rb") as handle:
        gens = pickle.load(handle)
    for example in gens.values():
        del example["most_likely_answer"]["accuracy"]
    with open(folder / "validation_generations.pkl", "wb") as handle:
        pickle.dump(gens, handle)
    result = import_any(folder, allow_pickle=True)
    g = result.dataset.generations.set_index(["question_id", "sample_id"])
    assert g.loc[("id0", "greedy"), "provided_correct"] == True  # noqa: E712  is_false 0.0
    assert g.loc[("id1", "greedy"), "provided_correct"] == False  # noqa: E712  is_false 1.0
    assert any("validation_is_false" in m for m in result.mapped)
    assert not any(m.startswith("most_likely_answer.accuracy") for m in result.mapped)


def test_semantic_uncertainty_without_measures(tmp_path):
    folder = write_semantic_uncertainty(tmp_path / "files", with_measures=False)
    result = import_any(folder / "validation_generations.pkl", allow_pickle=True)
    assert counts(result) == (2, 6, 2)
    assert any("uncertainty_measures.pkl" in m for m in result.missing)
    assert any("own clusters" in v for v in result.disabled_views)


# ---- uqlm ---------------------------------------------------------------------------------------


def uqlm_dict():
    return {
        "data": {
            "prompts": ["What is 2+2?", "Capital of Peru?"],
            "responses": ["4", "Quito"],
            "sampled_responses": [["4", "4", "four"], ["Lima", "Quito", "Bogota"]],
            "semantic_negentropy": [0.9, 0.2],
            "exact_match": [0.67, 0.33],
            "discrete_entropy_values": [0.3, 1.1],
        },
        "metadata": {"temperature": 0.0, "sampling_temperature": 1.0, "num_responses": 3,
                     "scorers": ["semantic_negentropy", "exact_match"]},
    }


def test_uqlm_to_dict_json_flips_confidences(tmp_path):
    path = tmp_path / "result.json"
    path.write_text(json.dumps(uqlm_dict()))
    assert detect(path) == "uqlm"
    refs = tmp_path / "refs.csv"
    pd.DataFrame({"question": ["What is 2+2?", "Capital of Peru?"],
                  "answer": ["4", "Lima"]}).to_csv(refs, index=False)
    result = import_any(path, questions=refs)
    assert counts(result) == (2, 6, 2)
    s = scores_of(result, "1")
    assert s["uqlm:semantic_negentropy"] == pytest.approx(0.8)  # 1 - 0.2
    assert s["uqlm:exact_match"] == pytest.approx(0.67)
    assert s["uqlm:discrete_entropy_values"] == pytest.approx(1.1)  # already an uncertainty
    assert result.flipped["uqlm:semantic_negentropy"] == "flipped: 1 - confidence"
    assert result.flipped["uqlm:discrete_entropy_values"].startswith("as provided")
    assert result.dataset.score_orientation == result.flipped
    g = result.dataset.generations
    assert g.loc[~g["is_greedy"], "temperature"].eq(1.0).all()


def test_uqlm_to_df_csv_and_parquet(tmp_path):
    data = uqlm_dict()["data"]
    frame = pd.DataFrame(data).rename(columns={"prompts": "prompt", "responses": "response"})
    frame["answer"] = ["4", "Lima"]
    frame["response_correct"] = [True, False]
    frame.to_csv(tmp_path / "df.csv")  # with the index column, as to_csv writes by default
    frame.to_parquet(tmp_path / "df.parquet")
    for name in ("df.csv", "df.parquet"):
        result = import_any(tmp_path / name)
        assert result.format == "uqlm"
        assert counts(result) == (2, 6, 2)
        assert scores_of(result, "0")["uqlm:semantic_negentropy"] == pytest.approx(0.1)
        g = result.dataset.generations.set_index(["question_id", "sample_id"])
        assert g.loc[("1", "greedy"), "provided_correct"] == False  # noqa: E712
        assert g.loc[("1", "s0"), "text"] == "Lima"


def test_uqlm_without_references_imports_and_says_what_that_disables(tmp_path):
    """Issue 15: uqlm keeps no ground truth; its clusters and scores must still import."""
    path = tmp_path / "result.json"
    path.write_text(json.dumps(uqlm_dict()))
    result = import_any(path)
    assert result.dataset.questions["references"].tolist() == [[], []]
    assert any(m.startswith("references") for m in result.missing)
    assert any("no correctness at all" in v for v in result.disabled_views)


# ---- TruthTorchLM -------------------------------------------------------------------------


def test_truthtorchlm_output_dict(tmp_path):
    out = {
        "previous_context": [{"role": "system", "content": "be brief"}],
        "user_prompt": "{question}",
        "generations": ["Paris", "Bronte"],
        "generations_correctness": [1, 0],
        "question_text": ["Capital of France?", "Who wrote Emma?"],
        "ground_truths": [["Paris"], ["Jane Austen"]],
        "contexts": ["", ""],
        "truth_methods": ["SemanticEntropy", "Confidence"],
        "truth_method_0": {
            "name": "SemanticEntropy with {...}",
            "truth_values": [-0.1, -0.02],
            "normalized_truth_values": [0.47, 0.49],
            "method_specific_details": [
                # TruthTorchLM's clusters hold one copy per sample, in sample order
                {"semantic_entropy": 0.1, "generated_texts": ["Paris", "Paris", "Lyon"],
                 "clusters": [["Paris", "Paris"], ["Lyon"]]},
                {"semantic_entropy": 0.02, "generated_texts": ["Bronte", "Bronte", "Bronte"],
                 "clusters": [["Bronte", "Bronte", "Bronte"]]},
            ],
        },
        "truth_method_1": {"name": "Confidence", "truth_values": [-0.05, -0.3],
                           "normalized_truth_values": [0.48, 0.42]},
    }
    path = tmp_path / "tt.json"
    path.write_text(json.dumps({"eval_list": [{"auroc": 0.5}], "output_dict": out}))
    assert detect(path) == "truthtorchlm"
    result = import_any(path)
    assert counts(result) == (2, 6, 2)
    s = scores_of(result, "1")
    assert s["truthtorchlm:SemanticEntropy"] == pytest.approx(0.02)  # -truth value
    assert s["truthtorchlm:Confidence"] == pytest.approx(0.3)
    assert "truth" in result.flipped["truthtorchlm:Confidence"]
    g = result.dataset.generations.set_index(["question_id", "sample_id"])
    assert g.loc[("0", "s2"), "provided_cluster"] == 1
    assert g.loc[("0", "greedy"), "provided_correct"] == True  # noqa: E712


# ---- luq ----------------------------------------------------------------------------------------


def test_luq_script_and_documented_shapes(tmp_path):
    script = {"data": {"test": [
        {"question": "Capital of France?", "samples": ["Paris", "Paris", "Lyon"],
         "answer": ["Paris"], "gt_answer": "Paris", "accuracy": 0.67,
         "individual_accuracies": [1, 1, 0]},
        {"question": "Who wrote Emma?", "samples": ["Austen", "Bronte"],
         "answer": ["Austen"], "gt_answer": "Jane Austen"},
    ]}, "parameters": {"temperature": 1.0, "temperature_answer": 0.1, "model_name": "gpt2"}}
    path = tmp_path / "luq.json"
    path.write_text(json.dumps(script))
    assert detect(path) == "luq"
    result = import_any(path)
    assert counts(result) == (2, 5, 2)
    g = result.dataset.generations.set_index(["question_id", "sample_id"])
    assert g.loc[("test-0", "s2"), "provided_correct"] == False  # noqa: E712
    assert g.loc[("test-0", "greedy"), "temperature"] == pytest.approx(0.1)
    assert any("stores none" in m for m in result.missing)

    documented = {"llm": "gpt2", "raw_dataset": "trivia", "data": [
        {"question": "Q1?", "samples": ["a", "b"], "answer": "a", "gt_answer": ["a"],
         "samples_temp": 1, "answer_temp": 0.1, "top-p": 0.9}]}
    path.write_text(json.dumps(documented))
    assert counts(import_any(path, "luq")) == (1, 2, 1)


# ---- Kuhn / UQ-NLG ------------------------------------------------------------------------------


def test_uq_nlg_and_kuhn_pickles(tmp_path):
    uq_nlg = [{"id": "tq1", "question": "Capital of France?", "answer": "Paris",
               "additional_answers": [], "most_likely_generation": "Paris",
               "generations": ["Paris", "Lyon", "Paris"]}]
    (tmp_path / "uq").mkdir()
    with open(tmp_path / "uq" / "0.pkl", "wb") as handle:
        pickle.dump(uq_nlg, handle)
    assert detect(tmp_path / "uq" / "0.pkl") == "uq-nlg"
    assert counts(import_any(tmp_path / "uq" / "0.pkl", allow_pickle=True)) == (1, 3, 1)

    kuhn = [{"id": ["c7"], "question": "Who?", "answer": ["Ann"], "additional_answers": ["Anne"],
             "generated_texts": [" Ann", " Bob"], "cleaned_generated_texts": ["Ann", "Bob"],
             "most_likely_generation": "Ann", "exact_match": 1.0}]
    (tmp_path / "kuhn").mkdir()
    with open(tmp_path / "kuhn" / "opt-350m_generations.pkl", "wb") as handle:
        pickle.dump(kuhn, handle)
    with open(tmp_path / "kuhn" / "opt-350m_generations_similarities.pkl", "wb") as handle:
        pickle.dump({"c7": {"semantic_set_ids": [0, 1], "has_semantically_different_answers":
                            True}}, handle)
    result = import_any(tmp_path / "kuhn", allow_pickle=True)
    assert counts(result) == (1, 2, 1)
    q = result.dataset.questions
    assert q["references"].tolist() == [["Ann", "Anne"]]
    g = result.dataset.generations.set_index("sample_id")
    assert g.loc["s1", "text"] == "Bob" and g.loc["s1", "provided_cluster"] == 1


# ---- pickle safety ------------------------------------------------------------------------------


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))  # creates the marker file when unpickled


def _write_evil(path, marker):
    with open(path, "wb") as handle:
        pickle.dump({"id0": {"question": _Evil(str(marker))}}, handle)


def test_malicious_pickle_is_refused_and_not_executed(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    marker = tmp_path / "PWNED"
    _write_evil(folder / "validation_generations.pkl", marker)
    with pytest.raises(PickleRefused):
        import_any(folder)
    assert not marker.exists()
    # even with the opt-in, the restricted unpickler never calls what the file names
    with pytest.warns(UserWarning, match="placeholders"), pytest.raises(DataError):
        import_any(folder, allow_pickle=True)
    assert not marker.exists()


def test_malicious_torch_pickle_is_not_executed(tmp_path):
    import torch

    marker = tmp_path / "PWNED"
    path = tmp_path / "ue_manager_seed1"
    torch.save({"stats": {"input_texts": ["q"], "target_texts": ["a"],
                          "greedy_texts": [_Evil(str(marker))]}}, path)
    with pytest.raises(PickleRefused):
        import_any(path)
    assert not marker.exists()
    with pytest.warns(UserWarning), pytest.raises(DataError):
        import_any(path, allow_pickle=True)  # weights_only refuses; the restricted path runs
    assert not marker.exists()


def test_cli_import_refuses_pickle_without_flag(tmp_path, capsys):
    path = write_polygraph(tmp_path / "ue_manager_seed1")
    code = main(["import", str(path), "--out", str(tmp_path / "out.jsonl")])
    err = capsys.readouterr().err
    assert code == 1
    assert "--allow-pickle" in err and "Traceback" not in err
    assert not (tmp_path / "out.jsonl").exists()


def test_cli_import_writes_a_file_build_can_read(tmp_path, capsys):
    folder = write_semantic_uncertainty(tmp_path / "files")
    for suffix in (".jsonl", ".parquet"):
        out = tmp_path / f"data{suffix}"
        code = main(["import", str(folder), "--allow-pickle", "--out", str(out)])
        text = capsys.readouterr().out
        assert code == 0, text
        assert "mapped:" in text and "semantic_uncertainty:semantic_entropy" in text
        again = load(out)
        assert again.n_questions == 2 and again.n_samples == 8
        q = again.questions.set_index("question_id")
        assert json.loads(q.loc["id0", "provided_scores"])[
            "semantic_uncertainty:semantic_entropy"] == pytest.approx(0.6)
        assert again.generations["provided_cluster"].notna().sum() == 6


def test_cli_import_reports_invalid_data(tmp_path, capsys):
    path = tmp_path / "result.json"
    doc = uqlm_dict()
    doc["data"]["responses"] = [4, "Quito"]  # an answer must be text
    path.write_text(json.dumps(doc))
    assert main(["import", str(path), "--out", str(tmp_path / "o.jsonl")]) == 1
    assert "INVALID" in capsys.readouterr().out


def test_detect_unknown_and_unknown_format(tmp_path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"hello": 1}))
    with pytest.raises(DataError, match="--format"):
        detect(path)
    with pytest.raises(ValueError, match="unknown format"):
        import_any(path, "nope")
