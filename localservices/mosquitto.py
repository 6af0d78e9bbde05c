"""A real MQTT broker (Debian's ``mosquitto`` 2.0) run as a subprocess for tests and the demo.

Config, log and persistence database live in one directory; the broker listens on loopback
ports nobody else uses. With ``persistence=True`` (the default) a SIGTERM-restart keeps
persistent sessions and the QoS 1/2 messages queued for disconnected clients, because
mosquitto writes its database on a clean exit; after SIGKILL only what the last autosave
(every second here) wrote survives.
"""

from __future__ import annotations

import base64
import hashlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from localservices.influxd import TlsFiles, free_port, make_tls_files
from localservices.process import ManagedProcess

__all__ = [
    "MosquittoServer",
    "MosquittoServerError",
    "TlsFiles",
    "TlsFilesLike",
    "make_acl_file",
    "make_password_file",
    "make_tls_files",
]

STARTUP_TIMEOUT = 10.0

# mosquitto 2.0's own format ("$7$"): PBKDF2-HMAC-SHA512, 101 rounds, 12-byte salt, base64
_PBKDF2_ROUNDS = 101
_SALT_BYTES = 12


class MosquittoServerError(RuntimeError):
    """The broker did not start or could not be configured."""


class TlsFilesLike(Protocol):
    """Anything with PEM paths ``ca``, ``cert``, ``key`` (localservices.influxd.TlsFiles fits)."""

    @property
    def ca(self) -> Path: ...

    @property
    def cert(self) -> Path: ...

    @property
    def key(self) -> Path: ...


def _password_hash(password: str) -> str:
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, _PBKDF2_ROUNDS, 64)
    return f"$7${_PBKDF2_ROUNDS}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def make_password_file(path: Path | str, users: Mapping[str, str], *, use_tool: bool | None = None) -> Path:
    """Write a mosquitto password file for ``users`` (name -> password); returns its path.

    Debian's mosquitto package ships ``mosquitto_passwd`` (in /usr/bin), which is used when
    present. Without it (``use_tool=False`` forces this) the file is written directly in the
    broker's own "$7$" format, which is documented and stable across 2.0.x; a test checks
    that the broker accepts it.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    for name in users:
        # the file is "name:hash" per line; mosquitto_passwd refuses these too
        if not name or ":" in name or "\n" in name:
            raise ValueError(f"invalid MQTT user name for a password file: {name!r}")
    tool = shutil.which("mosquitto_passwd") if use_tool is not False else None
    if use_tool and tool is None:
        raise MosquittoServerError("mosquitto_passwd not found on PATH (Debian package mosquitto)")
    if tool is None:
        lines = [f"{name}:{_password_hash(pw)}\n" for name, pw in users.items()]
        p.write_text("".join(lines), encoding="utf-8")
    else:
        p.write_text("", encoding="utf-8")
        for name, pw in users.items():
            done = subprocess.run([tool, "-b", str(p), name, pw], capture_output=True, text=True)
            if done.returncode != 0:
                raise MosquittoServerError(f"mosquitto_passwd failed for {name!r}: {done.stderr.strip()}")
    # newer mosquitto releases refuse a world-readable password file
    p.chmod(0o600)
    return p


ACL_ACCESS = ("read", "write", "readwrite", "deny")


def make_acl_file(path: Path | str, rules: Mapping[str, Sequence[tuple[str, str]]]) -> Path:
    """Write a mosquitto ACL file: ``rules`` maps a user name to its (access, topic
    pattern) pairs, access one of ACL_ACCESS; returns its path.

    With an ACL file the broker allows only what it lists: a user without an entry may
    neither publish nor subscribe. "read" covers subscribing and receiving. A publish the
    ACL refuses is dropped by the broker (MQTT 3.1.1: silently; MQTT 5: the PUBACK says
    "not authorized"), and a will the user may not publish refuses the connection.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# written by localservices.mosquitto.make_acl_file"]
    for user, entries in rules.items():
        if not user or any(c in user for c in "\n\r") or user != user.strip():
            raise ValueError(f"invalid MQTT user name for an ACL file: {user!r}")
        lines += ["", f"user {user}"]
        for access, topic in entries:
            if access not in ACL_ACCESS:
                raise ValueError(f"ACL of {user!r}: access must be one of {ACL_ACCESS}, got {access!r}")
            if not topic or any(c in topic for c in "\n\r\0"):
                raise ValueError(f"ACL of {user!r}: invalid topic pattern {topic!r}")
            lines.append(f"topic {access} {topic}")
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    # like the password file: newer mosquitto releases warn about (and will refuse) others' access
    p.chmod(0o600)
    return p


