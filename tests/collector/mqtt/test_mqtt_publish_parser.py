"""The in-place PUBLISH parser against paho's own decoder, on generated packets."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from paho.mqtt import _packet
from paho.mqtt.enums import MQTTProtocolVersion

from collector.mqtt.paho_client import _publish_at, _varint


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        b, value = value & 127, value >> 7
        out.append(b | (128 if value else 0))
        if not value:
            return bytes(out)


def publish(topic: bytes, payload: bytes, qos: int, mid: int, props: bytes | None) -> bytes:
    body = len(topic).to_bytes(2, "big") + topic
    if qos:
        body += mid.to_bytes(2, "big")
    if props is not None:
        body += varint(len(props)) + props
    body += payload
    return bytes([0x30 | qos << 1]) + varint(len(body)) + body


topics = st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=40).map(str.encode)
# a user property (0x26): the parser skips properties without reading them
user_props = st.builds(
    lambda k, v: b"\x26" + len(k).to_bytes(2, "big") + k + len(v).to_bytes(2, "big") + v,
    *[st.text(st.characters(blacklist_categories=["Cs", "Cc"]), max_size=10).map(str.encode)] * 2,
)


@given(
    topic=topics,
    payload=st.binary(max_size=300),
    qos=st.integers(0, 1),
    mid=st.integers(1, 65535),
    v5=st.booleans(),
    props=user_props,
)
def test_same_result_as_paho(
    topic: bytes, payload: bytes, qos: int, mid: int, v5: bool, props: bytes
) -> None:
    data = publish(topic, payload, qos, mid, props if v5 else None)
    parsed = _publish_at(data, 0, len(data), v5)
    assert parsed is not None
    protocol = MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311
    head = _varint(data, 1, len(data))
    assert head is not None
    ref = _packet.decode_publish(data[0], data[head[1] :], protocol)
    got_topic, start, end, got_mid, got_qos = parsed
    assert got_topic.encode() == ref.topic
    assert data[start:end] == ref.payload
    assert (got_mid, got_qos, end) == (ref.mid, ref.qos, len(data))


@given(
    packets=st.lists(
        st.tuples(topics, st.binary(max_size=200), st.integers(1, 65535)), min_size=1, max_size=5
    ),
    cut=st.integers(0, 2000),
)
def test_a_cut_packet_is_left_for_later(packets: list[tuple[bytes, bytes, int]], cut: int) -> None:
    stream = b"".join(publish(t, p, 1, m, None) for t, p, m in packets)
    cut = min(cut, len(stream))
    data = stream[:cut]
    pos, seen = 0, []
    while pos + 4 <= len(data) and (parsed := _publish_at(data, pos, len(data), False)) is not None:
        seen.append((parsed[0].encode(), data[parsed[1] : parsed[2]], parsed[3]))
        pos = parsed[2]
    # only whole packets, in order, and none past the cut
    assert seen == packets[: len(seen)]
    rest = stream[pos:]
    assert len(seen) == len(packets) or rest


def test_other_packets_and_qos2_go_to_paho() -> None:
    suback = b"\x90\x03\x00\x01\x01"
    assert _publish_at(suback, 0, len(suback), False) is None
    qos2 = publish(b"a/b", b"x", 2, 7, None)
    assert _publish_at(qos2, 0, len(qos2), False) is None
    not_utf8 = publish(b"\xff\xfe", b"x", 1, 7, None)
    assert _publish_at(not_utf8, 0, len(not_utf8), False) is None
    empty_topic = publish(b"", b"x", 1, 7, None)
    assert _publish_at(empty_topic, 0, len(empty_topic), False) is None
    overlong = b"\x32\xff\xff\xff\xff\x7f"
    assert _publish_at(overlong, 0, len(overlong), False) is None
