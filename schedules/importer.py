"""Schedule import: read a clinic's rows, check every one, then upsert patients and appointments.

Reading is split from writing so the CLI, the staff upload page and the JSON API share it:
``parse_schedule_csv`` (or ``read_schedule_csv``) and ``validate_rows`` turn input into checked
``ScheduleRow`` values and ``RowProblem`` reports; ``plan_changes`` says what loading them would do;
``apply_schedule`` does it. A large file goes through ``check_schedule_csv`` (every row checked,
none kept) and ``apply_schedule_csv`` (the file read again and loaded a chunk at a time in the
caller's one transaction), so memory stays flat however long the file is. Given a path, both read
the file a piece at a time, and the load refuses a file whose bytes are not those checked.

Decisions a clinic may ask about:

- ``start`` takes ``YYYY-MM-DD HH:MM``, ISO 8601 local time, or any date + time form that the
  ``date`` and ``time`` columns take. An ISO time with a UTC offset is accepted only when the offset
  is the one the clinic's zone has at that wall time; such an offset also settles which of the two
  01:30s is meant on the night clocks fall back. Any other offset is an invalid row, never
  silently converted.
- ``sms_consent=yes`` records consent (method ``clinic``) for a patient with none; ``no`` withdraws
  recorded consent, whoever gave it. Neither touches an opt-out: a patient's STOP wins over the
  sheet. When one phone's rows disagree, ``no`` wins.
- A blank ``patient_name`` or ``language`` leaves the patient's stored value alone.
- A known ``appointment_id`` whose time changed is *moved*; newly ``cancelled`` is *cancelled*; a
  changed duration, treatment, phone or a cancelled visit put back on is *updated*. Appointments the
  file does not mention are left alone: a file may cover only the coming weeks.
- A row that changes nothing is not written at all, so loading the same file twice changes nothing.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import logging
import re
from array import array
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import chain, islice, pairwise
from pathlib import Path
from typing import IO, Any, BinaryIO, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from schedules.driver_sql import BulkInsert
from schedules.models import (
    Appointment,
    AppointmentStatus,
    Clinic,
    ConsentChange,
    ConsentEvent,
    Patient,
    Treatment,
)
from schedules.phones import DEFAULT_REGION, InvalidPhoneNumber, mask_phone, normalize_phone

log = logging.getLogger("clinicbot.importer")

DEFAULT_DURATION_MINUTES = 60
MAX_DURATION_MINUTES = 600
MAX_EXTERNAL_ID = 64
MAX_NAME = 120
CONSENT_METHOD = "clinic"
CONSENT_SOURCE = "clinic_import"
WRITE_CHUNK = 1000
PROGRESS_EVERY = 500
# A file import reads, checks and writes this many rows at a time, so memory stays flat.
IMPORT_CHUNK = 2000
# Start texts whose answers are remembered; forgotten all at once past this many (a file with a
# start column may have a different one on every row; phones are bounded by the patients).
CACHE_LIMIT = 4096
# SQLite page cache an import's writes get, in KiB (the default is 2,000): allocated as used.
IMPORT_CACHE_KIB = 64 * 1024
# Bytes decoded at a time when checking that a file is UTF-8.
UTF8_CHECK_BYTES = 1 << 20

COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "appointment_id": ("appointment_id", "id", "appt_id"),
    "phone": ("phone", "mobile", "cell"),
    "start": ("start",),
    "date": ("date",),
    "time": ("time",),
    "patient_name": ("patient_name", "name"),
    "duration_minutes": ("duration_minutes",),
    "status": ("status",),
    "treatment": ("treatment",),
    "language": ("language",),
    "sms_consent": ("sms_consent",),
}
_COLUMN_OF_ALIAS = {
    alias: column for column, aliases in COLUMN_ALIASES.items() for alias in aliases
}

STATUS_WORDS = {
    "scheduled": AppointmentStatus.SCHEDULED.value,
    "cancelled": AppointmentStatus.CANCELLED.value,
    "canceled": AppointmentStatus.CANCELLED.value,
}
TREATMENT_WORDS = {"iv": Treatment.IV.value, "nasal": Treatment.NASAL.value}
LANGUAGE_WORDS = {
    "en": "en",
    "english": "en",
    "es": "es",
    "spanish": "es",
    "español": "es",
    "espanol": "es",
}
CONSENT_WORDS = {"yes": True, "y": True, "true": True, "no": False, "n": False, "false": False}

_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_US_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})")
_TIME_24 = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")
_TIME_12 = re.compile(r"(\d{1,2})(?::(\d{2}))?(?::(\d{2}))?\s*([ap])\.?\s*m\.?", re.IGNORECASE)
_DATE_ONLY = re.compile(r"\d{4}-?\d{2}-?\d{2}")
_DURATION = re.compile(r"(\d+)(?:\.0*)?")


# The cells of a row besides its id, phone, start and name; a schedule repeats their texts.
_DETAIL_COLUMNS = ("duration_minutes", "status", "treatment", "language", "sms_consent")
# What those cells say: duration, status, treatment, language, consent, and the problems.
_Details = tuple[int, Any, Any, Any, Any, tuple[str, ...]]


# What a file import reads: text, bytes, or a file's path (read a piece at a time, twice).
Source = str | bytes | Path


class _Reader(Protocol):
    """What this module uses of a csv reader (its class is private)."""

    line_num: int

    def __iter__(self) -> Iterator[list[str]]: ...

    def __next__(self) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class RowProblem:
    """Why a line of the input cannot be imported; whole_file means nothing in it can."""

    line: int
    message: str
    whole_file: bool = False


@dataclass(frozen=True, slots=True)
class ScheduleRow:
    """One checked appointment row: E.164 phone, aware UTC start."""

    line: int
    external_id: str
    phone: str
    starts_at: datetime
    duration_minutes: int
    status: str
    treatment: str
    # None when the row left it blank: a stored language is then kept.
    language: str | None
    sms_consent: bool
    patient_name: str | None


@dataclass
class ScheduleFile:
    """A read CSV: its checked rows, every problem, and the columns it ignored."""

    rows: list[ScheduleRow]
    problems: list[RowProblem]
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def readable(self) -> bool:
        """Return whether the file could be read at all (rows may still be invalid)."""
        return not any(problem.whole_file for problem in self.problems)


def column_key(header: str) -> str:
    """Return a header as aliases are matched: lower case, spaces and hyphens as underscores."""
    return re.sub(r"[\s_\-]+", "_", header.replace("\ufeff", "").strip().lower()).strip("_")


def parse_schedule_csv(
    source: str | bytes | IO[str] | IO[bytes], zone: ZoneInfo, region: str = DEFAULT_REGION
) -> tuple[list[ScheduleRow], list[RowProblem]]:
    """Read a schedule CSV and return its valid rows and every problem, by line."""
    parsed = read_schedule_csv(source, zone, region)
    return parsed.rows, parsed.problems


def read_schedule_csv(
    source: Source | IO[str] | IO[bytes],
    zone: ZoneInfo,
    region: str = DEFAULT_REGION,
    progress: Callable[[int], None] | None = None,
) -> ScheduleFile:
    """Read a schedule CSV; progress, if given, hears how many more rows were checked."""
    opened = _open(source, progress)
    if isinstance(opened, ScheduleFile):
        return opened
    try:
        rows, row_problems = validate_rows(opened.records, zone, region)
    except csv.Error as exc:
        return opened.unreadable(exc)
    except UnicodeDecodeError:
        return ScheduleFile([], [RowProblem(1, FILE_CHANGED, True)], opened.ignored)
    finally:
        opened.close()
    if opened.changed():
        return ScheduleFile([], [RowProblem(1, FILE_CHANGED, True)], opened.ignored)
    problems = opened.problems + row_problems
    problems.sort(key=lambda p: p.line)
    return ScheduleFile(rows, problems, opened.ignored)


@dataclass
class _Opened:
    """A CSV whose header was read, and its data rows, read one at a time."""

    reader: _Reader
    records: Iterator[tuple[int, dict[str, str]]]
    # Rows that do not fit the header, noted as the records are read.
    problems: list[RowProblem]
    ignored: list[str]
    # A file read from its path: its stream, and the digest of the bytes found UTF-8.
    text: IO[str] | None = None
    file: _DigestReader | None = None
    scanned: str | None = None

    def unreadable(self, exc: csv.Error) -> ScheduleFile:
        """Return the whole-file problem for a CSV that cannot be read past this point."""
        line = self.reader.line_num + 1
        problem = RowProblem(line, f"cannot read the CSV here: {exc}", True)
        return ScheduleFile([], [problem], self.ignored)

    def digest(self) -> str | None:
        """Return the digest of the bytes read so far from a file path, None for other input."""
        return None if self.file is None else self.file.hexdigest()

    def changed(self) -> bool:
        """Return whether a file read to its end is not the one whose bytes were checked."""
        return self.file is not None and self.file.hexdigest() != self.scanned

    def close(self) -> None:
        """Close the file read from its path, if any."""
        if self.text is not None:
            self.text.close()


class _DigestReader(io.RawIOBase):
    """A binary file read through, hashing the bytes that pass: a path may change between reads."""

    def __init__(self, file: BinaryIO) -> None:
        super().__init__()
        self._file = file
        self._digest = hashlib.sha256()

    def readable(self) -> bool:
        """Return True: this stream is for reading."""
        return True

    def readinto(self, buffer: Any) -> int:
        """Read into buffer, hashing what was read."""
        count = self._file.readinto(buffer)
        self._digest.update(memoryview(buffer)[:count])
        return count

    def hexdigest(self) -> str:
        """Return the digest of every byte read so far."""
        return self._digest.hexdigest()

    def close(self) -> None:
        """Close the file underneath."""
        self._file.close()
        super().close()


# A file whose bytes are not those that were checked: nothing of it may be written.
FILE_CHANGED = "the file changed while it was being imported; nothing was imported: import it again"


class FileChanged(ValueError):
    """A file read from its path again is not the one that was checked."""


def _open(
    source: Source | IO[str] | IO[bytes], progress: Callable[[int], None] | None
) -> _Opened | ScheduleFile:
    """Start reading a CSV; return its whole-file problem instead when it cannot be read."""
    file: _DigestReader | None = None
    scanned: str | None = None
    if isinstance(source, Path):
        problem, scanned = _scan_file(source)
        if problem is not None:
            return ScheduleFile([], [problem])
        file = _DigestReader(source.open("rb"))
        stream: IO[str] = io.TextIOWrapper(
            io.BufferedReader(file, UTF8_CHECK_BYTES), encoding="utf-8-sig", newline=None
        )
    else:
        data, problem = _data(source)
        if problem is not None:
            return ScheduleFile([], [problem])
        stream = _text_stream(data)
    try:
        reader = csv.reader(stream)
        opened = _Opened(reader, iter(()), [], [], stream if file else None, file, scanned)
        found = _read_header(opened)
    except BaseException:
        stream.close()
        raise
    if isinstance(found, ScheduleFile):
        stream.close()
        return found
    positions, width = found
    records = _records(reader, positions, width, opened.problems)
    opened.records = records if progress is None else _counted(records, progress)
    return opened


def _read_header(opened: _Opened) -> tuple[dict[str, int], int] | ScheduleFile:
    """Return the columns' positions and the header's width, or what stops the file loading."""
    reader = opened.reader
    try:
        header, header_line = _header(reader)
    except csv.Error as exc:
        return ScheduleFile([], [RowProblem(reader.line_num or 1, f"not a CSV file: {exc}", True)])
    except UnicodeDecodeError:
        return ScheduleFile([], [RowProblem(1, FILE_CHANGED, True)])
    if header is None:
        message = "the file is empty: its first line must name the columns"
        return ScheduleFile([], [RowProblem(1, message, True)])
    positions, opened.ignored, header_problems = _map_header(header)
    if header_problems:
        return ScheduleFile(
            [], [RowProblem(header_line, m, True) for m in header_problems], opened.ignored
        )
    return positions, len(header)


def _scan_file(path: Path) -> tuple[RowProblem | None, str]:
    """Check a file is UTF-8 a piece at a time; return the problem if not, and its digest."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    digest = hashlib.sha256()
    lines = 0
    with path.open("rb") as file:
        while True:
            chunk = file.read(UTF8_CHECK_BYTES)
            digest.update(chunk)
            pending = decoder.getstate()[0]
            try:
                decoder.decode(chunk, not chunk)
            except UnicodeDecodeError as exc:
                # The decoder reports positions in what it held over plus this piece.
                data = pending + chunk
                line = lines + data.count(b"\n", 0, exc.start) + 1
                return RowProblem(line, _not_utf8(exc, data), True), ""
            if not chunk:
                return None, digest.hexdigest()
            lines += chunk.count(b"\n")


