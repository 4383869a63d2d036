#!/bin/bash -eu
# OSS-Fuzz / ClusterFuzzLite build script for the pqiot parser fuzzers.
#
# Runs inside the oss-fuzz base-builder-python image, where $SRC/pqiot is this
# repository and `compile_python_fuzzer` (PyInstaller + the Atheris runtime) is
# on the PATH. Locally (no compile_python_fuzzer), `PYTHON=.venv/bin/python
# OUT=/tmp/out fuzz/build.sh` uses the current environment as it is (no pip
# install, so an editable checkout stays editable) and only writes the seed
# corpora and dictionaries.
#
# For each harness of pqiot.fuzz.harnesses it produces, in $OUT:
#   fuzz_<name>                 the libFuzzer-style executable (from fuzz/harnesses/)
#   fuzz_<name>_seed_corpus.zip valid messages produced by the reference + vector files
#   fuzz_<name>.dict            the spec's constants for that parser

REPO="${SRC:-$(cd "$(dirname "$0")/.." && pwd)}/pqiot"
[ -d "$REPO/fuzz" ] || REPO="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${OUT:?set OUT to the output directory}"
PYTHON="${PYTHON:-python3}"

cd "$REPO"
if command -v compile_python_fuzzer >/dev/null; then
  "$PYTHON" -m pip install --no-input --disable-pip-version-check -q . atheris
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
"$PYTHON" -m pqiot.fuzz.corpus seeds --out "$WORK/seeds"
"$PYTHON" -m pqiot.fuzz.corpus dicts --out "$WORK/dicts"

for fuzzer in fuzz/harnesses/fuzz_*.py; do
  name="$(basename "$fuzzer" .py)"
  harness="${name#fuzz_}"
  if command -v compile_python_fuzzer >/dev/null; then
    compile_python_fuzzer "$fuzzer"
  fi
  (cd "$WORK/seeds/$harness" && zip -q -r "$OUT/${name}_seed_corpus.zip" .)
  cp "$WORK/dicts/$harness.dict" "$OUT/$name.dict"
done
