# The FER reproduction suite. `make help` lists the targets.
# Data: FER_DATA_DIR (default data/) holds fer2013/ and ckplus/CK+48/; see README.md.
VENV    ?= .venv
PY      ?= $(VENV)/bin/python
PROFILE ?= smoke
TRAIN   ?= missing
# test processes; one file at a time each, the heaviest files first (tests/conftest.py HEAVIEST_FIRST), each with
# its share of the cores for TensorFlow and XLA (tests/conftest.py worker_thread_settings)
TEST_WORKERS ?= 2
PAPERS  := $(shell grep -o '"paper": *"[^"]*"' notebooks/manifest.json | cut -d'"' -f4)
export FER_DATA_DIR ?= data

.PHONY: help setup data check-data reproduce-all reports test bench $(addprefix reproduce-,$(PAPERS))

help:
	@echo "make setup                      create $(VENV), install requirements.txt and fer_lib (editable)"
	@echo "make data                       download FER2013 and CK+48 with your Kaggle credentials"
	@echo "make check-data                 load the datasets and check their class counts"
	@echo "make reproduce-all PROFILE=cpu  execute every notebook (smoke, the default | cpu | paper)"
	@echo "                 TRAIN=none     train nothing (missing, the default: only runs with no saved report | all | names)"
	@echo "make reproduce-<paper>          one paper: $(PAPERS)"
	@echo "make reports                    rebuild reports/index.html and reports/index.md"
	@echo "make test                       run the test suite (real data from FER_DATA_DIR)"
	@echo "make bench                      loading, preprocessing, training speed and memory"

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -r requirements.txt
	$(PY) -m pip install --no-deps -e .

# the environment, and fer_lib installed in editable mode (importable from any folder, `fer-lib` command)
setup: $(PY)
	$(PY) -m pip install -r requirements.txt
	$(PY) -m pip install --no-deps -e .

data: $(PY)
	$(PY) -m fer_lib data

check-data: $(PY)
	$(PY) -m fer_lib check-data

reproduce-all: $(PY)
	$(PY) -m fer_lib reproduce --profile $(PROFILE) --train $(TRAIN)

$(addprefix reproduce-,$(PAPERS)): reproduce-%: $(PY)
	$(PY) -m fer_lib reproduce --profile $(PROFILE) --train $(TRAIN) --paper $*

# any other reproduce-<name>: say which names exist instead of make's "no rule"
reproduce-%:
	@echo "error: no notebook called '$*'; valid: $(addprefix reproduce-,$(PAPERS))" >&2; exit 2

# any other target (a name with a slash in it never matches the rule above): the same list, not make's "no rule"
.DEFAULT:
	@echo "error: no make target '$@'; run 'make help' (notebooks: $(addprefix reproduce-,$(PAPERS)))" >&2; exit 2

reports: $(PY)
	$(PY) -m fer_lib index

test: $(PY)
	$(PY) -m pytest -q -rs --durations=30 -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder tests

bench: $(PY)
	$(PY) -m fer_lib.studies.benchmark
