"""paho-mqtt's Client with three changes for a subscriber that acknowledges after storing.

paho 2.2 (pinned) reads one packet per select() and each packet with up to three
``recv`` calls; it sends every PUBACK as its own write. At tens of thousands of QoS 1
messages a second those system calls are most of the work. This subclass reads the
socket in 64 KiB chunks and parses every complete packet in the buffer before going
back to select(), and sends a batch of PUBACKs as one write. It also tells paho which
thread runs the network loop, so acknowledgements queued from the asyncio thread are
always written by that loop and never by two threads at once.

The overrides touch paho internals (``_sock_recv``, ``_packet_queue``): the version is
pinned, and the MQTT tests run through this class against a real broker.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable, Iterable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt import _packet
from paho.mqtt.client import time_func
from paho.mqtt.enums import MQTTErrorCode, MQTTProtocolVersion

PUBACK = 0x40
PUBLISH = 0x30
READ_CHUNK = 65536


class CollectorMqttClient(mqtt.Client):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rbuf = bytearray()
        #: (topic, payload, mid, qos) for QoS 0/1 messages, instead of on_message: no
        #: MQTTMessage and MQTTMessageInfo (with its Condition) built per message
        self.on_raw_message: Callable[[str, bytes, int, int], None] | None = None

    def _handle_publish(self) -> MQTTErrorCode:
        handler = self.on_raw_message
        qos = (self._in_packet["command"] & 0x06) >> 1
        if handler is None or qos == 2:
            return super()._handle_publish()
        result = _packet.decode_publish(self._in_packet["command"], self._in_packet["packet"], self._protocol)
        try:
            topic = result.topic.decode("utf-8")
        except UnicodeDecodeError:
            # paho's own path turns this into a message whose topic raises; keep its handling
            return self._publish_from(result)
        with self._in_callback_mutex:
            handler(topic, result.payload, result.mid, qos)
        if qos == 1 and not self._manual_ack:
            return self._send_puback(result.mid)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _publish_from(self, result: Any) -> MQTTErrorCode:
        message = mqtt.MQTTMessage(mid=result.mid, topic=result.topic)
        message.qos, message.retain, message.payload = result.qos, result.retain, result.payload
        self._handle_on_message(message)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _sock_recv(self, bufsize: int) -> bytes:
        if not self._rbuf:
            data = super()._sock_recv(READ_CHUNK)
            if not data:
                return data  # the peer closed the connection
            self._rbuf += data
        out = bytes(self._rbuf[:bufsize])
        del self._rbuf[:bufsize]
        return out

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        rc = super().loop_read(max_packets)
        # whole packets already in the buffer would wait for the next select() otherwise
        while rc == MQTTErrorCode.MQTT_ERR_SUCCESS and self._rbuf and self._sock is not None:
            self._drain_publishes()
            if not self._rbuf:
                break
            rc = super().loop_read(max_packets)
        return rc

    def _drain_publishes(self) -> None:
        """Hand every complete QoS 0/1 PUBLISH at the front of the buffer to on_raw_message.

        paho reads a packet with three recv calls and builds a dict, a struct format and a
        Properties object for it; this parses the packets in place, one slice each. It
        stops at anything else (another packet type, QoS 2, an incomplete or odd packet,
        a topic that is not UTF-8) and leaves that to paho's own reader, which also reports
        malformed packets as before."""
        handler = self.on_raw_message
        if handler is None or self._in_packet["command"] != 0:
            return
        data = bytes(self._rbuf)
        n = len(data)
        v5 = self._protocol == MQTTProtocolVersion.MQTTv5
        auto_ack = not self._manual_ack
        pos = 0
        with self._in_callback_mutex:
            while pos + 4 <= n:
                packet = _publish_at(data, pos, n, v5)
                if packet is None:
                    break
                topic, start, end, mid, qos = packet
                handler(topic, data[start:end], mid, qos)
                if qos == 1 and auto_ack:
                    self._send_puback(mid)
                pos = end
        if pos:
            del self._rbuf[:pos]
            with self._msgtime_mutex:
                self._last_bytes_received = time_func()

    def _reset_sockets(self, sockpair_only: bool = False) -> None:
        if not sockpair_only:
            self._rbuf.clear()  # bytes of a dead connection must not leak into the next
        super()._reset_sockets(sockpair_only)

    def run_network(self) -> None:
        """``loop_forever`` in the calling thread, registered as paho's network thread."""
        self._thread = threading.current_thread()
        try:
            self.loop_forever(retry_first_connection=True)
        finally:
            self._thread = None

    def _handle_on_message(self, message: mqtt.MQTTMessage) -> None:
        # paho matches every message against per-topic callbacks; the collector has
        # none, and the matcher costs more than the rest of the dispatch
        root = self._on_message_filtered._root
        if root._children or root._content is not None or self.on_message is None:
            super()._handle_on_message(message)
            return
        with self._in_callback_mutex:
            self.on_message(self, self._userdata, message)

    def ack_many(self, acks: Iterable[tuple[int, int]]) -> None:
        """Acknowledge (mid, qos) pairs in order: QoS 1 PUBACKs go out as one write."""
        pubacks = bytearray()
        for mid, qos in acks:
            if qos == 1:
                pubacks += struct.pack("!BBH", PUBACK, 2, mid)
            elif qos == 2:
                if pubacks:
                    self._packet_queue(PUBACK, bytes(pubacks), 0, 0)
                    pubacks = bytearray()
                self.ack(mid, qos)
        if pubacks:
            self._packet_queue(PUBACK, bytes(pubacks), 0, 0)


def _varint(data: bytes, i: int, n: int) -> tuple[int, int] | None:
    """(value, index after it) of an MQTT variable byte integer, None if cut off or too long."""
    value, shift = 0, 0
    while i < n and shift <= 21:
        b = data[i]
        i += 1
        value |= (b & 127) << shift
        if not b & 128:
            return value, i
        shift += 7
    return None


def _publish_at(data: bytes, pos: int, n: int, v5: bool) -> tuple[str, int, int, int, int] | None:
    """(topic, payload start, packet end, packet id, qos) of a complete QoS 0/1 PUBLISH at
    ``pos``; None for anything paho's reader should see instead."""
    cmd = data[pos]
    qos = (cmd >> 1) & 3
    if cmd & 0xF0 != PUBLISH or qos > 1:
        return None
    head = _varint(data, pos + 1, n)
    if head is None:
        return None
    length, i = head
    end = i + length
    if end > n or length < 2:
        return None
    tlen = data[i] << 8 | data[i + 1]
    p = i + 2 + tlen
    if tlen == 0 or p > end:
        return None  # v5 topic aliases and malformed packets go the long way
    try:
        topic = data[i + 2 : p].decode("utf-8")
    except UnicodeDecodeError:
        return None
    mid = 0
    if qos:
        if p + 2 > end:
            return None
        mid = data[p] << 8 | data[p + 1]
        p += 2
    if v5:
        props = _varint(data, p, end)
        if props is None:
            return None
        p = props[1] + props[0]
        if p > end:
            return None
    return topic, p, end, mid, qos
