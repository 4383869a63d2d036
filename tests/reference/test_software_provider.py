"""SoftwareSecurityProvider: private-key operations by reference, zeroisation, no leaks (D6)."""

from __future__ import annotations

import logging
import pickle

import pytest
from dilithium_py.ml_dsa import ML_DSA_44

from pqiot.reference.crypto import registry
from pqiot.reference.crypto.backends import cryptography_supports
from pqiot.reference.crypto.rng import ShakeRng
from pqiot.reference.security_provider import KeyRef, SecurityProvider
from pqiot.reference.software_provider import ProviderError, SoftwareSecurityProvider

ML_DSA_44_ALG = -48
ML_KEM_768 = -65702
X25519 = 4
XI = bytes(range(32))  # ML-DSA-44 private key = seed xi (FIPS 204 seed format)


@pytest.fixture
def provider() -> SoftwareSecurityProvider:
    return SoftwareSecurityProvider(rng=None)


def _mldsa_key(provider: SoftwareSecurityProvider, label: str = "id") -> KeyRef:
    public_key, _ = ML_DSA_44.key_derive(XI)
    return provider.add_signature_key(label, ML_DSA_44_ALG, XI, public_key)


def test_is_a_security_provider() -> None:
    typed: SecurityProvider = SoftwareSecurityProvider()
    assert typed is not None


def test_deterministic_signature_matches_fips204_reference(
    provider: SoftwareSecurityProvider,
) -> None:
    """rng=None selects deterministic ML-DSA (rnd = 0^32): the signature equals dilithium-py's."""
    ref = _mldsa_key(provider)
    _, expanded = ML_DSA_44.key_derive(XI)
    message = b"sign me"
    assert provider.sign(ref, message) == ML_DSA_44.sign(expanded, message, deterministic=True)
    assert provider.public_key(ref) == ML_DSA_44.key_derive(XI)[0]


def test_hedged_signatures_differ_and_verify() -> None:
    with SoftwareSecurityProvider(rng=ShakeRng(b"hedge")) as provider:
        ref = _mldsa_key(provider)
        a, b = provider.sign(ref, b"m"), provider.sign(ref, b"m")
        assert a != b
        scheme = registry.signature(ML_DSA_44_ALG)
        assert scheme.verify(provider.public_key(ref), b"m", a) and scheme.verify(
            provider.public_key(ref), b"m", b
        )


@pytest.mark.skipif(
    not cryptography_supports("ML-DSA-44"), reason="needs ML-DSA in the cryptography backend"
)
def test_system_rng_signing_parses_the_key_once_and_forgets_it_on_close() -> None:
    """Hedged signing with the system RNG uses a signer bound to the parsed key; close drops it."""
    provider = SoftwareSecurityProvider()
    ref = _mldsa_key(provider)
    entry = provider._keys["id"]
    assert entry.signer is not None
    scheme = registry.signature(ML_DSA_44_ALG)
    a, b = provider.sign(ref, b"m"), provider.sign(ref, b"m")
    assert a != b  # hedged
    assert scheme.verify(provider.public_key(ref), b"m", a)
    assert scheme.verify(provider.public_key(ref), b"m", b)
    provider.close()
    assert entry.signer is None and not any(entry.secret.buffer)


def test_deterministic_and_test_rngs_never_use_the_parsed_signer() -> None:
    """rng=None and seeded RNGs must stay reproducible, so they sign from the seed each time."""
    for rng in (None, ShakeRng(b"seeded")):
        with SoftwareSecurityProvider(rng=rng) as provider:
            _mldsa_key(provider)
            assert provider._keys["id"].signer is None


def test_remove_key_forgets_the_parsed_signer() -> None:
    provider = SoftwareSecurityProvider()
    ref = _mldsa_key(provider)
    entry = provider._keys["id"]
    provider.remove_key(ref)
    assert entry.signer is None


def test_generate_signature_key_is_reproducible_from_rng(
    provider: SoftwareSecurityProvider,
) -> None:
    ref = provider.generate_signature_key("gen", ML_DSA_44_ALG, ShakeRng(b"seed"))
    assert provider.public_key(ref) == ML_DSA_44.key_derive(ShakeRng(b"seed")(32))[0]
    assert ref == KeyRef("gen", ML_DSA_44_ALG)


def test_kem_key_decapsulates(provider: SoftwareSecurityProvider) -> None:
    kem = registry.kem(ML_KEM_768)
    ek, dk = kem.generate(ShakeRng(b"kem"))
    ref = provider.add_kem_key("kem", ML_KEM_768, dk, ek)
    encapsulation = kem.encapsulate(ek, ShakeRng(b"enc"))
    assert provider.decapsulate(ref, encapsulation.ciphertext) == encapsulation.shared_secret


