# Porchlight production image: migrations, then `porchlight serve` with several uvicorn workers (a socket each).
# Expects PostgreSQL.
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /venv
COPY requirements.lock /tmp/requirements.lock
RUN /venv/bin/pip install --require-hashes -r /tmp/requirements.lock

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 porchlight \
    && mkdir -p /var/lib/porchlight && chown porchlight /var/lib/porchlight
COPY --from=build /venv /venv
WORKDIR /app
COPY backend ./backend
COPY push ./push
COPY migrations ./migrations
COPY pwa ./pwa
ENV PATH=/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PORCHLIGHT_ENV=production \
    PORCHLIGHT_HOST=0.0.0.0 \
    PORCHLIGHT_PORT=8000 \
    PORCHLIGHT_WORKERS=4 \
    PORCHLIGHT_VAR_DIR=/var/lib/porchlight
USER porchlight
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PORCHLIGHT_PORT\"]}/health', timeout=4)"
CMD ["sh", "-c", "python -m backend migrate && exec python -m backend serve"]
