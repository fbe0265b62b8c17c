# Two commands matter: `make test` and `make demo`. Both build the environment from scratch.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The SAM CLI lives in its own venv: its exact pins (boto3, click, jsonschema...) would fight ours.
SAM_CLI_VERSION ?= 1.170.0
SAM_VENV  := .venv-sam
SAM_STAMP := $(SAM_VENV)/.installed-$(SAM_CLI_VERSION)

.PHONY: test test-fast demo lint lint-py checkov install benchmark screenshots chromium clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

$(SAM_STAMP):
	rm -rf $(SAM_VENV)
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/pip install --quiet 'aws-sam-cli==$(SAM_CLI_VERSION)'
	touch $(SAM_STAMP)

# The Python gates (config in pyproject.toml), part of `make lint` and so of `make test` and .ci/run:
# ruff's lint (E, F, W, I, B, UP, C90 at complexity 12), mypy on the Lambda package (strict on the pure
# core), the docstring examples of the pure modules and no function over 60 lines outside benchmarks/
# (two unit tests, which `make test`'s pytest runs as well), and `ruff format --check`: the tree is in
# the formatter's layout (`.venv/bin/ruff format .` puts a change there; .git-blame-ignore-revs skips
# the one commit that formatted the whole tree).
lint-py: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/unit/test_doctests.py tests/unit/test_function_length.py

# cfn-lint with our pins, then the SAM CLI's own check (SAM translator + cfn-lint with the SAM
# transform), as a deployer runs it. Neither needs network or AWS credentials.
lint: $(STAMP) $(SAM_STAMP) lint-py
	$(BIN)/cfn-lint template.yaml
	SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam validate --lint --region us-east-1 --template-file template.yaml

# Security scan, part of `make test`: exits non-zero on any failed check. Its own venv (checkov pins
# an old boto3; a 2-minute install, once). Every skipped rule carries its reason in the resource's
# Metadata in template.yaml. Offline at run time: --skip-download.
CHECKOV_VERSION ?= 3.3.30
CHECKOV_STAMP := .venv-checkov/.installed-$(CHECKOV_VERSION)
$(CHECKOV_STAMP):
	rm -rf .venv-checkov
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/pip install --quiet 'checkov==$(CHECKOV_VERSION)'
	touch $(CHECKOV_STAMP)

checkov: $(CHECKOV_STAMP)
	.venv-checkov/bin/checkov --file template.yaml --framework cloudformation --skip-download --compact --quiet

# The browser test needs Debian's chromium; as root we install it, otherwise we say how.
chromium:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  { echo "the browser test needs Debian's chromium: sudo apt-get install chromium"; exit 1; }

# Two pytest workers: most tests wait on local stacks, notebooks and a browser in other processes.
# A file's tests stay on one worker (--dist loadfile), so its module fixtures are built once.
test: $(STAMP) lint checkov chromium
	PIK_REQUIRE_BROWSER=1 $(BIN)/python -m pytest -q -n 2 --dist loadfile

# The edit-test loop (under a minute on 2 cores): the pure core and the handlers against moto.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 tests/unit tests/functional

screenshots: $(STAMP) chromium
	PIK_REQUIRE_BROWSER=1 $(BIN)/python -m pytest -q tests/notebooks tests/browser
	$(BIN)/python scripts/screenshots.py

# `make demo EVENTS=20000` for a bigger story (default: pik demo's own, about a minute)
demo: $(STAMP)
	$(BIN)/pik demo $(if $(EVENTS),--events $(EVENTS))

benchmark: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) $(SAM_VENV) .venv-checkov .pik test-output
