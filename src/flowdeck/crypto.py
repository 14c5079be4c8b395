"""Encryption at rest for secrets (Fernet: AES-128-CBC with HMAC-SHA256), and signed tokens."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from flowdeck.filemodes import create_private_file, ensure_private_dir


class SecretBox:
    """Encrypts and decrypts short values with the instance's key."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)
        self._key = key

    @classmethod
    def from_passphrase(cls, value: str) -> SecretBox:
        """A box from `FLOWDECK_SECRET_KEY`: a Fernet key, or any text (hashed into one)."""
        raw = value.encode()
        try:
            if len(base64.urlsafe_b64decode(raw)) == 32:
                return cls(raw)
        except (ValueError, TypeError):
            pass
        return cls(base64.urlsafe_b64encode(hashlib.sha256(raw).digest()))

    @classmethod
    def from_data_dir(cls, data_dir: Path) -> SecretBox:
        """The key in `<data_dir>/secret.key`, generated (mode 0600) on first use."""
        path = data_dir / "secret.key"
        if path.exists():
            return cls(path.read_bytes().strip())
        ensure_private_dir(data_dir)
        key = Fernet.generate_key()
        create_private_file(path, key + b"\n")
        return cls(key)

    @property
    def key(self) -> bytes:
        """The Fernet key itself: what a backup must carry to read the secrets again."""
        return self._key

    def encrypt(self, plaintext: str) -> str:
        """Ciphertext as text."""
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        """Plaintext; ValueError when the key does not match."""
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("cannot decrypt: the secret key does not match") from exc

    def signing_key(self, purpose: str) -> bytes:
        """A key derived for one purpose (e.g. workflow tokens), never the raw key."""
        return hashlib.sha256(self._key + b"|" + purpose.encode()).digest()
