"""Workspace accounts: a name, a role and an argon2 password hash, in one JSON file.

A file, not a table: the accounts must exist before anything else runs (the
demo creates its reviewer before ClickHouse holds a row), an operator can back
it up and edit it with `chorus users`, and it never leaves the machine. It is
written atomically, readable by its owner only. The server reads it again when
it changes, so a removed account or a new password takes effect at once.
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from pathlib import Path
from typing import Literal

import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

Role = Literal["viewer", "reviewer", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "reviewer", "admin")
MIN_PASSWORD_CHARS = 12
USER_NAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")

_hasher = PasswordHasher()
# Verified against when the name is unknown, so that a wrong name costs as long as a wrong password.
_DECOY = _hasher.hash(secrets.token_urlsafe(16))


class User(msgspec.Struct, frozen=True):
    name: str
    role: Role
    password_hash: str = ""  # "": single sign-on only, no password login

    def may(self, role: Role) -> bool:
        """Whether this user has `role`'s rights (admin ⊃ reviewer ⊃ viewer)."""
        return ROLES.index(self.role) >= ROLES.index(role)


class UserError(ValueError):
    """A request `chorus users` or the login must refuse, with why."""


class Users:
    """The accounts in `path`, read again whenever the file changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[int, int] | None = None
        self._users: dict[str, User] = {}

    def all(self) -> dict[str, User]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return {}
        if self._seen != (stat.st_mtime_ns, stat.st_size):
            users = msgspec.json.decode(self.path.read_bytes(), type=list[User])
            self._users = {user.name: user for user in users}
            self._seen = (stat.st_mtime_ns, stat.st_size)
        return self._users

    def get(self, name: str) -> User | None:
        return self.all().get(name)

    def verify(self, name: str, password: str) -> User | None:
        """The user if the password is theirs; None otherwise, in the same time either way."""
        user = self.get(name)
        try:
            _hasher.verify(user.password_hash if user and user.password_hash else _DECOY, password)
        except (VerificationError, InvalidHashError):
            return None
        if user is None or not user.password_hash:
            return None
        if _hasher.check_needs_rehash(user.password_hash):
            self._save(
                {
                    **self.all(),
                    name: msgspec.structs.replace(user, password_hash=_hasher.hash(password)),
                }
            )
        return user

    def add(self, name: str, role: Role, password: str | None) -> None:
        """`password` None: a single sign-on account, which no password opens."""
        if not USER_NAME.fullmatch(name):
            raise UserError(f"{name!r} is not a user name (up to 64 letters, digits, . - _ @)")
        if role not in ROLES:
            raise UserError(f"{role!r} is not a role: {', '.join(ROLES)}")
        if name in self.all():
            raise UserError(f"{name} exists already")
        self._save({**self.all(), name: User(name, role, _hash(password))})

    def remove(self, name: str) -> None:
        users = dict(self.all())
        if users.pop(name, None) is None:
            raise UserError(f"no user {name}")
        self._save(users)

    def set_password(self, name: str, password: str) -> None:
        user = self.get(name)
        if user is None:
            raise UserError(f"no user {name}")
        self._save(
            {**self.all(), name: msgspec.structs.replace(user, password_hash=_hash(password))}
        )

    def _save(self, users: dict[str, User]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = msgspec.json.format(
            msgspec.json.encode(sorted(users.values(), key=lambda u: u.name))
        )
        fd, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".users-")
        try:
            with os.fdopen(fd, "wb") as out:  # mkstemp's file is the owner's only (0600)
                out.write(body + b"\n")
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def _hash(password: str | None) -> str:
    if password is None:
        return ""
    if len(password) < MIN_PASSWORD_CHARS:
        raise UserError(f"a password needs at least {MIN_PASSWORD_CHARS} characters")
    return _hasher.hash(password)


def generated_password() -> str:
    """A password to print once (the demo's reviewer, `chorus users add` without --password)."""
    return secrets.token_urlsafe(15)
