"""Modbus (TCP, RTU, RTU over TCP) read path: types, decoding, read planning, polling."""
