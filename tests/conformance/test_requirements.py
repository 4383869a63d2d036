"""The catalogue is exactly the spec extractor's output."""

from __future__ import annotations

import json
import subprocess
import sys

from pqiot.conformance.requirements import load_catalogue, spec_dir


def test_catalogue_matches_the_extractor_cli() -> None:
    script = spec_dir() / "tools" / "extract_requirements.py"
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=True
    ).stdout
    expected = [r["id"] for r in json.loads(out)]
    catalogue = load_catalogue()
    assert catalogue.ids() == expected
    assert len(set(expected)) == len(expected)
    assert catalogue.spec_version == "1.0.0-draft"
    assert catalogue.get("REQ-HS-004").level == "MUST"
