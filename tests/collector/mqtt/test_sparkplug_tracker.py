"""SparkplugTracker: births, aliases, sequence gaps, rebirth requests, deaths, timestamps."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from collector.mqtt.sparkplug import (
    REBIRTH_INTERVAL_NS,
    SparkplugOutcome,
    SparkplugSample,
    SparkplugTracker,
    rebirth_payload,
)
from collector.mqtt.sparkplug_codec import (
    DataType,
    Metric,
    Payload,
    decode_payload,
    encode_payload,
    make_metric,
    metric_value,
)

G, N = "plant", "edge1"
NCMD = f"spBv1.0/{G}/NCMD/{N}"
T0 = 1_700_000_000_000  # ms
SEC = 1_000_000_000
ARRIVAL = T0 * 1_000_000 + 500 * 1_000_000  # ns, half a second after T0


def msg(*metrics: Metric, seq: int | None, ts: int | None = T0) -> bytes:
    return encode_payload(Payload(timestamp=ts, metrics=metrics, seq=seq))


def nbirth(seq: int = 0, bd_seq: int = 0, **extra: Metric) -> bytes:
    return msg(
        make_metric(DataType.UInt64, bd_seq, name="bdSeq", timestamp=T0),
        make_metric(DataType.Boolean, False, name="Node Control/Rebirth", alias=100, timestamp=T0),
        make_metric(DataType.String, "X1", name="Properties/Hardware Make", alias=101, timestamp=T0),
        make_metric(DataType.Double, 20.5, name="Temperature", alias=1, timestamp=T0),
        make_metric(DataType.Int8, -3, name="Offset", alias=2, timestamp=T0),
        *extra.values(),
        seq=seq,
    )


def dbirth(seq: int = 1) -> bytes:
    return msg(
        make_metric(DataType.Boolean, True, name="Running", alias=10, timestamp=T0),
        make_metric(DataType.UInt32, 7, name="Count", alias=11, timestamp=T0),
        seq=seq,
    )


def by_alias(alias: int, datatype: DataType, value: object, ts: int | None = None) -> Metric:
    """A DATA metric as edge nodes send it: alias and value, no name, no datatype."""
    return replace(make_metric(datatype, value, alias=alias, timestamp=ts), datatype=None)  # type: ignore[arg-type]


def ndeath(bd_seq: int = 0) -> bytes:
    return encode_payload(Payload(metrics=(make_metric(DataType.UInt64, bd_seq, name="bdSeq"),)))


def born(tracker: SparkplugTracker | None = None, *, devices: bool = True) -> SparkplugTracker:
    tracker = tracker or SparkplugTracker()
    out = tracker.handle(f"spBv1.0/{G}/NBIRTH/{N}", nbirth(), ARRIVAL)
    assert out.problems == [] and out.rebirth_topics == []
    if devices:
        out = tracker.handle(f"spBv1.0/{G}/DBIRTH/{N}/press", dbirth(1), ARRIVAL)
        assert out.problems == [] and out.rebirth_topics == []
    return tracker


def ndata(tracker: SparkplugTracker, *metrics: Metric, seq: int, arrival: int = ARRIVAL) -> SparkplugOutcome:
    return tracker.handle(f"spBv1.0/{G}/NDATA/{N}", msg(*metrics, seq=seq), arrival)


def test_births_are_current_values_without_control_metrics() -> None:
    tracker = SparkplugTracker()
    out = tracker.handle(f"spBv1.0/{G}/NBIRTH/{N}", nbirth(), ARRIVAL)
    assert out == SparkplugOutcome(
        samples=[SparkplugSample(G, N, None, {"Temperature": 20.5, "Offset": -3}, T0 * 1_000_000)]
    )
    out = tracker.handle(f"spBv1.0/{G}/DBIRTH/{N}/press", dbirth(1), ARRIVAL)
    assert out.samples == [SparkplugSample(G, N, "press", {"Running": True, "Count": 7}, T0 * 1_000_000)]
    assert out.rebirth_topics == out.problems == []


def test_data_by_alias_uses_names_and_datatypes_from_the_birth() -> None:
    tracker = born()
    out = ndata(tracker, by_alias(1, DataType.Double, 21.0), by_alias(2, DataType.Int8, -128), seq=2)
    assert out == SparkplugOutcome(
        samples=[SparkplugSample(G, N, None, {"Temperature": 21.0, "Offset": -128}, T0 * 1_000_000)]
    )
    out = tracker.handle(
        f"spBv1.0/{G}/DDATA/{N}/press",
        msg(by_alias(11, DataType.UInt32, 2**32 - 1), by_alias(10, DataType.Boolean, False), seq=3),
        ARRIVAL,
    )
    assert out.samples == [
        SparkplugSample(G, N, "press", {"Count": 2**32 - 1, "Running": False}, T0 * 1_000_000)
    ]
    assert out.rebirth_topics == out.problems == []


def test_signed_integers_from_two_complement() -> None:
    tracker = born(devices=False)
    # Int8 -5 as the reference implementation writes it (sign-extended to 32 bits) ...
    raw = Metric(alias=2, int_value=0xFFFFFFFB)
    assert ndata(tracker, raw, seq=1).samples[0].metrics == {"Offset": -5}
    # ... and as some devices write it (8-bit two's complement)
    raw = Metric(alias=2, int_value=0xFB)
    assert ndata(tracker, raw, seq=2).samples[0].metrics == {"Offset": -5}


def test_timestamp_precedence_metric_then_payload_then_arrival() -> None:
    tracker = born(devices=False)
    out = tracker.handle(
        f"spBv1.0/{G}/NDATA/{N}",
        msg(by_alias(1, DataType.Double, 1.0, ts=T0 + 7), by_alias(2, DataType.Int8, 1), seq=1, ts=T0 + 9),
        ARRIVAL,
    )
    assert {s.ts_ns: s.metrics for s in out.samples} == {
        (T0 + 7) * 1_000_000: {"Temperature": 1.0},
        (T0 + 9) * 1_000_000: {"Offset": 1},
    }
    out = ndata(tracker, by_alias(1, DataType.Double, 2.0), seq=2)  # payload timestamp only
    assert out.samples[0].ts_ns == T0 * 1_000_000
    out = tracker.handle(
        f"spBv1.0/{G}/NDATA/{N}", msg(by_alias(1, DataType.Double, 3.0), seq=3, ts=None), ARRIVAL
    )
    assert out.samples[0].ts_ns == ARRIVAL


def test_seq_gap_asks_for_rebirth_once_and_keeps_the_data() -> None:
    tracker = born()  # NBIRTH seq 0, DBIRTH seq 1
    assert ndata(tracker, by_alias(1, DataType.Double, 1.0), seq=2).rebirth_topics == []
    out = ndata(tracker, by_alias(1, DataType.Double, 2.0), seq=5)  # 3 and 4 lost
    assert out.rebirth_topics == [NCMD]
    assert out.samples[0].metrics == {"Temperature": 2.0}
    assert out.problems == []
    # resynchronised on seq 5: the next one in order is fine
    assert ndata(tracker, by_alias(1, DataType.Double, 3.0), seq=6).rebirth_topics == []


def test_rebirth_requests_are_rate_limited_per_node() -> None:
    tracker = born()
    gaps = [
        ndata(tracker, by_alias(1, DataType.Double, 1.0), seq=10 + 2 * i, arrival=ARRIVAL + i * SEC)
        for i in range(6)
    ]
    assert [len(o.rebirth_topics) for o in gaps] == [1, 0, 0, 0, 0, 1]
    assert all(o.samples for o in gaps)
    # another node is not held back by this one
    other = tracker.handle(f"spBv1.0/{G}/NDATA/edge2", msg(by_alias(1, DataType.Double, 1.0), seq=4), ARRIVAL)
    assert other.rebirth_topics == [f"spBv1.0/{G}/NCMD/edge2"]


def test_a_clock_going_backwards_does_not_mute_rebirth_requests() -> None:
    tracker = born()
    assert ndata(tracker, seq=9, arrival=ARRIVAL).rebirth_topics == [NCMD]
    assert ndata(tracker, seq=20, arrival=ARRIVAL - 3600 * SEC).rebirth_topics == [NCMD]


def test_seq_wraps_after_255() -> None:
    tracker = born(devices=False)
    outs = [ndata(tracker, by_alias(1, DataType.Double, float(i)), seq=i % 256) for i in range(1, 300)]
    assert all(o.rebirth_topics == [] for o in outs)


def test_data_before_any_birth() -> None:
    tracker = SparkplugTracker()
    out = ndata(tracker, by_alias(1, DataType.Double, 1.0), seq=3)
    assert out.rebirth_topics == [NCMD]
    assert out.samples == []
    assert len(out.problems) == 1 and "no BIRTH seen" in out.problems[0]
    # a sender that names and types its metrics can still be read
    named = make_metric(DataType.Int16, -2, name="Level", timestamp=T0)
    out = ndata(tracker, named, seq=4, arrival=ARRIVAL + 10 * SEC)
    assert out.samples == [SparkplugSample(G, N, None, {"Level": -2}, T0 * 1_000_000)]
    assert out.problems == [] and out.rebirth_topics == [NCMD]


def test_unknown_alias_is_a_problem_but_the_rest_is_kept() -> None:
    tracker = born()
    out = ndata(tracker, by_alias(1, DataType.Double, 1.5), by_alias(77, DataType.Int32, 1), seq=2)
    assert out.samples[0].metrics == {"Temperature": 1.5}
    assert out.rebirth_topics == [NCMD]
    assert len(out.problems) == 1 and "alias 77" in out.problems[0]


def test_device_data_without_its_birth() -> None:
    tracker = born(devices=False)
    out = tracker.handle(
        f"spBv1.0/{G}/DDATA/{N}/oven", msg(by_alias(10, DataType.Boolean, True), seq=1), ARRIVAL
    )
    assert out.rebirth_topics == [NCMD]
    assert out.samples == [] and len(out.problems) == 1


def test_ndeath_takes_node_and_devices_offline() -> None:
    tracker = born()
    tracker.handle(f"spBv1.0/{G}/DBIRTH/{N}/oven", dbirth(2), ARRIVAL)
    out = tracker.handle(f"spBv1.0/{G}/NDEATH/{N}", ndeath(0), ARRIVAL + SEC)
    assert sorted(out.offline, key=str) == sorted(
        [(G, N, None, ARRIVAL + SEC), (G, N, "press", ARRIVAL + SEC), (G, N, "oven", ARRIVAL + SEC)], key=str
    )
    assert out.samples == out.problems == out.rebirth_topics == []


def test_ndeath_of_an_earlier_session_is_ignored() -> None:
    tracker = SparkplugTracker()
    tracker.handle(f"spBv1.0/{G}/NBIRTH/{N}", nbirth(bd_seq=4), ARRIVAL)
    # the broker publishes the will of the previous connection after the node came back
    assert tracker.handle(f"spBv1.0/{G}/NDEATH/{N}", ndeath(3), ARRIVAL).offline == []
    assert ndata(tracker, by_alias(1, DataType.Double, 1.0), seq=1).rebirth_topics == []
    assert tracker.handle(f"spBv1.0/{G}/NDEATH/{N}", ndeath(4), ARRIVAL).offline == [(G, N, None, ARRIVAL)]


def test_ddeath_takes_one_device_offline() -> None:
    tracker = born()
    out = tracker.handle(f"spBv1.0/{G}/DDEATH/{N}/press", msg(seq=2, ts=T0 + 5), ARRIVAL)
    assert out.offline == [(G, N, "press", (T0 + 5) * 1_000_000)]
    assert out.rebirth_topics == []
    # data from the dead device: still real values, but the picture is stale
    out = tracker.handle(
        f"spBv1.0/{G}/DDATA/{N}/press", msg(by_alias(11, DataType.UInt32, 3), seq=3), ARRIVAL
    )
    assert out.samples[0].metrics == {"Count": 3}
    assert out.rebirth_topics == [NCMD]


def test_data_after_ndeath_is_kept_and_asks_for_rebirth() -> None:
    tracker = born(devices=False)
    tracker.handle(f"spBv1.0/{G}/NDEATH/{N}", ndeath(0), ARRIVAL)
    out = ndata(tracker, by_alias(1, DataType.Double, 4.0), seq=7)
    assert out.samples[0].metrics == {"Temperature": 4.0}
    assert out.rebirth_topics == [NCMD] and out.problems == []


def test_new_nbirth_resets_aliases_seq_and_devices() -> None:
    tracker = born()
    ndata(tracker, seq=2)
    ndata(tracker, seq=3)
    redefined = make_metric(DataType.Int32, 5, name="Pressure", alias=1, timestamp=T0)
    out = tracker.handle(
        f"spBv1.0/{G}/NBIRTH/{N}",
        msg(make_metric(DataType.UInt64, 1, name="bdSeq"), redefined, seq=0),
        ARRIVAL + 10 * SEC,
    )
    assert out.samples[0].metrics == {"Pressure": 5}
    out = ndata(tracker, Metric(alias=1, int_value=0xFFFFFFFF), seq=1, arrival=ARRIVAL + 10 * SEC)
    assert out.samples[0].metrics == {"Pressure": -1}
    assert out.rebirth_topics == []
    # the old DBIRTH belonged to the previous session
    out = tracker.handle(
        f"spBv1.0/{G}/DDATA/{N}/press", msg(by_alias(11, DataType.UInt32, 1), seq=2), ARRIVAL + 20 * SEC
    )
    assert out.samples == [] and out.problems and out.rebirth_topics == [NCMD]


def test_metric_not_declared_in_the_birth() -> None:
    tracker = born(devices=False)
    late = make_metric(DataType.Float, 0.5, name="New Sensor")
    out = ndata(tracker, late, seq=1)
    assert out.samples[0].metrics == {"New Sensor": 0.5}
    assert out.rebirth_topics == [NCMD] and out.problems == []


def test_nulls_control_metrics_and_transients_give_no_values() -> None:
    tracker = born(devices=False)
    out = ndata(
        tracker,
        by_alias(1, DataType.Double, None),
        by_alias(100, DataType.Boolean, True),
        by_alias(101, DataType.String, "X2"),
        Metric(alias=2, int_value=1, is_transient=True),
        seq=1,
    )
    assert out == SparkplugOutcome()
    keep = born(SparkplugTracker(keep_transient=True), devices=False)
    assert ndata(keep, Metric(alias=2, int_value=1, is_transient=True), seq=1).samples[0].metrics == {
        "Offset": 1
    }


def test_unsupported_datatype_is_a_problem_for_that_metric_only() -> None:
    tracker = SparkplugTracker()
    blob = Metric(name="Image", alias=3, datatype=DataType.Bytes, bytes_value=b"\x89PNG", timestamp=T0)
    out = tracker.handle(f"spBv1.0/{G}/NBIRTH/{N}", nbirth(blob=blob), ARRIVAL)
    assert out.samples[0].metrics == {"Temperature": 20.5, "Offset": -3}
    assert len(out.problems) == 1 and "Image" in out.problems[0] and "Bytes" in out.problems[0]


def test_undecodable_payloads_and_foreign_topics() -> None:
    tracker = born(devices=False)
    out = tracker.handle(f"spBv1.0/{G}/NDATA/{N}", b"\x12\x05\x0a", ARRIVAL)
    assert out.problems and "undecodable" in out.problems[0]
    assert out.rebirth_topics == [NCMD]
    for topic in (
        "factory/line1",
        "spBv1.0",
        f"spBv1.0/{G}/NBIRTH",
        f"spBv1.0/{G}/XDATA/{N}",
        f"spBv1.0/{G}/NDATA/{N}/d",
    ):
        assert tracker.handle(topic, b"", ARRIVAL).problems, topic
    # host state and commands (our own rebirth requests too) are not machine data
    for topic in ("spBv1.0/STATE/scada1", NCMD, f"spBv1.0/{G}/DCMD/{N}/press"):
        assert tracker.handle(topic, rebirth_payload(T0), ARRIVAL) == SparkplugOutcome()


def test_rebirth_payload() -> None:
    p = decode_payload(rebirth_payload(T0))
    assert p.timestamp == T0
    (m,) = p.metrics
    assert (m.name, m.datatype) == ("Node Control/Rebirth", DataType.Boolean)
    assert metric_value(m) is True
    assert decode_payload(rebirth_payload()).timestamp is not None


# -- hypothesis: no message sequence makes the tracker raise ------------------------------

SCALARS = st.sampled_from([DataType.Int8, DataType.Int64, DataType.UInt16, DataType.Double, DataType.Boolean])


@st.composite
def metrics(draw: st.DrawFn) -> Metric:
    kind = draw(st.sampled_from(["typed", "alias", "raw"]))
    if kind == "raw":
        return Metric(
            name=draw(st.none() | st.sampled_from(["a", "bdSeq", "Node Control/Rebirth"])),
            alias=draw(st.none() | st.integers(0, 5)),
            datatype=draw(st.none() | st.integers(0, 40)),
            int_value=draw(st.none() | st.integers(0, 2**32 - 1)),
            timestamp=draw(st.none() | st.sampled_from([0, T0, 2**64 - 1])),
            is_null=draw(st.booleans()),
        )
    datatype = draw(SCALARS)
    value = {
        DataType.Int8: st.integers(-128, 127),
        DataType.Int64: st.integers(-(2**63), 2**63 - 1),
        DataType.UInt16: st.integers(0, 65535),
        DataType.Double: st.floats(),
        DataType.Boolean: st.booleans(),
    }[datatype]
    m = make_metric(
        datatype,
        draw(value),
        name=draw(st.sampled_from(["a", "b", "c"])) if kind == "typed" else None,
        alias=draw(st.integers(0, 5)),
    )
    return m


MESSAGES = st.tuples(
    st.sampled_from(["NBIRTH", "NDEATH", "NDATA", "DBIRTH", "DDEATH", "DDATA", "NCMD", "STATE", "junk"]),
    st.sampled_from(["e1", "e2"]),
    st.sampled_from(["d1", "d2"]),
    st.one_of(
        st.builds(
            lambda ms, seq, ts: encode_payload(Payload(timestamp=ts, metrics=tuple(ms), seq=seq)),
            st.lists(metrics(), max_size=4),
            st.none() | st.integers(0, 300),
            st.none() | st.sampled_from([0, T0, 2**64 - 1]),
        ),
        st.binary(max_size=30),
    ),
    st.integers(0, 20 * SEC),
)


@settings(max_examples=200)
@given(st.lists(MESSAGES, max_size=30))
def test_any_message_sequence_is_handled(messages: list[tuple[str, str, str, bytes, int]]) -> None:
    tracker = SparkplugTracker()
    last_rebirth: dict[str, int] = {}
    for verb, node, device, payload, arrival in messages:
        if verb == "STATE":
            topic = "spBv1.0/STATE/host"
        elif verb == "junk":
            topic = f"spBv1.0/{node}"
        elif verb.startswith("D"):
            topic = f"spBv1.0/{G}/{verb}/{node}/{device}"
        else:
            topic = f"spBv1.0/{G}/{verb}/{node}"
        out = tracker.handle(topic, payload, arrival)
        for sample in out.samples:
            assert sample.metrics
            assert all(isinstance(v, bool | int | float | str) for v in sample.metrics.values())
            assert 0 <= sample.ts_ns < 2**63
        assert len(out.rebirth_topics) <= 1
        for rebirth in out.rebirth_topics:
            previous = last_rebirth.get(rebirth)
            assert previous is None or arrival < previous or arrival - previous >= REBIRTH_INTERVAL_NS
            last_rebirth[rebirth] = arrival