def _data(source: str | bytes | IO[str] | IO[bytes]) -> tuple[str | bytes, RowProblem | None]:
    """Return the input's text or bytes, or the problem that stops it being read as UTF-8."""
    try:
        data = source if isinstance(source, str | bytes) else source.read()
    except UnicodeDecodeError as exc:
        return "", RowProblem(1, _not_utf8(exc, None), True)
    if isinstance(data, bytes):
        # Checked piece by piece: decoding a large file whole would hold it twice over.
        decoder = codecs.getincrementaldecoder("utf-8")()
        view = memoryview(data)
        try:
            for offset in range(0, len(data), UTF8_CHECK_BYTES):
                final = offset + UTF8_CHECK_BYTES >= len(data)
                decoder.decode(view[offset : offset + UTF8_CHECK_BYTES], final)
        except UnicodeDecodeError:
            return b"", _decode(data)[1]
    return data, None


def _text_stream(data: str | bytes) -> IO[str]:
    """Return the text of checked input as a stream with universal newlines, without its BOM."""
    if isinstance(data, str):
        return io.StringIO(data.removeprefix("\ufeff"), newline=None)
    return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline=None)


def _decode(source: str | bytes | IO[str] | IO[bytes]) -> tuple[str, RowProblem | None]:
    """Return the input as text, or the problem that stops it being read as UTF-8."""
    try:
        data = source if isinstance(source, str | bytes) else source.read()
    except UnicodeDecodeError as exc:
        return "", RowProblem(1, _not_utf8(exc, None), True)
    if isinstance(data, str):
        return data.removeprefix("\ufeff"), None
    try:
        # Not utf-8-sig: its error positions leave out the BOM, and the byte shown was wrong.
        return data.decode("utf-8").removeprefix("\ufeff"), None
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return "", RowProblem(line, _not_utf8(exc, data), True)


