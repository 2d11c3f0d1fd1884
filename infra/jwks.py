#!/usr/bin/env python3
"""Prints the public JWKS of an ES256 signing key (PKCS#8 PEM), exactly as
the HTTP function serves it at /.well-known/jwks.json: the key id is the
first 16 characters of the key's RFC 7638 SHA-256 thumbprint
(shared/src/auth.rs). Needs python3 and the openssl command only.

    python3 infra/jwks.py jwt-signing-key.pem
"""

import base64
import hashlib
import json
import subprocess
import sys


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: python3 infra/jwks.py <PKCS#8 PEM of a P-256 key>")
    der = subprocess.run(
        ["openssl", "pkey", "-in", sys.argv[1], "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    point = der[-65:]
    if len(der) != 91 or point[0] != 4:
        sys.exit("not a P-256 (prime256v1) key")
    x, y = b64url(point[1:33]), b64url(point[33:])
    canonical = f'{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}'
    kid = b64url(hashlib.sha256(canonical.encode()).digest())[:16]
    key = {"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "alg": "ES256"}
    print(json.dumps({"keys": [key]}, separators=(",", ":")))


if __name__ == "__main__":
    main()
