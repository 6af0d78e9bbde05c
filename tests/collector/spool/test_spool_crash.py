"""SIGKILL a process that is appending to the spool; nothing it reported durable may be lost.

A child process appends numbered points in a loop and, after each append returns,
prints the last number that is durable. The test kills it at a random moment, reopens
the spool and checks that every reported number is there once and in order, then
starts the next round on the same directory (so recovery runs again and again).

The random choices (batch sizes, reads, rewinds, when to kill) come from one seed, printed
at the start of each test; set SPOOL_CRASH_SEED to run with a given one again. The kill
lands at a different point of the work each run all the same, so a replay is close, not exact.

A SIGKILL cannot catch a missing fsync: the kernel's page cache survives a killed process,
so data written but never synced is still read back. tests/collector/spool/test_spool_fsync.py checks
the fsyncs themselves, against what a power loss would keep.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from collector.spool import Spool

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[3]
ROUNDS = 5
ROUND_SPAN = 10_000_000  # numbers of round r are r * ROUND_SPAN + 0, 1, 2, ...
PRODUCERS = 4
SEGMENT_BYTES = 48 << 10
MAX_READ = 400
SEED_VARIABLE = "SPOOL_CRASH_SEED"

CHILD = r'''
import asyncio, os, random, sys, threading, time
from pathlib import Path
from collector.spool import Spool
from collector.spool import SpoolAppender

directory, mode = Path(sys.argv[1]), sys.argv[2]
base, segment_bytes = int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(int(sys.argv[5]))


def point(producer, n):
    return b'crash,p=%d n=%di,s="a\nb" %d' % (producer, n, n)


def report(producer, n):
    sys.stdout.write(f"{producer} {n}\n")
    sys.stdout.flush()


def deliver(spool):
    # Sink first, commit second: a kill in between re-delivers, it never loses.
    fd = os.open(directory.parent / "sink", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    while True:
        records = spool.read(rng.randint(1, 400))
        if not records:
            time.sleep(0.001)
            continue
        if rng.random() < 0.2:
            spool.rewind()  # a failed delivery
            continue
        points = [p for r in records for p in r.points]
        os.write(fd, b"".join(p[8 : p.index(b" ")] + p[p.rindex(b" ") :] + b"\n" for p in points))
        spool.commit(records[-1].next)


def run_direct(spool):
    n = base
    while True:
        batches = []
        for _ in range(rng.randint(1, 5)):
            size = rng.randint(1, 40)
            batches.append([point(0, i) for i in range(n, n + size)])
            n += size
        spool.append(batches)
        report(0, n - 1)


async def produce(appender, producer):
    n = base
    while True:
        size = rng.randint(1, 30)
        await appender.append([point(producer, i) for i in range(n, n + size)])
        n += size
        report(producer, n - 1)


async def run_appender(spool):
    appender = SpoolAppender(spool, max_delay=0.002)
    await appender.start()
    await asyncio.gather(*(produce(appender, k) for k in range(4)))


spool = Spool(directory, max_bytes=1 << 40, segment_bytes=segment_bytes)
spool.open()
if mode == "reader":
    threading.Thread(target=deliver, args=(spool,), daemon=True).start()
if mode == "appender":
    asyncio.run(run_appender(spool))
else:
    run_direct(spool)
'''


@dataclass
class Round:
    base: int
    reported: dict[int, int] = field(default_factory=dict)  # producer -> last durable number


def parse_point(p: bytes) -> tuple[int, int]:
    # b'crash,p=<producer> n=<n>i,s="a\nb" <n>'
    return int(p[8 : p.index(b" ")]), int(p[p.rindex(b" ") :])


def seeded_rng() -> random.Random:
    """A generator from $SPOOL_CRASH_SEED or a fresh seed, printed so a failure can be replayed."""
    raw = os.environ.get(SEED_VARIABLE) or str(random.SystemRandom().randrange(1 << 32))
    if not raw.isdigit():
        raise ValueError(f"{SEED_VARIABLE} must be a non-negative integer, got {raw!r}")
    seed = int(raw)
    print(f"{SEED_VARIABLE}={seed}")
    return random.Random(seed)


def run_child(spool_dir: Path, mode: str, base: int, rng: random.Random) -> Round:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CHILD,
            str(spool_dir),
            mode,
            str(base),
            str(SEGMENT_BYTES),
            str(rng.randrange(1 << 32)),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
        env=env,
    )
    lines: list[bytes] = []
    drain = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)  # type: ignore[arg-type]
    drain.start()
    deadline = time.monotonic() + 20
    while not lines and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    if not lines:
        proc.kill()
        proc.wait()
        pytest.fail(f"child never reported: {proc.stderr.read().decode()}")  # type: ignore[union-attr]
    time.sleep(rng.uniform(0.05, 0.35))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    drain.join(5)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()  # type: ignore[union-attr]
    result = Round(base)
    for line in lines:
        if line.endswith(b"\n"):  # the very last one may have been cut by the kill
            producer, n = map(int, line.split())
            result.reported[producer] = n
    return result


def spooled(spool_dir: Path) -> list[tuple[int, int]]:
    spool = Spool(spool_dir, max_bytes=1 << 40, segment_bytes=SEGMENT_BYTES)
    spool.open()
    try:
        out = []
        while records := spool.read(10_000):
            out.extend(parse_point(p) for r in records for p in r.points)
        assert len(out) == spool.stats.pending_points
        return out
    finally:
        spool.close()


def delivered(sink: Path) -> list[tuple[int, int]]:
    if not sink.exists():
        return []
    lines = sink.read_bytes().splitlines()
    return [(int(a), int(b)) for a, b in (line.split() for line in lines)]


def check(observed: list[tuple[int, int]], rounds: list[Round]) -> None:
    """Each producer's numbers: in order, each round's a gap-free run covering what it reported."""
    for producer in {p for r in rounds for p in r.reported}:
        seq = [n for p, n in observed if p == producer]
        assert seq == sorted(set(seq)), f"producer {producer}: duplicated or out of order"
        for r in rounds:
            got = [n for n in seq if r.base <= n < r.base + ROUND_SPAN]
            if producer in r.reported:
                assert got[-1:] and got[-1] >= r.reported[producer], "lost reported data"
            assert got == list(range(r.base, r.base + len(got))), f"gap in round at {r.base}"


def first_occurrences(seq: list[tuple[int, int]]) -> tuple[list[tuple[int, int]], int]:
    seen: set[tuple[int, int]] = set()
    out = []
    for item in seq:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out, len(seq) - len(out)


@pytest.mark.parametrize("mode", ["direct", "appender"])
def test_sigkill_never_loses_or_duplicates_durable_points(tmp_path: Path, mode: str) -> None:
    spool_dir = tmp_path / "spool"
    rng = seeded_rng()
    rounds: list[Round] = []
    for r in range(ROUNDS):
        rounds.append(run_child(spool_dir, mode, r * ROUND_SPAN, rng))
        check(spooled(spool_dir), rounds)
    assert all(rounds[-1].reported.values())


def test_sigkill_while_a_reader_commits(tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    rng = seeded_rng()
    rounds: list[Round] = []
    for r in range(ROUNDS):
        rounds.append(run_child(spool_dir, "reader", r * ROUND_SPAN, rng))
        pending = spooled(spool_dir)
        for producer in {p for p, _ in pending}:
            seq = [n for p, n in pending if p == producer]
            assert seq == sorted(set(seq)), "spool holds a point twice or out of order"
        # What was delivered plus what is still spooled is everything, once a delivery
        # cut short by the kill (sent, not committed) is counted once.
        everything, repeats = first_occurrences(delivered(tmp_path / "sink") + pending)
        check(everything, rounds)
        assert repeats <= MAX_READ * len(rounds)
    # The reader really delivered and committed, deleting segments under the writer.
    assert delivered(tmp_path / "sink")
    seqs = sorted(int(f.stem) for f in spool_dir.glob("*.seg"))
    assert seqs[0] > 0