def _not_utf8(exc: UnicodeDecodeError, data: bytes | None) -> str:
    """Explain a decoding failure in words a front desk can act on."""
    byte = f"byte 0x{data[exc.start]:02x} " if data is not None else ""
    return (
        f"the file is not UTF-8 text ({byte}cannot be read): save it again as "
        '"CSV UTF-8" (Excel: File > Save As > CSV UTF-8)'
    )


def _header(reader: _Reader) -> tuple[list[str] | None, int]:
    """Return the first non-blank line's fields and its line number."""
    for fields in reader:
        if any(f.strip() for f in fields):
            return fields, reader.line_num
    return None, 0


def _map_header(header: list[str]) -> tuple[dict[str, int], list[str], list[str]]:
    """Return each known column's position, the ignored names, and what is wrong with the header."""
    positions: dict[str, int] = {}
    names: dict[str, str] = {}
    ignored: list[str] = []
    problems: list[str] = []
    for index, name in enumerate(header):
        key = column_key(name)
        if not key:
            continue
        column = _COLUMN_OF_ALIAS.get(key)
        if column is None:
            ignored.append(name.strip())
        elif column in positions:
            problems.append(
                f"columns {names[column]!r} and {name.strip()!r} both give {column}; keep one"
            )
        else:
            positions[column] = index
            names[column] = name.strip()
    missing = [
        f"{column} (or {', '.join(COLUMN_ALIASES[column][1:])})"
        for column in ("appointment_id", "phone")
        if column not in positions
    ]
    has_start = "start" in positions
    if has_start and ("date" in positions or "time" in positions):
        problems.append("give either a start column or date and time columns, not both")
    elif not has_start and "date" in positions and "time" not in positions:
        missing.append("time (the date column needs one)")
    elif not has_start and "time" in positions and "date" not in positions:
        missing.append("date (the time column needs one)")
    elif not has_start and "date" not in positions:
        missing.append("start (or date and time)")
    if missing:
        plural = "s" if len(missing) > 1 else ""
        problems.insert(0, f"missing required column{plural}: {'; '.join(missing)}")
    return positions, ignored, problems


def _records(
    reader: _Reader,
    positions: dict[str, int],
    width: int,
    problems: list[RowProblem],
) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield each non-blank data row by the line it starts on, keyed by canonical column."""
    previous = reader.line_num
    for fields in reader:
        line = previous + 1
        previous = reader.line_num
        if not any(f.strip() for f in fields):
            continue
        if len(fields) > width and any(f.strip() for f in fields[width:]):
            problems.append(
                RowProblem(
                    line,
                    f"{len(fields)} values but the header names {width} columns "
                    "(a value containing a comma must be in double quotes)",
                )
            )
            continue
        yield line, {c: fields[i] if i < len(fields) else "" for c, i in positions.items()}


def _counted(
    records: Iterator[tuple[int, dict[str, str]]], progress: Callable[[int], None]
) -> Iterator[tuple[int, dict[str, str]]]:
    """Pass records through, telling progress how many went by."""
    pending = 0
    for record in records:
        yield record
        pending += 1
        if pending == PROGRESS_EVERY:
            progress(pending)
            pending = 0
    if pending:
        progress(pending)


def validate_rows(
    raw: Iterable[tuple[int, Mapping[str, Any]]], zone: ZoneInfo, region: str = DEFAULT_REGION
) -> tuple[list[ScheduleRow], list[RowProblem]]:
    """Check rows keyed by canonical column name; return the valid ones and every problem."""
    problems: list[RowProblem] = []
    ids = _IdLines()
    rows = list(_checked(raw, _Checker(zone, region), ids, problems))
    problems.extend(ids.problems())
    problems.sort(key=lambda p: p.line)
    return [r for r in rows if r.external_id not in ids.repeated], problems


@dataclass
class _Checker:
    """Checks rows for one zone and region, remembering the answers a series repeats."""

    zone: ZoneInfo
    region: str
    phones: dict[str, str | InvalidPhoneNumber] = field(default_factory=dict)
    starts: dict[tuple[str, str, str, bool], tuple[datetime | None, tuple[str, ...]]] = field(
        default_factory=dict
    )
    details: dict[tuple[str, ...], _Details] = field(default_factory=dict)

    def check(self, line: int, values: Mapping[str, Any]) -> tuple[ScheduleRow | None, list[str]]:
        """Check one row; return it (None if invalid) and every problem with it."""
        if len(self.starts) > CACHE_LIMIT:
            self.starts.clear()
        if len(self.details) > CACHE_LIMIT:
            self.details.clear()
        return _validate_row(
            line, values, self.zone, self.region, self.phones, self.starts, self.details
        )


class _IdLines:
    """The lines each appointment_id is on, kept in full only for ids on more than one."""

    def __init__(self) -> None:
        self.first: dict[str, int] = {}
        self.lines: dict[str, list[int]] = {}

    @property
    def repeated(self) -> Collection[str]:
        """Return the ids on more than one line."""
        return self.lines.keys()

    def add(self, external_id: str, line: int) -> None:
        """Note that external_id is on line."""
        first = self.first.setdefault(external_id, line)
        if first != line:
            self.lines.setdefault(external_id, [first]).append(line)

    def problems(self) -> list[RowProblem]:
        """Return a problem for each line of each repeated id."""
        problems: list[RowProblem] = []
        for external_id, lines in self.lines.items():
            where = ", ".join(str(n) for n in lines)
            problems.extend(
                RowProblem(n, f"appointment_id {external_id!r} is on more than one line ({where})")
                for n in lines
            )
        return problems


class _IdHashes:
    """Each appointment_id's hash, eight bytes a row: enough to find the few ids on two lines."""

    def __init__(self) -> None:
        self.hashes = array("q")

    def add(self, external_id: str, line: int) -> None:
        """Note that external_id is on line (only its hash is kept)."""
        self.hashes.append(hash(external_id))

    def repeated(self) -> set[int]:
        """Return the hashes seen more than once: a repeated id, or (rarely) two ids alike."""
        return {a for a, b in pairwise(sorted(self.hashes)) if a == b}


def _checked(
    raw: Iterable[tuple[int, Mapping[str, Any]]],
    checker: _Checker,
    ids: _IdLines | _IdHashes | None,
    problems: list[RowProblem],
) -> Iterator[ScheduleRow]:
    """Yield each valid row, noting every problem and, unless ids is None, each id's line."""
    for line, values in raw:
        row, messages = checker.check(line, values)
        if ids is not None:
            external_id = _text(values.get("appointment_id"))
            if external_id:
                ids.add(external_id, line)
        problems.extend(RowProblem(line, message) for message in messages)
        if row is not None:
            yield row


def _id_lines(source: Source, hashes: Collection[int], digest: str | None) -> _IdLines:
    """Read a checked file again for the lines of the appointment_ids with these hashes."""
    opened = _open(source, None)
    if isinstance(opened, ScheduleFile):
        raise FileChanged(FILE_CHANGED)
    ids = _IdLines()
    try:
        for line, values in opened.records:
            external_id = _text(values.get("appointment_id"))
            if external_id and hash(external_id) in hashes:
                ids.add(external_id, line)
    except (csv.Error, UnicodeDecodeError) as exc:
        raise FileChanged(FILE_CHANGED) from exc
    finally:
        opened.close()
    if opened.digest() != digest:
        raise FileChanged(FILE_CHANGED)
    return ids


