"""The simulated Sparkplug B edge node reports by exception, as real nodes do."""

from __future__ import annotations

from collector.mqtt.sparkplug import SparkplugTracker
from collector.mqtt.sparkplug_codec import decode_payload, metric_value
from simulator.sparkplug_node import OnChangeEdgeNode


def metrics(payload: bytes) -> dict[str, object]:
    return {m.name: metric_value(m) for m in decode_payload(payload).metrics}


def test_birth_carries_every_metric_and_data_only_what_changed() -> None:
    node = OnChangeEdgeNode("g", "n", deadbands={"energy_kwh": 0.1})
    birth = node.birth(1000, {"press": {"state": "RUN", "count_total": 5, "energy_kwh": 1.0}})
    assert [t for t, _ in birth] == ["spBv1.0/g/NBIRTH/n", "spBv1.0/g/DBIRTH/n/press"]
    assert metrics(birth[0][1]) == {"bdSeq": 0}
    assert metrics(birth[1][1]) == {"state": "RUN", "count_total": 5, "energy_kwh": 1.0}
    assert node.changes("press", 2000, {"state": "RUN", "count_total": 5, "energy_kwh": 1.05}) is None
    topic, body = node.changes("press", 3000, {"state": "IDLE", "count_total": 5, "energy_kwh": 1.2}) or (
        "",
        b"",
    )
    assert topic == "spBv1.0/g/DDATA/n/press"
    assert metrics(body) == {"state": "IDLE", "energy_kwh": 1.2}
    decoded = decode_payload(body)
    assert decoded.seq == 2 and all(m.timestamp == 3000 for m in decoded.metrics)


def test_the_collectors_tracker_accepts_the_sequence_and_sees_the_will_as_a_death() -> None:
    node = OnChangeEdgeNode("g", "n")
    tracker = SparkplugTracker()
    messages = node.birth(1000, {"press": {"state": "RUN", "count_total": 1}})
    for i in range(2, 300):  # past the 0-255 wrap of seq
        msg = node.changes("press", 1000 + i, {"state": "RUN", "count_total": i})
        assert msg is not None
        messages.append(msg)
    for topic, body in messages:
        out = tracker.handle(topic, body, 0)
        assert not out.problems and not out.rebirth_topics, (topic, out)
    will_topic, will = node.will()
    out = tracker.handle(will_topic, will, 5)
    assert ("g", "n", "press", 5) in out.offline
