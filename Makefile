# Two commands matter: `make test` and `make demo`. Both build the environment from scratch.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: test demo lint install benchmark screenshots chromium clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/cfn-lint template.yaml

# The browser test needs Debian's chromium; as root we install it, otherwise we say how.
chromium:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  { echo "the browser test needs Debian's chromium: sudo apt-get install chromium"; exit 1; }

test: $(STAMP) lint chromium
	PIK_REQUIRE_BROWSER=1 $(BIN)/python -m pytest -q

screenshots: $(STAMP) chromium
	PIK_REQUIRE_BROWSER=1 $(BIN)/python -m pytest -q tests/notebooks tests/browser
	$(BIN)/python scripts/screenshots.py

demo: $(STAMP)
	$(BIN)/pik demo

benchmark: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .pik test-output
