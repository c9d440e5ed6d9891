"""OpenSSH public keys: one ``authorized_keys`` line, read down to its wire format.

A cloud that installs an operator's key at first boot refuses some key types and
short RSA keys at apply time; reading the key here lets the compiler say so with
the spec path instead. Only the public half is ever seen, so nothing here is secret.
"""

from __future__ import annotations

import base64
import binascii

import msgspec
from returns.result import Failure, Result, Success


class PublicKey(msgspec.Struct, frozen=True):
    """A parsed public key: its type name and its strength in bits (RSA: the modulus)."""

    type: str
    bits: int


class _Reader:
    """SSH wire-format fields (RFC 4251 §5), front to back."""

    def __init__(self, blob: bytes) -> None:
        self.blob = blob
        self.at = 0

    def string(self) -> bytes:
        if self.at + 4 > len(self.blob):
            raise ValueError("the key data ends early")
        size = int.from_bytes(self.blob[self.at : self.at + 4], "big")
        start, self.at = self.at + 4, self.at + 4 + size
        if self.at > len(self.blob):
            raise ValueError("the key data ends early")
        return self.blob[start : self.at]

    def done(self) -> bool:
        return self.at == len(self.blob)


def _fields(kind: str, reader: _Reader) -> int:
    """Read the fields after the type name; return the key's bits."""
    if kind == "ssh-rsa":
        reader.string()  # the public exponent
        modulus = int.from_bytes(reader.string(), "big")
        return modulus.bit_length()
    if kind == "ssh-ed25519":
        key = reader.string()
        if len(key) != 32:
            raise ValueError(f"an ed25519 key is 32 bytes, this one {len(key)}")
        return 256
    # other types: the name is all a caller needs to refuse them
    reader.at = len(reader.blob)
    return 0


def public_key(line: str) -> Result[PublicKey, str]:
    """The key on one ``TYPE BASE64 [COMMENT]`` line, or why it is not one.

    >>> blob = b"\\x00\\x00\\x00\\x0bssh-ed25519\\x00\\x00\\x00\\x20" + bytes(range(32))
    >>> public_key("ssh-ed25519 " + base64.b64encode(blob).decode() + " ops@example").unwrap()
    PublicKey(type='ssh-ed25519', bits=256)
    >>> public_key("~/.ssh/id_ed25519.pub").failure()
    'not an OpenSSH public key line ("TYPE BASE64 [COMMENT]", e.g. the contents of ~/.ssh/id_ed25519.pub)'
    """
    parts = line.strip().split(None, 2)
    if "\n" in line.strip() or len(parts) < 2:
        return Failure(
            'not an OpenSSH public key line ("TYPE BASE64 [COMMENT]", e.g. the contents of ~/.ssh/id_ed25519.pub)'
        )
    kind, data = parts[0], parts[1]
    try:
        blob = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return Failure(f"the key data after {kind!r} is not base64")
    reader = _Reader(blob)
    try:
        embedded = reader.string().decode("ascii", "replace")
        if embedded != kind:
            return Failure(f"the line says {kind!r} but the key data holds a {embedded!r} key")
        bits = _fields(kind, reader)
    except ValueError as err:
        return Failure(f"the key data is damaged: {err}")
    if not reader.done():
        return Failure("the key data is damaged: it has bytes after the key")
    return Success(PublicKey(kind, bits))
