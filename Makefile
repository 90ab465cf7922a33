# Template development: render and run the demo project, test every variant, lint.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# uv drives everything; when it is not on PATH it is installed with pip and run as a module.
UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := python3 -m uv
endif

DEMO_DIR := build/demo
# Folder of the default project: the slug of cookiecutter.json's default project_name.
DEMO_SLUG := customer-churn
# Two workers: the deep layer spends most of its time waiting on subprocesses. Work
# stealing: a worker that runs out takes queued tests from the other, so the long deep
# tests (collected first, tests/conftest.py) never wait behind one another on one worker.
# Every run lists its slowest tests, so CI logs show where the time goes.
PYTEST_ARGS ?= -n 2 --dist worksteal --durations=20

.PHONY: help ensure-uv sync demo test test-fast test-deep docs lint format clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

ensure-uv:
	@$(UV) --version >/dev/null 2>&1 \
	  || python3 -m pip install --quiet uv \
	  || python3 -m pip install --quiet --user uv \
	  || python3 -m pip install --quiet --user --break-system-packages uv

sync: ensure-uv ## Create the template's dev environment (.venv)
	$(UV) sync

demo: sync ## Render the default project into build/demo, then install, train and predict
	rm -rf $(DEMO_DIR)/$(DEMO_SLUG)
	$(UV) run cookiecutter "$(CURDIR)" --no-input -o $(DEMO_DIR) -f
	cd $(DEMO_DIR)/$(DEMO_SLUG) && unset VIRTUAL_ENV \
	  && $(MAKE) install && $(MAKE) train && $(MAKE) predict
	@echo "Demo project: $(DEMO_DIR)/$(DEMO_SLUG) (cd there and run make help)"

test: sync ## All template tests (fast and deep layers)
	$(UV) run pytest $(PYTEST_ARGS)

test-fast: sync ## Fast layer only: render, file sets, lint, hooks
	$(UV) run pytest -m "not deep" $(PYTEST_ARGS)

test-deep: sync ## Deep layer only: make install/check/train/predict in rendered projects
	$(UV) run pytest -m deep $(PYTEST_ARGS)

docs: sync ## Build the template's docs site into site/ (mkdocs build --strict)
	NO_MKDOCS_2_WARNING=1 $(UV) run mkdocs build --strict

lint: sync ## Lint the template code (hooks, tests)
	$(UV) run ruff check
	$(UV) run ruff format --check

format: sync ## Format the template code
	$(UV) run ruff check --fix
	$(UV) run ruff format

clean: ## Remove build output and caches
	rm -rf build .pytest_cache .ruff_cache
	find hooks tests -name __pycache__ -type d -prune -exec rm -rf {} +
