import math

import numpy as np
import pytest

import uqlens.core.methods as M
from uqlens.core.methods.base import QuestionView

LN = math.log


def view(texts, **kw):
    return QuestionView(question_id="q", question="?", texts=tuple(texts), **kw)


def nli_view(entail, contradict, texts=None):
    entail = np.asarray(entail, dtype=float)
    n = len(entail)
    return view(texts or [f"t{i}" for i in range(n)], entail=entail,
                contradict=np.asarray(contradict, dtype=float))


def score(mid, v, **params):
    m = M.get(mid)
    return m.score(v, **{**m.defaults, **params})


# Graph fixtures (m = 3) from 0/1 NLI probabilities, so temperature leaves them unchanged.
TWO_CLIQUES = nli_view(
    [[1, 1, 0], [1, 1, 0], [0, 0, 1]],
    [[0, 0, 1], [0, 0, 1], [1, 1, 0]],
)
ALL_SAME = nli_view(np.ones((3, 3)), np.zeros((3, 3)))
ALL_DIFFERENT = nli_view(np.eye(3), 1 - np.eye(3))


# --- registry -----------------------------------------------------------------------------
def test_registry_complete_and_declared():
    ids = {m.id for m in M.all_methods()}
    assert ids == set(M.ORDER)
    for m in M.all_methods():
        assert m.needs <= set(M.NEEDS), m.id
        assert m.citation and m.score.__module__.startswith("uqlens.core.methods.")
    assert M.get("p_true").flipped and M.get("verbalized_confidence").flipped
    assert not M.get("semantic_entropy").flipped
    with pytest.raises(KeyError):
        M.get("nope")


def test_applicable_reasons():
    ok, skipped = M.applicable({"samples", "clusters"})
    assert {m.id for m in ok} == {"discrete_semantic_entropy", "num_semantic_sets",
                                  "lexical_similarity"}
    assert skipped["max_sequence_prob"] == "needs greedy, logprobs"
    assert skipped["semantic_entropy"] == "needs logprobs"
    ok, skipped = M.applicable(M.NEEDS)
    assert not skipped and len(ok) == len(M.ORDER)


# --- cluster-based ------------------------------------------------------------------------
def test_semantic_entropy_equal_likelihoods():
    # ll = [-1/1, -2/2, -3/3] = [-1, -1, -1]; clusters {0,1},{2}: masses 2e^-1, e^-1
    # p = (2/3, 1/3); SE = -(2/3 ln 2/3 + 1/3 ln 1/3) = 0.27031 + 0.36620 = 0.63651
    v = view(["a", "b", "c"], cluster_ids=np.array([0, 0, 1]),
             logprob_sum=np.array([-1.0, -2.0, -3.0]), num_tokens=np.array([1, 2, 3]))
    assert score("semantic_entropy", v) == pytest.approx(0.636514, abs=1e-6)


def test_semantic_entropy_unequal_likelihoods():
    # ll = [2 ln .5 / 2, ln .25 / 1, 3 ln .25 / 3] = [ln .5, ln .25, ln .25]
    # clusters {0},{1,2}: masses .5 and .5 of total 1 -> SE = ln 2
    v = view(["a", "b", "c"], cluster_ids=np.array([0, 1, 1]),
             logprob_sum=np.array([2 * LN(0.5), LN(0.25), 3 * LN(0.25)]),
             num_tokens=np.array([2, 1, 3]))
    assert score("semantic_entropy", v) == pytest.approx(LN(2))


def test_semantic_entropy_unnormalised():
    # raw probs .6, .2, .2 in clusters {0,1},{2}: p = (.8, .2)
    # SE = -(.8 ln .8 + .2 ln .2) = .178515 + .321888 = .500402
    v = view(["a", "b", "c"], cluster_ids=np.array([0, 0, 1]),
             logprob_sum=np.array([LN(0.6), LN(0.2), LN(0.2)]), num_tokens=np.array([5, 5, 5]))
    assert score("semantic_entropy", v, length_normalized=False) == pytest.approx(0.500402,
                                                                                  abs=1e-6)


def test_one_cluster_is_zero_entropy():
    v = view(["a", "b"], cluster_ids=np.array([0, 0]), logprob_sum=np.array([-1.0, -5.0]),
             num_tokens=np.array([1, 1]))
    assert score("semantic_entropy", v) == pytest.approx(0.0)
    assert score("discrete_semantic_entropy", v) == pytest.approx(0.0)


