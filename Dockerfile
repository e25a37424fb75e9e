# kapacitor-operator image: a wheel built from this repository, installed into a slim
# Python 3.11 base that holds no compiler and runs as a fixed non-root UID.
#
#   DOCKER_BUILDKIT=1 docker build -t ghcr.io/kapacitor-operator/kapacitor-operator:0.1.0 .
#
# There is deliberately no `# syntax=` line: the Dockerfile frontend built into BuildKit
# (Docker >= 20.10) has everything used here (`RUN --mount`), while naming a frontend
# image makes every build pull it from a registry; the test node builds offline with
# `--build-arg PYTHON_IMAGE=<a local base image>` (hack/build-images.sh, docs/node.md).
# Pin the base image by digest in release builds (python:3.11-slim-bookworm@sha256:...).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- deps: a wheel of every dependency ------------------------------------------------
# Depends on pyproject.toml only, so a change under operator/ reuses this stage; the pip
# cache mount makes even a dependency change download little.
FROM ${PYTHON_IMAGE} AS deps
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml ./
RUN --mount=type=cache,target=/root/.cache/pip \
    python3 -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
      >requirements.txt \
 && python3 -m pip wheel --wheel-dir /deps -r requirements.txt

# --- builder: the operator's own wheel -------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# The build backend ([build-system] requires) in a layer of its own, so a source change
# does not set up an isolated build environment again.
COPY pyproject.toml ./
RUN --mount=type=cache,target=/root/.cache/pip \
    python3 -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"]))' \
      >build-requirements.txt \
 && python3 -m pip install -r build-requirements.txt
# Only what the wheel needs (see .dockerignore); README/LICENSE when present.
COPY README* LICENSE* ./
COPY operator/ ./operator/
RUN python3 -m pip wheel --no-build-isolation --no-deps --wheel-dir /wheels .

# --- runtime ----------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
ARG UID=10001
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN groupadd --system --gid "${UID}" kapacitor-operator \
 && useradd --system --uid "${UID}" --gid "${UID}" --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin kapacitor-operator
# Dependencies and the operator in two layers, so a source change rebuilds only the
# second. Installed from the earlier stages' wheels only (no index, no build step); the
# bind mounts keep the wheels out of every layer of this image.
RUN --mount=type=bind,from=deps,source=/deps,target=/deps \
    python3 -m pip install --no-index /deps/*.whl
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    python3 -m pip install --no-index --no-deps /wheels/*.whl \
 && python3 -m pip check \
 && python3 -c 'import kapacitor_operator.main' \
 && kapacitor-operator version
USER ${UID}:${UID}
# /healthz, /readyz (liveness, readiness) and Prometheus /metrics: OPERATOR_HEALTH_PORT,
# OPERATOR_METRICS_PORT.
EXPOSE 8080 9090
LABEL org.opencontainers.image.title="kapacitor-operator" \
      org.opencontainers.image.description="Kubernetes operator for InfluxData Kapacitor tasks and runs" \
      org.opencontainers.image.source="https://github.com/kapacitor-operator/kapacitor-operator" \
      org.opencontainers.image.licenses="Apache-2.0"
ENTRYPOINT ["kapacitor-operator"]
CMD ["run"]
