"""Reading an OpenSSH public key line down to its wire format (type and strength)."""

from __future__ import annotations

import base64

from strategies import AZURE_ADMIN_KEY, AZURE_RSA_KEY

from nixk8s.ssh_keys import PublicKey, public_key


def wire(*fields: bytes) -> str:
    """SSH wire-format fields (each a length-prefixed string), base64-encoded."""
    return base64.b64encode(b"".join(len(f).to_bytes(4, "big") + f for f in fields)).decode()


def test_an_ed25519_key_is_read_with_its_type_and_256_bits() -> None:
    assert public_key(AZURE_ADMIN_KEY).unwrap() == PublicKey("ssh-ed25519", 256)


def test_an_rsa_key_is_as_strong_as_its_modulus() -> None:
    assert public_key(AZURE_RSA_KEY).unwrap() == PublicKey("ssh-rsa", 2048)


def test_a_short_rsa_key_reports_its_modulus_bits() -> None:
    line = "ssh-rsa " + wire(b"ssh-rsa", b"\x01\x00\x01", b"\x00" + b"\xff" * 128)
    assert public_key(line).unwrap() == PublicKey("ssh-rsa", 1024)


def test_the_comment_is_optional() -> None:
    assert public_key(" ".join(AZURE_ADMIN_KEY.split()[:2])).unwrap().type == "ssh-ed25519"


def test_a_key_type_nixk8s_does_not_read_is_still_named() -> None:
    line = "ecdsa-sha2-nistp256 " + wire(b"ecdsa-sha2-nistp256", b"nistp256", b"\x04" + bytes(64))
    assert public_key(line).unwrap().type == "ecdsa-sha2-nistp256"


def test_a_path_is_not_a_key() -> None:
    assert "not an OpenSSH public key line" in public_key("~/.ssh/id_ed25519.pub").failure()


def test_two_keys_on_two_lines_are_not_one_key() -> None:
    assert "not an OpenSSH public key line" in public_key(AZURE_ADMIN_KEY + "\n" + AZURE_RSA_KEY).failure()


def test_key_data_that_is_not_base64_is_refused() -> None:
    assert "not base64" in public_key("ssh-ed25519 not*base64").failure()


def test_a_line_whose_type_differs_from_its_key_data_is_refused() -> None:
    data = AZURE_ADMIN_KEY.split()[1]
    assert "holds a 'ssh-ed25519' key" in public_key(f"ssh-rsa {data}").failure()


def test_truncated_key_data_is_refused() -> None:
    line = "ssh-ed25519 " + wire(b"ssh-ed25519")
    assert "ends early" in public_key(line).failure()


def test_an_ed25519_key_of_the_wrong_length_is_refused() -> None:
    line = "ssh-ed25519 " + wire(b"ssh-ed25519", bytes(31))
    assert "32 bytes" in public_key(line).failure()


def test_bytes_after_the_key_are_refused() -> None:
    line = "ssh-ed25519 " + wire(b"ssh-ed25519", bytes(32), b"extra")
    assert "bytes after the key" in public_key(line).failure()
