"""Pure code of the assessor: no I/O, no clock of its own. KPIs (kpi/), levels (level/),
gains, baseline log parsing, report rendering, labels and the registry's models."""
