"""Benchmark the Twilio inbound-SMS webhook (POST /twilio/sms) under gunicorn with wrk.

`make bench` runs this. It is a benchmark, not a test: it prints figures and the targets they
meet or miss, and exits 0 whatever they are. It exits 1 only when it cannot measure: wrk or
gunicorn is missing, a server does not start, or wrk fails.

For each database (SQLite in a temporary file; PostgreSQL in a throw-away database created and
dropped on the server given by --postgres-url), it:

1. migrates the database and adds one clinic;
2. writes thousands of distinct, correctly signed Twilio requests to a file (one a line: the
   X-Twilio-Signature, a tab, the form body), from ~2,000 patient numbers in turn with a mix of
   keywords, everyday questions, Spanish, chatter and ~1% crisis texts;
3. serves a bare Flask app (scripts/bench_bare_app.py) with `gunicorn -w 2` and loads it with
   `wrk -t2 -c8 -d10s --latency -s scripts/bench_wrk.lua` replaying that file: the baseline;
4. serves ClinicBot (`bot:create_app()`) the same way and replays the same file;
5. checks that the inbound texts stored match the 2xx answers wrk counted and that there was no
   5xx, then prints a table and the targets: webhook/bare >= 0.35, p99 < 50 ms, zero errors.

Usage: .venv/bin/python scripts/bench_webhook.py [--sqlite-only | --postgres-only]
       [--duration 10] [--connections 8] [--postgres-url URL] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench_common import (
    CLINIC_SMS,
    DEFAULT_POSTGRES_URL,
    Database,
    mark,
    postgres_database,
    postgres_reachable,
    prepare_database,
    shown_url,
    sqlite_database,
)

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
LUA_SCRIPT = SCRIPTS / "bench_wrk.lua"

PUBLIC_BASE_URL = "https://bench.example.org"
SMS_PATH = "/twilio/sms"

WORKERS = 2
WRK_THREADS = 2
WARMUP_REQUESTS = 20
REPLY_CAP = 8  # the default reply cap: 8 replies a number per 10 minutes

# What gunicorn.conf.py's post_worker_init logs once a worker's matcher is built.
WORKER_READY = "matcher and crisis screen ready"

TARGET_RATIO = 0.35
TARGET_P99_MS = 50.0

# What patients text, with weights (percent). Crisis texts raise an alert and page on-call.
BODY_MIX: tuple[tuple[str, float], ...] = (
    # Keywords.
    ("HELP", 9),
    ("help", 3),
    ("SIDE EFFECTS", 8),
    ("side effects", 3),
    ("MENU", 7),
    ("menu", 2),
    # Everyday questions.
    ("can I eat before?", 10),
    ("can i drive home after", 10),
    ("Can I eat before my appointment?", 4),
    ("can i drive home after my session?", 4),
    # Spanish.
    ("efectos secundarios", 6),
    ("¿puedo comer antes?", 3),
    # Chatter nothing matches.
    ("ok thanks", 20),
    ("Ok thank you!", 5),
    ("see you soon", 5),
    # Crisis: about 1%.
    ("i want to die", 1),
)


# ---------------------------------------------------------------------------------------------
# Requests


def twilio_params(body: str, *, sid: str, from_: str, to: str = CLINIC_SMS) -> dict[str, str]:
    """Return the full parameter set Twilio posts for an inbound SMS (as in tests/conftest.py)."""
    return {
        "ToCountry": "US",
        "ToState": "CO",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "ToCity": "DENVER",
        "FromZip": "80202",
        "SmsSid": sid,
        "FromState": "CO",
        "SmsStatus": "received",
        "FromCity": "DENVER",
        "Body": body,
        "FromCountry": "US",
        "To": to,
        "MessagingServiceSid": "MG" + "1" * 32,
        "ToZip": "80202",
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": "AC" + "2" * 32,
        "From": from_,
        "ApiVersion": "2010-04-01",
    }


@dataclass
class RequestSet:
    """The signed requests of one run, written to a file wrk replays."""

    path: Path
    count: int
    patients: int
    crisis: int
    bodies: dict[str, int]
    warmup: list[tuple[str, str]]  # (signature, body) sent before wrk, not part of the file


def _patient_numbers(rng: random.Random, patients: int) -> list[str]:
    """Return distinct +1720555xxxx numbers (then +1719555xxxx, ... if more are asked for)."""
    prefixes = ("+1720555", "+1719555", "+1970555", "+1303556")
    if patients > 10_000 * len(prefixes):
        raise SystemExit(f"--patients must be at most {10_000 * len(prefixes)}")
    pool = rng.sample(range(10_000 * len(prefixes)), patients)
    return [f"{prefixes[n // 10_000]}{n % 10_000:04d}" for n in pool]


def generate_requests(
    path: Path, count: int, patients: int, token: str, seed: int | None
) -> RequestSet:
    """Write count distinct signed requests to path, one `signature<TAB>body` a line."""
    from twilio.request_validator import RequestValidator

    rng = random.Random(seed)
    validator = RequestValidator(token)
    url = PUBLIC_BASE_URL + SMS_PATH
    numbers = _patient_numbers(rng, patients)
    texts = [text for text, _ in BODY_MIX]
    weights = [weight for _, weight in BODY_MIX]
    picks = rng.choices(texts, weights, k=count)
    seen: set[str] = set()
    tally: dict[str, int] = {}

    def new_sid() -> str:
        while True:
            sid = "SM" + uuid.UUID(int=rng.getrandbits(128)).hex
            if sid not in seen:
                seen.add(sid)
                return sid

    def signed(body: str, from_: str) -> tuple[str, str]:
        params = twilio_params(body, sid=new_sid(), from_=from_)
        return validator.compute_signature(url, params), urllib.parse.urlencode(params)

    with path.open("w", encoding="utf-8") as out:
        for index, body in enumerate(picks):
            # Numbers in turn, so each texts as rarely as possible: far under the reply cap.
            signature, form = signed(body, numbers[index % patients])
            out.write(f"{signature}\t{form}\n")
            tally[body] = tally.get(body, 0) + 1
    # Warm-up texts come from numbers outside the patients' range and say "MENU".
    warmup = [signed("MENU", f"+1720556{n:04d}") for n in range(WARMUP_REQUESTS)]
    return RequestSet(
        path=path,
        count=count,
        patients=patients,
        crisis=tally.get("i want to die", 0),
        bodies=tally,
        warmup=warmup,
    )


# ---------------------------------------------------------------------------------------------
# Servers


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerFailed(RuntimeError):
    """A server did not start."""


class Server:
    """One gunicorn master with WORKERS sync workers on 127.0.0.1, started and stopped by us."""

    def __init__(
        self,
        name: str,
        gunicorn: str,
        app_spec: str,
        env: dict[str, str],
        workdir: Path,
        config: Path | None = None,
    ) -> None:
        self.name = name
        self.port = free_port()
        self.log_path = workdir / f"gunicorn-{name}.log"
        if config is None:
            config = workdir / "gunicorn.bench.conf.py"
            # An empty config file, so a gunicorn.conf.py in the working directory cannot
            # change the bare app's settings.
            config.write_text("# settings are all on the command line\n")
        self.command = [
            gunicorn,
            "-c",
            str(config),
            "-k",
            "sync",
            "-w",
            str(WORKERS),
            "-b",
            f"127.0.0.1:{self.port}",
            # The bare app lives in scripts/; ClinicBot is imported from the repository.
            *(["--pythonpath", str(SCRIPTS)] if app_spec.startswith("bench_bare_app") else []),
            app_spec,
        ]
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    @property
    def base_url(self) -> str:
        """Return http://127.0.0.1:PORT."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0, ready_line: str | None = None) -> None:
        """Start gunicorn and wait until /healthz answers 200 and, given ready_line, every
        worker has logged it; raise ServerFailed if not."""
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.command,
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerFailed(
                    f"{self.name}: gunicorn exited with {self.process.returncode}; "
                    f"see {self.log_path}:\n{tail(self.log_path)}"
                )
            try:
                with urllib.request.urlopen(self.base_url + "/healthz", timeout=2) as answer:
                    if answer.status == 200 and self._workers_ready(ready_line):
                        return
                    last = f"HTTP {answer.status}"
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}"
            except (urllib.error.URLError, OSError) as exc:
                last = str(exc)
            time.sleep(0.2)
        raise ServerFailed(
            f"{self.name}: /healthz did not answer 200 within {timeout:.0f}s ({last}); "
            f"see {self.log_path}:\n{tail(self.log_path)}"
        )

    def _workers_ready(self, ready_line: str | None) -> bool:
        """Return whether every worker has logged ready_line (always, without one)."""
        if ready_line is None:
            return True
        return tail(self.log_path, lines=10_000).count(ready_line) >= WORKERS

    def stop(self, timeout: float = 30.0) -> None:
        """Stop gunicorn gracefully (workers finish their requests), forcibly if it hangs."""
        process = self.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                # The process group is the one this master and its workers were started in.
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def warm_up(self, requests: list[tuple[str, str]]) -> int:
        """Send the warm-up requests one by one; return how many answered 2xx."""
        ok = 0
        for signature, body in requests:
            req = urllib.request.Request(
                self.base_url + SMS_PATH,
                data=body.encode("utf-8"),
                method="POST",
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Twilio-Signature": signature,
                },
            )
            try:
                with urllib.request.urlopen(req, timeout=10) as answer:
                    ok += 200 <= answer.status < 300
            except urllib.error.HTTPError:
                pass
        return ok


