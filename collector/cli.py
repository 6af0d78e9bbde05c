"""`collector` command line: check, test, run (the simulated machines have their own: `simulator`)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from collector.config import CollectorConfig, ConfigError, load_config
from collector.modbus.config import DeviceConfig, RegisterConfig

EXIT_OK = 0
EXIT_UNDELIVERED = 1
EXIT_CONFIG = 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="collector", description="Machine data from PLCs into InfluxDB.")
    sub = p.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="validate a configuration without connecting")
    check.add_argument("--config", required=True, type=Path)
    check.add_argument("--plan", action="store_true", help="print the Modbus requests planned per device")
    test = sub.add_parser(
        "test", help="read every Modbus device once and print the line protocol; stores nothing"
    )
    test.add_argument("--config", required=True, type=Path)
    run = sub.add_parser("run", help="collect until SIGTERM/SIGINT")
    run.add_argument("--config", required=True, type=Path)
    run.add_argument("--once", action="store_true", help="poll every device once, deliver, exit")
    return p


def _load(path: Path) -> CollectorConfig | None:
    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"{exc.source}: configuration is not valid:", file=sys.stderr)
        for line in exc.errors:
            print(f"  {line}", file=sys.stderr)
        return None


def cmd_check(path: Path, show_plan: bool) -> int:
    cfg = _load(path)
    if cfg is None:
        return EXIT_CONFIG
    from collector.modbus.planner import device_plan, device_spans, minimum_requests

    total_regs = total_reqs = total_min = 0
    for dev in cfg.modbus.devices:
        reqs = device_plan(dev)
        total_regs += len(dev.registers)
        total_reqs += len(reqs)
        total_min += minimum_requests(device_spans(dev))
        if show_plan:
            print(
                f"{cfg.line_of(dev)}/{dev.machine} ({dev.transport} unit {dev.unit}; "
                f"on-change values stored again at least every {_seconds(dev.refresh)}):"
            )
            for r in reqs:
                names = ", ".join(_planned_register(dev, dev.registers[s.index]) for s in r.spans)
                print(f"  {r.area.value:8} {r.start:5}+{r.count:<4} {names}")
    print(
        f"{path}: OK: {len(cfg.modbus.devices)} device(s), {total_regs} register(s), "
        f"{total_reqs} request(s) per poll (minimum {total_min})"
    )
    return EXIT_OK


def _planned_register(dev: DeviceConfig, reg: RegisterConfig) -> str:
    """``name [store mode]`` as the plan shows it, with the deadband if there is one."""
    mode = dev.store_of(reg)
    if reg.deadband:
        mode += f", deadband {reg.deadband:g}"
    return f"{reg.name} [{mode}]"


def _seconds(value: float) -> str:
    for unit, size in (("h", 3600.0), ("m", 60.0)):
        if value >= size and value % size == 0:
            return f"{value / size:g}{unit}"
    return f"{value:g}s"


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # pymodbus logs every failed connect at error level; our own log says it once, with backoff.
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


async def _run(cfg: CollectorConfig, once: bool) -> int:
    from collector.runtime import Collector

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    result = await Collector(cfg).run(stop, once=once)
    return EXIT_OK if result.delivered_all or not once else EXIT_UNDELIVERED


def cmd_run(path: Path, once: bool) -> int:
    from collector.runtime import StartupError

    cfg = _load(path)
    if cfg is None:
        return EXIT_CONFIG
    _setup_logging(cfg.log.level)
    try:
        return asyncio.run(_run(cfg, once))
    except StartupError as exc:
        print(f"{path}: cannot start: {exc}", file=sys.stderr)
        return EXIT_CONFIG


def cmd_test(path: Path) -> int:
    """Exit 0 when every device answered every planned request, 1 otherwise (the reasons on
    stderr): a commissioning check, so a hole in the register map is a failure here."""
    cfg = _load(path)
    if cfg is None:
        return EXIT_CONFIG
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    from collector.probe import read_each_once

    out = sys.stdout.buffer
    readings = asyncio.run(read_each_once(cfg, lambda point: out.write(point + b"\n")))
    out.flush()
    for r in readings:
        if not r.clean:
            problems = ", ".join(sorted(set(r.stats.errors))) or "no request planned"
            print(
                f"{r.line}/{r.machine}: {r.stats.answered} of {r.stats.requests} request(s) answered "
                f"with data or an exception; problems: {problems}",
                file=sys.stderr,
            )
    if cfg.mqtt is not None and cfg.mqtt.subscriptions:
        print("MQTT subscriptions are not sampled by `collector test` (see docs/configuration.md)",
              file=sys.stderr)
    return EXIT_OK if all(r.clean for r in readings) else EXIT_UNDELIVERED


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "check":
        return cmd_check(args.config, args.plan)
    if args.command == "test":
        return cmd_test(args.config)
    if args.command == "run":
        return cmd_run(args.config, args.once)
    return EXIT_CONFIG


if __name__ == "__main__":
    raise SystemExit(main())
