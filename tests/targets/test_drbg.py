"""The firmware's HMAC_DRBG (targets/firmware/src/drbg.c, REQ-SP-008) against NIST CAVP vectors.

The DRBG has no TAP command, so the same C source the images are built from is compiled into a
small host harness (drbg_kat.c) with gcc. The vectors are transcribed from the NIST CAVP DRBG
test vectors (HMAC_DRBG.rsp, [SHA-256], PredictionResistance = False, EntropyInputLen = 256,
NonceLen = 128, ReturnedBitsLen = 1024); the CAVP procedure is instantiate, (reseed,)
generate, generate, and ReturnedBits is the second output. The firmware runs two of them as its
start-up self-test (rng.c rng_selftest), checked here as well.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "targets" / "firmware" / "src"
PQCLEAN = ROOT / "build" / "deps" / "pqclean-0.8.1" / "deps" / "PQClean"

#: (entropy, nonce, personalization, reseed entropy, returned bits); "-" = absent.
CAVP = {
    # drbgvectors_no_reseed/HMAC_DRBG.rsp, [SHA-256], PersonalizationStringLen = 0, COUNT = 0
    "no_reseed_count0": (
        "ca851911349384bffe89de1cbdc46e6831e44d34a4fb935ee285dd14b71a7488",
        "659ba96c601dc69fc902940805ec0ca8",
        "-",
        "-",
        "e528e9abf2dece54d47c7e75e5fe302149f817ea9fb4bee6f4199697d04d5b89"
        "d54fbb978a15b5c443c9ec21036d2460b6f73ebad0dc2aba6e624abf07745bc1"
        "07694bb7547bb0995f70de25d6b29e2d3011bb19d27676c07162c8b5ccde0668"
        "961df86803482cb37ed6d5c0bb8d50cf1f50d476aa0458bdaba806f48be9dcb8",
    ),
    # drbgvectors_pr_false/HMAC_DRBG.rsp, [SHA-256], PersonalizationStringLen = 0,
    # AdditionalInputLen = 0: instantiate, reseed with EntropyInputReseed, generate twice
    "pr_false_with_reseed": (
        "06032cd5eed33f39265f49ecb142c511da9aff2af71203bffaf34a9ca5bd9c0d",
        "0e66f71edc43e42a45ad3c6fc6cdc4df",
        "-",
        "01920a4e669ed3a85ae8a33b35a74ad7fb2a6bb4cf395ce00334a9c9a5a5d552",
        "76fc79fe9b50beccc991a11b5635783a83536add03c157fb30645e611c2898bb"
        "2b1bc215000209208cd506cb28da2a51bdb03826aaf2bd2335d576d519160842"
        "e7158ad0949d1a9ec3e66ea1b1a064b005de914eac2e9d4f2d72a8616a802254"
        "22918250ff66a41bd2f864a6a38cc5b6499dc43f7f2bd09e1e0f8f5885935124",
    ),
}


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("gcc not installed (Debian package gcc)")
    if not (PQCLEAN / "common" / "sha2.c").exists():
        pytest.skip("PQClean sources missing: run `make deps/pqclean`")
    binary = tmp_path_factory.mktemp("drbg") / "drbg_kat"
    sources = [Path(__file__).with_name("drbg_kat.c")] + [
        SRC / name for name in ("drbg.c", "rng.c", "hkdf.c", "secure_zero.c")
    ]
    command = ["gcc", "-std=c99", "-O1", "-Wall", "-Wextra", "-Werror", f"-I{SRC}"]
    command += [f"-I{PQCLEAN}", f"-I{PQCLEAN / 'common'}", *map(str, sources)]
    command += [str(PQCLEAN / "common" / "sha2.c"), "-o", str(binary)]
    built = subprocess.run(command, capture_output=True, text=True, check=False)
    assert built.returncode == 0, f"the DRBG harness does not compile:\n{built.stderr[-3000:]}"
    return binary


def _run(harness: Path, *args: str) -> str:
    result = subprocess.run([str(harness), *args], capture_output=True, text=True, check=False)
    assert result.returncode == 0, (result.returncode, result.stderr)
    return result.stdout.strip()


@pytest.mark.parametrize("name", sorted(CAVP))
def test_hmac_drbg_sha256_matches_the_cavp_vector(harness: Path, name: str) -> None:
    """REQ-SP-008: the firmware's DRBG is SP 800-90A HMAC_DRBG exactly (NIST CAVP)."""
    entropy, nonce, pers, reseed, returned = CAVP[name]
    assert _run(harness, "kat", entropy, nonce, pers, reseed, "128") == returned


def test_a_changed_input_bit_changes_the_output(harness: Path) -> None:
    """The vector check is not vacuous: one flipped entropy bit gives another output."""
    entropy, nonce, pers, reseed, returned = CAVP["no_reseed_count0"]
    flipped = f"{int(entropy[:2], 16) ^ 1:02x}" + entropy[2:]
    assert _run(harness, "kat", flipped, nonce, pers, reseed, "128") != returned


def test_firmware_start_up_self_test_passes(harness: Path) -> None:
    """rng.c runs its embedded CAVP vectors before seeding; they must pass (0)."""
    assert _run(harness, "selftest") == "0"


def test_reseed_is_required_after_the_interval(harness: Path) -> None:
    """SP 800-90A §10.1.2.5 step 1: past the reseed interval generate asks for a reseed (1)."""
    assert _run(harness, "interval") == "1"
