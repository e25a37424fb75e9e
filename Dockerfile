# syntax=docker/dockerfile:1
# kapacitor-operator image: a wheel built from this repository, installed into a slim
# Python 3.11 base that holds no compiler and runs as a fixed non-root UID.
#
#   docker build -t ghcr.io/kapacitor-operator/kapacitor-operator:0.1.0 .
#
# Pin the base images by digest in release builds (python:3.11-slim-bookworm@sha256:...).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- builder: our wheel plus a wheel of every dependency --------------------------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# Only what the wheel needs (see .dockerignore); README/LICENSE when present.
COPY pyproject.toml README* LICENSE* ./
COPY operator/ ./operator/
RUN pip wheel --wheel-dir /wheels .

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
# Install from the builder's wheels only (no index, no build step); the bind mount keeps
# the wheels out of every layer of this image.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels kapacitor-operator \
 && kapacitor-operator version
USER ${UID}:${UID}
# kopf liveness (/healthz) and Prometheus metrics (/metrics): OPERATOR_HEALTH_PORT,
# OPERATOR_METRICS_PORT.
EXPOSE 8080 9090
LABEL org.opencontainers.image.title="kapacitor-operator" \
      org.opencontainers.image.description="Kubernetes operator for InfluxData Kapacitor tasks and runs" \
      org.opencontainers.image.source="https://github.com/kapacitor-operator/kapacitor-operator" \
      org.opencontainers.image.licenses="Apache-2.0"
ENTRYPOINT ["kapacitor-operator"]
CMD ["run"]
