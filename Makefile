# Two commands do everything on a fresh machine with Python >= 3.10:
#   make book   -> .venv with the pinned requirements, executed book in _build/html
#   make test   -> the same .venv, then pytest
# (`make browser` then reads the built pages in headless Chromium: CI runs all three.)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: book test bench clean pins chapter browser

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# jupyter-cache re-executes a chapter whose code changed, and the book's extension one whose
# l2lcore dependencies changed (book/_ext/l2lbook.py). When the book's extension, the pins or
# the configuration change, everything is executed afresh. The key (file names and contents)
# is taken once, before the build.
HASH_INPUTS = $(sort $(shell find book/_ext -name '*.py')) requirements.txt _config.yml _toc.yml references.bib
book: $(STAMP)
	@h=$$(sha256sum $(HASH_INPUTS) | sha256sum | cut -c1-16); \
	if [ "$$(cat _build/.l2lcore-hash 2>/dev/null)" != "$$h" ]; then \
	  echo "pins or configuration changed: executing every chapter afresh"; \
	  rm -rf _build; \
	fi; \
	$(BIN)/jupyter-book build . --builder html -W --keep-going && echo "$$h" > _build/.l2lcore-hash
	@echo "Open _build/html/index.html in a browser."

# Build one chapter (with the intro, the results page and the references) into its own folder
# under /tmp, to check a chapter while working on it: make chapter CH=theorem4. Links to the
# chapters left out warn; the target fails on any other warning in the chapter itself.
chapter: $(STAMP)
	@test -n "$(CH)" || { echo "usage: make chapter CH=<slug>"; exit 2; }
	@d=/tmp/l2l-chapter-$(CH); mkdir -p $$d; \
	printf 'format: jb-book\nroot: book/intro\nparts:\n  - caption: Overview\n    chapters:\n      - file: book/results\n      - file: book/reproducibility\n  - caption: Chapter\n    numbered: true\n    chapters:\n      - file: book/$(CH)\n  - caption: Back matter\n    chapters:\n      - file: book/references\n' > $$d/_toc.yml; \
	$(BIN)/jupyter-book build . --toc $$d/_toc.yml --path-output $$d --builder html --keep-going 2>&1 | tee $$d/build.log | tail -5; \
	if grep -E "book/($(CH)|results|reproducibility)\.md.*(WARNING|ERROR)" $$d/build.log | grep -v -E "unknown document|undefined label|Unknown source document"; then echo "warnings in book/$(CH).md"; exit 1; fi; \
	echo "built into $$d/_build/html"

test: $(STAMP)
	$(BIN)/python -m pytest

# Open every built page in headless Chromium with no network (after `make book`).
browser: $(STAMP)
	L2L_BROWSER_REQUIRED=1 $(BIN)/python -m pytest -q -p no:cacheprovider tests/browser

bench: $(STAMP)
	$(BIN)/python benchmarks/exact_closed_form.py
	$(BIN)/python benchmarks/stable_vectorised.py
	$(BIN)/python benchmarks/lsq_spectral.py
	$(BIN)/python benchmarks/proof.py
	$(BIN)/python benchmarks/learned.py

clean:
	rm -rf _build

# Re-resolve requirements.in for Python 3.10 (the oldest supported) and pin the result.
pins:
	$(BIN)/python -m pip install --dry-run --ignore-installed --python-version 3.10 \
	  --only-binary=:all: --target /tmp/l2l-pins --report /tmp/l2l-pins.json -r requirements.in
	$(BIN)/python -c "import json; r=json.load(open('/tmp/l2l-pins.json')); \
	print('\n'.join(sorted(i['metadata']['name']+'=='+i['metadata']['version'] for i in r['install'])))" \
	  > requirements.txt
