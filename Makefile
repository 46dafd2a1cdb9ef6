# The README's two commands: `make run` and `make test` (`make test-fast` skips the tests that
# load a model, drive a browser or sweep a whole demo run). Both create .venv when missing and
# (re)install only when a requirements file changed, so they are idempotent and fast to repeat.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN ?= data/demo
PORT ?= 8501

export OMP_NUM_THREADS ?= 1
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: run test test-fast lint bench demo clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt -e .
	touch $@

$(VENV)/.dev: requirements-dev.txt $(VENV)/.runtime
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

run: $(VENV)/.runtime
	$(BIN)/streamlit run app.py --server.port $(PORT) --server.headless true -- --run $(RUN)

test: $(VENV)/.dev
	$(BIN)/python -m pytest

# No model, no browser: the lane to run while editing, one worker per core; a test file's
# tests stay on one worker so its module fixtures are built once.
test-fast: $(VENV)/.dev
	$(BIN)/python -m pytest -m "not browser and not model and not slow" -n auto --dist loadfile

lint: $(VENV)/.dev
	$(BIN)/ruff check .

bench: $(VENV)/.runtime
	$(BIN)/python benchmarks/build.py

clean:
	rm -rf $(VENV) .pytest_cache artifacts