def test_discrete_semantic_entropy_and_num_sets():
    # Paris, Paris, London: -(2/3 ln 2/3 + 1/3 ln 1/3) = 0.6365
    v = view(["Paris", "Paris", "London"], cluster_ids=np.array([0, 0, 1]))
    assert score("discrete_semantic_entropy", v) == pytest.approx(0.6365, abs=1e-4)
    assert score("num_semantic_sets", v) == 2.0


def test_self_consistency():
    v = view(list("abcd"), cluster_ids=np.array([0, 0, 1, 0]), greedy_cluster=0)
    assert score("self_consistency", v) == pytest.approx(0.25)  # 1 - 3/4
    v2 = view(list("abcd"), cluster_ids=np.array([0, 0, 1, 0]), greedy_cluster=-1)
    assert score("self_consistency", v2) == 1.0


@pytest.mark.parametrize("mid", ["semantic_entropy", "discrete_semantic_entropy",
                                 "num_semantic_sets", "self_consistency", "eigv", "deg", "ecc",
                                 "kernel_language_entropy", "lexical_similarity",
                                 "predictive_entropy", "ln_predictive_entropy"])
def test_sample_methods_nan_with_one_sample(mid):
    v = view(["a"], cluster_ids=np.array([0]), logprob_sum=np.array([-1.0]),
             num_tokens=np.array([1]), entail=np.ones((1, 1)), contradict=np.zeros((1, 1)),
             greedy_cluster=0)
    assert math.isnan(score(mid, v))


def test_missing_inputs_give_nan():
    v = view(["a", "b"])  # texts only: everything but lexical similarity lacks its inputs
    for mid in set(M.ORDER) - {"lexical_similarity"}:
        assert math.isnan(score(mid, v)), mid


# --- graph methods (Lin et al.) -----------------------------------------------------------
@pytest.mark.parametrize("affinity", ["entail", "contra"])
def test_graph_methods_on_perfect_cliques(affinity):
    # W = blockdiag(ones(2), ones(1)). Normalised Laplacian eigenvalues: 0, 0 (one per
    # component) and 1 (the 2-clique's I - J/2) -> EigV = 1 + 1 + 0 = 2.
    # Deg = (m^2 - sum W)/m^2 = (9 - 5)/9 = 4/9.
    # Ecc: null eigenvectors D^{1/2} 1_C normalised: u1 = (1,1,0)/sqrt2, u2 = (0,0,1);
    # ||centred u||^2 = 1 - (sum u)^2/m: 1 - 2/3 = 1/3 and 1 - 1/3 = 2/3 -> Ecc = sqrt(1) = 1.
    kw = {"affinity": affinity}
    assert score("eigv", TWO_CLIQUES, **kw) == pytest.approx(2.0)
    assert score("deg", TWO_CLIQUES, **kw) == pytest.approx(4 / 9)
    assert score("ecc", TWO_CLIQUES, **kw) == pytest.approx(1.0)


def test_graph_methods_all_identical():
    # W = J: eigenvalues of L are 0, 1, 1 -> EigV = 1; D = 3I -> Deg = 0;
    # one null eigenvector (1,1,1)/sqrt3, centred to 0 -> Ecc = 0.
    assert score("eigv", ALL_SAME) == pytest.approx(1.0)
    assert score("deg", ALL_SAME) == pytest.approx(0.0)
    assert score("ecc", ALL_SAME) == pytest.approx(0.0, abs=1e-7)


def test_graph_methods_fully_disconnected():
    # W = I: L = 0, all eigenvalues 0 -> EigV = 3; Deg = (9 - 3)/9 = 2/3;
    # U = any orthonormal basis of R^3, ||P U||_F^2 = tr(P) = m - 1 = 2 -> Ecc = sqrt 2.
    assert score("eigv", ALL_DIFFERENT) == pytest.approx(3.0)
    assert score("deg", ALL_DIFFERENT) == pytest.approx(2 / 3)
    assert score("ecc", ALL_DIFFERENT) == pytest.approx(math.sqrt(2))


