"""Benchmark the schedule import: parse, upsert and plan reminders, against a bare bulk insert.

`make bench` runs this after scripts/bench_dispatch.py. It is a benchmark, not a test: it prints
figures and the targets they meet or miss, and exits 0 whatever they are. It exits 1 only when
it cannot measure (a database cannot be set up, a measuring process fails).

It writes two schedule CSVs like a clinic's export (the columns of schedules/samples/demo.csv):
50,000 rows (and 10,000, for the memory comparison) with distinct appointment ids, one patient
per five rows (10,000 patients), each patient on a Mon/Wed/Fri series over the coming eight
weeks at one 09:00-17:00 local slot, iv or nasal, 20% Spanish, 5% without SMS consent, 2%
cancelled. For each database (SQLite in a temporary file; PostgreSQL in a throw-away database
created and dropped on the server given by --postgres-url), and each file, it measures in a
fresh Python process each (so peak memory is that import's alone), on an emptied database:

- import: what `clinicbot import` does: `check_schedule_csv` of the file's path (read a piece
  at a time, every row checked, rows not kept) + `apply_schedule_csv` (the file read again and
  loaded 2,000 rows at a time in one transaction, every reminder planned) + commit; with
  --rows-api, `parse_schedule_csv` of its bytes + `apply_schedule` instead (the list-of-rows
  path of the API and the upload page, which holds every row);
- bare: csv.reader, a minimal conversion of phone and local time, then Core executemany of the
  patients and the appointments and commit: no validation, no planning.

Each is run twice: once timed (with the statements timed through SQLAlchemy's cursor events and
the process's peak RSS), once under tracemalloc for the peak of Python allocations. Targets:
import/bare <= 3 at 50,000 rows; memory flat: import's tracemalloc peak at 50,000 rows over that
at 10,000 rows <= 1.5.

Usage: .venv/bin/python scripts/bench_import.py [--sqlite-only | --postgres-only]
       [--rows 50000] [--small-rows 10000] [--profile] [--rows-api] [--postgres-url URL]
       [--json FILE] [--keep]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import bench_common as common
from bench_common import SetupFailed, mark

ZONE = ZoneInfo(common.TIMEZONE)
# The import runs on Wednesday 30 December 2026 at noon, clinic time; the series start on the
# Mondays of the eight weeks after it (no daylight-saving change before 14 March 2027).
NOW = datetime(2026, 12, 30, 12, 0, tzinfo=ZONE).astimezone(UTC)
FIRST_MONDAY = date(2027, 1, 4)
WEEKS = 8
SERIES = (0, 2, 4, 7, 9)  # Mon, Wed, Fri, Mon, Wed: five visits a patient
SLOTS = [(9 + m // 60, m % 60) for m in range(0, 8 * 60 + 1, 30)]  # 09:00 ... 17:00
HEADER = (
    "appointment_id,patient_name,phone,date,time,duration_minutes,treatment,language,status,"
    "sms_consent"
)

TARGET_RATIO = 3.0  # import seconds over bare seconds, at most
TARGET_MEMORY = 1.5  # import's peak memory at the large file over the small one, at most


# ---------------------------------------------------------------------------------------------
# The CSV


@dataclass
class CsvFile:
    """One generated schedule file."""

    path: Path
    rows: int
    patients: int
    cancelled: int
    size: int


def area_phone(index: int) -> str:
    """Return the index-th patient number as a front desk types it: (720) 555-0123."""
    areas = ("720", "719", "970", "303")
    if index >= 10_000 * len(areas):
        raise SetupFailed(f"at most {10_000 * len(areas):,} patients")
    return f"({areas[index // 10_000]}) 555-{index % 10_000:04d}"


def clock(hour: int, minute: int) -> str:
    """Return 9:00 AM style."""
    return f"{(hour - 1) % 12 + 1}:{minute:02d} {'AM' if hour < 12 else 'PM'}"


def generate_csv(path: Path, rows: int, seed: int) -> CsvFile:
    """Write a schedule CSV of rows appointments, five per patient (the last may have fewer)."""
    rng = random.Random(seed)
    patients = -(-rows // len(SERIES))
    written = cancelled = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        out.write(HEADER + "\n")
        for p in range(patients):
            phone = area_phone(p)
            name = f"Patient {p:05d}"
            language = "es" if rng.random() < 0.2 else "en"
            treatment = "iv" if rng.random() < 0.6 else "nasal"
            duration = 60 if treatment == "iv" else 120
            consent = "no" if rng.random() < 0.05 else "yes"
            hour, minute = rng.choice(SLOTS)
            monday = FIRST_MONDAY + timedelta(weeks=rng.randrange(WEEKS - 1))
            for offset in SERIES:
                if written == rows:
                    break
                day = monday + timedelta(days=offset)
                status = "cancelled" if rng.random() < 0.02 else "scheduled"
                cancelled += status == "cancelled"
                writer.writerow(
                    [
                        f"BK-{written + 1:06d}",
                        name,
                        phone,
                        f"{day.month:02d}/{day.day:02d}/{day.year}",
                        clock(hour, minute),
                        duration,
                        treatment,
                        language,
                        status,
                        consent,
                    ]
                )
                written += 1
    return CsvFile(path, written, patients, cancelled, path.stat().st_size)


# ---------------------------------------------------------------------------------------------
# One measured run, in its own process


def rss_kb() -> int:
    """Return this process's resident set size now, in KiB."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def child_main(argv: list[str]) -> int:
    """Run one import or bare insert and print its figures as JSON on the last line."""
    import resource
    import tracemalloc

    parser = argparse.ArgumentParser(prog="bench_import.py --child")
    parser.add_argument("mode", choices=("import", "bare"))
    parser.add_argument("--db-url", required=True)
    parser.add_argument("--csv", type=Path, required=True)
    parser.add_argument("--clinic-id", type=int, required=True)
    parser.add_argument("--trace", action="store_true")
    parser.add_argument("--profile", type=Path, default=None)
    parser.add_argument("--rows-api", action="store_true")
    args = parser.parse_args(argv)

    from sqlalchemy import event, func, select
    from sqlalchemy.orm import Session

    import schedules.reminders as reminders_module
    from schedules.db import make_engine, make_session_factory, transaction
    from schedules.importer import (
        apply_schedule,
        apply_schedule_csv,
        check_schedule_csv,
        parse_schedule_csv,
    )
    from schedules.models import Appointment, Clinic, Patient, Reminder
    from schedules.phones import normalize_phone

    engine = make_engine(args.db_url)
    timer = common.StatementTimer()
    timer.attach(engine)
    with engine.connect() as connection:
        connection.execute(select(1))
    normalize_phone("(720) 555-0100")  # phonenumbers loads its metadata on first use
    phases: dict[str, float] = {}

    planning = {"seconds": 0.0, "planner": 0.0, "flush": 0.0, "statements": 0.0}
    original_sync = reminders_module.sync_reminders
    original_plan = reminders_module.plan_patient

    def timed_sync(session: Any, clinic: Any, patient_ids: Any, now: datetime) -> None:
        started, in_statements = time.perf_counter(), timer.running
        original_sync(session, clinic, patient_ids, now)
        session.flush()  # the planned reminders' INSERTs count as planning, not commit
        planning["seconds"] += time.perf_counter() - started
        planning["statements"] += timer.running - in_statements

    def timed_plan(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original_plan(*args, **kwargs)
        finally:
            planning["planner"] += time.perf_counter() - started

    flushing: dict[str, float] = {}

    @event.listens_for(Session, "before_flush")
    def _flush_starts(session: Any, context: Any, instances: Any) -> None:
        flushing["started"] = time.perf_counter()

    @event.listens_for(Session, "after_flush_postexec")
    def _flush_ends(session: Any, context: Any) -> None:
        if "started" in flushing:
            planning["flush"] += time.perf_counter() - flushing.pop("started")

    def run_import() -> None:
        started = time.perf_counter()
        if args.rows_api:
            rows, problems = parse_schedule_csv(args.csv.read_bytes(), ZONE)
        else:
            check = check_schedule_csv(args.csv, ZONE)
            problems = check.problems
        if problems:
            raise SystemExit(f"the generated CSV has problems: {problems[:3]}")
        phases["parse"] = time.perf_counter() - started
        factory = make_session_factory(engine)
        # Instrumentation only: the same functions, timed.
        reminders_module.sync_reminders = timed_sync
        reminders_module.plan_patient = timed_plan
        try:
            with transaction(factory) as session:
                clinic = session.get_one(Clinic, args.clinic_id)
                started = time.perf_counter()
                if args.rows_api:
                    apply_schedule(session, clinic, rows, NOW)
                else:
                    apply_schedule_csv(session, clinic, args.csv, check, NOW)
                phases["apply"] = time.perf_counter() - started
                retained.extend(top_allocations())
                started = time.perf_counter()
        finally:
            reminders_module.sync_reminders = original_sync
            reminders_module.plan_patient = original_plan
        phases["commit"] = time.perf_counter() - started
        phases["plan"] = planning["seconds"]
        phases["upsert"] = phases["apply"] - planning["seconds"]
        phases["plan: planner"] = planning["planner"]
        phases["plan: SQL"] = planning["statements"]
        phases["plan: flush"] = planning["flush"]

    def run_bare() -> None:
        from sqlalchemy import insert

        started = time.perf_counter()
        text = args.csv.read_bytes().decode("utf-8-sig")
        patients: dict[str, dict[str, Any]] = {}
        appointments: list[dict[str, Any]] = []
        for record in csv.DictReader(io.StringIO(text)):
            phone = "+1" + "".join(c for c in record["phone"] if c.isdigit())
            local = datetime.strptime(f"{record['date']} {record['time']}", "%m/%d/%Y %I:%M %p")
            consent = record["sms_consent"] == "yes"
            patients.setdefault(
                phone,
                {
                    "clinic_id": args.clinic_id,
                    "phone": phone,
                    "name": record["patient_name"],
                    "language": record["language"],
                    "consent_at": NOW if consent else None,
                    "consent_method": "clinic" if consent else None,
                    "consent_number": phone if consent else None,
                    "opted_out": False,
                    "texts_in_window": 0,
                    "created_at": NOW,
                },
            )
            appointments.append(
                {
                    "clinic_id": args.clinic_id,
                    "external_id": record["appointment_id"],
                    "phone": phone,
                    "starts_at": local.replace(tzinfo=ZONE).astimezone(UTC),
                    "duration_minutes": int(record["duration_minutes"]),
                    "treatment": record["treatment"],
                    "status": record["status"],
                    "created_at": NOW,
                }
            )
        phases["parse"] = time.perf_counter() - started
        started = time.perf_counter()
        with engine.connect() as connection:
            transaction_ = connection.begin()
            connection.execute(insert(Patient), list(patients.values()))
            ids = dict(
                connection.execute(
                    select(Patient.phone, Patient.id).where(Patient.clinic_id == args.clinic_id)
                ).all()
            )
            for row in appointments:
                row["patient_id"] = ids[row.pop("phone")]
            connection.execute(insert(Appointment), appointments)
            phases["upsert"] = time.perf_counter() - started
            retained.extend(top_allocations())
            started = time.perf_counter()
            transaction_.commit()
        phases["commit"] = time.perf_counter() - started

    retained: list[tuple[str, int]] = []
    peak_before = {"bytes": 0}

    def top_allocations() -> list[tuple[str, int]]:
        """Return where the memory still held was allocated (tracemalloc runs only)."""
        if not tracemalloc.is_tracing():
            return []
        # The snapshot's own objects must not count towards the peak.
        peak_before["bytes"] = tracemalloc.get_traced_memory()[1]
        snapshot = tracemalloc.take_snapshot()
        top = snapshot.statistics("lineno")[:8]
        del snapshot
        tracemalloc.reset_peak()
        return [
            (
                f"{stat.traceback[0].filename.removeprefix(str(common.ROOT) + '/')}:"
                f"{stat.traceback[0].lineno}",
                stat.size,
            )
            for stat in top
        ]

    work = run_import if args.mode == "import" else run_bare
    before = rss_kb()
    if args.trace:
        tracemalloc.start()
        tracemalloc.reset_peak()
    profiler = None
    if args.profile is not None:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    with timer.recording() as stats:
        started = time.perf_counter()
        work()
        seconds = time.perf_counter() - started
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(str(args.profile))
    peak = max(tracemalloc.get_traced_memory()[1], peak_before["bytes"]) if args.trace else None
    if args.trace:
        tracemalloc.stop()
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    with engine.connect() as connection:
        counts = {
            "patients": connection.scalar(select(func.count(Patient.id))),
            "appointments": connection.scalar(select(func.count(Appointment.id))),
            "reminders": connection.scalar(select(func.count(Reminder.id))),
            "pending": connection.scalar(
                select(func.count(Reminder.id)).where(Reminder.status == "pending")
            ),
        }
    engine.dispose()
    top = sorted(stats.values(), key=lambda s: -s.seconds)[:6]
    print(
        json.dumps(
            {
                "mode": args.mode,
                "seconds": seconds,
                "phases": phases,
                "statements": sum(s.calls for s in stats.values()),
                "statement_seconds": timer.total,
                "top_statements": [[s.sql, s.calls, s.seconds] for s in top],
                "rss_before_kb": before,
                "maxrss_kb": maxrss,
                "rss_delta_kb": max(maxrss - before, 0),
                "trace_peak_bytes": peak,
                "retained": retained,
                "counts": counts,
            }
        )
    )
    return 0


# ---------------------------------------------------------------------------------------------
# Runs


@dataclass
class Run:
    """One measured import or bare insert of one file."""

    mode: str
    rows: int
    seconds: float
    phases: dict[str, float]
    statements: int
    statement_seconds: float
    top_statements: list[list[Any]]
    rss_delta_kb: int
    maxrss_kb: int
    trace_peak_bytes: int
    retained: list[list[Any]]
    counts: dict[str, int]


@dataclass
class Outcome:
    """The figures for one database."""

    label: str
    runs: dict[tuple[str, int], Run] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    profile: str | None = None

    def ratio(self, rows: int) -> float:
        """Return import seconds over bare seconds for a file."""
        return self.runs["import", rows].seconds / self.runs["bare", rows].seconds

    def memory_ratio(self, mode: str, small: int, large: int, rss: bool = False) -> float:
        """Return peak memory at the large file over the small one."""
        key = "rss_delta_kb" if rss else "trace_peak_bytes"
        low = getattr(self.runs[mode, small], key)
        return getattr(self.runs[mode, large], key) / low if low else 0.0


def run_child(
    mode: str,
    db_url: str,
    csv_file: CsvFile,
    clinic_id: int,
    trace: bool,
    profile: Path | None,
    rows_api: bool = False,
) -> dict[str, Any]:
    """Run one measurement in a fresh Python process; return its JSON figures."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        mode,
        "--db-url",
        db_url,
        "--csv",
        str(csv_file.path),
        "--clinic-id",
        str(clinic_id),
        *(["--trace"] if trace else []),
        *(["--profile", str(profile)] if profile else []),
        *(["--rows-api"] if rows_api else []),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=3600)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise SetupFailed(
            f"{mode} of {csv_file.rows:,} rows failed (exit {done.returncode}):\n"
            f"{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
        )
    return json.loads(lines[-1])


class Reset:
    """Empties the benchmark database between runs (the clinic stays)."""

    def __init__(self, db: common.Database, workdir: Path) -> None:
        self.db = db
        self.clinic_id = common.prepare_database(db.url)
        self.template: Path | None = None
        self.current: Path | None = None
        if not db.is_postgres:
            # A copy of the migrated file with its clinic, taken afresh for each run.
            self.template = workdir / "bench_import_template.db"
            shutil.copyfile(db.url.removeprefix("sqlite:///"), self.template)
        self.workdir = workdir
        self.count = 0

    def fresh_url(self) -> str:
        """Return the URL of an empty database with the clinic."""
        from schedules.db import make_engine

        if self.template is not None:
            self.remove_current()
            self.count += 1
            self.current = self.workdir / f"bench_import_run{self.count}.db"
            shutil.copyfile(self.template, self.current)
            return f"sqlite:///{self.current}"
        engine = make_engine(self.db.url)
        try:
            with engine.begin() as connection:
                connection.exec_driver_sql(
                    "TRUNCATE reminders, consent_events, alerts, messages, appointments, patients "
                    "RESTART IDENTITY CASCADE"
                )
            common.analyze(engine)
        finally:
            engine.dispose()
        return self.db.url

    def remove_current(self) -> None:
        """Delete the previous run's SQLite file."""
        if self.current is not None:
            for suffix in ("", "-wal", "-shm", ".writer-lock"):
                Path(str(self.current) + suffix).unlink(missing_ok=True)
            self.current = None


def bench_database(
    db: common.Database, files: list[CsvFile], args: argparse.Namespace, workdir: Path
) -> Outcome:
    """Measure import and bare insert of each file on one database."""
    outcome = Outcome(db.label)
    reset = Reset(db, workdir)
    try:
        for csv_file in files:
            for mode in ("bare", "import"):
                api = args.rows_api
                url, clinic_id = reset.fresh_url(), reset.clinic_id
                timed = run_child(mode, url, csv_file, clinic_id, False, None, api)
                url = reset.fresh_url()
                traced = run_child(mode, url, csv_file, clinic_id, True, None, api)
                run = Run(
                    mode=mode,
                    rows=csv_file.rows,
                    seconds=timed["seconds"],
                    phases=timed["phases"],
                    statements=timed["statements"],
                    statement_seconds=timed["statement_seconds"],
                    top_statements=timed["top_statements"],
                    rss_delta_kb=timed["rss_delta_kb"],
                    maxrss_kb=timed["maxrss_kb"],
                    trace_peak_bytes=traced["trace_peak_bytes"],
                    retained=traced["retained"],
                    counts=timed["counts"],
                )
                outcome.runs[mode, csv_file.rows] = run
                check(outcome, run, csv_file)
                print(
                    f"  {mode:<6} {csv_file.rows:>6,} rows: {run.seconds:6.2f}s, "
                    f"peak RSS +{run.rss_delta_kb / 1024:,.0f} MiB, tracemalloc peak "
                    f"{run.trace_peak_bytes / 2**20:,.0f} MiB; {run.counts}",
                    flush=True,
                )
        if args.profile:
            largest = files[-1]
            path = workdir / f"import-{db.label}.prof"
            url = reset.fresh_url()
            run_child("import", url, largest, reset.clinic_id, False, path, args.rows_api)
            outcome.profile = profile_text(path)
    finally:
        reset.remove_current()
    return outcome


def check(outcome: Outcome, run: Run, csv_file: CsvFile) -> None:
    """Note anything the run stored that does not match the file."""
    counts = run.counts
    where = f"{run.mode} of {csv_file.rows:,}"
    if counts["patients"] != csv_file.patients:
        outcome.problems.append(f"{where}: {counts['patients']} patients, not {csv_file.patients}")
    if counts["appointments"] != csv_file.rows:
        outcome.problems.append(f"{where}: {counts['appointments']} appointments stored")
    if run.mode == "import" and counts["pending"] == 0:
        outcome.problems.append(f"{where}: no reminder planned")
    if run.mode == "bare" and counts["reminders"]:
        outcome.problems.append(f"{where}: the bare insert planned reminders")


def profile_text(path: Path) -> str:
    """Return the top functions of a cProfile dump, by own and by cumulative time."""
    import pstats

    out = io.StringIO()
    stats = pstats.Stats(str(path), stream=out)
    stats.strip_dirs().sort_stats("tottime").print_stats(20)
    stats.sort_stats("cumulative").print_stats(35)
    return out.getvalue()


# ---------------------------------------------------------------------------------------------
# Report


def report(outcomes: list[Outcome], files: list[CsvFile], args: argparse.Namespace) -> None:
    """Print the figures table, the checks and the targets."""
    small, large = files[0].rows, files[-1].rows
    print(
        f"\nFiles: {', '.join(f'{f.rows:,} rows / {f.patients:,} patients' for f in files)} "
        f"(Mon/Wed/Fri series, 09:00-17:00 {common.TIMEZONE}); each run in a fresh process on "
        f"an emptied database; {os.cpu_count()} CPUs.\n"
    )
    rows = []
    for o in outcomes:
        for f in files:
            bare, imp = o.runs["bare", f.rows], o.runs["import", f.rows]
            rows.append(
                [
                    o.label,
                    f"{f.rows:,}",
                    f"{bare.seconds:.2f}s",
                    f"{imp.seconds:.2f}s",
                    f"{o.ratio(f.rows):.2f}",
                    f"{bare.trace_peak_bytes / 2**20:,.0f} MiB",
                    f"{imp.trace_peak_bytes / 2**20:,.0f} MiB",
                    f"{bare.rss_delta_kb / 1024:,.0f} MiB",
                    f"{imp.rss_delta_kb / 1024:,.0f} MiB",
                ]
            )
    common.print_table(
        [
            "database",
            "rows",
            "bare",
            "import",
            "ratio",
            "bare peak",
            "import peak",
            "bare +RSS",
            "import +RSS",
        ],
        rows,
        [11, 7, 8, 8, 6, 10, 12, 10, 12],
    )
    print("  (peak: tracemalloc peak of Python allocations; +RSS: peak RSS over RSS before)")

    for o in outcomes:
        print(f"\n  {o.label}:")
        for f in files:
            for mode in ("bare", "import"):
                run = o.runs[mode, f.rows]
                phases = ", ".join(f"{k} {v:.2f}s" for k, v in run.phases.items() if k != "apply")
                print(
                    f"    {mode:<6} {f.rows:>6,}: {phases}; {run.statements:,} statements "
                    f"{run.statement_seconds:.2f}s; stored {run.counts['patients']:,} patients, "
                    f"{run.counts['appointments']:,} appointments, {run.counts['reminders']:,} "
                    f"reminders ({run.counts['pending']:,} pending)"
                )
        imp = o.runs["import", large]
        print(f"    import {large:,}, slowest statements:")
        for sql, calls, seconds in imp.top_statements:
            print(f"      {calls:>5} x {seconds:7.2f}s  {sql}")
        print(f"    import {large:,}, memory held after apply_schedule, by where allocated:")
        for where, size in imp.retained:
            print(f"      {size / 2**20:7.1f} MiB  {where}")
        print(
            f"    peak memory {large:,} / {small:,}: import tracemalloc "
            f"{o.memory_ratio('import', small, large):.2f}, +RSS "
            f"{o.memory_ratio('import', small, large, rss=True):.2f}; bare tracemalloc "
            f"{o.memory_ratio('bare', small, large):.2f}, +RSS "
            f"{o.memory_ratio('bare', small, large, rss=True):.2f}"
        )
        for problem in o.problems:
            print(f"    !! {problem}")
        if o.profile:
            print(f"\n    cProfile of the {large:,}-row import:")
            print("\n".join("    " + line for line in o.profile.splitlines() if line.strip()))

    print(
        f"\nTargets: import/bare <= {TARGET_RATIO:g} at {large:,} rows; memory flat: import's "
        f"peak at {large:,} / at {small:,} rows <= {TARGET_MEMORY:g} (tracemalloc); "
        "stored rows match the file"
    )
    for o in outcomes:
        ratio = o.ratio(large)
        memory = o.memory_ratio("import", small, large)
        print(
            f"  {o.label:<11} ratio {ratio:.2f} {mark(ratio <= TARGET_RATIO)}   "
            f"memory {memory:.2f} {mark(memory <= TARGET_MEMORY)}   "
            f"stored {mark(not o.problems)}"
        )


def as_json(outcomes: list[Outcome], files: list[CsvFile]) -> list[dict[str, Any]]:
    """Return the figures as plain data."""
    small, large = files[0].rows, files[-1].rows
    return [
        {
            "database": o.label,
            "runs": [
                {
                    "mode": r.mode,
                    "rows": r.rows,
                    "seconds": round(r.seconds, 3),
                    "phases": {k: round(v, 3) for k, v in r.phases.items()},
                    "statements": r.statements,
                    "statement_seconds": round(r.statement_seconds, 3),
                    "tracemalloc_peak_bytes": r.trace_peak_bytes,
                    "rss_delta_kb": r.rss_delta_kb,
                    "maxrss_kb": r.maxrss_kb,
                    "counts": r.counts,
                }
                for r in o.runs.values()
            ],
            "ratio": {str(f.rows): round(o.ratio(f.rows), 3) for f in files},
            "memory_ratio_import": round(o.memory_ratio("import", small, large), 3),
            "memory_ratio_bare": round(o.memory_ratio("bare", small, large), 3),
            "problems": o.problems,
            "targets": {
                "ratio": o.ratio(large) <= TARGET_RATIO,
                "memory": o.memory_ratio("import", small, large) <= TARGET_MEMORY,
                "stored": not o.problems,
            },
        }
        for o in outcomes
    ]


# ---------------------------------------------------------------------------------------------
# Main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_common_args(parser)
    parser.add_argument("--rows", type=int, default=50_000, help="rows in the large file (50,000)")
    parser.add_argument(
        "--small-rows", type=int, default=10_000, help="rows in the small file (10,000)"
    )
    parser.add_argument("--seed", type=int, default=20261230, help="random seed for the files")
    parser.add_argument(
        "--profile", action="store_true", help="also profile the large import (cProfile)"
    )
    parser.add_argument(
        "--rows-api",
        action="store_true",
        help="import with parse_schedule_csv + apply_schedule (all rows held) instead",
    )
    # BENCH_ARGS in the Makefile go to every benchmark: leave the others' options to them.
    args, others = parser.parse_known_args(argv)
    if others:
        print(f"bench_import: ignoring options for another benchmark: {' '.join(others)}")
    if not 5 <= args.small_rows < args.rows <= 200_000:
        parser.error("need 5 <= --small-rows < --rows <= 200,000")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 whatever the figures, 1 if it could not measure."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return child_main(argv[1:])
    args = parse_args(argv)
    labels = common.wanted_databases(args, "bench_import")
    if labels is None:
        return 1
    workdir = Path(tempfile.mkdtemp(prefix="clinicbot-bench-import-"))
    outcomes: list[Outcome] = []
    files: list[CsvFile] = []
    status = 0
    try:
        for rows in (args.small_rows, args.rows):
            files.append(generate_csv(workdir / f"schedule-{rows}.csv", rows, args.seed))
            f = files[-1]
            print(
                f"Wrote {f.rows:,} rows for {f.patients:,} patients ({f.cancelled} cancelled, "
                f"{f.size / 2**20:.1f} MiB) to {f.path}",
                flush=True,
            )
        for label in labels:
            print(
                f"\n== {label} == (1-minute load average before: {common.load_average():.2f})",
                flush=True,
            )
            with common.throwaway(label, workdir, args, "bench_import") as db:
                outcomes.append(bench_database(db, files, args, workdir))
    except SetupFailed as exc:
        print(f"\nbench_import: {exc}", file=sys.stderr)
        status = 1
    except KeyboardInterrupt:
        print("\nbench_import: interrupted", file=sys.stderr)
        status = 1
    finally:
        if outcomes:
            report(outcomes, files, args)
            common.write_json(args.json, as_json(outcomes, files))
        if args.keep or status:
            print(f"\nFiles kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
