#!/usr/bin/env bash
# Install the Debian 12 packages pqiot needs, only when some are missing.
#
# Why a script and not a line in the Makefile: the check must be cheap on a
# warm machine (dpkg status only, no network), and the install must run
# unattended in CI (no stdin, CI=true).
#
#   mosquitto                  MQTT broker for the `network` binding tests
#   qemu-system-arm            Cortex-M4 emulation (target qemu-m4)
#   gcc-arm-none-eabi          firmware toolchain
#   libnewlib-arm-none-eabi    C library for the firmware
#   libcoap3-bin               coap-client / coap-server for CoAP interop
#   valgrind                   callgrind instruction counts for benchmarks
#
# Environment:
#   PQIOT_SKIP_APT=1   skip this step entirely (non-Debian host, packages
#                      provided another way).
set -euo pipefail

packages=(
    mosquitto
    qemu-system-arm
    gcc-arm-none-eabi
    libnewlib-arm-none-eabi
    libcoap3-bin
    valgrind
)

# Tools the rest of `make setup` needs; on a stock Debian image they come from
# these packages, elsewhere (pyenv Python, NodeSource Node.js) they are
# already present without a Debian package, so ask only when they are absent.
python=${PYTHON:-python3}
if ! command -v npm >/dev/null 2>&1; then
    packages+=(npm)
fi
if ! command -v "$python" >/dev/null 2>&1; then
    packages+=(python3 python3-venv)
elif ! "$python" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    packages+=(python3-venv)
fi

if [[ "${PQIOT_SKIP_APT:-0}" == 1 ]]; then
    echo "setup-debian: PQIOT_SKIP_APT=1, not checking Debian packages"
    exit 0
fi

if ! command -v dpkg >/dev/null 2>&1; then
    echo "setup-debian: no dpkg here (not Debian?). Install the equivalents of:" >&2
    echo "    ${packages[*]}" >&2
    echo "then rerun with PQIOT_SKIP_APT=1." >&2
    exit 1
fi

is_installed() {
    # `dpkg -s` also succeeds for removed packages whose config files remain,
    # so read the status line rather than the exit code alone.
    dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed$'
}

missing=()
for pkg in "${packages[@]}"; do
    is_installed "$pkg" || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
    echo "setup-debian: all ${#packages[@]} Debian packages present"
    exit 0
fi

echo "setup-debian: installing ${missing[*]}"
sudo=()
if ((EUID != 0)); then
    if command -v sudo >/dev/null 2>&1; then
        sudo=(sudo -n)
    else
        echo "setup-debian: not root and no sudo; as root run:" >&2
        echo "    apt-get update && apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q </dev/null
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null

for pkg in "${missing[@]}"; do
    if ! is_installed "$pkg"; then
        echo "setup-debian: $pkg still not installed after apt-get; see the output above" >&2
        exit 1
    fi
done
echo "setup-debian: done"