def tail(path: Path, lines: int = 25) -> str:
    """Return the last lines of a log file."""
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join("    " + line for line in text[-lines:])


# ---------------------------------------------------------------------------------------------
# wrk


class WrkFailed(RuntimeError):
    """wrk did not run or printed no result."""


@dataclass
class WrkResult:
    """What one wrk run measured."""

    requests: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    s2xx: int
    s3xx: int
    s4xx: int
    s5xx: int
    socket_errors: int
    timeouts: int
    wrapped: int
    raw: dict[str, float] = field(default_factory=dict)

    @property
    def errors(self) -> int:
        """Socket errors (connect, read, write, timeout) plus non-2xx answers."""
        return self.socket_errors + self.s3xx + self.s4xx + self.s5xx


def run_wrk(
    wrk: str, url: str, requests: Path, duration: int, connections: int, log_path: Path
) -> WrkResult:
    """Run wrk against url replaying the request file; return its figures."""
    threads = min(WRK_THREADS, connections)
    command = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "--latency",
        "-s",
        str(LUA_SCRIPT),
        url,
        "--",
        str(requests),
        str(threads),
    ]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=duration + 120, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise WrkFailed(f"wrk did not finish within {duration + 120}s") from exc
    log_path.write_text(
        "$ " + " ".join(command) + "\n" + done.stdout + ("\n" + done.stderr if done.stderr else "")
    )
    match = re.search(r"^BENCH_RESULT (.*)$", done.stdout, re.MULTILINE)
    if done.returncode != 0 or not match:
        raise WrkFailed(
            f"wrk exited with {done.returncode} and no result:\n{done.stdout}\n{done.stderr}"
        )
    raw = {key: float(value) for key, value in re.findall(r"(\w+)=([\d.]+)", match.group(1))}
    rps_line = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    rps = (
        float(rps_line.group(1))
        if rps_line
        else raw["requests"] / max(raw["duration_us"] / 1e6, 1e-9)
    )
    return WrkResult(
        requests=int(raw["requests"]),
        rps=rps,
        p50_ms=raw["lat_p50_us"] / 1000,
        p90_ms=raw["lat_p90_us"] / 1000,
        p99_ms=raw["lat_p99_us"] / 1000,
        max_ms=raw["lat_max_us"] / 1000,
        s2xx=int(raw["s2xx"]),
        s3xx=int(raw["s3xx"]),
        s4xx=int(raw["s4xx"]),
        s5xx=int(raw["s5xx"]),
        socket_errors=int(raw["connect"] + raw["read"] + raw["write"] + raw["timeout"]),
        timeouts=int(raw["timeout"]),
        wrapped=int(raw["wrapped"]),
        raw=raw,
    )


