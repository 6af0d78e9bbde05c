"""A real InfluxDB 1.x server (Debian's ``influxd``) run as a subprocess for tests.

Everything the server writes lives in one temporary directory, it listens on loopback
ports nobody else uses, and it never phones home. The helpers here talk to it with the
standard library only, so they work from sync and async tests alike (they block, so do
not point them at a proxy served by the same event loop).
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import socket
import ssl
import subprocess
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localservices.process import ManagedProcess

HttpValue = str | int | bool

STARTUP_TIMEOUT = 20.0


class InfluxServerError(RuntimeError):
    """The server did not start, or a query failed."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port the kernel has just handed out; another process could still take it before
    influxd binds it, which start() detects and retries."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def quote_ident(name: str) -> str:
    """An InfluxQL double-quoted identifier (measurement, tag or field key, database)."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def quote_string(value: str) -> str:
    """An InfluxQL single-quoted string literal (tag values in WHERE)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


def _toml_value(value: HttpValue | Path) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    # JSON string escaping is valid TOML basic-string escaping
    return json.dumps(str(value))


def _parse_int(text: str) -> int | float:
    # the server writes a float -0.0 as "-0"; keep its sign (integers have no -0)
    return -0.0 if text == "-0" else int(text)


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    """PEM certificate of the test CA: what a client's ca_bundle points to"""
    cert: Path
    """server certificate for 127.0.0.1 and localhost, signed by the CA"""
    key: Path

    def https_settings(self) -> dict[str, HttpValue | Path]:
        """[http] settings that make an InfluxServer serve https with these files."""
        return {
            "https-enabled": True,
            "https-certificate": self.cert,
            "https-private-key": self.key,
        }


