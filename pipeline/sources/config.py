"""The connectors' configuration file: which employee has which account, per network.

One TOML file for every network (docs/sources.md shows one). Credentials are
never in it: a section names the environment variable that holds its token
(`token_env`), read when the connector starts. msgspec validates the file, so
a typo in a key or a wrong type is an error naming the key, not a silent
default.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import msgspec

NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]


class ConfigError(ValueError):
    """The configuration file cannot be used; the message says where and why."""


class Section(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    token_env: str | None = None  # environment variable holding the bearer token, if any
    posts_since: datetime | None = None  # first run: posts older than this are not read

    def token(self) -> str | None:
        if self.token_env is None:
            return None
        value = os.environ.get(self.token_env, "")
        if not value:
            raise ConfigError(f"{self.token_env} is not set (named by token_env)")
        return value


class MastodonAccount(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    employee_id: NonEmpty
    acct: NonEmpty  # user@domain: the account's address, which is also its Chorus account_id
    # The instance's API, when it is not https://<domain of acct> (a domain that delegates).
    instance: str | None = None

    @property
    def domain(self) -> str:
        return self.acct.rpartition("@")[2].lower()

    @property
    def base_url(self) -> str:
        return (self.instance or f"https://{self.domain}").rstrip("/")


class MastodonConfig(Section, forbid_unknown_fields=True, kw_only=True):
    accounts: list[MastodonAccount] = []
    # The newest posts whose favourites, boosts and replies are read as engagement.
    engagement_posts: Annotated[int, msgspec.Meta(ge=0)] = 20


class BlueskyAccount(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    employee_id: NonEmpty
    did: Annotated[str, msgspec.Meta(pattern="^did:[a-z]+:.+")]  # people are keyed by DID


class BlueskyConfig(Section, forbid_unknown_fields=True, kw_only=True):
    accounts: list[BlueskyAccount] = []
    service: str = "https://public.api.bsky.app"  # an AppView's XRPC endpoint
    jetstream: str = "wss://jetstream2.us-east.bsky.network/subscribe"
    # Jetstream resumes this far before its last cursor: events seen twice are ignored
    # downstream (same event_id), events never seen would be lost.
    resume_margin_seconds: Annotated[float, msgspec.Meta(ge=0)] = 5.0
    engagement_posts: Annotated[int, msgspec.Meta(ge=0)] = 20


class ArchiveSource(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    employee_id: NonEmpty
    path: NonEmpty  # the unzipped folder or the .zip, relative to the config file (made absolute)
    # LinkedIn only: the member's profile address, their Chorus account_id (the export omits it).
    account_id: str | None = None
    # LinkedIn only: followers shown on the profile, when more than the connections.
    followers_count: Annotated[int, msgspec.Meta(ge=0)] | None = None


class ArchiveConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    archives: list[ArchiveSource] = []


class ConnectorsConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    mastodon: MastodonConfig | None = None
    bluesky: BlueskyConfig | None = None
    x: ArchiveConfig | None = None
    linkedin: ArchiveConfig | None = None


NETWORKS = ("mastodon", "bluesky", "x", "linkedin")  # the sections, and `chorus connect`'s choices


def load(path: Path) -> ConnectorsConfig:
    """The file at `path`, validated; raises ConfigError with the file and the key at fault."""
    try:
        config = msgspec.toml.decode(path.read_bytes(), type=ConnectorsConfig)
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror}") from exc
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    for account in config.mastodon.accounts if config.mastodon else ():
        if "@" not in account.acct.strip("@"):
            raise ConfigError(f"{path}: mastodon acct {account.acct!r} is not user@domain")
        if account.instance and urlsplit(account.instance).scheme not in ("http", "https"):
            raise ConfigError(f"{path}: mastodon instance {account.instance!r} is not a URL")
    for name, section in (("x", config.x), ("linkedin", config.linkedin)):
        for archive in section.archives if section else ():
            if name == "linkedin" and not archive.account_id:
                raise ConfigError(
                    f"{path}: linkedin archive of {archive.employee_id} needs account_id "
                    "(the member's profile address; the export does not contain it)"
                )
            # Archive paths are relative to the file that names them.
            archive.path = str((path.resolve().parent / archive.path).resolve())
    return config
