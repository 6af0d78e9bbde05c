"""`assessor` command line: serve, registry import, token create, baseline import, edge
provision, materialize, report."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from assessor.config import AssessorConfig, AssessorConfigError, load_assessor_config

if TYPE_CHECKING:
    from assessor.registry.store import RegistryStore

EXIT_OK, EXIT_REFUSED, EXIT_CONFIG = 0, 1, 2
#: the measurement store did not answer: worth trying again later, unlike a refusal
EXIT_UNAVAILABLE = 3


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="assessor", description="Smart-factory KPIs, levels and gains.")
    p.add_argument("--config", type=Path, help="assessor YAML (registry path, InfluxDB, listen address)")
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--config", type=Path, dest="config_sub")
    chk = sub.add_parser(
        "check", help="validate the config and the level rules it names; exit 2 if not valid"
    )
    chk.add_argument("--config", type=Path, dest="config_sub")
    reg = sub.add_parser("registry", help="factories, lines, machines, support projects")
    reg_sub = reg.add_subparsers(dest="action", required=True)
    imp = reg_sub.add_parser("import", help="import (upsert) factories from a YAML file")
    imp.add_argument("file", type=Path)
    imp.add_argument("--config", type=Path, dest="config_sub")
    tok = sub.add_parser("token", help="API tokens")
    tok_sub = tok.add_subparsers(dest="action", required=True)
    create = tok_sub.add_parser("create", help="create a token; it is printed once")
    create.add_argument("--role", choices=["operator", "factory", "line"], required=True)
    create.add_argument("--factory")
    create.add_argument("--label", default="")
    create.add_argument("--config", type=Path, dest="config_sub")
    base = sub.add_parser("baseline", help="manual daily production logs")
    base_sub = base.add_subparsers(dest="action", required=True)
    bimp = base_sub.add_parser("import", help="import a CSV/XLSX daily log (all rows or nothing)")
    bimp.add_argument("--factory", required=True)
    bimp.add_argument("file", type=Path)
    bimp.add_argument("--config", type=Path, dest="config_sub")
    edge = sub.add_parser("edge", help="edge boxes: a factory's own database and write-only credential")
    edge_sub = edge.add_subparsers(dest="action", required=True)
    prov = edge_sub.add_parser(
        "provision",
        help="create the factory's database (bucket) and a credential that writes only there; "
        "print the collector's site:/influx: block (the secret is shown once)",
    )
    prov.add_argument("--factory", required=True)
    prov.add_argument("--database", help="default: the registered one, else influx.raw_database")
    prov.add_argument("--writer", help="user name (1.x) or token description (2.x); default edge-<factory>")
    prov.add_argument("--edge-url", help="InfluxDB as the edge box reaches it; default influx.url")
    prov.add_argument("--line", default="line-1", help="site.line of the printed block")
    prov.add_argument("--revoke", action="store_true", help="take the factory's credential away (data stays)")
    prov.add_argument("--config", type=Path, dest="config_sub")
    mat = sub.add_parser("materialize", help="(re)compute daily KPIs into InfluxDB")
    mat.add_argument("--factory", required=True)
    mat.add_argument("--start", required=True, help="first local day, YYYY-MM-DD")
    mat.add_argument("--end", required=True, help="last local day, YYYY-MM-DD")
    mat.add_argument("--config", type=Path, dest="config_sub")
    _report_parser(sub)
    return p


def _report_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    rep = sub.add_parser("report", help="before/after report of a factory, or the portfolio report")
    rep_sub = rep.add_subparsers(dest="action", required=True)
    fac = rep_sub.add_parser("factory", help="one factory and support project (default: its latest)")
    fac.add_argument("--factory", required=True)
    fac.add_argument("--project", help="support project id; default: the factory's latest")
    port = rep_sub.add_parser("portfolio", help="every registered factory")
    for p in (fac, port):
        p.add_argument("--format", choices=["pdf", "csv"], default="pdf")
        p.add_argument("--lang", choices=["ko", "en"], default="ko")
        p.add_argument(
            "--output",
            help="a file, an existing directory, or DIR/ (created); default: the report's name here",
        )
        p.add_argument("--config", type=Path, dest="config_sub")


def _config(args: argparse.Namespace) -> AssessorConfig | None:
    path = getattr(args, "config_sub", None) or args.config
    if path is None:
        return AssessorConfig()
    try:
        return load_assessor_config(path)
    except AssessorConfigError as exc:
        print(f"{exc.source}: configuration is not valid:", file=sys.stderr)
        for e in exc.errors:
            print(f"  {e}", file=sys.stderr)
        return None


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    cfg = _config(args)
    if cfg is None:
        return EXIT_CONFIG
    if args.command == "check":
        return _check(cfg)
    cfg.registry.parent.mkdir(parents=True, exist_ok=True)
    if args.command == "serve":
        from assessor.server import serve

        return serve(cfg)
    if args.command == "registry":
        from assessor.registry.importer import import_command

        return import_command(args.file, cfg.registry)
    from assessor.registry.store import RegistryStore

    with RegistryStore(cfg.registry) as store:
        if args.command == "token":
            from assessor.services.auth import TokenError, create_token

            try:
                token = create_token(store, args.role, args.factory, args.label)
            except TokenError as exc:
                print(f"assessor: {exc}", file=sys.stderr)
                return EXIT_REFUSED
            print(token)
            return EXIT_OK
        if args.command == "baseline":
            return _baseline_import(store, args.factory, args.file)
        if args.command == "materialize":
            return asyncio.run(_materialize(cfg, store, args.factory, args.start, args.end))
        if args.command == "edge":
            return asyncio.run(_edge_provision(cfg, store, args))
        if args.command == "report":
            return asyncio.run(_report(cfg, store, args))
    return EXIT_CONFIG


def _check(cfg: AssessorConfig) -> int:
    from assessor.domain.level import RulesError, load_rules

    try:
        load_rules(cfg.level_rules)
    except RulesError as exc:
        print(f"{exc.source}: level rules are not valid:", file=sys.stderr)
        for e in exc.errors:
            print(f"  {e}", file=sys.stderr)
        return EXIT_CONFIG
    print(f"configuration is valid: InfluxDB {cfg.influx.url} ({cfg.influx.api}), registry {cfg.registry}")
    return EXIT_OK


def _baseline_import(store: object, factory_id: str, path: Path) -> int:
    from assessor.domain.baseline import BaselineError
    from assessor.registry.store import UnknownFactoryError
    from assessor.services.inputs import import_baseline

    try:
        rows = import_baseline(store, factory_id, path.read_bytes(), path.name)  # type: ignore[arg-type]
    except OSError as exc:
        print(f"{path}: cannot read: {exc.strerror}", file=sys.stderr)
        return EXIT_REFUSED
    except UnknownFactoryError:
        print(f"assessor: unknown factory {factory_id!r}", file=sys.stderr)
        return EXIT_REFUSED
    except BaselineError as exc:
        print(f"{path}: rejected, nothing stored ({len(exc.errors)} problem(s)):", file=sys.stderr)
        for e in exc.errors:
            print(f"  row {e.row}, column {e.column}: {e.message}", file=sys.stderr)
        return EXIT_REFUSED
    print(f"{path}: stored {len(rows)} daily row(s) for {factory_id} (source: manual)")
    return EXIT_OK


async def _materialize(cfg: AssessorConfig, store: object, factory_id: str, start: str, end: str) -> int:
    from assessor.data.daily_rows import day_start, ensure_retention_policy, materialise_days
    from assessor.data.influx_client import InfluxClient, factory_client
    from assessor.domain.kpi.calendar import local_days

    factory = store.factory(factory_id)  # type: ignore[attr-defined]
    if factory is None:
        print(f"assessor: unknown factory {factory_id!r}", file=sys.stderr)
        return EXIT_REFUSED
    first, last = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    days = local_days(
        factory.calendar.timezone, day_start(factory, first), day_start(factory, last + dt.timedelta(days=1))
    )
    client = InfluxClient(cfg.influx)
    try:
        await ensure_retention_policy(client, cfg.kpi.retention_policy)
        totals = await materialise_days(
            client,
            factory_client(client, factory),
            factory,
            days,
            cfg.kpi.hold_s,
            cfg.kpi.retention_policy,
            small_stop_s=cfg.kpi.small_stop_for(factory),
        )
    finally:
        await client.close()
    print(f"materialised {len(totals)} machine-day(s) of {factory_id}")
    return EXIT_OK


async def _edge_provision(cfg: AssessorConfig, store: RegistryStore, args: argparse.Namespace) -> int:
    from assessor.data.edge_provision import (
        ProvisionError,
        collector_block,
        default_writer,
        provision,
        revoke,
    )
    from assessor.data.influx_client import InfluxClient, InfluxError

    factory = store.factory(args.factory)
    if factory is None:
        print(f"assessor: unknown factory {args.factory!r} (import the registry first)", file=sys.stderr)
        return EXIT_REFUSED
    known = store.edge_storage(factory.id)
    client = InfluxClient(cfg.influx)
    try:
        if args.revoke:
            if known is None or known.revoked_at:
                print(f"assessor: {factory.id} has no credential to revoke", file=sys.stderr)
                return EXIT_REFUSED
            store.set_edge_storage(await revoke(client, known))
            print(f"revoked {known.writer!r}: it can no longer write to {known.database!r}", file=sys.stderr)
            return EXIT_OK
        database = args.database or (known.database if known else cfg.influx.raw_database_for(factory.id))
        writer = args.writer or (known.writer if known and known.writer else default_writer(factory.id))
        if known is not None and known.writer_id and not known.revoked_at:
            await revoke(client, known)  # 2.x: a new token replaces the old one
        done = await provision(client, factory.id, database, writer)
    except (ProvisionError, InfluxError, TimeoutError) as exc:
        print(f"assessor: cannot provision {factory.id} on {cfg.influx.url}: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    finally:
        await client.close()
    store.set_edge_storage(done.storage)
    print(
        f"provisioned {factory.id}: database {database!r}, writer {writer!r} (write-only, this database). "
        "The collector block below holds its secret; it is not shown again.",
        file=sys.stderr,
    )
    print(
        collector_block(
            factory.id,
            done,
            url=args.edge_url or cfg.influx.url,
            api=cfg.influx.api,
            org=cfg.influx.org,
            line=args.line,
        ),
        end="",
    )
    return EXIT_OK


async def _report(cfg: AssessorConfig, store: object, args: argparse.Namespace) -> int:
    from assessor.data.influx_client import InfluxClient, InfluxError
    from assessor.domain.level import RulesError, load_rules
    from assessor.domain.report.pdf_common import ReportFontError
    from assessor.services import AssessorService
    from assessor.services.reports import UnknownProjectError, factory_report, portfolio_report

    try:
        rules = load_rules(cfg.level_rules)
    except RulesError as exc:
        print(f"{exc.source}: level rules are not valid: {'; '.join(exc.errors)}", file=sys.stderr)
        return EXIT_CONFIG
    client = InfluxClient(cfg.influx)
    service = AssessorService(cfg, store, client, rules)  # type: ignore[arg-type]
    try:
        if args.action == "factory":
            factory = store.factory(args.factory)  # type: ignore[attr-defined]
            if factory is None:
                print(f"assessor: unknown factory {args.factory!r}", file=sys.stderr)
                return EXIT_REFUSED
            content, name, _ = await factory_report(service, factory, args.project, args.lang, args.format)
        else:
            factories = store.factories()  # type: ignore[attr-defined]
            content, name, _ = await portfolio_report(service, factories, args.lang, args.format)
    except UnknownProjectError as exc:
        known = ", ".join(p.id for p in factory.support_projects) or "none"
        print(f"assessor: {exc} (known: {known})", file=sys.stderr)
        return EXIT_REFUSED
    except (InfluxError, TimeoutError) as exc:
        print(f"assessor: cannot read InfluxDB at {cfg.influx.url}: {exc or 'timed out'}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except ReportFontError as exc:
        print(f"assessor: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    finally:
        await client.close()
    return _write_report(content, name, args.output)


def _write_report(content: bytes, name: str, raw: str | None) -> int:
    """``raw``: a file, an existing directory, or a directory to create when written with
    a trailing slash (``reports/``); None: the report's own name here."""
    output = None if raw is None else Path(raw)
    path = Path(name) if output is None else output
    try:
        if output is not None and raw is not None and raw.endswith(("/", os.sep)):
            output.mkdir(parents=True, exist_ok=True)
        if output is not None and output.is_dir():
            path = output / name
        path.write_bytes(content)
    except OSError as exc:
        print(f"{path}: cannot write: {exc.strerror}", file=sys.stderr)
        return EXIT_REFUSED
    print(path)
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
