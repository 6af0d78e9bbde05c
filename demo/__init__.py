"""The local demo: a whole simulated plant on this machine, without Docker
(``python -m demo``; docs/demo.md). Debian's influxd and mosquitto come from
``localservices``, the machines from ``simulator``."""
