"""The evidence bundle: a SHA-256 manifest of every file of a run, signed with ML-DSA-65.

A certifier must be able to tell that nothing in the output directory was
changed, removed or added after the run. ``manifest.json`` lists every file
(except itself and its signature) with its SHA-256; ``manifest.sig`` is an
ML-DSA-65 signature over the manifest bytes; the manifest carries the signer's
public key and says whether the key was ephemeral (generated for this run and
thrown away — it proves integrity of the bundle only, not who produced it).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pqiot.reference.crypto import registry
from pqiot.reference.crypto.rng import system_rng

__all__ = [
    "MANIFEST",
    "SIGNATURE",
    "SIGNING_ALG",
    "BundleError",
    "SigningKey",
    "ephemeral_key",
    "load_signing_key",
    "verify_bundle",
    "write_manifest",
]

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
SIGNING_ALG = -49  # ML-DSA-65 (COSE)
_EXCLUDED = {MANIFEST, SIGNATURE}


class BundleError(Exception):
    """The bundle does not verify; ``problems`` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class SigningKey:
    public_key: bytes
    private_key: bytes
    ephemeral: bool
    source: str


def ephemeral_key() -> SigningKey:
    public, private = registry.signature(SIGNING_ALG).generate(system_rng)
    return SigningKey(public, private, True, "ephemeral (generated for this run, not kept)")


def load_signing_key(path: Path) -> SigningKey:
    """An ML-DSA-65 identity written by ``pqiot keys generate --alg ML-DSA-65`` (its .key file)."""
    from pqiot.reference.identity import IdentityError, load_private_key

    try:
        identity = load_private_key(path)
    except (IdentityError, OSError) as exc:
        raise BundleError([f"signing key {path}: {exc}"]) from None
    if identity.algorithm.cose_alg != SIGNING_ALG:
        raise BundleError(
            [
                f"signing key {path} is {identity.algorithm.name}; evidence bundles are signed "
                "with ML-DSA-65: make one with `pqiot keys generate --alg ML-DSA-65`"
            ]
        )
    return SigningKey(identity.public_key, identity.private_key, False, str(path))


def _files(directory: Path) -> dict[str, str]:
    digests: dict[str, str] = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            name = path.relative_to(directory).as_posix()
            if name not in _EXCLUDED:
                digests[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


def write_manifest(directory: Path, key: SigningKey, extra: dict[str, Any] | None = None) -> None:
    """Hash every file of ``directory`` and sign the manifest."""
    manifest = {
        "format": "pqiot-evidence-manifest",
        "version": 1,
        "hash": "sha-256",
        "signature_alg": "ML-DSA-65",
        "cose_alg": SIGNING_ALG,
        "public_key": key.public_key.hex(),
        "public_key_sha256": hashlib.sha256(key.public_key).hexdigest(),
        "ephemeral_key": key.ephemeral,
        "key_source": key.source,
        **(extra or {}),
        "files": _files(directory),
    }
    data = (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode()
    (directory / MANIFEST).write_bytes(data)
    signature = registry.signature(SIGNING_ALG).sign(key.private_key, data)
    (directory / SIGNATURE).write_bytes(signature)


def verify_bundle(directory: Path, trusted_public_key: bytes | None = None) -> dict[str, Any]:
    """Check signature and every hash; raise :class:`BundleError` listing all problems."""
    manifest_path, signature_path = directory / MANIFEST, directory / SIGNATURE
    missing = [p.name for p in (manifest_path, signature_path) if not p.is_file()]
    if missing:
        raise BundleError([f"{directory}: {', '.join(missing)} missing: not an evidence bundle"])
    data = manifest_path.read_bytes()
    try:
        manifest = json.loads(data)
        public_key = bytes.fromhex(manifest["public_key"])
        listed: dict[str, str] = manifest["files"]
    except (ValueError, KeyError, TypeError) as exc:
        raise BundleError([f"{MANIFEST} is malformed: {exc}"]) from None
    problems: list[str] = []
    if trusted_public_key is not None and public_key != trusted_public_key:
        problems.append("signed by a different key than the one you trust")
    if not registry.signature(SIGNING_ALG).verify(public_key, data, signature_path.read_bytes()):
        problems.append(f"{SIGNATURE}: the ML-DSA-65 signature over {MANIFEST} does not verify")
    actual = _files(directory)
    for name, digest in sorted(listed.items()):
        if name not in actual:
            problems.append(f"missing file: {name}")
        elif actual[name] != digest:
            problems.append(f"modified file: {name}")
    for name in sorted(set(actual) - set(listed)):
        problems.append(f"extra file not in the manifest: {name}")
    if problems:
        raise BundleError(problems)
    return dict(manifest)
