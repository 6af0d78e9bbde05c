"""Edge collector: Modbus and MQTT machine data into InfluxDB, without loss."""

__version__ = "0.1.0"
