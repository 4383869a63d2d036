"""Device identity files: what ``pqiot keys generate --alg ALG --out DIR`` writes.

Three files per identity ``<name>``:

* ``<name>.key``  — CBOR map ``{"alg": int, "kid": bstr/int, "private": bstr,
  "public": bstr}``, mode 0600. The private key in the scheme's standard
  encoding (ML-DSA: the 32-byte seed xi; Ed25519: the 32-byte seed).
* ``<name>.cred`` — the CCS credential (CBOR), exactly the CRED_x bytes peers
  allow-list.
* ``<name>.json`` — a human-readable summary (alg, kid hex, subject, SHA-256 of
  the credential, creation time). Informational only; loaders never trust it.

kid defaults to the first 8 bytes of SHA-256(public key), so two devices that
generate keys independently do not collide in practice.

Loaders validate everything and say which file is wrong and how to fix it; a
private key file readable by group/others is refused, like ssh does.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

from pqiot.reference import cbor
from pqiot.reference.audit import AuditEvent, AuditLog, fingerprint, rfc3339_utc
from pqiot.reference.cbor import CborValue
from pqiot.reference.credentials import (
    ALG_ES256,
    CLAIM_CNF,
    CLAIM_SUBJECT,
    CNF_COSE_KEY,
    EC2_CRV,
    EC2_X,
    EC2_Y,
    KEY_ALG,
    KEY_KID,
    KEY_KTY,
    KTY_EC2,
    KTY_OKP,
    OKP_CRV,
    OKP_X,
    Credential,
    KeyId,
    akp_ccs,
    parse_ccs,
)
from pqiot.reference.crypto import registry
from pqiot.reference.crypto.interfaces import Rng
from pqiot.reference.crypto.rng import system_rng
from pqiot.reference.errors import CryptoError, DecodeError, UnsupportedAlgorithm
from pqiot.reference.security_provider import KeyRef
from pqiot.reference.software_provider import SoftwareSecurityProvider
from pqiot.reference.storage import atomic_write_bytes
from pqiot.reference.trust import kid_hex

__all__ = [
    "ALGORITHMS",
    "Identity",
    "IdentityAlgorithm",
    "IdentityError",
    "IdentityFiles",
    "algorithm_by_id",
    "algorithm_by_name",
    "default_kid",
    "generate_identity",
    "load_credential",
    "load_identity",
    "load_private_key",
    "unique_subject",
    "write_identity",
]

KID_LENGTH = 8
_KEY_FIELDS = frozenset({"alg", "kid", "private", "public"})
_MAX_FILE = 64 * 1024
_CRV_ED25519 = 6


class IdentityError(Exception):
    """An identity file is missing, malformed, inconsistent or unsafe."""


@dataclass(frozen=True)
class IdentityAlgorithm:
    name: str
    cose_alg: int
    status: str  # "standard", "experimental" or "check-only" (D2)


ALGORITHMS: tuple[IdentityAlgorithm, ...] = (
    IdentityAlgorithm("ML-DSA-44", -48, "standard"),
    IdentityAlgorithm("ML-DSA-65", -49, "standard"),
    IdentityAlgorithm("ML-DSA-87", -50, "standard"),
    IdentityAlgorithm("Falcon-512", -65601, "experimental"),
    IdentityAlgorithm("Falcon-1024", -65602, "experimental"),
    IdentityAlgorithm("Ed25519", -8, "check-only"),
    IdentityAlgorithm("ES256", -7, "check-only"),
)


def algorithm_by_name(name: str) -> IdentityAlgorithm:
    """Case-insensitive lookup (``ml-dsa-44``, ``ML-DSA-44``, ``falcon512``, ``EdDSA``)."""
    wanted = name.lower().replace("-", "").replace("_", "")
    if wanted == "eddsa":
        wanted = "ed25519"
    for algorithm in ALGORITHMS:
        if algorithm.name.lower().replace("-", "") == wanted:
            return algorithm
    choices = ", ".join(a.name for a in ALGORITHMS)
    raise IdentityError(f"unknown identity algorithm {name!r}; choose one of: {choices}")


def algorithm_by_id(cose_alg: int) -> IdentityAlgorithm:
    for algorithm in ALGORITHMS:
        if algorithm.cose_alg == cose_alg:
            return algorithm
    raise IdentityError(
        f"COSE alg {cose_alg} is not an identity algorithm; "
        f"supported: {[a.cose_alg for a in ALGORITHMS]}"
    )


def default_kid(public_key: bytes) -> bytes:
    """First 8 bytes of SHA-256(public key)."""
    return hashlib.sha256(bytes(public_key)).digest()[:KID_LENGTH]


@dataclass(frozen=True)
class Identity:
    """A key pair with its credential. ``private_key`` never appears in repr."""

    algorithm: IdentityAlgorithm
    kid: KeyId
    public_key: bytes
    private_key: bytes = field(repr=False)
    credential: Credential = field(repr=False)

    def with_subject(self, subject: str) -> Identity:
        """The same key pair with its credential re-issued for another ``sub``."""
        credential = _credential_for(self.algorithm, subject, self.kid, self.public_key)
        return Identity(self.algorithm, self.kid, self.public_key, self.private_key, credential)

    def install(self, provider: SoftwareSecurityProvider, label: str | None = None) -> KeyRef:
        """Hand the private key to ``provider``; protocol code then uses the KeyRef."""
        return provider.add_signature_key(
            label or f"identity-{kid_hex(self.kid)}",
            self.algorithm.cose_alg,
            self.private_key,
            self.public_key,
        )


@dataclass(frozen=True)
class IdentityFiles:
    key: Path
    cred: Path
    summary: Path


def _credential_for(
    algorithm: IdentityAlgorithm, subject: str, kid: KeyId, public_key: bytes
) -> Credential:
    if algorithm.cose_alg == -8:
        # RFC 9528 uses OKP keys for Ed25519; parse_ccs maps crv 6 back to EdDSA.
        cose_key: dict[CborValue, CborValue] = {
            KEY_KTY: KTY_OKP,
            KEY_KID: kid,
            OKP_CRV: _CRV_ED25519,
            OKP_X: public_key,
        }
        return parse_ccs(cbor.encode({CLAIM_SUBJECT: subject, CLAIM_CNF: {CNF_COSE_KEY: cose_key}}))
    if algorithm.cose_alg == ALG_ES256:
        # EC2 P-256 key (RFC 9053 §7.1.1) from the SEC1 uncompressed point 04 || x || y.
        if len(public_key) != 65 or public_key[0] != 4:
            raise IdentityError("an ES256 public key must be a 65-byte uncompressed SEC1 point")
        ec2_key: dict[CborValue, CborValue] = {
            KEY_KTY: KTY_EC2,
            KEY_KID: kid,
            KEY_ALG: ALG_ES256,
            EC2_CRV: 1,
            EC2_X: public_key[1:33],
            EC2_Y: public_key[33:],
        }
        return parse_ccs(cbor.encode({CLAIM_SUBJECT: subject, CLAIM_CNF: {CNF_COSE_KEY: ec2_key}}))
    return akp_ccs(subject, kid, algorithm.cose_alg, public_key)


def unique_subject(stem: str, kid: KeyId) -> str:
    """``<stem>-<kid hex>``: a default ``sub`` that two generated keys do not share.

    Peers with one ``sub`` refuse each other (REQ-CRED-007), so a default that is
    only the algorithm or file name would make two default identities unusable.
    """
    return f"{stem}-{kid_hex(kid)}"


def generate_identity(
    alg: str | int, *, subject: str, kid: KeyId | None = None, rng: Rng = system_rng
) -> Identity:
    """Generate a key pair and its CCS credential in memory."""
    algorithm = algorithm_by_name(alg) if isinstance(alg, str) else algorithm_by_id(alg)
    public_key, private_key = registry.signature(algorithm.cose_alg).generate(rng)
    chosen_kid = default_kid(public_key) if kid is None else kid
    credential = _credential_for(algorithm, subject, chosen_kid, public_key)
    return Identity(algorithm, chosen_kid, public_key, private_key, credential)


def _paths(directory: Path, name: str) -> IdentityFiles:
    if not name or "/" in name or name.startswith("."):
        raise IdentityError(
            f"identity name {name!r} must be a plain file name (no '/', not hidden)"
        )
    return IdentityFiles(
        directory / f"{name}.key", directory / f"{name}.cred", directory / f"{name}.json"
    )


def write_identity(
    identity: Identity,
    directory: Path | str,
    name: str,
    *,
    now: float | None = None,
    overwrite: bool = False,
    audit: AuditLog | None = None,
) -> IdentityFiles:
    """Write ``<name>.key`` (0600), ``<name>.cred`` and ``<name>.json`` into ``directory``."""
    files = _paths(Path(directory), name)
    existing = [str(p) for p in (files.key, files.cred, files.summary) if p.exists()]
    if existing and not overwrite:
        raise IdentityError(
            f"refusing to overwrite existing identity files {existing}; "
            "choose another --out or name"
        )
    created = time.time() if now is None else now
    key_document = cbor.encode(
        {
            "alg": identity.algorithm.cose_alg,
            "kid": identity.kid,
            "private": identity.private_key,
            "public": identity.public_key,
        }
    )
    summary = {
        "format": "pqiot-identity",
        "name": name,
        "alg": identity.algorithm.name,
        "alg_id": identity.algorithm.cose_alg,
        "status": identity.algorithm.status,
        "kid": kid_hex(identity.kid),
        "subject": identity.credential.subject,
        "credential_sha256": hashlib.sha256(identity.credential.cred).hexdigest(),
        "public_key_size": len(identity.public_key),
        "created": rfc3339_utc(created),
        "files": {"key": files.key.name, "cred": files.cred.name},
    }
    atomic_write_bytes(files.key, key_document)  # created 0600 by atomic_write_bytes
    os.chmod(files.key, 0o600)
    atomic_write_bytes(files.cred, identity.credential.cred)
    os.chmod(files.cred, 0o644)
    atomic_write_bytes(files.summary, (json.dumps(summary, indent=2) + "\n").encode("utf-8"))
    os.chmod(files.summary, 0o644)
    if audit is not None:
        audit.emit(
            AuditEvent.KEY_GENERATED,
            now=created,
            peer=identity.kid,
            detail={
                "alg": identity.algorithm.name,
                "subject": identity.credential.subject,
                "credential": fingerprint(identity.credential.cred),
                "file": str(files.key),
            },
        )
    return files


def _read(path: Path, what: str) -> bytes:
    try:
        size = path.stat().st_size
        if size > _MAX_FILE:
            raise IdentityError(
                f"{what} {path} is {size} bytes; identity files are at most {_MAX_FILE} bytes"
            )
        return path.read_bytes()
    except FileNotFoundError:
        raise IdentityError(
            f"{what} {path} does not exist; create it with `pqiot keys generate`"
        ) from None
    except OSError as exc:
        raise IdentityError(f"cannot read {what} {path}: {exc.strerror}") from exc


def load_credential(path: Path | str) -> Credential:
    """Load a ``.cred`` file (CCS credential)."""
    path = Path(path)
    data = _read(path, "credential file")
    try:
        return parse_ccs(data)
    except DecodeError as exc:
        raise IdentityError(
            f"credential file {path} is not a usable CCS credential: {exc.detail}"
        ) from exc


def load_private_key(path: Path | str, *, subject: str = "", check: bool = True) -> Identity:
    """Load a ``.key`` file; ``check`` runs a sign/verify self-test on the key pair.

    The returned credential is rebuilt from the key file (use :func:`load_identity`
    to get the exact ``.cred`` bytes).
    """
    path = Path(path)
    mode = path.stat().st_mode if path.exists() else 0
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise IdentityError(
            f"private key file {path} is accessible by group/others "
            f"(mode {stat.S_IMODE(mode):o}); run: chmod 600 {path}"
        )
    data = _read(path, "private key file")
    try:
        document = cbor.decode(data)
    except DecodeError as exc:
        raise IdentityError(f"private key file {path} is not valid CBOR: {exc.detail}") from exc
    if not isinstance(document, dict) or set(document) != _KEY_FIELDS:
        raise IdentityError(
            f"private key file {path} must be a CBOR map with exactly the fields "
            f"{sorted(_KEY_FIELDS)}"
        )
    alg, kid, private, public = (
        document["alg"],
        document["kid"],
        document["private"],
        document["public"],
    )
    if isinstance(alg, bool) or not isinstance(alg, int):
        raise IdentityError(f"private key file {path}: alg must be an integer COSE alg id")
    if isinstance(kid, bool) or not isinstance(kid, (bytes, int)):
        raise IdentityError(f"private key file {path}: kid must be a byte string or integer")
    if not isinstance(private, bytes) or not isinstance(public, bytes) or not private:
        raise IdentityError(
            f"private key file {path}: private and public must be non-empty byte strings"
        )
    try:
        algorithm = algorithm_by_id(alg)
    except IdentityError as exc:
        raise IdentityError(f"private key file {path}: {exc}") from None
    try:
        scheme = registry.signature(alg)
    except UnsupportedAlgorithm as exc:
        raise IdentityError(f"private key file {path}: {exc}") from exc
    if len(public) != scheme.public_key_size:
        raise IdentityError(
            f"private key file {path}: {algorithm.name} public key must be "
            f"{scheme.public_key_size} bytes, got {len(public)}"
        )
    if check:
        probe = b"pqiot identity self-test " + public[:16]
        try:
            valid = scheme.verify(public, probe, scheme.sign(private, probe, None))
        except (CryptoError, ValueError) as exc:
            raise IdentityError(
                f"private key file {path}: the private key is malformed ({exc})"
            ) from exc
        if not valid:
            raise IdentityError(
                f"private key file {path}: private and public key do not belong together"
            )
    credential = _credential_for(algorithm, subject, kid, public)
    return Identity(algorithm, kid, public, private, credential)


def load_identity(directory: Path | str, name: str, *, check: bool = True) -> Identity:
    """Load ``<name>.key`` + ``<name>.cred`` and check that they describe the same key."""
    files = _paths(Path(directory), name)
    credential = load_credential(files.cred)
    identity = load_private_key(files.key, subject=credential.subject, check=check)
    if (
        credential.public_key != identity.public_key
        or credential.algorithm != identity.algorithm.cose_alg
    ):
        raise IdentityError(
            f"{files.cred} does not hold the public key of {files.key}; regenerate the credential"
        )
    if kid_hex(credential.kid) != kid_hex(identity.kid):
        raise IdentityError(
            f"{files.cred} kid {kid_hex(credential.kid)} differs from "
            f"{files.key} kid {kid_hex(identity.kid)}"
        )
    return Identity(
        identity.algorithm, identity.kid, identity.public_key, identity.private_key, credential
    )
