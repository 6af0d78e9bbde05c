"""Debian's influxd and mosquitto run as child processes with their data in one folder:
for the local demo (no Docker) and for the test fixtures."""
