# Kizuki engine image (used by docker-compose.yml): `docker build -t kizuki .`
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

# Dependencies first, pinned by requirements.lock (scripts/lock.py): this layer is
# rebuilt only when the lock changes, not on every code change, and every image gets
# the same versions.
COPY requirements.lock ./
RUN pip install --no-deps -r requirements.lock

COPY pyproject.toml README.md ./
COPY core/ core/
COPY kizuki/ kizuki/
COPY ingest/ ingest/
COPY anomaly/ anomaly/
COPY tickets/ tickets/
COPY simulator/ simulator/
COPY api/ api/
RUN pip install --no-deps . && useradd --system --uid 10001 --home-dir /data kizuki \
    && mkdir -p /data && chown kizuki /data

USER kizuki
ENV KIZUKI_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=8s --start-period=60s --retries=3 CMD ["kizuki", "ready"]
CMD ["kizuki", "run"]
