"""What a live-device input is, and the reproducer file a finding is saved as.

An input is *where* bytes enter the device plus the bytes:

- ``tap``: one TAP message (a possibly malformed request), sent as real requests are;
- ``wire``: raw bytes on the link (serial frames with COBS/CRC, or length-prefixed
  TCP frames), below TAP;
- ``message_1`` / ``message_3``: an EDHOC message delivered with SESSION_DELIVER to a
  responder session;
- ``record``: a protected record delivered with APP_RECEIVE to an established session.

The protocol kinds need a conversation to be replayable on a fresh device: the
:class:`Context` keeps the reference handshake (message_1, message_2, message_3) and
the randomness the device was given (REQ-TAP-014), so a replay reproduces the
device's message_2 byte for byte and a saved message_3 or record meets the same keys.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["KINDS", "Context", "Finding", "LiveInput", "load_finding", "save_finding"]

KINDS = ("tap", "wire", "message_1", "message_3", "record")
FORMAT = "pqiot-live-fuzz-finding"


@dataclass(frozen=True)
class Context:
    """The recorded reference handshake a protocol input is replayed in."""

    suite: int
    message_1: bytes
    message_2: bytes
    message_3: bytes
    kem_m: bytes
    sig_rnd: bytes
    c_id: bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "suite": self.suite,
            **{
                key: getattr(self, key).hex()
                for key in ("message_1", "message_2", "message_3", "kem_m", "sig_rnd", "c_id")
            },
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Context:
        return cls(
            int(value["suite"]),
            *(
                bytes.fromhex(value[key])
                for key in ("message_1", "message_2", "message_3", "kem_m", "sig_rnd", "c_id")
            ),
        )


@dataclass(frozen=True)
class LiveInput:
    kind: str
    data: bytes

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"input kind {self.kind!r} is not one of {', '.join(KINDS)}")

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "data": self.data.hex()}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> LiveInput:
        return cls(str(value["kind"]), bytes.fromhex(str(value["data"])))


@dataclass
class Finding:
    """A device misbehaviour and the inputs that led to it (the last one usually alone).

    ``kind`` is ``crash`` (the process or emulator exited, or a sanitizer reported),
    ``hang`` (no TAP answer and no recovery), ``reset`` (no answer or a dropped link,
    then the device answered again) or ``sanity`` (alive, but the sanity handshake failed).
    """

    kind: str
    detail: str
    inputs: list[LiveInput]
    target: str = ""
    evidence: str = ""
    reproduced: bool | None = None
    original_size: int | None = None
    context: Context | None = None
    sanity: bool = False  # the finding shows in the sanity handshake after the inputs
    notes: list[str] = field(default_factory=list)

    @property
    def digest(self) -> str:
        h = hashlib.sha1()
        for item in self.inputs:
            h.update(item.kind.encode() + b"\0" + item.data)
        return h.hexdigest()[:16]


def save_finding(finding: Finding, directory: Path) -> Path:
    """Write ``<kind>-<digest>.json`` under ``directory``; return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{finding.kind}-{finding.digest}.json"
    document = {
        "format": FORMAT,
        "version": 1,
        "target": finding.target,
        "finding": finding.kind,
        "detail": finding.detail,
        "reproduced_on_fresh_device": finding.reproduced,
        "original_size": finding.original_size,
        "sanity_after": finding.sanity,
        "inputs": [item.to_json() for item in finding.inputs],
        "context": None if finding.context is None else finding.context.to_json(),
        "notes": finding.notes,
        "evidence": finding.evidence,
    }
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path


def load_finding(path: Path) -> Finding:
    """Read a reproducer file; ValueError says what is wrong with it."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable reproducer file: {exc}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ValueError(f"{path}: not a pqiot live-fuzz reproducer (format {FORMAT!r})")
    try:
        context = document.get("context")
        return Finding(
            kind=str(document["finding"]),
            detail=str(document.get("detail", "")),
            inputs=[LiveInput.from_json(item) for item in document["inputs"]],
            target=str(document.get("target", "")),
            evidence=str(document.get("evidence", "")),
            reproduced=document.get("reproduced_on_fresh_device"),
            original_size=document.get("original_size"),
            context=None if context is None else Context.from_json(context),
            sanity=bool(document.get("sanity_after", False)),
            notes=list(document.get("notes", [])),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: malformed reproducer file: {exc}") from None
