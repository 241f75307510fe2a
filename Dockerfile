# paradex-mock: a local mock of the Paradex WebSocket API.
#
#   docker build -t paradex-mock .
#   docker run --rm -p 8080:8080 paradex-mock
#   docker run --rm -p 8080:8080 -v "$PWD/my-scenarios:/scenarios" paradex-mock --scenario mine
#
# Arguments after the image name are appended to `paradex-mock serve --host 0.0.0.0`.
# /scenarios is the mount point for your own scenario files: `--scenario mine`
# finds /scenarios/mine.yaml before the bundled scenarios.
# tests/test_docker_command.py runs this file's ENTRYPOINT and HEALTHCHECK verbatim.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY mockserver ./mockserver
COPY scenarios ./scenarios
RUN pip install --no-cache-dir . \
    && cd / && rm -rf /src \
    && groupadd --system --gid 10001 paradex \
    && useradd --system --uid 10001 --gid paradex --no-create-home --shell /usr/sbin/nologin paradex \
    && mkdir /scenarios

# Numeric, so orchestrators that require a non-root user (runAsNonRoot) can tell.
USER 10001:10001
WORKDIR /tmp

ENV PARADEX_MOCK_PORT=8080 \
    PARADEX_MOCK_SCENARIO_DIR=/scenarios
EXPOSE 8080

HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:${PARADEX_MOCK_PORT}/health', timeout=2)" || exit 1

STOPSIGNAL SIGTERM
ENTRYPOINT ["paradex-mock", "serve", "--host", "0.0.0.0"]
