"""Which partition a device belongs to, and which partitions a worker owns.

Every device maps to one of ``count`` partitions by a stable hash of its id: 32-bit
FNV-1a of the id's UTF-8 bytes, modulo ``count``. It is the hash NATS applies in a
subject mapping ``{{partition(count,1)}}`` whose wildcard is the device id, so the
partition a NATS server writes into the subject is the one :func:`partition_of` gives
(``tests/scale`` checks this against a real server), and the simulator, the tests and
the docs agree with the broker. On Kafka the same function is the key -> partition map
if the producer uses it as its partitioner (Kafka's default is murmur2; see
``docs/scale-out.md``).

A worker owns a set of partitions: ``"0-3"`` / ``"0-3,6"`` (:func:`parse_partitions`) or
its share of ``count`` by ordinal (:func:`block_of`: worker ``i`` of ``n`` owns one
contiguous block, as a Kubernetes StatefulSet's pod index gives).
"""

from __future__ import annotations

FNV_OFFSET = 0x811C9DC5
FNV_PRIME = 0x01000193
MAX_PARTITIONS = 4096


def fnv1a_32(data: bytes) -> int:
    """32-bit FNV-1a of ``data`` (Go's ``hash/fnv`` New32a)."""
    h = FNV_OFFSET
    for byte in data:
        h = ((h ^ byte) * FNV_PRIME) & 0xFFFFFFFF
    return h


def partition_of(device_id: str, count: int) -> int:
    """The partition of ``device_id`` among ``count`` (0 .. count-1)."""
    if count < 1:
        raise ValueError(f"partition count must be at least 1, not {count}")
    return fnv1a_32(device_id.encode()) % count


def parse_partitions(spec: str, count: int) -> frozenset[int]:
    """``"0-3,6"`` -> {0, 1, 2, 3, 6}; ``ValueError`` (one line) for anything else."""
    _check_count(count)
    owned: set[int] = set()
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            raise ValueError(f"empty item in partitions {spec!r}: write e.g. 0-3,6")
        low, _, high = part.partition("-")
        try:
            first, last = int(low), int(high or low)
        except ValueError:
            raise ValueError(f"partitions {spec!r}: {part!r} is not N or N-M") from None
        if first > last:
            raise ValueError(f"partitions {spec!r}: range {part!r} runs backwards")
        if first < 0 or last >= count:
            raise ValueError(f"partitions {spec!r}: {part!r} is outside 0-{count - 1}")
        owned.update(range(first, last + 1))
    return frozenset(owned)


def block_of(ordinal: int, workers: int, count: int) -> frozenset[int]:
    """The contiguous block of ``count`` partitions that worker ``ordinal`` of ``workers`` owns.

    Blocks differ in size by at most one; every partition has exactly one owner.
    """
    _check_count(count)
    if not 1 <= workers <= count:
        raise ValueError(f"worker count {workers} must be between 1 and the {count} partitions")
    if not 0 <= ordinal < workers:
        raise ValueError(f"worker ordinal {ordinal} is outside 0-{workers - 1}")
    return frozenset(range(ordinal * count // workers, (ordinal + 1) * count // workers))


def describe(owned: frozenset[int]) -> str:
    """{0, 1, 2, 3, 6} -> ``"0-3,6"`` (the inverse of :func:`parse_partitions`)."""
    runs: list[list[int]] = []
    for p in sorted(owned):
        if runs and p == runs[-1][1] + 1:
            runs[-1][1] = p
        else:
            runs.append([p, p])
    return ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs)


def _check_count(count: int) -> None:
    if not 1 <= count <= MAX_PARTITIONS:
        raise ValueError(f"partition count {count} must be between 1 and {MAX_PARTITIONS}")