def _text(value: Any) -> str:
    """Return a cell as stripped text; a missing cell is empty."""
    return "" if value is None else str(value).strip()


def _validate_row(
    line: int,
    values: Mapping[str, Any],
    zone: ZoneInfo,
    region: str,
    phones: dict[str, str | InvalidPhoneNumber],
    starts: dict[tuple[str, str, str, bool], tuple[datetime | None, tuple[str, ...]]],
    details: dict[tuple[str, ...], _Details],
) -> tuple[ScheduleRow | None, list[str]]:
    """Check one row; return it (None if invalid) and every problem with it."""
    messages: list[str] = []
    external_id = _text(values.get("appointment_id"))
    if not external_id:
        messages.append("appointment_id is missing")
    elif len(external_id) > MAX_EXTERNAL_ID:
        messages.append(f"appointment_id is longer than {MAX_EXTERNAL_ID} characters")

    phone = _phone(_text(values.get("phone")), region, phones, messages)
    starts_at = _cached_start(values, zone, messages, starts)

    duration, status, treatment, language, consent = _cached_details(values, messages, details)

    name = _text(values.get("patient_name")) or None
    if name is not None and len(name) > MAX_NAME:
        messages.append(f"patient_name is longer than {MAX_NAME} characters")

    if messages or phone is None or starts_at is None:
        return None, messages
    return (
        ScheduleRow(
            line=line,
            external_id=external_id,
            phone=phone,
            starts_at=starts_at,
            duration_minutes=duration,
            status=status or AppointmentStatus.SCHEDULED.value,
            treatment=treatment or Treatment.IV.value,
            language=language,
            sms_consent=True if consent is None else consent,
            patient_name=name,
        ),
        messages,
    )


def _cached_details(
    values: Mapping[str, Any], messages: list[str], cache: dict[tuple[str, ...], _Details]
) -> tuple[int, Any, Any, Any, Any]:
    """Return _details's answer, remembered by the texts it reads: a schedule repeats them."""
    key = tuple(values.get(column) for column in _DETAIL_COLUMNS)
    if not all(value is None or type(value) is str for value in key):
        # API values of other types: 1 and True would share a key.
        said: list[str] = []
        found = (*_details(values, said), tuple(said))
    elif (found := cache.get(key)) is None:
        said = []
        found = cache[key] = (*_details(values, said), tuple(said))
    messages.extend(found[5])
    return found[0], found[1], found[2], found[3], found[4]


def _details(values: Mapping[str, Any], messages: list[str]) -> tuple[int, Any, Any, Any, Any]:
    """Return the row's duration, status, treatment, language and consent, noting what is wrong."""
    duration = DEFAULT_DURATION_MINUTES
    duration_text = _text(values.get("duration_minutes"))
    if duration_text:
        match = _DURATION.fullmatch(duration_text)
        duration = int(match.group(1)) if match else 0
        if not 1 <= duration <= MAX_DURATION_MINUTES:
            messages.append(
                f"duration_minutes {duration_text!r} is not a whole number of minutes "
                f"from 1 to {MAX_DURATION_MINUTES}"
            )
    status = _word(values, "status", STATUS_WORDS, "scheduled or cancelled", messages)
    treatment = _word(values, "treatment", TREATMENT_WORDS, "iv or nasal", messages)
    language = _word(values, "language", LANGUAGE_WORDS, "en or es", messages)
    consent = _word(values, "sms_consent", CONSENT_WORDS, "yes or no", messages)
    return duration, status, treatment, language, consent


def _phone(
    raw: str, region: str, cache: dict[str, str | InvalidPhoneNumber], messages: list[str]
) -> str | None:
    """Return raw in E.164, remembering answers because a series repeats its phone."""
    if not raw:
        messages.append("phone is missing")
        return None
    if raw not in cache:
        try:
            cache[raw] = normalize_phone(raw, region)
        except InvalidPhoneNumber as exc:
            cache[raw] = exc
    answer = cache[raw]
    if isinstance(answer, InvalidPhoneNumber):
        # Masked as in logs, unless too short to be anyone's number.
        digits = sum(c.isdigit() for c in raw)
        shown = mask_phone(raw) if digits > 6 else repr(raw)
        messages.append(f"phone {shown} is not a valid phone number")
        return None
    return answer


def _word(
    values: Mapping[str, Any],
    column: str,
    words: Mapping[str, Any],
    allowed: str,
    messages: list[str],
) -> Any:
    """Return the meaning of a one-word cell, None if blank, noting a word it does not know."""
    text = _text(values.get(column))
    if not text:
        return None
    if text.lower() in words:
        return words[text.lower()]
    messages.append(f"{column} {text!r} is not {allowed}")
    return None


def _cached_start(
    values: Mapping[str, Any],
    zone: ZoneInfo,
    messages: list[str],
    cache: dict[tuple[str, str, str, bool], tuple[datetime | None, tuple[str, ...]]],
) -> datetime | None:
    """Return _start's answer, remembered by the texts it reads: a schedule repeats its slots."""
    key = (
        _text(values.get("start")),
        _text(values.get("date")),
        _text(values.get("time")),
        "date" in values or "time" in values,
    )
    found = cache.get(key)
    if found is None:
        said: list[str] = []
        found = cache[key] = (_start(values, zone, said), tuple(said))
    messages.extend(found[1])
    return found[0]


def _start(values: Mapping[str, Any], zone: ZoneInfo, messages: list[str]) -> datetime | None:
    """Return the row's start in UTC from start or date + time, noting what is wrong."""
    start = _text(values.get("start"))
    day_text, time_text = _text(values.get("date")), _text(values.get("time"))
    try:
        if start:
            if day_text or time_text:
                messages.append("give either start or date and time, not both")
                return None
            return _parse_start(start, zone)
        if not day_text and not time_text:
            given_parts = "date" in values or "time" in values
            messages.append("date and time are missing" if given_parts else "start is missing")
            return None
        day = clock = None
        if not day_text:
            messages.append("date is missing")
        else:
            day = _catch(_parse_date, day_text, messages)
        if not time_text:
            messages.append("time is missing")
        else:
            clock = _catch(_parse_time, time_text, messages)
        if day is None or clock is None:
            return None
        return _localize(datetime.combine(day, clock), zone, f"{day_text} {time_text}")
    except ValueError as exc:
        messages.append(str(exc))
        return None


def _catch(parse: Callable[[str], Any], text: str, messages: list[str]) -> Any:
    """Return parse(text), or None after noting why it failed."""
    try:
        return parse(text)
    except ValueError as exc:
        messages.append(str(exc))
        return None


def _parse_date(text: str) -> date:
    """Return a date written YYYY-MM-DD or MM/DD/YYYY (MM/DD/YY is read as 20YY)."""
    head, _, tail = text.replace("T", " ").partition(" ")
    if tail:
        # Spreadsheets write a date cell as a date at midnight; any other time is a mistake.
        try:
            midnight = _parse_time(tail.strip()) == time(0, 0)
        except ValueError:
            midnight = False
        if not midnight:
            raise ValueError(f"date {text!r} has a time in it; put the time in the time column")
    if match := _ISO_DATE.fullmatch(head):
        year, month, day = (int(g) for g in match.groups())
    elif match := _US_DATE.fullmatch(head):
        month, day, year = (int(g) for g in match.groups())
        if len(match.group(3)) == 2:
            year += 2000
    else:
        raise ValueError(f"date {text!r} is not YYYY-MM-DD or MM/DD/YYYY")
    try:
        return date(year, month, day)
    except ValueError:
        raise ValueError(f"date {text!r} is not a real date (dates are MM/DD/YYYY)") from None


