"""Parser for the NIST CAVP ``.rsp`` "key = value" format.

The same line format is used by the NIST KATs for ML-KEM / ML-DSA
(``kat_MLKEM_768.rsp``), the CAVP AES-GCM/CCM responses, and the ``.txt``
vector files of pyca/cryptography-vectors (RFC 5869 HKDF, OpenSSL's
ChaCha20-Poly1305), so this module reads all of them:

* ``# ...`` lines are comments; blank lines carry no meaning;
* ``[a = 1, b = 2]`` or ``[SHA-256]`` opens a section whose parameters are
  copied into every record of that section; consecutive header lines (CAVP GCM
  writes ``[Keylen = 256]`` then ``[IVlen = 96]`` ...) form one section;
* a ``count`` key (any case) starts a record; ``key = value`` lines before the
  first record of a section (or of the file) are defaults for the records that
  follow (CAVP puts ``Key``/``Nonce`` there);
* a bare word such as ``FAIL`` inside a record sets ``record["fail"] = "FAIL"``.

Keys are lower-cased; values stay strings (hex decoding is the caller's job,
see :func:`hex_bytes`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

__all__ = ["VectorFormatError", "hex_bytes", "parse_rsp"]


class VectorFormatError(ValueError):
    """A vector file does not follow the format; names the file, line and record."""


def _section_params(body: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in body.split(","):
        item = item.strip()
        if not item:
            continue
        if "=" in item:
            key, value = item.split("=", 1)
            params[key.strip().lower()] = value.strip()
        else:
            params[item.lower()] = item
    return params


def parse_rsp(lines: Iterable[str], source: str = "<input>") -> Iterator[dict[str, str]]:
    """Yield the records of a ``.rsp``-style vector file in order."""
    file_defaults: dict[str, str] = {}
    section: dict[str, str] = {}
    section_defaults: dict[str, str] = {}
    record: dict[str, str] | None = None
    records_seen = 0
    in_header = False  # True right after a header line: the next header extends the section

    def fail(line_number: int, message: str) -> VectorFormatError:
        where = f"record {records_seen - 1}" if record is not None else "before the first record"
        return VectorFormatError(f"{source}:{line_number} ({where}): {message}")

    for line_number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                raise fail(line_number, f"unterminated section header {line!r}")
            if record is not None:
                yield record
                record = None
            params = _section_params(line[1:-1])
            section = {**section, **params} if in_header else params
            section_defaults = {}
            in_header = True
            continue
        in_header = False
        if "=" in line:
            key, value = (part.strip() for part in line.split("=", 1))
            key = key.lower()
            if not key:
                raise fail(line_number, f"missing key in {line!r}")
            if key == "count":
                if record is not None:
                    yield record
                record = {**file_defaults, **section, **section_defaults, "count": value}
                records_seen += 1
                continue
            if record is None:
                (section_defaults if section else file_defaults)[key] = value
                continue
            if (
                key in record
                and key not in file_defaults
                and key not in section
                and key not in section_defaults
            ):
                raise fail(line_number, f"duplicate key {key!r}")
            record[key] = value
            continue
        if record is not None and line.replace("_", "").isalnum():
            record[line.lower()] = line
            continue
        raise fail(line_number, f"cannot parse line {line!r}")
    if record is not None:
        yield record


def hex_bytes(record: dict[str, str], key: str, source: str = "<input>") -> bytes:
    """Decode ``record[key]`` as hex, with an error naming the record on failure."""
    try:
        value = record[key]
    except KeyError:
        raise VectorFormatError(
            f"{source}: record {record.get('count', '?')} has no {key!r} field"
        ) from None
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise VectorFormatError(
            f"{source}: record {record.get('count', '?')} field {key!r} is not hex"
        ) from None
