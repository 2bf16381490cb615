# Vigil's container image (docs/deploy.md): one image for every role.
#   docker build -t vigil:0.1.0 .
#   docker run -p 4317-4320:4317-4320 -v vigil:/data vigil:0.1.0
# Stages: the web UI built with npm from its lockfile; the Python environment from uv.lock;
# a slim runtime with both, running as an unprivileged user, data and log under /data.

FROM node:22.12.0-bookworm-slim AS ui
WORKDIR /src/ui
COPY ui/package.json ui/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY ui/ ./
RUN npm run build

FROM python:3.11.11-slim-bookworm AS python
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
RUN pip install --no-cache-dir uv==0.13.8
WORKDIR /src
# Dependencies first (a layer that changes only with the lock), then Vigil itself.
COPY pyproject.toml uv.lock README.md ./
COPY sdk/pyproject.toml sdk/
COPY proto/pyproject.toml proto/
RUN uv sync --frozen --no-dev --no-install-project --no-install-workspace
COPY sdk/ sdk/
COPY proto/ proto/
COPY alerting/ alerting/
COPY auth/ auth/
COPY collector/ collector/
COPY query/ query/
COPY server/ server/
COPY simulator/ simulator/
COPY storage/ storage/
RUN uv sync --frozen --no-dev --no-editable

FROM python:3.11.11-slim-bookworm
RUN groupadd --system --gid 10001 vigil \
    && useradd --system --uid 10001 --gid vigil --home-dir /data --no-create-home vigil \
    && mkdir -p /data /app \
    && chown vigil:vigil /data
COPY --from=python /app/.venv /app/.venv
COPY --from=ui /src/ui/dist /app/ui/dist
# Listening on every interface needs a decision about authentication (settings.auth_problem):
# the image decides for authentication on. Create keys with `docker exec <container> vigil keys
# create`; set VIGIL_AUTH=off only behind a network that is itself the protection.
ENV PATH=/app/.venv/bin:$PATH \
    VIGIL_DATA_DIR=/data \
    VIGIL_UI_DIR=/app/ui/dist \
    VIGIL_LISTEN_HOST=0.0.0.0 \
    VIGIL_AUTH=on \
    VIGIL_LOG_FORMAT=json
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 4317 4318 4319 4320
# /health answers on the OTLP/HTTP port for every role (liveness; /ready is for load balancers).
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:4318/health', timeout=2)"]
ENTRYPOINT ["vigil"]
CMD ["serve"]
