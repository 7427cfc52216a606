"""Identity evidence the networks themselves give: never names, only links their owners proved.

Two kinds, with the confidence each `identity_link` carries (the audience
graph merges accounts at `confidence >= 0.5`, docs/audience.md):

- `verified_link` (0.9): a Mastodon profile field whose link Mastodon marked
  verified (`verified_at`: the linked page links back with rel="me") and that
  points to a Bluesky profile (`bsky.app/profile/<did or handle>`, a handle
  resolved to its DID). Not 1.0: a verified link proves the Mastodon owner
  controls the page, and a profile page on bsky.app is the Bluesky owner's.
- `shared_domain` (0.95): a domain that two networks each verified for an
  account: a Bluesky handle that is a domain (Bluesky checks it by DNS or
  HTTPS) and a Mastodon verified link to that same host. Each connector
  records its side (`claim_domain`) in the checkpoints; whichever comes second
  emits the link, so the order of runs does not matter.

Links to X profiles are not used: X archives list followers by numeric id
only, so a username cannot be matched to anyone Chorus sees.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import msgspec

from pipeline.sources.events import event_id
from pipeline.sources.http import ApiClient, ApiError
from pipeline.sources.run import Connection
from schemas.events import IdentityLink

VERIFIED_LINK_CONFIDENCE = 0.9
SHARED_DOMAIN_CONFIDENCE = 0.95


def link(
    network_a: str, account_a: str, network_b: str, account_b: str, evidence: str, conn: Connection
) -> IdentityLink:
    (na, aa), (nb, ab) = sorted([(network_a, account_a), (network_b, account_b)])
    kind = evidence.partition(":")[0]
    return IdentityLink(
        event_id=event_id("identity", kind, na, aa, nb, ab),
        occurred_at=conn.now(),
        network_a=na,
        account_a=aa,
        network_b=nb,
        account_b=ab,
        evidence=evidence,
        confidence=SHARED_DOMAIN_CONFIDENCE
        if kind == "shared_domain"
        else VERIFIED_LINK_CONFIDENCE,
    )


def host_of(url: str) -> str | None:
    """The lower-cased host of an http(s) URL, without `www.`; None for anything else."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower()
    return host.removeprefix("www.")


def bluesky_profile(url: str) -> str | None:
    """The DID or handle of a `https://bsky.app/profile/<actor>` link, else None."""
    if host_of(url) != "bsky.app":
        return None
    path = urlsplit(url.strip()).path.strip("/").split("/")
    return path[1].lower() if len(path) >= 2 and path[0] == "profile" and path[1] else None


async def resolve_handle(api: ApiClient, service: str, handle: str) -> str | None:
    """The DID a Bluesky handle points to today, or None when it resolves to nothing."""
    try:
        response = await api.get(
            f"{service.rstrip('/')}/xrpc/com.atproto.identity.resolveHandle", {"handle": handle}
        )
    except ApiError:
        return None
    did = response.body.get("did") if isinstance(response.body, dict) else None
    return did if isinstance(did, str) and did.startswith("did:") else None


async def claim_domain(
    conn: Connection, domain: str, network: str, account_id: str
) -> list[IdentityLink]:
    """Record that `account_id` on `network` proved `domain`; send the links it makes.

    Returns the links sent (to accounts of other networks that proved the same domain).
    """
    key = f"identity/domain/{domain}"
    stored = conn.checkpoints.get(key)
    claims: dict[str, str] = msgspec.msgpack.decode(stored) if stored is not None else {}
    if claims.get(network) == account_id:
        return []
    links = [
        link(network, account_id, other, account, f"shared_domain: {domain}", conn)
        for other, account in sorted(claims.items())
        if other != network
    ]
    await conn.send(links)
    claims[network] = account_id
    await conn.checkpoints.put(key, msgspec.msgpack.encode(claims))
    return links