@dataclass
class Stored:
    """What the webhook stored."""

    inbound: int = 0
    replies: int = 0
    rate_limited: int = 0
    alerts: int = 0
    pages: int = 0
    pages_by_status: dict[str, int] = field(default_factory=dict)
    patients: int = 0
    max_texts_per_number: int = 0
    max_replies_per_patient: int = 0
    by_classification: dict[str, int] = field(default_factory=dict)


def count_stored(url: str) -> Stored:
    """Count what the database holds."""
    from sqlalchemy import func, select

    from schedules.db import make_engine, make_session_factory
    from schedules.models import Alert, Direction, Message, Patient, Purpose

    engine = make_engine(url)
    stored = Stored()
    try:
        with make_session_factory(engine)() as session:
            inbound = Message.direction == Direction.INBOUND
            replies = (Message.direction == Direction.OUTBOUND) & (Message.purpose == Purpose.REPLY)
            stored.inbound = session.scalar(select(func.count(Message.id)).where(inbound)) or 0
            stored.replies = session.scalar(select(func.count(Message.id)).where(replies)) or 0
            stored.rate_limited = (
                session.scalar(
                    select(func.count(Message.id)).where(
                        replies, Message.classification == "rate_limited"
                    )
                )
                or 0
            )
            stored.alerts = session.scalar(select(func.count(Alert.id))) or 0
            pages = session.execute(
                select(Message.status, func.count(Message.id))
                .where(Message.purpose == Purpose.PAGE)
                .group_by(Message.status)
            ).all()
            stored.pages_by_status = {str(status): int(n) for status, n in pages}
            stored.pages = sum(stored.pages_by_status.values())
            stored.patients = session.scalar(select(func.count(Patient.id))) or 0
            per_number = (
                select(func.count(Message.id).label("n"))
                .where(inbound)
                .group_by(Message.from_number)
                .subquery()
            )
            stored.max_texts_per_number = session.scalar(select(func.max(per_number.c.n))) or 0
            per_patient = (
                select(func.count(Message.id).label("n"))
                .where(replies)
                .group_by(Message.patient_id)
                .subquery()
            )
            stored.max_replies_per_patient = session.scalar(select(func.max(per_patient.c.n))) or 0
            kinds = session.execute(
                select(Message.classification, func.count(Message.id))
                .where(inbound)
                .group_by(Message.classification)
            ).all()
            stored.by_classification = {str(kind): int(n) for kind, n in kinds}
    finally:
        engine.dispose()
    return stored


