"""InfluxDB telemetry store: line protocol writes, InfluxQL reads on the v1 ``/query``.

Writes go through influxdb-client's ``WriteApi`` in SYNCHRONOUS mode, called from our own
batcher (``ingest.writer``): the batching mode drops a batch once its retries run out,
which would break ack-after-commit. Each reading is one line, measurement ``telemetry``,
tag ``device``, one float field per metric, millisecond timestamp; InfluxDB keeps one
point per (series, field, time), so a redelivered message overwrites itself.

With ``write_api="v1"`` writes go to the v1 ``/write`` endpoint instead (InfluxDB 1.x,
which has no ``/api/v2/write`` before 1.8; 2.x and 3.x serve it too).

What a failed write means, by HTTP status:

* 5xx, 408, 429, no answer: ``StoreUnavailable``; the writer retries, acks held.
* 400, 413, 422: ``StoreRejected``; the data itself is refused (a field InfluxDB will
  not take, a point beyond the retention period, a body too large). Retrying cannot
  help; the writer bisects the batch and dead-letters the refused readings.
* anything else (401/403 bad token, 404 no such bucket or database): ``StoreError``; a
  configuration problem, not bad data, so nothing is dead-lettered: the writer retries
  and holds the acks until someone fixes it.

Reads use InfluxQL on ``/query`` (InfluxDB 1.x, 2.x with a DBRP mapping, and 3.x serve
it; Flux is not served by 3.x).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Literal

import httpx
import orjson
import urllib3
from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.domain.write_precision import WritePrecision
from influxdb_client.rest import ApiException

from core.readings import Reading
from ingest.base import StoreError, StoreRejected, StoreUnavailable
from ingest.influx_lines import to_line_protocol
from ingest.influxql import latest_query, points_query

ATTEMPTS = 3
FIRST_DELAY_S = 0.2
TRANSIENT = frozenset({408, 429})
REJECTED = frozenset({400, 413, 422})


class InfluxStore:
    """``TelemetryStore`` on InfluxDB (writes ``/api/v2/write``, reads InfluxQL)."""

    def __init__(
        self,
        url: str,
        token: str,
        org: str,
        bucket: str,
        query_url: str | None = None,
        database: str | None = None,
        *,
        timeout_s: float = 10.0,
        write_api: Literal["v2", "v1"] = "v2",
    ) -> None:
        self.bucket = bucket
        self.org = org
        self.database = database or bucket
        self.write_api = write_api
        self._client = InfluxDBClient(url=url, token=token, org=org, timeout=int(timeout_s * 1000))
        self._writes = self._client.write_api(write_options=SYNCHRONOUS)
        headers = {"Authorization": f"Token {token}"} if token else {}
        self._http = httpx.Client(base_url=query_url or url, headers=headers, timeout=timeout_s)
        self._v1 = httpx.Client(base_url=url, headers=headers, timeout=timeout_s)

    def write(self, readings: Sequence[Reading]) -> int:
        """Write in one request, retrying briefly; ``StoreUnavailable`` if still down."""
        body = to_line_protocol(readings)
        if not body:
            return 0
        delay = FIRST_DELAY_S
        for attempt in range(ATTEMPTS):
            try:
                self._write_once(body)
                return sum(len(r.metrics) for r in readings)
            except StoreUnavailable:
                if attempt == ATTEMPTS - 1:
                    raise
            time.sleep(delay)
            delay *= 2
        raise StoreUnavailable("unreachable")  # pragma: no cover - the loop returns or raises

    def query(
        self,
        device_id: str,
        metric: str,
        start: float,
        end: float,
        every: float | None = None,
    ) -> list[tuple[float, float]]:
        """Points of one metric in [start, end), oldest first; ``every`` s averages buckets."""
        q = points_query(device_id, metric, start, end, every)
        series = self._select(q)[0]
        return [
            (row[0] / 1000.0, float(row[1]))
            for s in series
            for row in s["values"]
            if row[1] is not None
        ]

    def latest(self, device_id: str) -> Reading | None:
        """The newest value of each metric of a device, stamped with the newest ts."""
        values, newest = self._select(latest_query(device_id))
        if not values or not newest:
            return None
        columns, row = values[0]["columns"], values[0]["values"][0]
        metrics = {
            col.removeprefix("last_"): float(v)
            for col, v in zip(columns[1:], row[1:], strict=True)
            if v is not None
        }
        return Reading(device_id, newest[0]["values"][0][0] / 1000.0, metrics)

    def close(self) -> None:
        self._http.close()
        self._v1.close()
        self._writes.close()  # type: ignore[no-untyped-call]
        self._client.close()  # type: ignore[no-untyped-call]

    def _write_once(self, body: str) -> None:
        if self.write_api == "v1":
            self._write_v1(body)
            return
        try:
            self._writes.write(
                bucket=self.bucket,
                org=self.org,
                record=body,
                write_precision=WritePrecision.MS,  # type: ignore[arg-type]
            )
        except ApiException as exc:
            raise _refusal(exc.status or 0, exc.body) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise StoreUnavailable(f"InfluxDB write: {exc}") from None

    def _write_v1(self, body: str) -> None:
        params = {"db": self.database, "precision": "ms"}
        try:
            response = self._v1.post("/write", params=params, content=body.encode())
        except httpx.TransportError as exc:
            raise StoreUnavailable(f"InfluxDB write: {exc}") from None
        if response.status_code >= 300:
            raise _refusal(response.status_code, response.text)

    def _select(self, q: str) -> list[list[dict[str, Any]]]:
        params = {"db": self.database, "q": q, "epoch": "ms"}
        try:
            response = self._http.get("/query", params=params)
        except httpx.TransportError as exc:
            raise StoreUnavailable(f"InfluxDB query: {exc}") from None
        if response.status_code >= 500:
            raise StoreUnavailable(f"InfluxDB query: HTTP {response.status_code}")
        if response.status_code != 200:
            raise StoreError(f"InfluxDB query: HTTP {response.status_code} {response.text[:200]}")
        return [_series(result) for result in response.json().get("results", [])]


def _refusal(status: int, body: object) -> StoreError:
    """The error a failed write means (see the module docstring)."""
    message = _server_message(body)
    if status >= 500 or status in TRANSIENT or status == 0:
        return StoreUnavailable(f"InfluxDB write: HTTP {status} {message}".rstrip())
    if status in REJECTED:
        return StoreRejected(f"HTTP {status}: {message}")
    return StoreError(f"InfluxDB refused the write: HTTP {status} {message}; check the settings")


def _server_message(body: object) -> str:
    """``error`` (1.x) or ``message`` (2.x) of a JSON error body, else the text itself."""
    text = body.decode(errors="replace") if isinstance(body, bytes) else str(body or "")
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        return text.strip()[:300]
    if isinstance(doc, dict):
        return str(doc.get("message") or doc.get("error") or text)[:300]
    return text.strip()[:300]


def _series(result: dict[str, Any]) -> list[dict[str, Any]]:
    if "error" in result:
        raise StoreError(f"InfluxQL error: {result['error']}")
    return list(result.get("series", []))
