"""Peer URLs (all bindings) and MQTT topic rules (REQ-MQTT-001/002/006)."""

from __future__ import annotations

import pytest

from pqiot.transports.mqtt_topics import TopicError, Topics, check_topic_name
from pqiot.transports.urls import CoapUrl, MqttUrl, SerialUrl, TcpUrl, parse_peer_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("tcp://127.0.0.1:4433", TcpUrl("127.0.0.1", 4433)),
        ("tcp://[::1]:1", TcpUrl("::1", 1)),
        ("/dev/ttyUSB0", SerialUrl("/dev/ttyUSB0")),
        ("serial:///dev/ttyACM1?baud=921600&mtu=512", SerialUrl("/dev/ttyACM1", 921600, 512)),
        ("serial://COM3", SerialUrl("COM3")),
        ("socket://127.0.0.1:7000", SerialUrl("socket://127.0.0.1:7000")),
        ("socket://127.0.0.1:7000?mtu=128", SerialUrl("socket://127.0.0.1:7000", mtu=128)),
        ("rfc2217://10.0.0.5:2217?baud=9600", SerialUrl("rfc2217://10.0.0.5:2217", 9600)),
        ("loop://", SerialUrl("loop://")),
        ("mqtt://127.0.0.1:1883", MqttUrl("127.0.0.1", 1883, "pqiot-default")),
        ("mqtt://broker:8883/plant1/hall-2", MqttUrl("broker", 8883, "plant1/hall-2")),
        ("mqtt://broker", MqttUrl("broker", 1883, "pqiot-default")),
        ("coap://127.0.0.1:5683", CoapUrl("127.0.0.1", 5683)),
        ("coap://device", CoapUrl("device", 5683)),
    ],
)
def test_peer_urls_parse(url: str, expected: object) -> None:
    """REQ-SER-012: device paths, COMn and pyserial socket:// / rfc2217:// URLs are all accepted."""
    assert parse_peer_url(url) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("udp://1.2.3.4:5", "unsupported peer URL"),
        ("tcp://host", "both host and port"),
        ("tcp://host:99999", "port"),
        ("tcp://host:1/path", "no path"),
        ("mqtt://h:1/plant+1", "REQ-MQTT-001"),
        ("mqtt://h:1/a//b", "REQ-MQTT-001"),
        ("mqtt://h:1/p?x=1", "no query"),
        ("serial:///dev/ttyS0?mtu=64", "128..1024"),
        ("serial:///dev/ttyS0?parity=E", "unknown serial option"),
        ("socket://nohost", "host and port"),
        ("coap://h:1/.well-known/edhoc", "no path"),
    ],
)
def test_bad_urls_say_what_is_wrong(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_peer_url(url)


def test_topic_tree_follows_the_spec() -> None:
    """§12.3.1 topic names."""
    topics = Topics("plant1/hall2")
    assert topics.hs("pump-7") == "plant1/hall2/pqiot/v1/pump-7/hs"
    assert topics.hsr("gw") == "plant1/hall2/pqiot/v1/gw/hsr"
    assert topics.rec("gw") == "plant1/hall2/pqiot/v1/gw/rec"
    assert topics.pubsub("line3/temp") == "plant1/hall2/pqiot/v1/ps/line3/temp"
    assert topics.pubsub_filter() == "plant1/hall2/pqiot/v1/ps/#"


@pytest.mark.parametrize("party", ["", "ps", "a/b", "+", "#", "x" * 65, "caf\u00e9", "$SYS", "a b"])
def test_party_ids_are_restricted(party: str) -> None:
    """REQ-MQTT-001: 1..64 characters from A-Z a-z 0-9 . _ -, and 'ps' is reserved."""
    with pytest.raises(TopicError):
        Topics("plant").hs(party)


@pytest.mark.parametrize(
    "topic",
    [
        b"plant/pqiot/v1/\xff/hs",  # not UTF-8
        "plant/pqiot/v1/a\x00/hs",
        "plant/pqiot/v1/+/hs",
        "plant/pqiot/v1/#",
        "plant//v1/a/hs",
        "$SYS/broker/load",
        "/".join(["a" * 60] * 5),  # 304 bytes
    ],
)
def test_received_topic_names_are_validated(topic: str | bytes) -> None:
    """REQ-MQTT-002."""
    with pytest.raises(TopicError):
        check_topic_name(topic)


def test_response_topic_must_be_one_of_our_hsr_topics() -> None:
    """REQ-MQTT-006: a Responder only replies inside its own prefix, on an .../hsr topic."""
    topics = Topics("plant1")
    assert topics.parse_party_topic("plant1/pqiot/v1/gw-1/hsr", "hsr") == "gw-1"
    for foreign in (
        "plant2/pqiot/v1/gw-1/hsr",
        "plant1/pqiot/v1/gw-1/rec",
        "plant1/pqiot/v1/ps/hsr",
        "plant1/pqiot/v2/gw-1/hsr",
        "plant1/pqiot/v1/a/b/hsr",
    ):
        with pytest.raises(TopicError):
            topics.parse_party_topic(foreign, "hsr")
