"""Identity files written by `pqiot keys generate` and their validating loaders."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from dilithium_py.ml_dsa import ML_DSA_44

from pqiot.reference import cbor
from pqiot.reference.audit import AuditLog, MemorySink
from pqiot.reference.credentials import parse_ccs
from pqiot.reference.crypto import registry
from pqiot.reference.crypto.rng import ShakeRng
from pqiot.reference.identity import (
    Identity,
    IdentityError,
    algorithm_by_name,
    default_kid,
    generate_identity,
    load_credential,
    load_identity,
    load_private_key,
    write_identity,
)
from pqiot.reference.software_provider import SoftwareSecurityProvider

NOW = 1767225600.0


@pytest.fixture
def mldsa44(tmp_path: Path) -> tuple[Identity, Path]:
    identity = generate_identity("ML-DSA-44", subject="sensor-17", rng=ShakeRng(b"identity"))
    write_identity(identity, tmp_path, "sensor", now=NOW)
    return identity, tmp_path


def test_generated_key_pair_is_the_fips204_key_of_the_rng_seed() -> None:
    identity = generate_identity("ml-dsa-44", subject="s", rng=ShakeRng(b"identity"))
    xi = ShakeRng(b"identity")(32)
    assert identity.private_key == xi
    assert identity.public_key == ML_DSA_44.key_derive(xi)[0]
    assert (
        identity.kid
        == hashlib.sha256(identity.public_key).digest()[:8]
        == default_kid(identity.public_key)
    )


def test_files_layout_modes_and_contents(mldsa44: tuple[Identity, Path]) -> None:
    identity, directory = mldsa44
    key_file, cred_file, summary_file = (
        directory / f"sensor.{ext}" for ext in ("key", "cred", "json")
    )
    assert key_file.stat().st_mode & 0o777 == 0o600  # REQ-KS-011
    assert cbor.decode(key_file.read_bytes()) == {
        "alg": -48,
        "kid": identity.kid,
        "private": identity.private_key,
        "public": identity.public_key,
    }
    credential = parse_ccs(cred_file.read_bytes())
    assert credential == identity.credential
    assert (credential.subject, credential.kid, credential.algorithm) == (
        "sensor-17",
        identity.kid,
        -48,
    )
    summary = json.loads(summary_file.read_text("utf-8"))
    assert (
        summary["alg"] == "ML-DSA-44"
        and summary["alg_id"] == -48
        and summary["status"] == "standard"
    )
    assert summary["kid"] == identity.kid.hex()  # type: ignore[union-attr]
    assert summary["subject"] == "sensor-17"
    assert summary["credential_sha256"] == hashlib.sha256(cred_file.read_bytes()).hexdigest()
    assert summary["created"] == "2026-01-01T00:00:00.000Z"
    assert identity.private_key.hex() not in summary_file.read_text("utf-8")


def test_load_identity_round_trips_and_signs(mldsa44: tuple[Identity, Path]) -> None:
    identity, directory = mldsa44
    loaded = load_identity(directory, "sensor")
    assert loaded == identity
    with SoftwareSecurityProvider() as provider:
        ref = loaded.install(provider)
        signature = provider.sign(ref, b"hello")
    assert registry.signature(-48).verify(loaded.credential.public_key, b"hello", signature)


def test_private_key_is_not_in_repr(mldsa44: tuple[Identity, Path]) -> None:
    identity, _ = mldsa44
    assert identity.private_key.hex() not in repr(identity) and repr(
        identity.private_key
    ) not in repr(identity)


def test_existing_files_are_not_overwritten(mldsa44: tuple[Identity, Path]) -> None:
    identity, directory = mldsa44
    with pytest.raises(IdentityError, match="refusing to overwrite"):
        write_identity(identity, directory, "sensor")
    write_identity(identity, directory, "sensor", overwrite=True)


def test_key_generated_is_audited(tmp_path: Path) -> None:
    sink = MemorySink()
    identity = generate_identity("ML-DSA-65", subject="gw", rng=ShakeRng(b"x"))
    write_identity(identity, tmp_path, "gw", now=NOW, audit=AuditLog(sink, clock=None))
    [record] = sink.records
    assert record["event"] == "key_generated" and record["peer"] == identity.kid.hex()  # type: ignore[union-attr]
    assert identity.private_key.hex() not in sink.lines[0]


@pytest.mark.parametrize(
    ("alg", "cose", "pk_size"),
    [("ML-DSA-65", -49, 1952), ("ML-DSA-87", -50, 2592), ("Ed25519", -8, 32)],
)
def test_other_algorithms(tmp_path: Path, alg: str, cose: int, pk_size: int) -> None:
    identity = generate_identity(alg, subject="dev", rng=ShakeRng(alg.encode()))
    write_identity(identity, tmp_path, "dev", now=NOW)
    loaded = load_identity(tmp_path, "dev")
    assert loaded.algorithm.cose_alg == cose == loaded.credential.algorithm
    assert len(loaded.public_key) == pk_size


def test_explicit_kid_is_kept(tmp_path: Path) -> None:
    identity = generate_identity("ML-DSA-44", subject="dev", kid=b"\x2b", rng=ShakeRng(b"k"))
    write_identity(identity, tmp_path, "dev", now=NOW)
    assert load_identity(tmp_path, "dev").credential.kid == b"\x2b"


def test_algorithm_names() -> None:
    assert algorithm_by_name("falcon512").cose_alg == -65601
    assert algorithm_by_name("FALCON-1024").cose_alg == -65602
    assert algorithm_by_name("EdDSA").status == "check-only"
    with pytest.raises(IdentityError, match="choose one of"):
        algorithm_by_name("RSA-2048")


# -- validation errors name the file and what to do ----------------------------


def test_group_readable_private_key_is_refused(mldsa44: tuple[Identity, Path]) -> None:
    _, directory = mldsa44
    key_file = directory / "sensor.key"
    os.chmod(key_file, 0o640)
    with pytest.raises(IdentityError, match="chmod 600"):
        load_private_key(key_file)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(IdentityError, match="does not exist; create it with `pqiot keys generate`"):
        load_identity(tmp_path, "ghost")


def _rewrite_key(directory: Path, document: object) -> Path:
    key_file = directory / "sensor.key"
    key_file.write_bytes(cbor.encode(document))  # type: ignore[arg-type]
    os.chmod(key_file, 0o600)
    return key_file


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda d: {k: v for k, v in d.items() if k != "kid"}, "exactly the fields"),
        (lambda d: {**d, "alg": "ML-DSA-44"}, "alg must be an integer"),
        (lambda d: {**d, "alg": -65537}, "not an identity algorithm"),
        (lambda d: {**d, "public": d["public"][:-1]}, "public key must be 1312 bytes"),
        (lambda d: {**d, "private": b"\x01" * 32}, "do not belong together"),
        (lambda d: {**d, "private": b"\x01" * 7}, "malformed"),
        (lambda d: [d["alg"]], "exactly the fields"),
    ],
)
def test_malformed_private_key_files(
    mldsa44: tuple[Identity, Path], mutate: object, problem: str
) -> None:
    _, directory = mldsa44
    document = cbor.decode((directory / "sensor.key").read_bytes())
    key_file = _rewrite_key(directory, mutate(document))  # type: ignore[operator]
    with pytest.raises(IdentityError) as info:
        load_private_key(key_file)
    assert str(key_file) in str(info.value) and problem in str(info.value)


def test_non_cbor_key_file(mldsa44: tuple[Identity, Path]) -> None:
    _, directory = mldsa44
    key_file = directory / "sensor.key"
    key_file.write_bytes(b"-----BEGIN PRIVATE KEY-----")
    with pytest.raises(IdentityError, match="not valid CBOR"):
        load_private_key(key_file)


def test_credential_of_another_key_is_detected(mldsa44: tuple[Identity, Path]) -> None:
    _, directory = mldsa44
    other = generate_identity("ML-DSA-44", subject="other", rng=ShakeRng(b"other"))
    (directory / "sensor.cred").write_bytes(other.credential.cred)
    with pytest.raises(IdentityError, match="does not hold the public key"):
        load_identity(directory, "sensor")


def test_garbage_credential_file(tmp_path: Path) -> None:
    path = tmp_path / "x.cred"
    path.write_bytes(cbor.encode({2: "s"}))
    with pytest.raises(IdentityError, match=f"credential file {path} is not a usable CCS"):
        load_credential(path)


def test_bad_identity_name(tmp_path: Path) -> None:
    identity = generate_identity("Ed25519", subject="s", rng=ShakeRng(b"e"))
    with pytest.raises(IdentityError, match="plain file name"):
        write_identity(identity, tmp_path, "../escape")


# -- Falcon (pure-Python keygen takes seconds: fast tests use a stored identity) ----

DATA = Path(__file__).parent / "data"
FALCON_SEED = b"pqiot falcon-512 test identity"
#: (file stem, subject, seed) of the stored Falcon-512 identities; two, because
#: the peers of a session need distinct subjects (REQ-CRED-007).
FALCON_IDENTITIES = (
    ("falcon512-test", "falcon-test-device", FALCON_SEED),
    ("falcon512-test-b", "falcon-test-device-b", FALCON_SEED + b" b"),
)


def copy_falcon_identity(directory: Path, name: str = "falcon512-test") -> Path:
    """Copy a stored Falcon-512 identity, restoring mode 0600 that git drops."""
    for ext in ("key", "cred", "json"):
        (directory / f"{name}.{ext}").write_bytes((DATA / f"{name}.{ext}").read_bytes())
    os.chmod(directory / f"{name}.key", 0o600)
    return directory


def test_falcon512_identity_loads_and_signs(tmp_path: Path) -> None:
    loaded = load_identity(copy_falcon_identity(tmp_path), "falcon512-test")
    assert loaded.credential.algorithm == -65601 and len(loaded.public_key) == 897
    assert loaded.kid == default_kid(loaded.public_key)
    with SoftwareSecurityProvider() as provider:
        signature = provider.sign(loaded.install(provider), b"m")
    assert len(signature) == 666 and registry.signature(-65601).verify(
        loaded.public_key, b"m", signature
    )


@pytest.mark.slow
@pytest.mark.parametrize(("name", "subject", "seed"), FALCON_IDENTITIES)
def test_falcon512_test_identity_is_reproducible(
    tmp_path: Path, name: str, subject: str, seed: bytes
) -> None:
    """Each stored test identity is exactly what its documented seed generates."""
    identity = generate_identity("Falcon-512", subject=subject, rng=ShakeRng(seed))
    write_identity(identity, tmp_path, name, now=NOW)
    for ext in ("key", "cred", "json"):
        assert (tmp_path / f"{name}.{ext}").read_bytes() == (DATA / f"{name}.{ext}").read_bytes()


def test_stored_falcon512_identities_are_distinct_peers(tmp_path: Path) -> None:
    """The two stored identities can face each other: other kid, other subject (REQ-CRED-007)."""
    first, second = (
        load_identity(copy_falcon_identity(tmp_path, name), name)
        for name, _, _ in FALCON_IDENTITIES
    )
    assert first.kid != second.kid
    assert (first.credential.subject, second.credential.subject) == (
        "falcon-test-device",
        "falcon-test-device-b",
    )


@pytest.mark.slow
def test_falcon1024_identity(tmp_path: Path) -> None:
    identity = generate_identity("Falcon-1024", subject="big", rng=ShakeRng(b"falcon-1024"))
    write_identity(identity, tmp_path, "big", now=NOW)
    loaded = load_identity(tmp_path, "big")
    assert len(loaded.public_key) == 1793
    assert json.loads((tmp_path / "big.json").read_text("utf-8"))["status"] == "experimental"
