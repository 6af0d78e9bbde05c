"""Shared fixtures: real influxd, mosquitto and pymodbus servers, started per session or test."""

pytest_plugins = [
    "tests.support.influxd_fixtures",
    "tests.support.modbus_fixtures",
    "tests.support.mosquitto_fixtures",
    "tests.support.assessor_env",
]
