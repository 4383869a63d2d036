"""Parser for the ``sign.input`` format of the Ed25519 reference tests (SUPERCOP).

One record per line, colon-separated: ``sk||pk : pk : message : signature||message :``
(all hex; the secret part is the 32-byte seed followed by the public key).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from pqiot.vectors.sources.nist_rsp import VectorFormatError

__all__ = ["parse_sign_input"]


def parse_sign_input(lines: Iterable[str], source: str = "<input>") -> Iterator[dict[str, bytes]]:
    """Yield ``{"seed", "public_key", "message", "signature"}`` per line."""
    for number, raw in enumerate(lines):
        line = raw.strip()
        if not line:
            continue
        fields = line.split(":")
        if len(fields) != 5 or fields[4] != "":
            raise VectorFormatError(
                f"{source}: record {number}: expected 4 colon-terminated fields"
            )
        try:
            secret, public, message, signed = (bytes.fromhex(field) for field in fields[:4])
        except ValueError:
            raise VectorFormatError(f"{source}: record {number}: a field is not hex") from None
        if (
            len(secret) != 64
            or secret[32:] != public
            or len(signed) != 64 + len(message)
            or signed[64:] != message
        ):
            raise VectorFormatError(
                f"{source}: record {number}: inconsistent field lengths or contents"
            )
        yield {
            "seed": secret[:32],
            "public_key": public,
            "message": message,
            "signature": signed[:64],
        }
