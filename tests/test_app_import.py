"""The Data page's "Add data" action (AppTest) and the checks behind it (uqlens.build.add_data).

AppTest cannot drive st.file_uploader, so the upload size limit is tested through the
helpers the page calls (:func:`uqlens.build.add_data.check_upload_size`, ``components.add_data``).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from uqlens.build import add_data as ad

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
FIXTURE_RUN = "tests/fixtures/tiny_run"
GENERATIONS = ROOT / "tests" / "fixtures" / "tiny_generations.jsonl"


@pytest.fixture
def user_runs(tmp_path, monkeypatch):
    root = tmp_path / "user-runs"
    monkeypatch.setenv("UQLENS_USER_RUNS", str(root))
    monkeypatch.setenv("UQLENS_CACHE", str(tmp_path / "cache"))
    return root


def data_page(**widgets) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=600)
    at.session_state["uq.run"] = FIXTURE_RUN
    for key, value in widgets.items():
        at.session_state[key] = value
    at.run()
    at.switch_page("pages/data.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def write_pickled_tool_run(folder: Path) -> Path:
    folder.mkdir(parents=True)
    with open(folder / "validation_generations.pkl", "wb") as handle:
        pickle.dump({"id0": {"question": "q?", "reference": {"answers": {"text": ["a"]}},
                             "most_likely_answer": {"response": "a"}, "responses": []}}, handle)
    return folder


# ---- the page --------------------------------------------------------------------------------


def test_add_data_expander_explains_the_limits(user_runs, monkeypatch):
    monkeypatch.setenv(ad.ENV_MAX_UPLOAD_MB, "7")
    at = data_page()
    assert at.expander[0].label == "Add data"
    text = " ".join(i.value for i in at.info)
    assert "up to **7 MB**" in text and "Pickle formats are refused" in text
    assert at.checkbox(key="w.add.trust").label == ad.TRUST_LABEL
    assert at.selectbox(key="w.add.format").options[:2] == ["auto-detect",
                                                           "uqlens input (JSONL / CSV / Parquet)"]


@pytest.mark.model
def test_build_from_a_local_path_becomes_the_current_run(user_runs):
    at = data_page(**{"w.add.source": "Local path", "w.add.path": str(GENERATIONS),
                      "w.add.name": "tiny import"})
    at.button(key="w.add.go").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    built = user_runs / "tiny-import"
    assert (built / "manifest.json").is_file()
    assert any("Built run" in s.value and "tiny\\-import" in s.value for s in at.success)
    # registered and current (the picker is checked in a fresh session seeded with this
    # session's state)
    assert at.session_state["uq.run"] == str(built)
    assert str(built) in at.session_state["uq.extra_runs"]
    again = AppTest.from_file(APP, default_timeout=120)
    for key in ("uq.run", "uq.extra_runs"):
        again.session_state[key] = at.session_state[key]
    again.run()
    assert not again.exception, [e.value for e in again.exception]
    picker = again.sidebar.selectbox(key="w.uq.run")
    assert str(built) in picker.options and picker.value == str(built)
    assert any(f"`{built}`" in c.value for c in again.sidebar.caption)
    # and a new session finds it under data/user-runs without being told
    fresh = AppTest.from_file(APP, default_timeout=120).run()
    assert str(built) in fresh.sidebar.selectbox(key="w.uq.run").options


def test_pickle_without_trust_is_refused_with_the_reason(user_runs, tmp_path):
    folder = write_pickled_tool_run(tmp_path / "su-run")
    at = data_page(**{"w.add.source": "Local path", "w.add.path": str(folder)})
    at.button(key="w.add.go").click().run()
    assert not at.exception, [e.value for e in at.exception]
    message = " ".join(e.value for e in at.error)
    assert "Refused" in message and "pickle" in message and "arbitrary code" in message
    assert not (user_runs / "su-run").exists()
    assert at.session_state["uq.run"] == FIXTURE_RUN


def test_invalid_data_shows_record_and_field_not_a_traceback(user_runs, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question_id": "q1", "question": "**bold** [x](http://e.x)", '
                   '"references": [7], "samples": [{"text": "a"}]}\n', encoding="utf-8")
    at = data_page(**{"w.add.source": "Local path", "w.add.path": str(bad)})
    at.button(key="w.add.go").click().run()
    assert not at.exception, [e.value for e in at.exception]
    message = " ".join(e.value for e in at.error)
    assert "invalid" in message and "line 1" in message and "references" in message
    assert "[x](http" not in message  # escaped: no live Markdown from the file


# ---- the checks ------------------------------------------------------------------------------


def test_upload_limit_from_env():
    assert ad.max_upload_mb({}) == 50
    assert ad.max_upload_mb({ad.ENV_MAX_UPLOAD_MB: "120"}) == 120
    assert ad.max_upload_mb({ad.ENV_MAX_UPLOAD_MB: "lots"}) == 50
    assert ad.max_upload_mb({ad.ENV_MAX_UPLOAD_MB: "0"}) == 50


def test_oversize_upload_is_refused_before_it_is_read(tmp_path):
    from components.add_data import _source

    ad.check_upload_size(2 * 2**20, 2)  # exactly at the limit: fine
    with pytest.raises(ad.AddDataError, match=r"3\.0 MB; the upload limit is 2 MB"):
        ad.check_upload_size(3 * 2**20, 2)

    class Upload:  # what st.file_uploader returns, minus the bytes
        name, size = "big.jsonl", 3 * 2**20

        def getvalue(self):  # pragma: no cover - must not be reached
            raise AssertionError("read an oversize upload")

    with pytest.raises(ad.AddDataError, match="upload limit"):
        _source([Upload()], "", "big", tmp_path, 2)
    with pytest.raises(ad.AddDataError, match="upload limit"):
        ad.save_upload(b"x" * (2**20 + 1), "a.jsonl", "a", tmp_path, 1)
    assert not (tmp_path / ad.UPLOADS).exists()


def test_save_upload_keeps_a_safe_file_name(tmp_path):
    saved = ad.save_upload(b"{}", "../../etc/validation_generations.pkl", "../x y", tmp_path, 1)
    assert saved == tmp_path / ad.UPLOADS / "x-y" / "validation_generations.pkl"


def test_pickle_refused_without_trust_in_the_library(tmp_path):
    folder = write_pickled_tool_run(tmp_path / "run")
    with pytest.raises(ad.AddDataError, match="Refused: this is a pickle format"):
        ad.add_data(folder, "x", tmp_path / "runs")
    with pytest.raises(ad.AddDataError, match="pickle format"):
        ad.check_pickle_consent(folder / "validation_generations.pkl", "auto", False)
    ad.check_pickle_consent(folder, "semantic-uncertainty", True)  # opted in: allowed


def test_names_and_formats():
    assert ad.safe_name(" my run/2 ") == "my-run-2"
    assert ad.safe_name("...", fallback="answers") == "answers"
    with pytest.raises(ad.AddDataError):
        ad.safe_name("..")
    assert ad.default_name("x/files/validation_generations.pkl") == "files"
    assert ad.resolve_format(GENERATIONS) == ad.CANONICAL
    with pytest.raises(ad.AddDataError, match="Unknown format"):
        ad.resolve_format(GENERATIONS, "nope")
    with pytest.raises(ad.AddDataError, match="No such file"):
        ad.add_data("/does/not/exist.jsonl", "x", "/tmp/unused-runs")