def test_dh_key_exchanges_and_derives_its_public_key(provider: SoftwareSecurityProvider) -> None:
    group = registry.dh(X25519)
    pub_a, priv_a = group.generate(ShakeRng(b"a"))
    pub_b, priv_b = group.generate(ShakeRng(b"b"))
    ref = provider.add_dh_key("static", X25519, priv_a)
    assert provider.public_key(ref) == pub_a
    assert provider.dh(ref, pub_b) == group.exchange(priv_b, pub_a)
    with pytest.raises(ProviderError, match="does not belong"):
        provider.add_dh_key("bad", X25519, priv_a, pub_b)


def test_wrong_kind_wrong_alg_unknown_and_duplicate_keys_are_refused(
    provider: SoftwareSecurityProvider,
) -> None:
    ref = _mldsa_key(provider)
    with pytest.raises(ProviderError, match="not a kem key"):
        provider.decapsulate(ref, b"")
    with pytest.raises(ProviderError, match="algorithm"):
        provider.sign(KeyRef("id", -49), b"m")
    with pytest.raises(ProviderError, match="no key labelled"):
        provider.sign(KeyRef("nope", ML_DSA_44_ALG), b"m")
    with pytest.raises(ProviderError, match="already exists"):
        _mldsa_key(provider)
    with pytest.raises(ProviderError, match="public key must be 1312 bytes"):
        provider.add_signature_key("short", ML_DSA_44_ALG, XI, b"\x00" * 10)


def test_close_zeroises_every_key_buffer() -> None:
    provider = SoftwareSecurityProvider(rng=None)
    ref = _mldsa_key(provider)
    kem = registry.kem(ML_KEM_768)
    ek, dk = kem.generate(ShakeRng(b"kem"))
    provider.add_kem_key("kem", ML_KEM_768, dk, ek)
    buffers = [entry.secret.buffer for entry in provider._keys.values()]
    assert bytes(buffers[0]) == XI and bytes(buffers[1]) == dk
    provider.close()
    assert all(len(b) > 0 and not any(b) for b in buffers)
    with pytest.raises(ProviderError, match="closed"):
        provider.sign(ref, b"m")


def test_context_exit_zeroises_even_on_error() -> None:
    with pytest.raises(RuntimeError), SoftwareSecurityProvider() as provider:
        _mldsa_key(provider)
        buffer = provider._keys["id"].secret.buffer
        raise RuntimeError("boom")
    assert provider.closed and not any(buffer)


def test_remove_key_zeroises_it(provider: SoftwareSecurityProvider) -> None:
    ref = _mldsa_key(provider)
    buffer = provider._keys["id"].secret.buffer
    provider.remove_key(ref)
    assert not any(buffer) and provider.labels() == []
    with pytest.raises(ProviderError):
        provider.sign(ref, b"m")


def test_private_keys_never_show_in_repr_str_logs_or_pickles(
    provider: SoftwareSecurityProvider, caplog: pytest.LogCaptureFixture
) -> None:
    secret = bytes(range(100, 132))
    public_key, _ = ML_DSA_44.key_derive(secret)
    provider.add_signature_key("device", ML_DSA_44_ALG, secret, public_key)
    texts = [repr(provider), str(provider), repr(provider._keys), f"{provider}"]
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("pqiot.test").debug("provider %r %s", provider, provider)
    texts.append(caplog.text)
    for text in texts:
        assert (
            secret.hex() not in text and repr(secret) not in text and str(list(secret)) not in text
        )
    assert "device" in repr(provider)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(provider)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(provider._keys["device"].secret)


def test_a_public_key_of_another_private_key_is_refused() -> None:
    """REQ-SP-012: public_key(key_ref) is the private key's own, so a mismatched pair never
    enters the provider (seed and expanded ML-DSA-44 keys)."""
    scheme = registry.signature(-48)
    pk_a, xi_a = scheme.generate(ShakeRng(b"sp-012 a"))
    pk_b, _ = scheme.generate(ShakeRng(b"sp-012 b"))
    expanded_a = ML_DSA_44.key_derive(xi_a)[1]
    with SoftwareSecurityProvider(rng=None) as provider:
        assert provider.public_key(provider.add_signature_key("a", -48, xi_a, pk_a)) == pk_a
        assert provider.public_key(provider.add_signature_key("x", -48, expanded_a, pk_a)) == pk_a
        for label, secret in (("seed", xi_a), ("expanded", expanded_a)):
            with pytest.raises(ProviderError, match="does not belong"):
                provider.add_signature_key(label, -48, secret, pk_b)