class MosquittoServer(ManagedProcess):
    """One mosquitto process with its own config, log, persistence directory and ports.

    ``port`` pins the plain listener (default: a free one, kept across restarts). With
    ``tls`` a second listener on ``tls_port`` speaks MQTT over TLS with those files; the
    plain one stays, so a test can set up and check over it. ``password_file`` (see
    make_password_file) turns anonymous access off on every listener; ``acl_file`` (see
    make_acl_file) limits what each login may publish and subscribe to.
    """

    error = MosquittoServerError
    name = "mosquitto"

    def __init__(
        self,
        base_dir: Path | str | None = None,
        *,
        port: int | None = None,
        persistence: bool = True,
        password_file: Path | str | None = None,
        acl_file: Path | str | None = None,
        tls: TlsFilesLike | None = None,
        binary: str = "mosquitto",
        startup_timeout: float = STARTUP_TIMEOUT,
    ) -> None:
        # Debian installs the broker in /usr/sbin, which a non-root PATH may lack
        found = shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/usr/local/sbin")
        if found is None:
            raise MosquittoServerError(f"{binary!r} not found (Debian package mosquitto)")
        self.binary = found
        self._own_dir = base_dir is None
        self.base_dir = Path(base_dir or tempfile.mkdtemp(prefix="mosquitto-")).resolve()
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.persistence = persistence
        self.password_file = Path(password_file).resolve() if password_file is not None else None
        self.acl_file = Path(acl_file).resolve() if acl_file is not None else None
        self.tls = tls
        self.startup_timeout = startup_timeout
        self.host = "127.0.0.1"
        self.port = port or 0
        self.tls_port = 0
        ManagedProcess.__init__(self)

    # -- paths -----------------------------------------------------------------------

    @property
    def config_path(self) -> Path:
        return self.base_dir / "mosquitto.conf"

    @property
    def log_path(self) -> Path:
        return self.base_dir / "mosquitto.log"

    @property
    def data_dir(self) -> Path:
        """Where mosquitto.db is written (when persistence is on)."""
        return self.base_dir / "data"

    def _config_lines(self) -> list[str]:
        lines = [
            # as root mosquitto would switch to user "mosquitto", which cannot write our
            # temporary directory; as anyone else this line is ignored
            f"user {pwd.getpwuid(os.getuid()).pw_name}",
            f"listener {self.port} {self.host}",
        ]
        if self.tls is not None:
            lines += [
                f"listener {self.tls_port} {self.host}",
                f"cafile {Path(self.tls.ca).resolve()}",
                f"certfile {Path(self.tls.cert).resolve()}",
                f"keyfile {Path(self.tls.key).resolve()}",
            ]
        # without per_listener_settings these apply to every listener
        if self.password_file is not None:
            lines += ["allow_anonymous false", f"password_file {self.password_file}"]
        else:
            lines.append("allow_anonymous true")
        if self.acl_file is not None:
            lines.append(f"acl_file {self.acl_file}")
        if self.persistence:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            lines += [
                "persistence true",
                # with the trailing slash, as in Debian's own config: some releases join this
                # and the file name without a separator
                f"persistence_location {self.data_dir}/",
                # the default is 30 minutes: a SIGKILL would lose every queued message
                "autosave_interval 1",
            ]
        else:
            lines.append("persistence false")
        lines += [
            # past the default limit (1000 per client) the broker drops further QoS 1/2
            # messages for a disconnected subscriber without a log line, while the publisher
            # still gets its PUBACK; tests of "no sample lost across a collector outage" need
            # the broker to keep everything, memory permitting
            "max_queued_messages 0",
            # the default of 20 unacknowledged QoS 1/2 messages per subscriber caps a client
            # that acknowledges only after storing (as the collector does) at 20 per commit
            "max_inflight_messages 1000",
            f"log_dest file {self.log_path}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "log_timestamp_format %Y-%m-%dT%H:%M:%S",
        ]
        return lines

    def _write_config(self) -> None:
        self.config_path.write_text("\n".join(self._config_lines()) + "\n", encoding="utf-8")

    # -- lifecycle -------------------------------------------------------------------

    def _choose_ports(self) -> bool:
        # ports are chosen on the first start only, so clients can reconnect after a restart
        chosen = False
        if not self.port:
            self.port = free_port(self.host)
            chosen = True
        if self.tls is not None and not self.tls_port:
            self.tls_port = free_port(self.host)
            while self.tls_port == self.port:
                self.tls_port = free_port(self.host)
            chosen = True
        return chosen

    def _forget_ports(self) -> None:
        self.port = self.tls_port = 0

    def _command(self) -> list[str]:
        return [self.binary, "-c", str(self.config_path)]

    def _ports(self) -> list[int]:
        return [self.port] + ([self.tls_port] if self.tls is not None else [])

    def _probe(self) -> str | None:
        # mosquitto loads its database before it opens listeners, so a restored session is
        # in place once they accept; a TCP connect alone can reach whoever else holds a port
        # we thought free, so the line mosquitto logs once it runs is awaited too
        for port in self._ports():
            try:
                with socket.create_connection((self.host, port), timeout=0.5):
                    pass
            except OSError as exc:
                return f"port {port}: {exc}"
        return None if self._logged_running() else "no 'running' line in the log yet"

    def _logged_running(self) -> bool:
        try:
            with self.log_path.open("rb") as f:
                f.seek(self._log_offset)
                return b" running\n" in f.read()
        except FileNotFoundError:
            return False

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        where = f"{self.host}:{self.port}" if self.port else "unstarted"
        return f"<MosquittoServer {where} {state} dir={self.base_dir}>"
