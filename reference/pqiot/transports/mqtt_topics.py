"""MQTT topic names of the binding (spec §12.3.1) and their validation (REQ-MQTT-001/002).

Stricter than MQTT itself on purpose: every level is 1..64 characters from
``A-Z a-z 0-9 . _ -``, so a topic can never smuggle wildcards, ``$`` system
topics, empty levels or odd Unicode into the AAD or into a reply address.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["MAX_TOPIC_BYTES", "TopicError", "Topics", "check_level", "check_topic_name"]

MAX_TOPIC_BYTES = 256
VERSION_LEVELS = ("pqiot", "v1")
PUBSUB_LEVEL = "ps"
_LEVEL = re.compile(r"[A-Za-z0-9._-]{1,64}")
KINDS = ("hs", "hsr", "rec")


class TopicError(ValueError):
    """A topic name breaks REQ-MQTT-001/002."""


def check_level(level: str, what: str = "topic level") -> str:
    if not _LEVEL.fullmatch(level):
        raise TopicError(f"{what} {level!r} must be 1..64 characters from A-Z a-z 0-9 . _ -")
    return level


def check_topic_name(topic: str | bytes) -> str:
    """REQ-MQTT-002 checks on a received or to-be-published topic name; returns it as str."""
    if isinstance(topic, bytes):
        try:
            topic = topic.decode("utf-8")
        except UnicodeDecodeError:
            raise TopicError("topic name is not valid UTF-8") from None
    if len(topic.encode("utf-8")) > MAX_TOPIC_BYTES:
        raise TopicError(f"topic name longer than {MAX_TOPIC_BYTES} bytes")
    if topic.startswith("$"):
        raise TopicError("topic names starting with '$' are broker-internal")
    for level in topic.split("/"):
        check_level(level)
    return topic


@dataclass(frozen=True)
class Topics:
    """The topic tree of one deployment ``<prefix>/pqiot/v1/...``."""

    prefix: str

    def __post_init__(self) -> None:
        for level in self.prefix.split("/"):
            check_level(level, "prefix level")

    @property
    def root(self) -> str:
        return "/".join((self.prefix, *VERSION_LEVELS))

    def party(self, party_id: str, kind: str) -> str:
        if kind not in KINDS:
            raise ValueError(f"kind is one of {KINDS}")
        if party_id == PUBSUB_LEVEL:
            raise TopicError("'ps' is reserved and is not a party identifier")
        return check_topic_name(f"{self.root}/{check_level(party_id, 'party id')}/{kind}")

    def hs(self, party_id: str) -> str:
        return self.party(party_id, "hs")

    def hsr(self, party_id: str) -> str:
        return self.party(party_id, "hsr")

    def rec(self, party_id: str) -> str:
        return self.party(party_id, "rec")

    def pubsub(self, app_levels: str) -> str:
        for level in app_levels.split("/"):
            check_level(level, "application level")
        return check_topic_name(f"{self.root}/{PUBSUB_LEVEL}/{app_levels}")

    def pubsub_filter(self) -> str:
        return f"{self.root}/{PUBSUB_LEVEL}/#"

    def parse_party_topic(self, topic: str, kind: str) -> str:
        """Return the party id of ``<prefix>/pqiot/v1/<id>/<kind>``, or raise :class:`TopicError`.

        Used for REQ-MQTT-006: a Response Topic must be one of *our* ``hsr`` topics.
        """
        check_topic_name(topic)
        head, _, tail = topic.rpartition("/")
        root, _, party_id = head.rpartition("/")
        if tail != kind or root != self.root or party_id == PUBSUB_LEVEL:
            raise TopicError(f"{topic!r} is not a {self.root}/<id>/{kind} topic")
        return check_level(party_id, "party id")