def test_temperature_retempers_probabilities():
    # m = 2, e = .5, c = .25 (n = .25) both ways.
    # T = 1: contra w = 1 - .25 = .75.   T = 2: p^(1/2) = (.70711, .5, .5), sum 1.70711,
    #        c' = .5/1.70711 = .29289, w = .70711.
    # Deg (m=2) = (4 - 2 - 2w)/4 = (1 - w)/2: T=1 -> .125, T=2 -> .146447.
    # EigV (m=2): L eigenvalues 0 and 2w/(1+w) -> EigV = 1 + (1 - w)/(1 + w):
    #        T=1 -> 1 + .25/1.75 = 1.142857.
    v = nli_view([[1, 0.5], [0.5, 1]], [[0, 0.25], [0.25, 0]])
    assert score("deg", v, temperature=1.0) == pytest.approx(0.125)
    assert score("deg", v, temperature=2.0) == pytest.approx(0.146447, abs=1e-6)
    assert score("eigv", v, temperature=1.0) == pytest.approx(1.142857, abs=1e-6)
    # entail affinity, T=1: w = .5 -> Deg = .25, EigV = 1 + .5/1.5 = 1.333333
    assert score("deg", v, affinity="entail", temperature=1.0) == pytest.approx(0.25)
    assert score("eigv", v, affinity="entail", temperature=1.0) == pytest.approx(4 / 3)


def test_graph_defaults_follow_lin_et_al_code():
    assert dict(M.get("eigv").defaults) == {"affinity": "contra", "temperature": 3.0}
    assert dict(M.get("ecc").defaults)["eigv_threshold"] == 0.9


def test_jaccard_affinity_needs_no_model():
    # word sets {a,b}, {a,c}, {d}: J01 = 1/3, others 0. Deg = (9 - (3 + 2/3))/9 = 16/27.
    v = view(["a b", "a c", "d"])
    assert score("deg", v, affinity="jaccard") == pytest.approx(16 / 27)


# --- kernel language entropy --------------------------------------------------------------
def test_kle_all_entailing_pair_closed_form():
    # m = 2, e = 1 both ways: w01 = 1 + 1 = 2, L = [[2,-2],[-2,2]] with eigenvalues 0, 4.
    # expm(-tL) has eigenvalues 1, x = e^{-4t} and equal diagonal (1 + x)/2; normalised to
    # unit trace -> eigenvalues 1/(1+x), x/(1+x). t = .3: x = e^{-1.2} = .301194,
    # a = .768525, b = .231475; VNE = .768525*.263282 + .231475*1.463282 = .202338 + .338714
    # = .541053.
    v = nli_view(np.ones((2, 2)), np.zeros((2, 2)))
    x = math.exp(-1.2)
    a, b = 1 / (1 + x), x / (1 + x)
    assert score("kernel_language_entropy", v) == pytest.approx(-(a * LN(a) + b * LN(b)))
    assert score("kernel_language_entropy", v) == pytest.approx(0.541053, abs=1e-6)


def test_kle_neutral_pair_weights_half():
    # e = c = 0, n = 1: s = .5 each way, w01 = 1, L eigenvalues 0, 2 -> x = e^{-2t} = e^{-.6}
    v = nli_view(np.eye(2), np.zeros((2, 2)))
    x = math.exp(-0.6)
    a, b = 1 / (1 + x), x / (1 + x)
    assert score("kernel_language_entropy", v) == pytest.approx(-(a * LN(a) + b * LN(b)))


def test_kle_disconnected_is_log_m():
    # W = 0 -> L = 0 -> K = I -> I/3 -> VNE = ln 3; scaled by ln 3 -> 1.
    assert score("kernel_language_entropy", ALL_DIFFERENT) == pytest.approx(LN(3))
    assert score("kernel_language_entropy", ALL_DIFFERENT, scale=True) == pytest.approx(1.0)


# --- lexical and likelihood ---------------------------------------------------------------
def test_lexical_similarity():
    # "the cat sat" vs "the cat ran": LCS 2, P = R = 2/3, F = 2/3; the other two pairs 0.
    # mean = (2/3)/3 = 2/9 -> uncertainty -2/9.
    v = view(["the cat sat", "the cat ran", "a dog"])
    assert score("lexical_similarity", v) == pytest.approx(-2 / 9)


def test_predictive_entropies():
    v = view(["a", "b"], logprob_sum=np.array([-1.0, -3.0]), num_tokens=np.array([1, 3]))
    assert score("predictive_entropy", v) == pytest.approx(2.0)  # -(-1 - 3)/2
    assert score("ln_predictive_entropy", v) == pytest.approx(1.0)  # -(-1/1 - 3/3)/2


def test_max_sequence_prob():
    assert score("max_sequence_prob", view(["a"], greedy_logprob_sum=-2.5)) == 2.5
    assert math.isnan(score("max_sequence_prob", view(["a"])))


def test_self_reported():
    assert score("p_true", view([], p_true=0.8)) == pytest.approx(0.2)
    assert score("verbalized_confidence", view([], verbalized_confidence=0.3)) == pytest.approx(
        0.7)
