"""EDHOC (RFC 9528) with KEMs in G_X/G_Y: sans-I/O Initiator and Responder."""

from pqiot.reference.edhoc.config import CredentialResolver, HandshakeConfig
from pqiot.reference.edhoc.events import (
    ErrorReceived,
    Event,
    HandshakeCompleted,
    HandshakeFailed,
    PeerCredentialAccepted,
    SuitesRejected,
)
from pqiot.reference.edhoc.initiator import Initiator
from pqiot.reference.edhoc.machine import State
from pqiot.reference.edhoc.psk import PskEntry, PskStore, StaticPskStore
from pqiot.reference.edhoc.resolver import AllowListResolver
from pqiot.reference.edhoc.responder import Responder
from pqiot.reference.edhoc.wire import EadItem

__all__ = [
    "AllowListResolver",
    "CredentialResolver",
    "EadItem",
    "ErrorReceived",
    "Event",
    "HandshakeCompleted",
    "HandshakeConfig",
    "HandshakeFailed",
    "Initiator",
    "PeerCredentialAccepted",
    "PskEntry",
    "PskStore",
    "Responder",
    "State",
    "StaticPskStore",
    "SuitesRejected",
]