def _parse_time(text: str) -> time:
    """Return a time written HH:MM (24-hour) or h:mm AM/PM, seconds optional."""
    if match := _TIME_12.fullmatch(text):
        hour, minute, second = int(match.group(1)), int(match.group(2) or 0), match.group(3)
        if not 1 <= hour <= 12:
            raise ValueError(f"time {text!r} is not a time: with AM/PM the hour is 1 to 12")
        hour = hour % 12 + (12 if match.group(4).lower() == "p" else 0)
    elif match := _TIME_24.fullmatch(text):
        hour, minute, second = int(match.group(1)), int(match.group(2)), match.group(3)
    else:
        raise ValueError(f"time {text!r} is not HH:MM or h:mm AM/PM")
    try:
        return time(hour, minute, int(second or 0))
    except ValueError:
        raise ValueError(f"time {text!r} is not a real time of day") from None


def _parse_start(text: str, zone: ZoneInfo) -> datetime:
    """Return a start written YYYY-MM-DD HH:MM, ISO 8601, or date and time forms, in UTC."""
    if _DATE_ONLY.fullmatch(text):
        raise ValueError(f"start {text!r} has no time of day")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        head, sep, tail = text.replace("T", " ", 1).partition(" ")
        if not sep:
            raise ValueError(
                f"start {text!r} is not YYYY-MM-DD HH:MM or an ISO 8601 local time"
            ) from None
        try:
            parsed = datetime.combine(_parse_date(head), _parse_time(tail.strip()))
        except ValueError:
            raise ValueError(
                f"start {text!r} is not YYYY-MM-DD HH:MM or an ISO 8601 local time"
            ) from None
    if parsed.tzinfo is None:
        return _localize(parsed, zone, text)
    return _check_offset(parsed, zone, text)


def _localize(wall: datetime, zone: ZoneInfo, shown: str) -> datetime:
    """Return a clinic wall-clock time in UTC; refuse one that does not exist or happens twice."""
    earlier = wall.replace(tzinfo=zone, fold=0)
    later = wall.replace(tzinfo=zone, fold=1)
    if earlier.utcoffset() == later.utcoffset():
        return earlier.astimezone(UTC)
    if earlier.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != wall:
        raise ValueError(
            f"{shown} does not exist in {zone}: the clocks skip that hour when daylight "
            "saving starts"
        )
    example = wall.replace(tzinfo=zone, fold=0).isoformat(timespec="minutes")
    raise ValueError(
        f"{shown} happens twice in {zone}: the clocks repeat that hour when daylight saving "
        f"ends; move it, or write the start with its UTC offset, e.g. {example}"
    )


def _check_offset(moment: datetime, zone: ZoneInfo, shown: str) -> datetime:
    """Return an offset time in UTC if its offset is the clinic zone's at that wall time."""
    wall = moment.replace(tzinfo=None)
    for fold in (0, 1):
        local = wall.replace(tzinfo=zone, fold=fold)
        round_trip = local.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
        if local.utcoffset() == moment.utcoffset() and round_trip == wall:
            return moment.astimezone(UTC)
    expected = _offset_text(wall.replace(tzinfo=zone).utcoffset())
    raise ValueError(
        f"start {shown!r} has UTC offset {_offset_text(moment.utcoffset())} but {zone} is at "
        f"{expected} then; give the clinic's local time without an offset"
    )


