"""Data access of the assessor: InfluxDB (raw signals, materialised daily rows, window
sums, data health) and its query language. The registry store is assessor.registry."""
