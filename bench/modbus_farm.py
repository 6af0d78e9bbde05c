"""Many simulated PLCs in one process, for benchmarks: one pymodbus TCP server per port.

Each server holds ``registers`` holding registers; every read bumps a counter register
and moves the others a little, so the collector decodes changing values.

    python bench/modbus_farm.py --first-port 21000 --count 125 --registers 30
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice


def _device(registers: int) -> SimDevice:
    async def on_access(func_code, start_address, address, count, regs, set_values):
        if set_values is None and count > 1:
            first = address - start_address
            regs[first] = (regs[first] + 1) & 0xFFFF
            regs[first + count - 1] = (regs[first + count - 1] + 7) & 0xFFFF
        return None

    values = [(i * 257) & 0xFFFF for i in range(registers)]
    return SimDevice(id=0, simdata=[SimData(0, values=values, datatype=DataType.REGISTERS)], action=on_access)


async def serve(first_port: int, count: int, registers: int) -> None:
    servers = []
    for port in range(first_port, first_port + count):
        server = ModbusTcpServer(_device(registers), address=("127.0.0.1", port))
        await server.serve_forever(background=True)
        servers.append(server)
    print(f"ready {count}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        for server in servers:
            await server.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--first-port", type=int, required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--registers", type=int, default=30)
    args = ap.parse_args()
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    asyncio.run(serve(args.first_port, args.count, args.registers))


if __name__ == "__main__":
    main()
