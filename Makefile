# Two commands do everything on a fresh machine: `make dev` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# uv must never download an interpreter: use the machine's Python (3.11+).
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON_PREFERENCE := only-system
PYTHON ?= python3
UV := $(PYTHON) -m uv

-include .env
export

DEV_NATS_PORT ?= 4222
DEV_MONGO_PORT ?= 27017
LOCAL_MODEL_PORT ?= 8090
GATEWAY_PORT ?= 8000
WEB_PORT ?= 8080
WORKERS ?= 1
export DEV_NATS_PORT DEV_MONGO_PORT LOCAL_MODEL_PORT GATEWAY_PORT WEB_PORT

.PHONY: help uv setup web-assets browser image-tools dev test test-images test-unit test-integration test-e2e lint format asyncapi bench bench-quick clean

help:
	@echo "make dev    run the whole stack locally (WORKERS=N for more agent workers)"
	@echo "make test   run every test (unit, integration, end-to-end)"
	@echo "make test-images  build every service image with podman and chat through the containers"
	@echo "make lint   ruff + mypy"
	@echo "make asyncapi  regenerate docs/asyncapi.json, the NATS contracts (checked by make test)"
	@echo "make bench  benchmarks into bench/results/ (make bench-quick: under 3 minutes)"

uv:
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --disable-pip-version-check uv

setup: uv
	$(UV) sync --locked
	@# The web's front-end libraries (package-lock.json), for checking the copies in
	@# static/vendor and for axe-core in the browser tests. The copies are committed,
	@# so the web runs without npm.
	@# And the published schemas of the Kubernetes custom resources (KEDA).
	@if command -v npm >/dev/null 2>&1; then \
	  npm ci --prefix services/web --no-audit --no-fund --loglevel=error >/dev/null; \
	  npm ci --prefix infra/k8s/schemas --no-audit --no-fund --loglevel=error >/dev/null; \
	else echo "npm missing: the vendored front-end files and the CRDs are not checked"; fi

# After changing services/web/package.json: refresh the committed browser builds.
web-assets:
	npm install --prefix services/web --no-audit --no-fund
	node services/web/scripts/vendor-assets.mjs

# Debian's chromium for the browser tests (browser downloads fail on these machines).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	      || echo "could not install chromium: browser tests will be skipped"; \
	  else echo "chromium missing: browser tests will be skipped (apt-get install chromium)"; fi; }

# podman (with runc: crun refuses some hosts' cgroups) and debootstrap for test-images.
image-tools:
	@missing=""; for tool in podman runc debootstrap; do \
	  PATH="$$PATH:/usr/sbin:/sbin" command -v $$tool >/dev/null 2>&1 || missing="$$missing $$tool"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap >/dev/null; } \
	      || echo "could not install$$missing: test-images will be skipped"; \
	  else echo "missing$$missing: test-images will be skipped (apt-get install podman runc debootstrap)"; fi; fi

DEV_PROCS := auth sessions worker=$(WORKERS) gateway web
# web runs on this host and forwards the browser's address for the per-address limits.
dev: export TRUSTED_PROXIES := $(or $(TRUSTED_PROXIES),127.0.0.1)
ifeq ($(strip $(NATS_URL)),)
DEV_PROCS += nats
# Our own NATS: every service connects with its own NKey identity and permissions
# (libs/common broker_permissions), generated into .data/broker on first start.
dev: export DEV_BROKER := .data/broker
endif
ifeq ($(strip $(MONGO_URI)),)
DEV_PROCS += mongo
endif
ifeq ($(strip $(OPENAI_API_KEY)$(OPENAI_BASE_URL)),)
DEV_PROCS += model
dev: export OPENAI_BASE_URL := http://127.0.0.1:$(LOCAL_MODEL_PORT)/v1
dev: export OPENAI_MODEL := $(or $(OPENAI_MODEL),smollm2-135m-instruct)
dev: export MODEL_MAX_TOKENS := $(or $(MODEL_MAX_TOKENS),512)
# SmolLM2's context is 2,048 tokens per slot: the reply's 512 and the history's 1,024.
dev: export CONTEXT_MAX_TOKENS := $(or $(CONTEXT_MAX_TOKENS),1024)
endif

dev: setup
	@mkdir -p .data/nats .data/mongo
	@if [ -n "$$DEV_BROKER" ]; then .venv/bin/python -m llmsvc.common.broker_setup "$$DEV_BROKER" \
	  --port $(DEV_NATS_PORT) --store-dir .data/nats >/dev/null; fi
	@echo ""
	@echo "  Chat UI:      http://127.0.0.1:$(WEB_PORT)/web/"
	@echo "  API:          http://127.0.0.1:$(GATEWAY_PORT)  (docs: /docs)"
	@echo "  Model:        $${OPENAI_BASE_URL:-OpenAI} ($${OPENAI_MODEL:-default})"
	@echo "  Data:         .data/   Ctrl-C stops everything"
	@echo ""
	@procs="$(DEV_PROCS)"; names=""; conc=""; \
	for p in $$procs; do case $$p in *=*) names="$$names $${p%%=*}"; conc="$$conc,$$p";; *) names="$$names $$p";; esac; done; \
	exec .venv/bin/honcho -f Procfile.dev start -c "$${conc#,}" $$names

test: setup browser lint
	.venv/bin/pytest

# Every service image built with podman on a local Debian base (no registry needed), run
# read-only as non-root, and a conversation through them (infra/images/test_images.py).
# Skipped, saying why, without root, podman or runc. TEST_IMAGES_ARGS: --no-build, --keep.
test-images: setup image-tools
	.venv/bin/python -m infra.images.test_images $(TEST_IMAGES_ARGS)

test-unit: setup
	.venv/bin/pytest -m unit

test-integration: setup
	.venv/bin/pytest -m integration

test-e2e: setup browser
	.venv/bin/pytest -m e2e

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy libs services tests bench

format: setup
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

# The AsyncAPI document of every NATS contract, from the code (scripts/asyncapi.py).
asyncapi: setup
	.venv/bin/python -m scripts.asyncapi

# The performance contract: direct model, bare relay and service side by side (bench/README.md).
BENCH_FULL := --levels 1,10,50,100,200 --workers 1,2 --reply-tokens 200 --max-total-s 2700
BENCH_QUICK := --levels 1,50 --workers 1 --reply-tokens 200 --skip-history --skip-probes --idle-streams 0 \
	--out bench/results/quick

bench: setup
	.venv/bin/python -m bench.run $(BENCH_FULL) $(BENCH_ARGS)

bench-quick: setup
	.venv/bin/python -m bench.run $(BENCH_QUICK) $(BENCH_ARGS)

clean:
	rm -rf .venv .mypy_cache .ruff_cache .pytest_cache