# ---------------------------------------------------------------------------------------------
# One database


@dataclass
class Outcome:
    """The figures for one database."""

    label: str
    bare: WrkResult
    hook: WrkResult
    stored: Stored
    warmup_inbound: int
    log_errors: int
    load_before: float

    @property
    def ratio(self) -> float:
        """Webhook requests/s over bare requests/s."""
        return self.hook.rps / self.bare.rps if self.bare.rps else 0.0


def count_log_errors(path: Path) -> int:
    """Count tracebacks and error-level log lines in a gunicorn log."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return 0
    return text.count("Traceback (most recent call last)") + text.count('"level": "error"')


def bench_database(
    db: Database,
    args: argparse.Namespace,
    tools: dict[str, str],
    workdir: Path,
    token: str,
    requests: RequestSet,
) -> Outcome:
    """Benchmark the bare app and the webhook on one database."""
    tag = db.label.lower()
    load_before = os.getloadavg()[0]
    # Shown because other work on the machine (tests, builds) skews the figures.
    print(f"\n== {db.label} == (1-minute load average before: {load_before:.2f})", flush=True)
    prepare_database(db.url)
    print("  migrated; clinic added", flush=True)

    env = dict(os.environ)
    env.pop("GUNICORN_CMD_ARGS", None)
    env.update(
        {
            "DATABASE_URL": db.url,
            "TWILIO_AUTH_TOKEN": token,
            "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
            "SMS_BACKEND": "console",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )

    results: dict[str, WrkResult] = {}
    warmup_inbound = 0
    log_errors = 0
    for name, spec in (("bare", "bench_bare_app:app"), ("webhook", "bot:create_app()")):
        is_webhook = name == "webhook"
        # The webhook runs with the project's gunicorn.conf.py, as the Procfile does: each
        # worker builds its matcher and crisis screen (seconds) before it serves, so no
        # measured request waits for that.
        server = Server(
            f"{tag}-{name}",
            tools["gunicorn"],
            spec,
            env,
            workdir,
            config=ROOT / "gunicorn.conf.py" if is_webhook else None,
        )
        try:
            server.start(ready_line=WORKER_READY if is_webhook else None)
            warmed = server.warm_up(requests.warmup)
            if warmed != len(requests.warmup):
                print(
                    f"  !! {name}: only {warmed}/{len(requests.warmup)} warm-up requests "
                    f"answered 2xx; see {server.log_path}",
                    flush=True,
                )
            if is_webhook:
                warmup_inbound = count_stored(db.url).inbound
            print(f"  {name}: serving on {server.base_url}; wrk for {args.duration}s", flush=True)
            result = run_wrk(
                tools["wrk"],
                server.base_url + SMS_PATH,
                requests.path,
                args.duration,
                args.connections,
                workdir / f"wrk-{tag}-{name}.txt",
            )
        finally:
            server.stop()
        results[name] = result
        print(
            f"  {name}: {result.rps:,.0f} req/s, p50 {result.p50_ms:.1f} ms, "
            f"p99 {result.p99_ms:.1f} ms, {result.requests:,} answers "
            f"({result.s2xx:,} 2xx), {result.errors} errors",
            flush=True,
        )
        if name == "webhook":
            log_errors = count_log_errors(server.log_path)
    stored = count_stored(db.url)
    return Outcome(
        db.label,
        results["bare"],
        results["webhook"],
        stored,
        warmup_inbound,
        log_errors,
        load_before,
    )


# ---------------------------------------------------------------------------------------------
# Report


def report(outcomes: list[Outcome], args: argparse.Namespace, requests: RequestSet) -> None:
    """Print the figures table, the checks and the targets."""
    print(
        f"\nLoad: wrk -t{min(WRK_THREADS, args.connections)} -c{args.connections} "
        f"-d{args.duration}s --latency; gunicorn -w {WORKERS} (sync); "
        f"{requests.count:,} distinct signed requests from {requests.patients:,} numbers "
        f"({requests.crisis:,} crisis texts in the file); {os.cpu_count()} CPUs.\n"
    )
    header = (
        f"{'database':<11} {'bare req/s':>10} {'bare p99':>9} {'webhook req/s':>13} "
        f"{'webhook p99':>11} {'errors':>6} {'ratio':>6}"
    )
    print(header)
    print("-" * len(header))
    for o in outcomes:
        print(
            f"{o.label:<11} {o.bare.rps:>10,.0f} {o.bare.p99_ms:>6.1f} ms {o.hook.rps:>13,.0f} "
            f"{o.hook.p99_ms:>8.1f} ms {o.hook.errors:>6} {o.ratio:>6.2f}"
        )

    print("\nChecks (webhook run):")
    for o in outcomes:
        inbound = o.stored.inbound - o.warmup_inbound
        diff = inbound - o.hook.s2xx
        print(
            f"  {o.label}: wrk counted {o.hook.s2xx:,} 2xx; {inbound:,} inbound texts stored "
            f"(+{o.warmup_inbound} warm-up), difference {diff:+d} "
            f"({'requests cut in flight at the end' if 0 <= diff <= args.connections else 'CHECK'})"
            f"; 5xx: {o.hook.s5xx}; 4xx: {o.hook.s4xx}; socket errors: {o.hook.socket_errors} "
            f"(timeouts {o.hook.timeouts}); errors in the server log: {o.log_errors}"
        )
        pages = ", ".join(f"{k} {v}" for k, v in sorted(o.stored.pages_by_status.items()))
        print(
            f"    stored: {o.stored.replies:,} replies ({o.stored.rate_limited} rate-limited), "
            f"{o.stored.alerts} alerts, {o.stored.pages} pages ({pages or 'none'}), "
            f"{o.stored.patients:,} patients; most texts from one number: "
            f"{o.stored.max_texts_per_number}, most replies to one patient: "
            f"{o.stored.max_replies_per_patient} (cap {REPLY_CAP})"
        )
        kinds = ", ".join(
            f"{k} {v}" for k, v in sorted(o.stored.by_classification.items(), key=lambda kv: -kv[1])
        )
        print(f"    classified: {kinds}")
        if o.bare.errors:
            print(f"    bare app errors: {o.bare.errors} (socket {o.bare.socket_errors})")
        for name, result in (("bare", o.bare), ("webhook", o.hook)):
            if result.wrapped:
                print(
                    f"    !! {name}: wrk ran out of distinct requests {result.wrapped} times and "
                    "repeated some; raise --requests"
                )

    print(
        f"\nTargets: webhook/bare >= {TARGET_RATIO}, webhook p99 < {TARGET_P99_MS:.0f} ms, "
        "zero errors (socket errors + non-2xx)"
    )
    for o in outcomes:
        print(
            f"  {o.label:<11} ratio {o.ratio:.2f} {mark(o.ratio >= TARGET_RATIO)}   "
            f"p99 {o.hook.p99_ms:.1f} ms {mark(o.hook.p99_ms < TARGET_P99_MS)}   "
            f"errors {o.hook.errors} {mark(o.hook.errors == 0 and o.hook.s5xx == 0)}"
        )


# ---------------------------------------------------------------------------------------------
# Main


def find_tools() -> dict[str, str] | None:
    """Return the paths of wrk and gunicorn, or print what is missing and return None."""
    venv_gunicorn = Path(sys.executable).parent / "gunicorn"
    gunicorn = str(venv_gunicorn) if venv_gunicorn.exists() else shutil.which("gunicorn")
    wrk = shutil.which("wrk")
    missing = []
    if not wrk:
        missing.append("wrk (apt-get install wrk; `make bench` installs it)")
    if not gunicorn:
        missing.append("gunicorn (pip install -e . in the venv)")
    if missing:
        print("bench_webhook: missing " + " and ".join(missing), file=sys.stderr)
        return None
    assert wrk and gunicorn
    return {"wrk": wrk, "gunicorn": gunicorn}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--sqlite-only", action="store_true", help="skip PostgreSQL")
    only.add_argument("--postgres-only", action="store_true", help="skip SQLite")
    parser.add_argument("--duration", type=int, default=10, help="seconds of wrk load (10)")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections (8)")
    parser.add_argument(
        "--requests",
        type=int,
        default=None,
        help="distinct requests to generate (default: 6,000 per second of load, at least 60,000)",
    )
    parser.add_argument(
        "--patients", type=int, default=2000, help="patient numbers texting in turn (2000)"
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL")
        or os.environ.get("TEST_POSTGRES_URL")
        or DEFAULT_POSTGRES_URL,
        help="PostgreSQL server to create the throw-away database on "
        "(BENCH_POSTGRES_URL, TEST_POSTGRES_URL, or the local server)",
    )
    parser.add_argument("--seed", type=int, default=None, help="random seed for the request mix")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, requests)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.duration < 1 or args.duration > 600:
        parser.error("--duration must be 1..600 seconds")
    if args.connections < 1 or args.connections > 1000:
        parser.error("--connections must be 1..1000")
    if args.requests is None:
        args.requests = max(60_000, 6_000 * args.duration)
    if args.requests < 100 or args.requests > 2_000_000:
        parser.error("--requests must be 100..2,000,000")
    if args.patients < 1:
        parser.error("--patients must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 whatever the figures, 1 if it could not measure."""
    args = parse_args(argv)
    tools = find_tools()
    if tools is None:
        return 1
    workdir = Path(tempfile.mkdtemp(prefix="clinicbot-bench-"))
    token = uuid.uuid4().hex
    outcomes: list[Outcome] = []
    status = 0
    try:
        started = time.monotonic()
        requests = generate_requests(
            workdir / "requests.tsv", args.requests, args.patients, token, args.seed
        )
        print(
            f"Wrote {requests.count:,} signed requests from {requests.patients:,} numbers to "
            f"{requests.path} in {time.monotonic() - started:.1f}s",
            flush=True,
        )
        databases: list[Database] = []
        if not args.postgres_only:
            databases.append(sqlite_database(workdir, "clinicbot-bench"))
        if not args.sqlite_only:
            unreachable = postgres_reachable(args.postgres_url)
            if unreachable is None:
                databases.append(postgres_database(args.postgres_url, "clinicbot_bench"))
            elif args.postgres_only:
                print(
                    "bench_webhook: --postgres-only but PostgreSQL is unreachable", file=sys.stderr
                )
                return 1
            else:
                print(
                    f"\n!! PostgreSQL is unreachable at {shown_url(args.postgres_url)}: "
                    f"{unreachable}\n!! Skipping PostgreSQL; benchmarking SQLite only.\n",
                    flush=True,
                )
        for db in databases:
            try:
                outcomes.append(bench_database(db, args, tools, workdir, token, requests))
            finally:
                if db.drop is not None:
                    db.drop()
                    print(f"  dropped the throw-away {db.label} database", flush=True)
    except (ServerFailed, WrkFailed) as exc:
        print(f"\nbench_webhook: {exc}", file=sys.stderr)
        status = 1
    except KeyboardInterrupt:
        print("\nbench_webhook: interrupted", file=sys.stderr)
        status = 1
    finally:
        if outcomes:
            report(outcomes, args, requests)
            if args.json:
                args.json.write_text(json.dumps(_as_json(outcomes), indent=2) + "\n")
        if args.keep or status:
            print(f"\nLogs, requests and wrk output kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return status


def _as_json(outcomes: list[Outcome]) -> list[dict[str, Any]]:
    """Return the figures as plain data."""
    return [
        {
            "database": o.label,
            "bare_rps": round(o.bare.rps, 1),
            "bare_p99_ms": o.bare.p99_ms,
            "webhook_rps": round(o.hook.rps, 1),
            "webhook_p99_ms": o.hook.p99_ms,
            "webhook_p50_ms": o.hook.p50_ms,
            "errors": o.hook.errors,
            "ratio": round(o.ratio, 3),
            "webhook_2xx": o.hook.s2xx,
            "inbound_stored": o.stored.inbound - o.warmup_inbound,
            "webhook_5xx": o.hook.s5xx,
            "load_average_before": o.load_before,
            "targets": {
                "ratio": o.ratio >= TARGET_RATIO,
                "p99": o.hook.p99_ms < TARGET_P99_MS,
                "errors": o.hook.errors == 0,
            },
        }
        for o in outcomes
    ]


if __name__ == "__main__":
    sys.exit(main())
