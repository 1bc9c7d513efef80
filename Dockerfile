# Kizuki engine image (used by docker-compose.yml): `docker build -t kizuki .`
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml README.md ./
COPY kizuki/ kizuki/
COPY ingest/ ingest/
COPY anomaly/ anomaly/
COPY tickets/ tickets/
COPY simulator/ simulator/
COPY api/ api/
RUN pip install . && useradd --system --uid 10001 --home-dir /data kizuki \
    && mkdir -p /data && chown kizuki /data

USER kizuki
ENV KIZUKI_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8000
CMD ["kizuki", "run"]
