"""Step 3 of a mix, the write: train.jsonl and validation.jsonl, streamed, hashed and counted.

A prefix-faithful interleave decides which source fills each position; each source yields its selected
records in q order (a seeded shuffle), reshuffled for every repeated pass. Outputs go through
`Storage.open_output` (atomic file or S3 multipart upload).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path
from typing import Any

from forgeflow.mixing.allocate import Selection
from forgeflow.mixing.apportion import interleave, seeded_order
from forgeflow.mixing.digest import BackgroundSha256
from forgeflow.mixing.progress import ProgressMeter
from forgeflow.mixing.scan import SourceScan
from forgeflow.mixing.selection import Admit
from forgeflow.mixing.spill import Spill, fan_out_bits
from forgeflow.storage import Storage

_MASK = (1 << 64) - 1
_WRITE_BATCH = 1024 * 1024
_MAX_BLOCK = 4096  # positions joined at once at most (short lines)


def _mix64(value: int) -> int:
    """SplitMix64's finaliser: a fixed bijection on 64-bit integers (identical on every machine)."""
    value = (value + 0x9E3779B97F4A7C15) & _MASK
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK
    return value ^ (value >> 31)


@dataclass
class OutputFile:
    """One written output: where, how many records and estimated tokens, its size and sha256."""

    uri: str
    records: int = 0
    est_tokens: int = 0
    bytes: int = 0
    sha256: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "uri": self.uri,
            "records": self.records,
            "est_tokens": self.est_tokens,
            "bytes": self.bytes,
            "sha256": self.sha256,
        }


@dataclass(frozen=True)
class LongestRun:
    """The longest stretch of train.jsonl filled by one source (1-based start line; none when empty)."""

    length: int
    source: str | None
    start_line: int | None

    def to_dict(self) -> dict[str, Any]:
        return {"length": self.length, "source": self.source, "start_line": self.start_line}


class Writer:
    """Writes a mix's outputs; repeated passes are reshuffled in temporary files under `work`."""

    def __init__(self, storage: Storage, work: Path, seed: int, meter: ProgressMeter) -> None:
        self.storage = storage
        self.work = work
        self.seed = seed
        self.meter = meter

    def lines_of(
        self, scan: SourceScan, selection: Selection, number: int, tokens: list[int], tail: int = 0
    ) -> Iterator[list[bytes | memoryview]]:
        """The selected lines of one source in output order, a bucket at a time (a fresh seeded shuffle
        per pass); their tokens are added to `tokens[number]` as each bucket is handed out. `tail`: see
        `Spill.sorted_lines`."""
        # One pass reads the spill once: its buckets go as they are read (their pages serve the output).
        once = selection.passes + (1 if selection.remainder.records else 0) == 1
        for pass_number, prefix in enumerate(selection.prefixes()):
            admit = Admit(prefix.threshold)
            if pass_number == 0:
                for lines, bucket_tokens in scan.spill.sorted_lines(admit, consume=once, tail=tail):
                    tokens[number] += bucket_tokens
                    yield lines
                    del lines  # not held while the next bucket is read
                continue
            salt = _mix64(self.seed ^ _mix64(pass_number))
            reshuffled = Spill(
                self.work / f"pass-{number}-{pass_number}", bits=fan_out_bits(scan.spill.bytes, max_bits=8)
            )
            try:
                for entry in scan.spill.entries():
                    if admit(entry.p):
                        reshuffled.add(_mix64(entry.q ^ salt), entry.p, entry.q, entry.tokens, entry.line)
                for lines, bucket_tokens in reshuffled.sorted_lines(consume=True, tail=tail):
                    tokens[number] += bucket_tokens
                    yield lines
                    del lines
            finally:
                reshuffled.remove()

    def write_train(
        self, uri: str, scans: list[SourceScan], selections: list[Selection]
    ) -> tuple[OutputFile, list[int], LongestRun]:
        """Interleave the selections into `uri`: the file, each source's tokens, the longest run."""
        # A block of positions at a time, its lines taken and joined in C: at most `_WRITE_BATCH` bytes.
        block = max(1, min(_MAX_BLOCK, _WRITE_BATCH // max(1, max(s.spill.longest for s in scans))))
        tokens = [0] * len(scans)
        lines = [
            chain.from_iterable(self.lines_of(s, sel, i, tokens, block))
            for i, (s, sel) in enumerate(zip(scans, selections, strict=True))
        ]
        counts = [selection.records for selection in selections]
        output = OutputFile(uri)
        run = _RunTracker()
        order = interleave(counts, seeded_order([s.spec.name for s in scans], self.seed, "interleave"))
        # The output's SHA-256 on a second thread (mixing/digest.py): it overlaps the interleaving.
        with BackgroundSha256() as digest, self.storage.open_output(uri) as writer:
            while sources := list(islice(order, block)):
                try:
                    data = b"".join([next(lines[source]) for source in sources])
                except StopIteration:
                    raise AssertionError("a source ran out of selected records") from None
                run.add(sources)
                self._flush(writer, data, digest, output)
            output.sha256 = digest.hexdigest()
        if any(next(rest, None) is not None for rest in lines):
            raise AssertionError("a source has selected records left over")
        output.records = sum(counts)
        output.est_tokens = sum(tokens)
        longest = LongestRun(
            length=run.longest,
            source=scans[run.longest_source].spec.name if run.longest else None,
            start_line=run.longest_start + 1 if run.longest else None,
        )
        return output, tokens, longest

    def write_validation(self, uri: str, validation: Spill) -> OutputFile:
        """The held-out customer records, in q order, into `uri`."""
        output = OutputFile(uri)
        batch = bytearray()
        with BackgroundSha256() as digest, self.storage.open_output(uri) as writer:
            for lines, tokens in validation.sorted_lines(consume=True):
                output.records += len(lines)
                output.est_tokens += tokens
                for line in lines:
                    batch += line
                    if len(batch) >= _WRITE_BATCH:
                        self._flush(writer, bytes(batch), digest, output)
                        batch.clear()
            self._flush(writer, bytes(batch), digest, output)
            output.sha256 = digest.hexdigest()
        return output

    def _flush(self, writer: Any, data: bytes, digest: BackgroundSha256, output: OutputFile) -> None:
        """Write and hash `data` (immutable: the hashing thread reads it later)."""
        if data:
            writer.write(data)
            digest.update(data)
            output.bytes += len(data)
            self.meter.advance(len(data))


class _RunTracker:
    """The longest stretch of one source in the interleave, its source and start (the first such)."""

    def __init__(self) -> None:
        self.position = 0  # positions seen
        self.source, self.length = -1, 0  # the current run
        self.longest, self.longest_source, self.longest_start = 0, -1, 0

    def add(self, sources: list[int]) -> None:
        source, length, position = self.source, self.length, self.position
        for next_source in sources:
            if next_source == source:
                length += 1
            else:
                source, length = next_source, 1
            position += 1
            if length > self.longest:
                self.longest, self.longest_source = length, source
                self.longest_start = position - length
        self.source, self.length, self.position = source, length, position
