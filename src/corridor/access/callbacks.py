"""Where webhook callbacks may go: to public addresses only, unless the installation allows more.

A subscriber names its callback URL; Corridor's delivery worker then posts events there from
inside the installation's network. Without a check, any writer could make it post to the
loopback interface, the cloud's metadata service or any internal host (SSRF). So a callback
host must resolve only to public (globally routable, unicast) addresses. This is checked when a
subscription is created or changed (a clear 400) and again at every delivery, where the request
then goes to the very address that was checked (DNS may have changed since, or answer
differently to the second look-up). `CORRIDOR_WEBHOOK_ALLOW_PRIVATE=1` (Settings.
webhook_allow_private) lifts the rule for installations whose receivers are on localhost or a
private network: tests, a self-hosted single machine. docs/access.md.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from urllib.parse import urlsplit

SETTING = "CORRIDOR_WEBHOOK_ALLOW_PRIVATE"

# NAT64 prefixes (RFC 6052, RFC 8215): the IPv4 address inside is the one reached
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


class CallbackRefused(ValueError):
    """The callback URL may not be used; the message says why (about the URL only)."""


def _kind(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """None for a public unicast address; otherwise what it is."""
    if ip.version == 6:
        inner = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if inner is None and any(ip in n for n in _NAT64):
            inner = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if inner is not None and (why := _kind(inner)):
            return f"{why} (inside {ip})"
    for name, flag in (("unspecified", ip.is_unspecified), ("loopback", ip.is_loopback),
                       ("link-local", ip.is_link_local), ("multicast", ip.is_multicast),
                       ("private", ip.is_private), ("reserved", ip.is_reserved)):
        if flag:
            return f"a {name} address"
    if not ip.is_global:
        return "not a public address"
    return None


@dataclass(frozen=True)
class Target:
    """Where to post: the URL with its host replaced by a checked address, the Host header and
    (https) the server name for TLS, so the certificate is still checked against the host."""

    url: str
    headers: dict = field(default_factory=dict)
    extensions: dict = field(default_factory=dict)


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        raise CallbackRefused(f"callback host {host} does not resolve ({e})") from None
    return list(dict.fromkeys(info[4][0] for info in infos))


def check(url: str) -> list[str]:
    """The addresses `url`'s host resolves to, every one public; CallbackRefused otherwise."""
    parts = urlsplit(url)
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        raise CallbackRefused("callbackUrl must be an absolute http(s) URL")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise CallbackRefused("callbackUrl has an invalid port") from None
    if host == "localhost" or host.endswith(".localhost"):
        raise CallbackRefused(f"callback host {host} is this machine")
    addresses = _resolve(host, port)
    if not addresses:
        raise CallbackRefused(f"callback host {host} has no address")
    for a in addresses:
        why = _kind(ipaddress.ip_address(a.split("%", 1)[0]))
        if why:
            shown = host if host == a else f"{host} ({a})"
            raise CallbackRefused(f"callback host {shown} is {why}: callbacks go to public addresses only "
                                  f"(an installation whose receivers are private sets {SETTING}=1)")
    return addresses


def target(url: str, allow_private: bool) -> Target:
    """Where a delivery to `url` goes: as it is when private addresses are allowed, else pinned
    to the first address `check` found public (no second look-up between check and connect)."""
    if allow_private:
        return Target(url)
    import httpx
    address = check(url)[0]
    u = httpx.URL(url)
    headers = {"Host": u.netloc.decode("ascii")}
    if u.scheme != "https":
        return Target(str(u.copy_with(host=address)), headers)
    # the certificate is checked against the host name (SNI); the connection is not kept, so it is
    # never reused for another host name that shares the address (the pool knows only the address)
    headers["Connection"] = "close"
    return Target(str(u.copy_with(host=address)), headers, {"sni_hostname": u.raw_host.decode("ascii")})
