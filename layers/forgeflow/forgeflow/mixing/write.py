"""Step 3 of a mix, the write: train.jsonl and validation.jsonl, streamed, hashed and counted.

A prefix-faithful interleave decides which source fills each position; each source yields its selected
records in q order (a seeded shuffle), reshuffled for every repeated pass. Outputs go through
`Storage.open_output` (atomic file or S3 multipart upload).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forgeflow.mixing.allocate import Selection
from forgeflow.mixing.apportion import interleave, seeded_order
from forgeflow.mixing.digest import BackgroundSha256
from forgeflow.mixing.progress import ProgressMeter
from forgeflow.mixing.scan import SourceScan
from forgeflow.mixing.selection import Admit
from forgeflow.mixing.spill import Entry, Spill, fan_out_bits
from forgeflow.storage import Storage

_MASK = (1 << 64) - 1
_WRITE_BATCH = 1024 * 1024


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

    def records_of(self, scan: SourceScan, selection: Selection, number: int) -> Iterator[Entry]:
        """The selected records of one source in output order: a fresh seeded shuffle per pass."""
        # One pass reads the spill once: its buckets go as they are read (their pages serve the output).
        once = selection.passes + (1 if selection.remainder.records else 0) == 1
        for pass_number, prefix in enumerate(selection.prefixes()):
            admit = Admit(prefix.threshold)
            if pass_number == 0:
                yield from scan.spill.sorted_entries(admit=admit, consume=once)
                continue
            salt = _mix64(self.seed ^ _mix64(pass_number))
            reshuffled = Spill(
                self.work / f"pass-{number}-{pass_number}", bits=fan_out_bits(scan.spill.bytes, max_bits=8)
            )
            try:
                for entry in scan.spill.entries():
                    if admit(entry.p):
                        reshuffled.add(_mix64(entry.q ^ salt), entry.p, entry.q, entry.tokens, entry.line)
                yield from reshuffled.sorted_entries(consume=True)
            finally:
                reshuffled.remove()

    def write_train(
        self, uri: str, scans: list[SourceScan], selections: list[Selection]
    ) -> tuple[OutputFile, list[int], LongestRun]:
        """Interleave the selections into `uri`: the file, each source's tokens, the longest run."""
        streams = [
            self.records_of(s, sel, i) for i, (s, sel) in enumerate(zip(scans, selections, strict=True))
        ]
        counts = [selection.records for selection in selections]
        tokens = [0] * len(scans)
        output = OutputFile(uri)
        batch = bytearray()
        run_source, run_length, longest, longest_source, longest_start = -1, 0, 0, -1, 0
        order = seeded_order([s.spec.name for s in scans], self.seed, "interleave")
        # The output's SHA-256 on a second thread (mixing/digest.py): it overlaps the interleaving.
        with BackgroundSha256() as digest, self.storage.open_output(uri) as writer:
            for position, source in enumerate(interleave(counts, order)):
                entry = next(streams[source], None)
                if entry is None:
                    raise AssertionError(f"source {scans[source].spec.name!r} ran out of selected records")
                line = entry.line
                batch += line
                tokens[source] += entry.tokens
                if source == run_source:
                    run_length += 1
                else:
                    run_source, run_length = source, 1
                if run_length > longest:
                    longest, longest_source, longest_start = run_length, source, position - run_length + 1
                if len(batch) >= _WRITE_BATCH:
                    self._flush(writer, batch, digest, output)
            self._flush(writer, batch, digest, output)
            output.sha256 = digest.hexdigest()
        output.records = sum(counts)
        output.est_tokens = sum(tokens)
        run = LongestRun(
            length=longest,
            source=scans[longest_source].spec.name if longest_source >= 0 else None,
            start_line=longest_start + 1 if longest else None,
        )
        return output, tokens, run

    def write_validation(self, uri: str, validation: Spill) -> OutputFile:
        """The held-out customer records, in q order, into `uri`."""
        output = OutputFile(uri)
        batch = bytearray()
        with BackgroundSha256() as digest, self.storage.open_output(uri) as writer:
            for entry in validation.sorted_entries(consume=True):
                batch += entry.line
                output.records += 1
                output.est_tokens += entry.tokens
                if len(batch) >= _WRITE_BATCH:
                    self._flush(writer, batch, digest, output)
            self._flush(writer, batch, digest, output)
            output.sha256 = digest.hexdigest()
        return output

    def _flush(self, writer: Any, batch: bytearray, digest: BackgroundSha256, output: OutputFile) -> None:
        if batch:
            # One immutable copy: the hashing thread reads it after the batch is cleared and refilled.
            data = bytes(batch)
            writer.write(data)
            digest.update(data)
            output.bytes += len(batch)
            self.meter.advance(len(batch))
            batch.clear()
