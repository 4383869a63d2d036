"""Footprint report of the reference firmware images (issue 4, spec §13.6 last paragraph).

Cortex-M4 image: per component from the linker map, so only what survived
``--gc-sections`` is counted; flash = text + data, static RAM = data + bss, and the
reserved stack region is listed separately (peak stack per operation comes from MEASURE).
Host image: ``size`` of the executable and of each component's objects.

Usage: footprint.py --map M4.map --elf M4.elf --host HOST_BIN --json OUT.json
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

# Product targets (design/measurement.md): minimum and recommended device.
MIN_FLASH, MIN_RAM = 256 * 1024, 64 * 1024
REC_FLASH, REC_RAM = 512 * 1024, 128 * 1024

OUTPUT_KIND = {
    ".text": "text",
    ".ARM.exidx": "text",
    ".data": "data",
    ".bss": "bss",
    ".stack": "stack",
}
_OUTPUT = re.compile(r"^(\.[\w.]+)(?:\s|$)")
_INPUT_FULL = re.compile(r"^ (\S+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$")
_INPUT_NAME = re.compile(r"^ ([^\s*]\S*)$")
_INPUT_REST = re.compile(r"^\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$")
_FILL = re.compile(r"^ \*fill\*\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)")


# Objects of src/ that are not TAP plumbing. tap_proto.o holds the session table (protocol
# state) and the thin TAP handlers of the protocol roles.
COMPONENT_OF_AGENT_OBJECT = {
    "prims.o": "prims",
    "aead.o": "modes",
    "hkdf.o": "modes",
    "edhoc.o": "protocol",
    "records.o": "protocol",
    "creds.o": "protocol",
    "work.o": "protocol",
    "tap_proto.o": "protocol",
    "pubsub.o": "protocol",
}


def component(path: str) -> str:
    """Footprint component of one linked input file."""
    match = re.search(r"/obj/([^/]+)/", path)
    if match:
        group = match.group(1)
        if group == "agent":
            name = path.rsplit("/", 1)[-1]
            return COMPONENT_OF_AGENT_OBJECT.get(name, "agent")
        return "platform" if group.startswith("platform-") else group
    if "libgcc" in path:
        return "libgcc"
    if "libc" in path:
        return "libc"
    return "other"


#: Input sections that hold NVM contents (flash on a board): the KeyStore of creds.c.
KEYSTORE_SECTION = ".rodata_keystore"


def _component_of(section: str, path: str) -> str:
    return "keystore" if section == KEYSTORE_SECTION else component(path)


def _contributions(body: str) -> list[tuple[str, int, int, str]]:
    """(kind, address, size, component) of every input section and fill in the memory map."""
    entries: list[tuple[str, int, int, str]] = []
    kind: str | None = None
    pending_name = ""
    for line in body.splitlines():
        out = _OUTPUT.match(line)
        if out:
            kind = OUTPUT_KIND.get(out.group(1))
            pending_name = ""
            continue
        if kind is None:
            continue
        fill = _FILL.match(line)
        full = _INPUT_FULL.match(line)
        rest = _INPUT_REST.match(line) if pending_name else None
        if fill:
            entries.append((kind, int(fill.group(1), 16), int(fill.group(2), 16), "padding"))
        elif full and not full.group(4).startswith("0x"):
            owner = _component_of(full.group(1), full.group(4))
            entries.append((kind, int(full.group(2), 16), int(full.group(3), 16), owner))
        elif rest and not rest.group(3).startswith("0x"):
            owner = _component_of(pending_name, rest.group(3))
            entries.append((kind, int(rest.group(1), 16), int(rest.group(2), 16), owner))
        name = _INPUT_NAME.match(line)
        pending_name = name.group(1) if name else ""
    return entries


def parse_map(text: str) -> dict[str, dict[str, int]]:
    """Bytes per (component, text/data/bss/stack) from a GNU ld map file.

    Mergeable string sections are listed with their sizes before merging and overlap;
    only the bytes of each address range not yet counted are attributed.
    """
    body = text.split("Linker script and memory map", 1)[-1]
    sizes: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    covered: dict[str, int] = defaultdict(int)
    for kind, address, size, name in sorted(_contributions(body)):
        start = max(address, covered[kind])
        end = address + size
        if end > start:
            sizes[name][kind] += end - start
            covered[kind] = end
    return {name: dict(kinds) for name, kinds in sizes.items()}


def berkeley_size(tool: str, paths: list[Path]) -> dict[str, int]:
    """Summed text/data/bss of files as ``size`` (Berkeley format) reports them."""
    output = subprocess.run([tool, *map(str, paths)], check=True, capture_output=True, text=True)
    total = {"text": 0, "data": 0, "bss": 0}
    for line in output.stdout.splitlines()[1:]:
        fields = line.split()
        for key, value in zip(("text", "data", "bss"), fields[:3], strict=True):
            total[key] += int(value)
    return total


def host_report(binary: Path) -> dict[str, object]:
    groups: dict[str, list[Path]] = defaultdict(list)
    for obj in sorted((binary.parent / "obj").rglob("*.o")):
        groups[component(str(obj))].append(obj)
    return {
        "image": berkeley_size("size", [binary]),
        "components": {name: berkeley_size("size", objs) for name, objs in sorted(groups.items())},
    }


def m4_report(map_file: Path, elf: Path) -> dict[str, object]:
    components = parse_map(map_file.read_text())
    stack = sum(kinds.pop("stack", 0) for kinds in components.values())
    totals = {k: sum(c.get(k, 0) for c in components.values()) for k in ("text", "data", "bss")}
    flash = totals["text"] + totals["data"]
    ram = totals["data"] + totals["bss"]
    return {
        "image": totals,
        "size_tool": berkeley_size("arm-none-eabi-size", [elf]),
        "components": {
            name: {k: kinds.get(k, 0) for k in ("text", "data", "bss")}
            for name, kinds in sorted(components.items())
        },
        "flash": flash,
        "static_ram": ram,
        "stack_reserved": stack,
        "fits_min_flash": flash <= MIN_FLASH,
        "fits_min_static_ram": ram <= MIN_RAM,
        "fits_recommended_flash": flash <= REC_FLASH,
        "fits_recommended_static_ram": ram <= REC_RAM,
    }


def table(title: str, report: dict[str, object]) -> str:
    comps = report["components"]
    assert isinstance(comps, dict)
    lines = [title, f"  {'component':<16}{'text':>9}{'data':>8}{'bss':>9}"]
    for name, kinds in comps.items():
        lines.append(f"  {name:<16}{kinds['text']:>9}{kinds['data']:>8}{kinds['bss']:>9}")
    image = report["image"]
    assert isinstance(image, dict)
    lines.append(f"  {'image':<16}{image['text']:>9}{image['data']:>8}{image['bss']:>9}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--map", type=Path, required=True)
    parser.add_argument("--elf", type=Path, required=True)
    parser.add_argument("--host", type=Path, required=True)
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args(argv)
    m4 = m4_report(args.map, args.elf)
    host = host_report(args.host)
    args.json.write_text(json.dumps({"qemu-m4": m4, "host": host}, indent=2) + "\n")
    print(table(f"qemu-m4 ({args.elf})", m4))
    print(
        f"  flash {m4['flash']} B (min device {MIN_FLASH}: "
        f"{'fits' if m4['fits_min_flash'] else 'does not fit'}), static RAM {m4['static_ram']} B "
        f"(min device {MIN_RAM}: {'fits' if m4['fits_min_static_ram'] else 'does not fit'}), "
        f"stack region {m4['stack_reserved']} B"
    )
    print(table(f"host ({args.host}; components are object sums before linking)", host))
    print(f"footprint written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
