"""`pqiot vectors`: list, verify (text and --json), generate, accumulated, --target."""

from __future__ import annotations

import json
import shutil
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pqiot.cli.main import main
from pqiot.vectors import targets
from pqiot.vectors.agent import ReferenceAgent
from pqiot.vectors.catalog import DATA_DIR, all_sets


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["vectors", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_list_prints_one_line_per_set_with_count_and_source(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "list")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == len(all_sets())
    by_name = {line.split()[0]: line for line in lines}
    assert "cryptography_vectors" in by_name["mlkem-kat"] and " 30 " in by_name["mlkem-kat"]
    assert "[slow]" in by_name["accumulated-10k"]
    assert "data/handshakes/suite*.json" in by_name["protocol-handshakes"]


def test_verify_json_prints_exactly_the_documented_shape(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(
        capsys, "verify", "--set", "hkdf-sha256", "--set", "negative-protocol", "--json"
    )
    assert code == 0, err
    document = json.loads(out)
    assert list(document) == ["sets"]
    assert [s["name"] for s in document["sets"]] == ["hkdf-sha256", "negative-protocol"]
    for entry in document["sets"]:
        assert set(entry) == {"name", "passed", "failed", "skipped", "source"}
        assert entry["failed"] == entry["skipped"] == 0 and entry["passed"] > 0
    assert "RFC 5869" in document["sets"][0]["source"]


def test_verify_text_output_and_slow_sets_reported_as_skipped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "verify", "--set", "chacha20poly1305")
    assert code == 0
    assert out.startswith("PASS chacha20poly1305: 71 passed, 0 failed, 0 skipped")
    assert out.splitlines()[-1].startswith("71 passed, 0 failed, 0 skipped")


def test_verify_exits_1_and_names_file_and_record_of_a_bad_vector(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    shutil.copytree(DATA_DIR, tmp_path, dirs_exist_ok=True)
    path = tmp_path / "negative-protocol.json"
    document = json.loads(path.read_text())
    document["records"][3]["inputs"]["message"] = "not hex"
    path.write_text(json.dumps(document))
    code, out, _ = run(capsys, "verify", "--set", "negative-protocol", "--data-dir", str(tmp_path))
    assert code == 1
    assert "FAIL negative-protocol: 18 passed, 1 failed" in out
    assert f"{path}: record 3 (inputs): field 'inputs.message' is not valid hex" in out


def test_verify_rejects_an_unknown_set_with_usage_status(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(capsys, "verify", "--set", "no-such-set")
    assert code == 2 and "unknown vector set(s): no-such-set" in err


def test_target_without_a_hil_registry_exits_2_and_points_to_issue_6(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(targets, "HIL_TARGETS_MODULE", "pqiot_tests_no_such_registry")
    for args in (
        ("verify", "--target", "nucleo-l4"),
        ("accumulated", "--scheme", "ML-KEM-768", "--iterations", "1", "--target", "qemu"),
    ):
        code, out, err = run(capsys, *args)
        assert code == 2 and out == ""
        assert "no HIL targets are defined yet" in err and "issue 6" in err


class _FakeRegistry(types.ModuleType):
    """A HIL target registry with one target backed by the reference (records what ran)."""

    def __init__(self) -> None:
        super().__init__("pqiot_tests_fake_registry")
        self.opened: list[str] = []

    @contextmanager
    def open_primitive_agent(self, name: str) -> Iterator[ReferenceAgent]:
        if name != "bench-1":
            raise KeyError(f"no target named {name!r}; known targets: bench-1")
        self.opened.append(name)
        yield ReferenceAgent()


def test_target_runs_primitive_sets_through_the_registry_agent(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = _FakeRegistry()
    monkeypatch.setitem(sys.modules, registry.__name__, registry)
    monkeypatch.setattr(targets, "HIL_TARGETS_MODULE", registry.__name__)
    code, out, err = run(
        capsys,
        "verify",
        "--target",
        "bench-1",
        "--set",
        "hkdf-sha256",
        "--set",
        "protocol-pubsub",
        "--json",
    )
    assert code == 0, err
    sets = {s["name"]: s for s in json.loads(out)["sets"]}
    assert sets["hkdf-sha256"]["passed"] == 3
    assert (sets["protocol-pubsub"]["passed"], sets["protocol-pubsub"]["skipped"]) == (0, 10)
    assert registry.opened == ["bench-1"]
    code, _, err = run(capsys, "verify", "--target", "bench-9", "--set", "hkdf-sha256")
    assert code == 2 and "unknown target 'bench-9'" in err and "bench-1" in err


def test_accumulated_prints_the_digest_on_its_last_line(capsys: pytest.CaptureFixture[str]) -> None:
    """REQ-TAP-012 via the CLI: ML-KEM-768 x 100 is Go's published 1114b1b6..."""
    code, out, _ = run(capsys, "accumulated", "--scheme", "ML-KEM-768", "--iterations", "100")
    assert code == 0
    assert (
        out.splitlines()[-1] == "1114b1b6699ed191734fa339376afa7e285c9e6acf6ff0177d346696ce564415"
    )
    assert "match" in out


def test_accumulated_rejects_unknown_schemes(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "accumulated", "--scheme", "Kyber-768", "--iterations", "1")
    assert code == 2 and "ML-KEM-768" in err


def test_generate_writes_byte_identical_files(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(
        capsys,
        "generate",
        "--out",
        str(tmp_path),
        "--only",
        "negative-protocol.json",
        "--only",
        "handshakes/suite2.json",
    )
    assert code == 0 and "2 files written" in out
    for name in ("negative-protocol.json", "handshakes/suite2.json"):
        assert (tmp_path / name).read_bytes() == (DATA_DIR / name).read_bytes()
    code, _, err = run(capsys, "generate", "--out", str(tmp_path), "--only", "nope.json")
    assert code == 2 and "unknown vector file" in err


def test_progress_bars_only_on_a_terminal_and_never_with_json(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pqiot.cli import vectors_cmd

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert vectors_cmd._show_progress(json_output=False)
    assert not vectors_cmd._show_progress(json_output=True)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    assert not vectors_cmd._show_progress(json_output=False)
