"""A read-only Modbus connection with reconnect backoff and busy retries.

This wrapper is the only place the collector talks to pymodbus. It exposes reads and
nothing else, so no code path of the collector can send a write function code to a PLC.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException
from pymodbus.framer import FramerType

from collector.clock import now_ns
from collector.modbus.backoff import Backoff
from collector.modbus.config import DeviceConfig
from collector.modbus.datatypes import READ_FUNCTION_CODES, Area
from collector.modbus.tcp_transport import ExceptionReply, FrameError, ModbusTcpReader

log = logging.getLogger(__name__)

ILLEGAL_ADDRESS = 2
DEVICE_BUSY = 6
#: a gateway answers these for the device behind it: the device itself did not answer
GATEWAY_PATH_UNAVAILABLE = 0x0A
GATEWAY_TARGET_NO_RESPONSE = 0x0B


class ModbusReadError(Exception):
    """A read that gave no data. ``kind`` is the metric label."""

    kind = "error"


class ModbusExceptionResponse(ModbusReadError):
    kind = "exception"

    def __init__(self, code: int, what: str, requested_at_ns: int | None = None):
        self.code = code
        #: wall-clock time the request that got this answer was sent, ns
        self.requested_at_ns = requested_at_ns
        super().__init__(f"{what}: Modbus exception {code}")

    @property
    def answered_at_ns(self) -> int | None:
        """The request time, if this answer came from the device itself (which proves its
        path alive); None for a gateway reporting that the device did not answer."""
        if self.code in (GATEWAY_PATH_UNAVAILABLE, GATEWAY_TARGET_NO_RESPONSE):
            return None
        return self.requested_at_ns


class IllegalAddress(ModbusExceptionResponse):
    kind = "illegal_address"


class DeviceBusy(ModbusExceptionResponse):
    kind = "busy"


class NotConnected(ModbusReadError):
    kind = "connect"


class ReadTimeout(ModbusReadError):
    kind = "timeout"


def endpoint_key(dev: DeviceConfig) -> tuple[str, str]:
    """Devices with the same key share one connection (a gateway, a serial bus)."""
    if dev.transport == "rtu":
        assert dev.serial is not None
        return ("rtu", dev.serial.device)
    return (dev.transport, f"{dev.host}:{dev.port}")


def _make_client(dev: DeviceConfig) -> ModbusTcpReader | AsyncModbusTcpClient | AsyncModbusSerialClient:
    if dev.transport == "tcp":
        assert dev.host is not None
        return ModbusTcpReader(dev.host, dev.port, dev.timeout)
    return _make_pymodbus_client(dev)


def _make_pymodbus_client(dev: DeviceConfig) -> AsyncModbusTcpClient | AsyncModbusSerialClient:
    # pymodbus's own reconnect loop and retries are off: this module decides when to
    # reconnect (with jitter), and a timed-out request is never silently repeated.
    if dev.transport == "rtu":
        assert dev.serial is not None
        return AsyncModbusSerialClient(
            dev.serial.device,
            framer=FramerType.RTU,
            baudrate=dev.serial.baudrate,
            parity=dev.serial.parity,
            stopbits=dev.serial.stopbits,
            bytesize=dev.serial.bytesize,
            timeout=dev.timeout,
            retries=0,
            reconnect_delay=0,
        )
    framer = FramerType.RTU if dev.transport == "rtu-over-tcp" else FramerType.SOCKET
    assert dev.host is not None
    return AsyncModbusTcpClient(
        dev.host, port=dev.port, framer=framer, timeout=dev.timeout, retries=0, reconnect_delay=0
    )


@dataclass
class ReadResult:
    values: list[Any]
    #: wall-clock time the request was sent, ns
    requested_at_ns: int


class ModbusEndpoint:
    """One connection to a TCP server or serial bus; one request in flight at a time."""

    def __init__(
        self,
        dev: DeviceConfig,
        *,
        make_client: Callable[[DeviceConfig], object] = _make_client,
        rng: random.Random | None = None,
        on_reconnect: Callable[[], None] | None = None,
    ) -> None:
        self.name = "/".join(endpoint_key(dev))
        self._dev = dev
        self._make_client = make_client
        self._client: ModbusTcpReader | AsyncModbusTcpClient | AsyncModbusSerialClient | None = None
        self._lock = asyncio.Lock()
        self._backoff = Backoff(dev.reconnect_min, dev.reconnect_max, rng or random.Random())
        self._next_attempt = 0.0
        self._ever_connected = False
        self._on_reconnect = on_reconnect
        self._last_request = 0.0

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.connected

    async def read(self, area: Area, start: int, count: int, unit: int) -> ReadResult:
        """Read one block; raises a ModbusReadError subclass when no data came back."""
        async with self._lock:
            client = await self._ensure_connected()
            dev = self._dev
            what = f"{self.name} unit {unit} {area.value} {start}+{count}"
            for attempt in range(dev.busy_retries + 1):
                await self._pace()
                requested_at_ns = now_ns()  # never steps back (collector/clock.py)
                try:
                    values = await self._send(client, area, start, count, unit)
                except ExceptionReply as exc:
                    if exc.code == DEVICE_BUSY and attempt < dev.busy_retries:
                        await asyncio.sleep(dev.busy_retry_delay)
                        continue
                    if exc.code == ILLEGAL_ADDRESS:
                        raise IllegalAddress(exc.code, what, requested_at_ns) from None
                    if exc.code == DEVICE_BUSY:
                        raise DeviceBusy(exc.code, what, requested_at_ns) from None
                    raise ModbusExceptionResponse(exc.code, what, requested_at_ns) from None
                except (TimeoutError, ModbusException, OSError, FrameError) as exc:
                    # A late answer to a timed-out request could be taken for the next
                    # one: drop the connection rather than risk mismatched data.
                    self._drop(f"{type(exc).__name__}: {exc}")
                    raise ReadTimeout(f"{what}: {exc}") from exc
                # reset only on an answer: a device that accepts connections but never
                # answers must not be reconnected to at the minimum delay forever
                self._backoff.reset()
                return ReadResult(values, requested_at_ns)
            raise AssertionError("unreachable")

    async def _send(self, client: object, area: Area, start: int, count: int, unit: int) -> list[Any]:
        """Only the four read functions (codes 1-4) are ever sent."""
        if isinstance(client, ModbusTcpReader):
            return await client.read(READ_FUNCTION_CODES[area], unit, start, count)
        if area is Area.HOLDING:
            response = await client.read_holding_registers(start, count=count, device_id=unit)  # type: ignore[attr-defined]
        elif area is Area.INPUT:
            response = await client.read_input_registers(start, count=count, device_id=unit)  # type: ignore[attr-defined]
        elif area is Area.COIL:
            response = await client.read_coils(start, count=count, device_id=unit)  # type: ignore[attr-defined]
        else:
            response = await client.read_discrete_inputs(start, count=count, device_id=unit)  # type: ignore[attr-defined]
        if response.isError():
            raise ExceptionReply(getattr(response, "exception_code", 0))
        return list(response.bits[:count] if area.is_bit else response.registers[:count])

    async def _pace(self) -> None:
        pause = self._dev.request_pause
        if pause > 0:
            wait = self._last_request + pause - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._last_request = time.monotonic()

    async def _ensure_connected(self) -> object:
        if self._client is not None and self._client.connected:
            return self._client
        now = time.monotonic()
        if now < self._next_attempt:
            raise NotConnected(f"{self.name}: not connected, next attempt in {self._next_attempt - now:.1f}s")
        if self._client is None:
            self._client = self._make_client(self._dev)  # type: ignore[assignment]
        assert self._client is not None
        try:
            ok = await asyncio.wait_for(self._client.connect(), timeout=self._dev.timeout + 1)
        except (TimeoutError, ModbusException, OSError) as exc:
            ok = False
            log.debug("%s: connect failed: %s", self.name, exc)
        if not ok:
            self._drop("connect failed")
            raise NotConnected(f"{self.name}: cannot connect")
        if self._ever_connected and self._on_reconnect is not None:
            self._on_reconnect()
        if self._ever_connected:
            log.info("%s: reconnected", self.name)
        self._ever_connected = True
        if self._dev.connect_pause > 0:
            await asyncio.sleep(self._dev.connect_pause)
        return self._client

    def _drop(self, why: str) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        delay = self._backoff.next_delay()
        self._next_attempt = time.monotonic() + delay
        log.warning("%s: connection down (%s); retry in %.1fs", self.name, why, delay)

    async def close(self) -> None:
        async with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
