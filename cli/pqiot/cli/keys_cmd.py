"""``pqiot keys``: identity key pairs and credentials for the KeyStore."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pqiot.cli.errors import CliError

KEYSTORE_FILE = "keystore.json"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("keys", help="generate identities, allow-list peers")
    commands = parser.add_subparsers(dest="keys_command", metavar="ACTION", required=True)

    generate = commands.add_parser(
        "generate", help="generate an identity key pair and its CCS credential"
    )
    generate.add_argument(
        "--alg",
        required=True,
        help="ML-DSA-44, ML-DSA-65, ML-DSA-87, Falcon-512, Falcon-1024 or Ed25519 (check-only)",
    )
    generate.add_argument("--out", required=True, type=Path, help="directory to write into")
    generate.add_argument("--name", default=None, help="file stem (default: the algorithm name)")
    generate.add_argument(
        "--subject",
        default="",
        help="CCS subject; must differ from every peer's (default: <file stem>-<kid hex>)",
    )
    generate.add_argument("--kid", default=None, help="key id as hex (default: SHA-256(pk)[:8])")
    generate.add_argument("--force", action="store_true", help="overwrite existing files")
    generate.set_defaults(handler=run_generate)

    trust = commands.add_parser("trust", help="allow-list a peer credential (.cred) in a keystore")
    trust.add_argument("credential", type=Path, help="the peer's .cred file")
    trust.add_argument("--keystore", required=True, type=Path, help="keystore directory")
    trust.set_defaults(handler=run_trust)

    show = commands.add_parser("show", help="list a keystore's identities and trusted peers")
    show.add_argument("--keystore", required=True, type=Path, help="keystore directory")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=run_show)


def run_generate(args: argparse.Namespace) -> int:
    from pqiot.reference.identity import (
        IdentityError,
        algorithm_by_name,
        generate_identity,
        unique_subject,
        write_identity,
    )

    try:
        algorithm = algorithm_by_name(args.alg)
        name = args.name or algorithm.name.lower()
        kid = bytes.fromhex(args.kid) if args.kid else None
        identity = generate_identity(algorithm.name, subject=args.subject or name, kid=kid)
        if not args.subject:  # peers refuse a peer with their own sub (REQ-CRED-007)
            identity = identity.with_subject(unique_subject(name, identity.kid))
        files = write_identity(identity, args.out, name, overwrite=args.force)
    except ValueError as exc:
        raise CliError(f"--kid must be hex: {exc}", 2) from exc
    except IdentityError as exc:
        raise CliError(str(exc), 2) from exc
    print(
        f"{algorithm.name} identity, kid {identity.credential.kid!r}, "
        f"subject {identity.credential.subject!r}"
    )
    for path in (files.key, files.cred, files.summary):
        print(f"  wrote {path}")
    if algorithm.status != "standard":
        print(
            f"  note: {algorithm.name} is {algorithm.status} in PQC-IIoT v1 (see spec/03-suites.md)"
        )
    return 0


def run_trust(args: argparse.Namespace) -> int:
    from pqiot.reference.identity import IdentityError, load_credential
    from pqiot.reference.keystore import KeyStore, KeyStoreError
    from pqiot.reference.trust import kid_hex

    try:
        credential = load_credential(args.credential)
        store = KeyStore(args.keystore / KEYSTORE_FILE)
        store.add(credential)
    except (IdentityError, KeyStoreError) as exc:
        raise CliError(str(exc), 1) from exc
    print(f"trusted kid {kid_hex(credential.kid)} ({credential.subject}) in {store.path}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from pqiot.reference.keystore import KeyStore, KeyStoreError
    from pqiot.reference.trust import kid_hex

    directory: Path = args.keystore
    if not directory.is_dir():
        raise CliError(f"{directory} is not a directory", 2)
    try:
        store = KeyStore(directory / KEYSTORE_FILE)
    except KeyStoreError as exc:
        raise CliError(str(exc)) from exc
    identities = sorted(p.stem for p in directory.glob("*.key"))
    peers = [
        {
            "kid": kid_hex(entry.credential.kid),
            "subject": entry.credential.subject,
            "alg": entry.credential.algorithm,
            "source": entry.source.value,
        }
        for entry in store
    ]
    if args.json:
        print(json.dumps({"identities": identities, "trusted": peers}, indent=2))
        return 0
    print(f"identities: {', '.join(identities) or '(none)'}")
    for peer in peers:
        print(
            f"trusted: kid {peer['kid']} {peer['subject']!r} alg {peer['alg']} ({peer['source']})"
        )
    return 0