def make_tls_files(directory: Path | str, *, days: int = 2) -> TlsFiles:
    """A throwaway CA and a server certificate for 127.0.0.1/localhost (openssl CLI)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    ca_key, ca, key, csr, cert = (
        d / n for n in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem")
    )
    ext = d / "server.ext"
    ext.write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
        encoding="ascii",
    )
    steps = [
        [
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            ca_key,
            "-out",
            ca,
            "-days",
            str(days),
            "-subj",
            "/CN=factorylens test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
        [
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            key,
            "-out",
            csr,
            "-subj",
            "/CN=127.0.0.1",
        ],
        [
            "x509",
            "-req",
            "-in",
            csr,
            "-CA",
            ca,
            "-CAkey",
            ca_key,
            "-CAcreateserial",
            "-out",
            cert,
            "-days",
            str(days),
            "-extfile",
            ext,
        ],
    ]
    for args in steps:
        done = subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"openssl {args[0]} failed: {done.stderr.strip()}")
    return TlsFiles(ca=ca, cert=cert, key=key)


class InfluxServer(ManagedProcess):
    """One influxd process with its own config, data and ports.

    ``http`` adds or overrides keys of the ``[http]`` section, for example
    ``{"max-body-size": 4096}``, ``{"auth-enabled": True}`` or
    ``{"https-enabled": True, "https-certificate": "/x/cert.pem", "https-private-key": ...}``.
    """

    error = InfluxServerError
    name = "influxd"

    def __init__(
        self,
        base_dir: Path | str | None = None,
        *,
        http: Mapping[str, HttpValue | Path] | None = None,
        binary: str = "influxd",
        startup_timeout: float = STARTUP_TIMEOUT,
    ) -> None:
        found = shutil.which(binary)
        if found is None:
            raise InfluxServerError(f"{binary!r} not found on PATH (Debian package influxdb)")
        self.binary = found
        self._own_dir = base_dir is None
        self.base_dir = Path(base_dir or tempfile.mkdtemp(prefix="influxd-")).resolve()
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.http_settings: dict[str, HttpValue | Path] = dict(http or {})
        self.startup_timeout = startup_timeout
        self.host = "127.0.0.1"
        self.http_port = 0
        self.rpc_port = 0
        ManagedProcess.__init__(self)
        self._credentials: tuple[str, str] | None = None
        self._ssl_context: ssl.SSLContext | None = None

    # -- paths and settings -------------------------------------------------------

    @property
    def config_path(self) -> Path:
        return self.base_dir / "influxdb.conf"

    @property
    def log_path(self) -> Path:
        return self.base_dir / "influxd.log"

    @property
    def https(self) -> bool:
        return bool(self.http_settings.get("https-enabled", False))

    @property
    def url(self) -> str:
        if not self.http_port:
            raise InfluxServerError("server has not been started")
        scheme = "https" if self.https else "http"
        return f"{scheme}://{self.host}:{self.http_port}"

    def use_credentials(self, username: str, password: str) -> None:
        """Basic auth for the helper methods (after create_user on an auth-enabled server)."""
        self._credentials = (username, password)

    def use_ssl_context(self, context: ssl.SSLContext) -> None:
        """What the helpers verify an https server with; by default they do not verify it,
        since they only check and read what the code under test wrote."""
        self._ssl_context = context

    def _write_config(self) -> None:
        http: dict[str, HttpValue | Path] = {
            "enabled": True,
            "bind-address": f"{self.host}:{self.http_port}",
            "auth-enabled": False,
            "log-enabled": False,
            "suppress-write-log": True,
            "pprof-enabled": False,
            "unix-socket-enabled": False,
            "https-enabled": False,
        }
        http.update(self.http_settings)
        d = self.base_dir
        sections: dict[str, dict[str, HttpValue | Path]] = {
            "meta": {"dir": d / "meta", "logging-enabled": False},
            "data": {
                "dir": d / "data",
                "wal-dir": d / "wal",
                "query-log-enabled": False,
                "index-version": "inmem",
            },
            "monitor": {"store-enabled": False},
            "subscriber": {"enabled": False},
            "continuous_queries": {"log-enabled": False},
            "http": http,
            "logging": {"level": "warn", "suppress-logo": True},
        }
        lines = [
            "reporting-disabled = true",
            f'bind-address = "{self.host}:{self.rpc_port}"',
            "",
        ]
        for name, values in sections.items():
            lines.append(f"[{name}]")
            lines.extend(f"  {key} = {_toml_value(v)}" for key, v in values.items())
            lines.append("")
        self.config_path.write_text("\n".join(lines), encoding="utf-8")

    # -- lifecycle -------------------------------------------------------------------

    def _choose_ports(self) -> bool:
        if self.http_port:
            return False
        self.http_port = free_port(self.host)
        self.rpc_port = free_port(self.host)
        while self.rpc_port == self.http_port:
            self.rpc_port = free_port(self.host)
        return True

    def _forget_ports(self) -> None:
        self.http_port = self.rpc_port = 0

    def _command(self) -> list[str]:
        return [self.binary, "run", "-config", str(self.config_path)]

    def _probe(self) -> str | None:
        try:
            status, _, _ = self._request("GET", "/ping", timeout=1.0)
        except (OSError, urllib.error.URLError) as exc:
            return str(exc)
        return None if status == 204 else f"/ping answered {status}"

    # -- HTTP helpers ------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
        timeout: float = 30.0,
        auth: tuple[str, str] | None = None,
    ) -> tuple[int, bytes, Mapping[str, str]]:
        url = self.url + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        req = urllib.request.Request(url, data=body, method=method)
        login = auth or self._credentials
        if login is not None:
            token = base64.b64encode(":".join(login).encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        if body is not None and method == "POST" and path == "/query":
            req.add_header("Content-Type", "application/x-www-form-urlencoded")
        context = self._ssl_context
        if context is None and self.https:
            context = ssl._create_unverified_context()
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=context) as resp:
                return resp.status, resp.read(), dict(resp.headers)
        except urllib.error.HTTPError as err:
            return err.code, err.read(), dict(err.headers)

    def ping(self) -> bool:
        try:
            return self._request("GET", "/ping", timeout=2.0)[0] == 204
        except (OSError, urllib.error.URLError):
            return False

    def query(self, q: str, db: str | None = None, *, epoch: str = "ns") -> list[dict[str, Any]]:
        """Run InfluxQL; returns the ``results`` list (one dict per statement).

        Raises InfluxServerError for an HTTP error or an error in any statement.
        SELECT and SHOW go as GET, everything else as POST (1.x refuses writes over GET).
        """
        params = {"q": q, "epoch": epoch}
        if db is not None:
            params["db"] = db
        read_only = q.lstrip().upper().startswith(("SELECT", "SHOW"))
        if read_only:
            status, raw, _ = self._request("GET", "/query", params)
        else:
            form = urllib.parse.urlencode(params).encode()
            status, raw, _ = self._request("POST", "/query", body=form)
        try:
            parsed = json.loads(raw, parse_int=_parse_int) if raw else {}
        except ValueError:
            parsed = {"error": raw.decode(errors="replace")}
        if status != 200 or "error" in parsed:
            raise InfluxServerError(f"query {q!r} -> HTTP {status}: {parsed.get('error', raw)!r}")
        results: list[dict[str, Any]] = parsed.get("results", [])
        for r in results:
            if "error" in r:
                raise InfluxServerError(f"query {q!r}: {r['error']}")
        return results

    def write(
        self,
        lines: bytes | str | Iterable[bytes | str],
        db: str,
        *,
        precision: str = "ns",
        rp: str | None = None,
        auth: tuple[str, str] | None = None,
    ) -> tuple[int, str]:
        """POST line protocol to /write; returns (status, error text). Does not raise.
        ``auth`` (user, password) writes as that login instead of use_credentials' one."""
        if isinstance(lines, str):
            body = lines.encode()
        elif isinstance(lines, bytes):
            body = lines
        else:
            body = b"\n".join(x.encode() if isinstance(x, str) else x for x in lines)
        params = {"db": db, "precision": precision}
        if rp:
            params["rp"] = rp
        status, raw, _ = self._request("POST", "/write", params, body, auth=auth)
        text = raw.decode(errors="replace")
        with contextlib.suppress(ValueError, AttributeError):
            text = json.loads(raw).get("error", text)
        return status, text

    def create_user(self, name: str, password: str, *, admin: bool = True) -> None:
        """CREATE USER; the first one may be created on an auth-enabled server without
        credentials, and must be an admin there."""
        q = f"CREATE USER {quote_ident(name)} WITH PASSWORD {quote_string(password)}"
        self.query(q + (" WITH ALL PRIVILEGES" if admin else ""))

    def create_database(self, name: str) -> str:
        self.query(f"CREATE DATABASE {quote_ident(name)}")
        return name

    def drop_database(self, name: str) -> None:
        self.query(f"DROP DATABASE {quote_ident(name)}")

    def databases(self) -> list[str]:
        return [row[0] for row in self._rows(self.query("SHOW DATABASES"))]

    def measurements(self, db: str) -> list[str]:
        return [row[0] for row in self._rows(self.query("SHOW MEASUREMENTS", db))]

    def field_types(self, measurement: str, db: str) -> dict[str, str]:
        """Field key -> InfluxDB type ("float", "integer", "string", "boolean")."""
        res = self.query(f"SHOW FIELD KEYS FROM {quote_ident(measurement)}", db)
        return {row[0]: row[1] for row in self._rows(res)}

    def points(self, measurement: str, db: str, where: str | None = None) -> list[dict[str, Any]]:
        """All rows of a measurement (tags and fields as columns, ``time`` in ns), time order."""
        q = f"SELECT * FROM {quote_ident(measurement)}"
        if where:
            q += f" WHERE {where}"
        rows: list[dict[str, Any]] = []
        for result in self.query(q, db):
            for series in result.get("series", []):
                cols = series["columns"]
                rows.extend(dict(zip(cols, values, strict=True)) for values in series["values"])
        rows.sort(key=lambda r: r["time"])
        return rows

    def count(self, measurement: str, db: str) -> int:
        """Stored points (rows) of a measurement: one per series and timestamp."""
        return len(self.points(measurement, db))

    def count_field(self, measurement: str, field: str, db: str) -> int:
        """Stored values of one field (server-side COUNT)."""
        res = self.query(f"SELECT COUNT({quote_ident(field)}) FROM {quote_ident(measurement)}", db)
        rows = self._rows(res)
        return int(rows[0][1]) if rows else 0

    @staticmethod
    def _rows(results: list[dict[str, Any]]) -> list[list[Any]]:
        out: list[list[Any]] = []
        for result in results:
            for series in result.get("series", []):
                out.extend(series.get("values", []))
        return out

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        where = f"{self.host}:{self.http_port}" if self.http_port else "unstarted"
        return f"<InfluxServer {where} {state} dir={self.base_dir}>"