def _offset_text(offset: timedelta | None) -> str:
    """Return an offset as +HH:MM."""
    minutes = int((offset or timedelta(0)).total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


@dataclass(frozen=True, slots=True)
class Change:
    """One appointment an import adds or changes, with its old start if it moved."""

    line: int
    external_id: str
    starts_at: datetime
    old_starts_at: datetime | None = None
    details: tuple[str, ...] = ()


@dataclass
class ImportReport:
    """What an import did, or would do: appointments by outcome, patients and consent counts."""

    timezone: str
    new: list[Change] = field(default_factory=list)
    moved: list[Change] = field(default_factory=list)
    cancelled: list[Change] = field(default_factory=list)
    updated: list[Change] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    invalid: list[RowProblem] = field(default_factory=list)
    new_patients: int = 0
    updated_patients: int = 0
    consents_recorded: int = 0
    consents_withdrawn: int = 0
    # False for a file import that counts its rows without keeping each one; see unlisted.
    listed: bool = True
    unlisted: dict[str, int] = field(default_factory=dict)

    def add(self, outcome: str, change: Change | str) -> None:
        """Record a row's outcome: listed, or only counted when the report is not listed."""
        if self.listed:
            getattr(self, outcome).append(change)
        else:
            self.unlisted[outcome] = self.unlisted.get(outcome, 0) + 1

    @property
    def counts(self) -> dict[str, int]:
        """Return how many rows fall in each outcome; a row with several problems counts once."""
        listed = {
            name: len(getattr(self, name)) + self.unlisted.get(name, 0)
            for name in ("new", "moved", "cancelled", "updated", "unchanged")
        }
        return {**listed, "invalid": len({problem.line for problem in self.invalid})}

    @property
    def changed(self) -> bool:
        """Return whether anything would be written."""
        counts = self.counts
        return bool(
            counts["new"]
            or counts["moved"]
            or counts["cancelled"]
            or counts["updated"]
            or self.new_patients
            or self.updated_patients
            or self.consents_recorded
            or self.consents_withdrawn
        )

    def summary(self) -> str:
        """Return the outcome in one line."""
        counts = ", ".join(f"{count} {name}" for name, count in self.counts.items())
        return (
            f"{counts}; patients: {self.new_patients} new, {self.updated_patients} updated; "
            f"consent: {self.consents_recorded} recorded, {self.consents_withdrawn} withdrawn"
        )

    def as_table(self) -> str:
        """Return the counts and every changed or invalid row as a plain-text table."""
        zone = ZoneInfo(self.timezone)

        def local(moment: datetime) -> str:
            return moment.astimezone(zone).strftime("%a %Y-%m-%d %H:%M %Z")

        lines = [f"{'outcome':<10} {'rows':>6}"]
        lines += [f"{name:<10} {count:>6}" for name, count in self.counts.items()]
        lines.append("")
        lines.append(f"{'outcome':<10} {'line':>6}  {'appointment':<16} what")
        for name in ("new", "moved", "cancelled", "updated"):
            for change in getattr(self, name):
                what = local(change.starts_at)
                if change.old_starts_at is not None:
                    what = f"{local(change.old_starts_at)} -> {what}"
                if change.details:
                    what += " (" + "; ".join(change.details) + ")"
                lines.append(f"{name:<10} {change.line:>6}  {change.external_id:<16} {what}")
        for problem in self.invalid:
            lines.append(f"{'invalid':<10} {problem.line:>6}  {'':<16} {problem.message}")
        unchanged = self.counts["unchanged"]
        if unchanged:
            lines.append(f"({unchanged} unchanged rows are counted, not listed)")
        changes = sum(self.unlisted.get(n, 0) for n in ("new", "moved", "cancelled", "updated"))
        if changes:
            lines.append(f"({changes} changed rows are counted, not listed)")
        return "\n".join(lines)


@dataclass(slots=True)
class _PatientWish:
    """What the file says about one phone: last non-blank name and language, consent if all yes."""

    phone: str
    line: int
    name: str | None = None
    language: str | None = None
    consent: bool = True


@dataclass(slots=True)
class _PatientChange:
    """Fields of an existing patient the import changes."""

    patient_id: int
    phone: str
    values: dict[str, Any]
    consent: str | None  # ConsentChange.CONSENT or WITHDRAWN, or None
    line: int


@dataclass
class _Plan:
    """Everything an import would write, worked out before writing any of it."""

    report: ImportReport
    new_patients: list[_PatientWish] = field(default_factory=list)
    patient_changes: list[_PatientChange] = field(default_factory=list)
    inserts: list[ScheduleRow] = field(default_factory=list)
    updates: list[tuple[int, ScheduleRow]] = field(default_factory=list)
    patient_of_phone: dict[str, int] = field(default_factory=dict)
    touched: set[int] = field(default_factory=set)


def plan_changes(session: Session, clinic: Clinic, rows: Sequence[ScheduleRow]) -> ImportReport:
    """Return what apply_schedule would do with rows, writing nothing."""
    plan = _Plan(ImportReport(timezone=clinic.timezone))
    _plan_patients(session, clinic, _wishes(rows).values(), plan)
    _plan_appointments(session, clinic, rows, plan)
    return plan.report


def apply_schedule(
    session: Session, clinic: Clinic, rows: Sequence[ScheduleRow], now: datetime
) -> ImportReport:
    """Upsert rows' patients and appointments, re-plan their reminders and report; no commit."""
    _lock_clinic(session, clinic)
    plan = _Plan(ImportReport(timezone=clinic.timezone))
    _plan_patients(session, clinic, _wishes(rows).values(), plan)
    _plan_appointments(session, clinic, rows, plan)
    if not plan.report.changed:
        return plan.report
    with _page_cache(session, IMPORT_CACHE_KIB):
        phone_to_id = _write_patients(session, clinic, plan, now)
        _write_appointments(session, clinic, plan, phone_to_id, now)
        touched = plan.touched | {phone_to_id[w.phone] for w in plan.new_patients}
        _replan(session, clinic, touched, now, plan.report)
    return plan.report


@dataclass
class ScheduleCheck:
    """A schedule CSV read once without keeping its rows: its problems and what each phone wants."""

    problems: list[RowProblem]
    zone: ZoneInfo
    region: str
    ignored_columns: list[str] = field(default_factory=list)
    valid_rows: int = 0
    # appointment_ids on more than one line: none of their rows is loaded.
    duplicated: frozenset[str] = frozenset()
    wishes: dict[str, _PatientWish] = field(default_factory=dict)
    # Reading the file again reuses the checks' answers (phone parsing is the slow part).
    checker: _Checker | None = None
    # A path's digest as checked: loading it refuses other bytes.
    digest: str | None = None

    @property
    def readable(self) -> bool:
        """Return whether the file could be read at all (rows may still be invalid)."""
        return not any(problem.whole_file for problem in self.problems)


def check_schedule_csv(
    source: Source,
    zone: ZoneInfo,
    region: str = DEFAULT_REGION,
    progress: Callable[[int], None] | None = None,
) -> ScheduleCheck:
    """Check a schedule CSV as read_schedule_csv does, keeping only what loading it needs.

    A path is read a piece at a time; apply_schedule_csv refuses it if its bytes then differ.
    """
    opened = _open(source, progress)
    if isinstance(opened, ScheduleFile):
        return ScheduleCheck(opened.problems, zone, region, opened.ignored_columns)
    check = ScheduleCheck([], zone, region, opened.ignored, checker=_Checker(zone, region))
    row_problems: list[RowProblem] = []
    ids = _IdHashes()
    try:
        for row in _checked(opened.records, check.checker, ids, row_problems):
            check.valid_rows += 1
            _add_wish(check.wishes, row)
    except csv.Error as exc:
        return ScheduleCheck(opened.unreadable(exc).problems, zone, region, opened.ignored)
    except UnicodeDecodeError:
        return ScheduleCheck([RowProblem(1, FILE_CHANGED, True)], zone, region, opened.ignored)
    finally:
        opened.close()
    if opened.changed():
        return ScheduleCheck([RowProblem(1, FILE_CHANGED, True)], zone, region, opened.ignored)
    check.digest = opened.digest()
    try:
        _leave_out_repeated_ids(source, check, ids.repeated(), row_problems)
    except FileChanged:
        return ScheduleCheck([RowProblem(1, FILE_CHANGED, True)], zone, region, opened.ignored)
    check.problems = opened.problems + row_problems
    check.problems.sort(key=lambda p: p.line)
    return check


def _leave_out_repeated_ids(
    source: Source, check: ScheduleCheck, hashes: Collection[int], problems: list[RowProblem]
) -> None:
    """Report the ids on more than one line and leave their rows out of the check's counts."""
    if not hashes:
        return
    # Rare: read again for the lines of those ids, then to count the rows and wishes without them.
    ids = _id_lines(source, hashes, check.digest)
    problems.extend(ids.problems())
    if not ids.repeated:
        return
    check.duplicated = frozenset(ids.repeated)
    check.valid_rows = 0
    check.wishes = {}
    for row in _rows_to_load(source, check):
        check.valid_rows += 1
        _add_wish(check.wishes, row)


def apply_schedule_csv(
    session: Session,
    clinic: Clinic,
    source: Source,
    check: ScheduleCheck,
    now: datetime,
    dry_run: bool = False,
) -> ImportReport:
    """Load a checked CSV's valid rows as apply_schedule does, a chunk at a time; no commit.

    The rows are read again, IMPORT_CHUNK at a time, inside the caller's one transaction, so an
    error anywhere still leaves nothing written. The report counts rows without listing them,
    except on a dry run, which writes nothing and lists every change.
    """
    if not check.readable:
        raise ValueError("the file cannot be read; check_schedule_csv said why")
    if isinstance(source, Path) and _scan_file(source)[1] != check.digest:
        # Caught before writing; a change while the rows are read is caught after the last.
        raise FileChanged(FILE_CHANGED)
    if not dry_run:
        _lock_clinic(session, clinic)
    report = ImportReport(timezone=clinic.timezone, listed=dry_run)
    patients = _Plan(report)
    _plan_patients(session, clinic, check.wishes.values(), patients)
    phone_to_id: dict[str, int] = {}
    touched = set(patients.touched)
    # A clinic with no appointments yet has none for the file's rows to match: the file's ids are
    # unique, so no chunk can match what an earlier chunk wrote. Looking them up anyway would
    # scan the rows written so far on PostgreSQL, whose statistics still say the table is empty.
    stored = session.scalar(
        select(Appointment.id).where(Appointment.clinic_id == clinic.id).limit(1)
    )
    if not dry_run:
        phone_to_id = _write_patients(session, clinic, patients, now)
        touched |= {phone_to_id[w.phone] for w in patients.new_patients}
    rows = _rows_to_load(source, check)
    conversions = _time_conversions()
    with _page_cache(session, IMPORT_CACHE_KIB if not dry_run else None):
        chunk = list(islice(rows, IMPORT_CHUNK))
        while chunk:
            step = _Plan(report, patient_of_phone=patients.patient_of_phone)
            _plan_appointments(session, clinic, chunk, step, lookup=dry_run or stored is not None)
            if dry_run:
                chunk = list(islice(rows, IMPORT_CHUNK))
                continue
            with _INSERT_APPOINTMENTS.writing(session.connection(), conversions) as writer:
                writer.write(_new_appointments(clinic, step, phone_to_id, now))
                # The next chunk is read and checked while the database stores this one.
                chunk = list(islice(rows, IMPORT_CHUNK))
            _update_appointments(session, step, phone_to_id, now)
            touched |= step.touched
        if not dry_run and report.changed:
            _replan(session, clinic, touched, now, report)
    return report


@contextmanager
def _page_cache(session: Session, kib: int | None) -> Iterator[None]:
    """Give SQLite's page cache kib KiB for the block (then what it had); nothing elsewhere.

    An import writes tens of MB of index pages in one transaction. In SQLite's default 2 MB they
    spill to the WAL and are read back, so each chunk's inserts got slower than the last.
    """
    connection = session.connection()
    if kib is None or connection.dialect.name != "sqlite":
        yield
        return
    driver = connection.connection.driver_connection
    assert driver is not None
    (before,) = driver.execute("PRAGMA cache_size").fetchone()
    driver.execute(f"PRAGMA cache_size={-int(kib)}")
    try:
        yield
    finally:
        driver.execute(f"PRAGMA cache_size={int(before)}")


def _rows_to_load(source: Source, check: ScheduleCheck) -> Iterator[ScheduleRow]:
    """Yield a checked file's valid rows again, leaving out the repeated appointment_ids.

    Raises FileChanged, after the last row, if a path's bytes are not those checked.
    """
    opened = _open(source, None)
    if isinstance(opened, ScheduleFile):
        if check.digest:
            raise FileChanged(FILE_CHANGED)
        raise ValueError("the file cannot be read; check_schedule_csv said why")
    checker = check.checker or _Checker(check.zone, check.region)
    ignored: list[RowProblem] = []
    try:
        for row in _checked(opened.records, checker, None, ignored):
            if row.external_id not in check.duplicated:
                yield row
    except (csv.Error, UnicodeDecodeError) as exc:
        raise FileChanged(FILE_CHANGED) from exc
    finally:
        opened.close()
    if opened.digest() != check.digest:
        raise FileChanged(FILE_CHANGED)


def _lock_clinic(session: Session, clinic: Clinic) -> None:
    """Take the clinic's row lock: two imports at once would race on new patients."""
    session.execute(select(Clinic.id).where(Clinic.id == clinic.id).with_for_update())


def _replan(
    session: Session, clinic: Clinic, touched: set[int], now: datetime, report: ImportReport
) -> None:
    """Re-plan the touched patients' reminders after the bulk writes, and log the import."""
    _expire_stale(session)
    from schedules.reminders import sync_reminders

    sync_reminders(session, clinic, sorted(touched), now)
    log.info("schedule imported", extra={"clinic": clinic.slug, **report.counts})


def _wishes(rows: Iterable[ScheduleRow]) -> dict[str, _PatientWish]:
    """Return what the rows say about each phone, in the order the phones first come."""
    wishes: dict[str, _PatientWish] = {}
    for row in rows:
        _add_wish(wishes, row)
    return wishes


def _add_wish(wishes: dict[str, _PatientWish], row: ScheduleRow) -> None:
    """Fold one row into what the file says about its phone."""
    wish = wishes.get(row.phone)
    if wish is None:
        wish = wishes[row.phone] = _PatientWish(row.phone, row.line)
    wish.line = row.line
    wish.name = row.patient_name or wish.name
    wish.language = row.language or wish.language
    wish.consent = wish.consent and row.sms_consent


def _plan_patients(
    session: Session, clinic: Clinic, wishes: Iterable[_PatientWish], plan: _Plan
) -> None:
    """Compare what the file says about each phone with the stored patients, a chunk at a time."""
    report = plan.report
    pending = iter(wishes)
    while chunk := list(islice(pending, WRITE_CHUNK)):
        stored = session.execute(
            select(
                Patient.id, Patient.phone, Patient.name, Patient.language, Patient.consent_at
            ).where(Patient.clinic_id == clinic.id, Patient.phone.in_([w.phone for w in chunk]))
        ).all()
        by_phone = {p.phone: p for p in stored}
        for wish in chunk:
            patient = by_phone.get(wish.phone)
            if patient is None:
                plan.new_patients.append(wish)
                report.new_patients += 1
                report.consents_recorded += int(wish.consent)
                continue
            plan.patient_of_phone[wish.phone] = patient.id
            values: dict[str, Any] = {}
            if wish.name is not None and wish.name != patient.name:
                values["name"] = wish.name
            if wish.language is not None and wish.language != patient.language:
                values["language"] = wish.language
            if values:
                report.updated_patients += 1
            consent: str | None = None
            if wish.consent and patient.consent_at is None:
                consent = ConsentChange.CONSENT.value
                report.consents_recorded += 1
            elif not wish.consent and patient.consent_at is not None:
                consent = ConsentChange.WITHDRAWN.value
                report.consents_withdrawn += 1
            if values or consent:
                plan.patient_changes.append(
                    _PatientChange(patient.id, wish.phone, values, consent, wish.line)
                )
                plan.touched.add(patient.id)


def _plan_appointments(
    session: Session,
    clinic: Clinic,
    rows: Sequence[ScheduleRow],
    plan: _Plan,
    lookup: bool = True,
) -> None:
    """Compare rows with the clinic's stored appointments of the same ids, read in chunks.

    lookup=False says the clinic has no stored appointments, so every row is new.
    """
    report = plan.report
    for start in range(0, len(rows), WRITE_CHUNK):
        chunk = rows[start : start + WRITE_CHUNK]
        if not lookup:
            for row in chunk:
                _plan_appointment(row, None, {}, plan, report)
            continue
        # No join: on PostgreSQL a join planned from statistics of the still-empty tables
        # turned each chunk's lookup into a scan of every row written so far.
        appointments = {
            a.external_id: a
            for a in session.execute(
                select(
                    Appointment.id,
                    Appointment.external_id,
                    Appointment.patient_id,
                    Appointment.starts_at,
                    Appointment.duration_minutes,
                    Appointment.treatment,
                    Appointment.status,
                ).where(
                    Appointment.clinic_id == clinic.id,
                    Appointment.external_id.in_([row.external_id for row in chunk]),
                )
            )
        }
        phones: dict[int, str] = {}
        if appointments:
            patient_ids = {a.patient_id for a in appointments.values()}
            phones = {
                patient_id: phone
                for patient_id, phone in session.execute(
                    select(Patient.id, Patient.phone).where(Patient.id.in_(patient_ids))
                )
            }
        for row in chunk:
            _plan_appointment(row, appointments.get(row.external_id), phones, plan, report)


def _plan_appointment(
    row: ScheduleRow, current: Any, phones: dict[int, str], plan: _Plan, report: ImportReport
) -> None:
    """Say what loading one row does to its stored appointment (current), if any."""
    if current is None:
        plan.inserts.append(row)
        # A patient already on file (next week's booster): their reminders are planned anew too.
        if row.phone in plan.patient_of_phone:
            plan.touched.add(plan.patient_of_phone[row.phone])
        cancelled = ("cancelled",) if row.status == AppointmentStatus.CANCELLED else ()
        report.add("new", Change(row.line, row.external_id, row.starts_at, None, cancelled))
        return
    details: list[str] = []
    old_phone = phones.get(current.patient_id)
    if old_phone != row.phone:
        details.append(f"phone {mask_phone(old_phone)} -> {mask_phone(row.phone)}")
    if current.duration_minutes != row.duration_minutes:
        details.append(f"duration {current.duration_minutes} -> {row.duration_minutes} min")
    if current.treatment != row.treatment:
        details.append(f"treatment {current.treatment} -> {row.treatment}")
    if current.status != row.status:
        details.append(f"status {current.status} -> {row.status}")
    moved = current.starts_at != row.starts_at
    if not details and not moved:
        report.add("unchanged", row.external_id)
        return
    plan.updates.append((current.id, row))
    plan.touched.add(current.patient_id)
    if row.phone in plan.patient_of_phone:
        plan.touched.add(plan.patient_of_phone[row.phone])
    change = Change(
        row.line,
        row.external_id,
        row.starts_at,
        current.starts_at if moved else None,
        tuple(details),
    )
    newly_cancelled = (
        row.status == AppointmentStatus.CANCELLED and current.status != AppointmentStatus.CANCELLED
    )
    if newly_cancelled:
        report.add("cancelled", change)
    elif moved:
        report.add("moved", change)
    else:
        report.add("updated", change)


def _write_patients(session: Session, clinic: Clinic, plan: _Plan, now: datetime) -> dict[str, int]:
    """Insert the new patients, write the changed ones and their consent; return ids by phone."""
    phone_to_id = dict(plan.patient_of_phone)
    phone_to_id.update(_insert_patients(session, clinic, plan.new_patients, now))
    _update_patients(session, plan.patient_changes, now)
    events = chain(
        (
            (phone_to_id[w.phone], ConsentChange.CONSENT.value, w.line)
            for w in plan.new_patients
            if w.consent
        ),
        ((c.patient_id, c.consent, c.line) for c in plan.patient_changes if c.consent),
    )
    _INSERT_CONSENT_EVENTS.write(
        session.connection(),
        (
            {
                "patient_id": patient_id,
                "change": change,
                "source": CONSENT_SOURCE,
                "words": f"sms_consent in schedule import, line {line}",
                "message_id": None,
                "at": now,
            }
            for patient_id, change, line in events
        ),
    )
    return phone_to_id


def _write_appointments(
    session: Session, clinic: Clinic, plan: _Plan, phone_to_id: dict[str, int], now: datetime
) -> None:
    """Insert the new appointments and update the changed ones, in bulk."""
    _INSERT_APPOINTMENTS.write(
        session.connection(), _new_appointments(clinic, plan, phone_to_id, now), _time_conversions()
    )
    _update_appointments(session, plan, phone_to_id, now)


def _new_appointments(
    clinic: Clinic, plan: _Plan, phone_to_id: dict[str, int], now: datetime
) -> Iterator[dict[str, Any]]:
    """Yield the plan's new appointments as rows to insert."""
    # Read before the first row: nothing may load from the database while rows are copied.
    clinic_id = clinic.id
    for row in plan.inserts:
        yield {
            "clinic_id": clinic_id,
            "external_id": row.external_id,
            "patient_id": phone_to_id[row.phone],
            "starts_at": row.starts_at,
            "duration_minutes": row.duration_minutes,
            "treatment": row.treatment,
            "status": row.status,
            "created_at": now,
            "updated_at": None,
        }


def _update_appointments(
    session: Session, plan: _Plan, phone_to_id: dict[str, int], now: datetime
) -> None:
    """Write the plan's changed appointments."""
    _write_chunks(
        session,
        update(Appointment),
        [
            {
                "id": appointment_id,
                "patient_id": phone_to_id[row.phone],
                "starts_at": row.starts_at,
                "duration_minutes": row.duration_minutes,
                "treatment": row.treatment,
                "status": row.status,
                "updated_at": now,
            }
            for appointment_id, row in plan.updates
        ],
    )


_NEW_APPOINTMENT_COLUMNS = (
    "clinic_id",
    "external_id",
    "patient_id",
    "starts_at",
    "duration_minutes",
    "treatment",
    "status",
    "created_at",
    "updated_at",
)
_INSERT_CONSENT_EVENTS = BulkInsert(
    ConsentEvent.__table__, ("patient_id", "change", "source", "words", "message_id", "at")
)
_INSERT_APPOINTMENTS = BulkInsert(Appointment.__table__, _NEW_APPOINTMENT_COLUMNS)


def _time_conversions() -> dict[str, dict[Any, Any]]:
    """Return empty memories of the stored form of an import's recurring times."""
    # A schedule repeats its slots; equal instants are stored alike, whatever their zone.
    return {"starts_at": {}, "created_at": {}}


_NEW_PATIENT_COLUMNS = (
    "clinic_id",
    "phone",
    "name",
    "language",
    "consent_at",
    "consent_method",
    "consent_number",
    "opted_out",
    "opted_out_at",
    "created_at",
)
_INSERT_PATIENTS = BulkInsert(Patient.__table__, _NEW_PATIENT_COLUMNS)


def _insert_patients(
    session: Session, clinic: Clinic, wishes: list[_PatientWish], now: datetime
) -> dict[str, int]:
    """Insert new patients and return their ids by phone."""
    ids: dict[str, int] = {}
    connection = session.connection()
    for start in range(0, len(wishes), WRITE_CHUNK):
        chunk = wishes[start : start + WRITE_CHUNK]
        _INSERT_PATIENTS.write(
            connection,
            [
                {
                    "clinic_id": clinic.id,
                    "phone": w.phone,
                    "name": w.name,
                    "language": w.language or "en",
                    "consent_at": now if w.consent else None,
                    "consent_method": CONSENT_METHOD if w.consent else None,
                    "consent_number": w.phone if w.consent else None,
                    "opted_out": False,
                    "opted_out_at": None,
                    "created_at": now,
                }
                for w in chunk
            ],
        )
        # Keyed by the file's own phone strings: the database's copies would double them.
        phones = {w.phone: w.phone for w in chunk}
        stored = session.execute(
            select(Patient.id, Patient.phone).where(
                Patient.clinic_id == clinic.id, Patient.phone.in_(list(phones))
            )
        )
        for patient_id, phone in stored:
            ids[phones[phone]] = patient_id
    return ids


def _update_patients(session: Session, changes: list[_PatientChange], now: datetime) -> None:
    """Write changed names, languages and consent, grouped so only changed columns are set."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for change in changes:
        values = {"id": change.patient_id, **change.values}
        if change.consent == ConsentChange.CONSENT:
            values.update(
                consent_at=now, consent_method=CONSENT_METHOD, consent_number=change.phone
            )
        elif change.consent == ConsentChange.WITHDRAWN.value:
            values.update(consent_at=None, consent_method=None, consent_number=None)
        groups[tuple(sorted(values))].append(values)
    for group in groups.values():
        _write_chunks(session, update(Patient), group)


def _write_chunks(session: Session, statement: Any, values: Iterable[dict[str, Any]]) -> None:
    """Execute a bulk statement over values, a chunk at a time."""
    pending = iter(values)
    while chunk := list(islice(pending, WRITE_CHUNK)):
        session.execute(statement, chunk)


def _expire_stale(session: Session) -> None:
    """Expire loaded patients and appointments: bulk writes bypass the identity map."""
    for instance in list(session.identity_map.values()):
        if isinstance(instance, Patient | Appointment):
            session.expire(instance)
