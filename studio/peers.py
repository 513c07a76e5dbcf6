"""Who a request comes from, and how often each client may ask for work.

The client is the socket peer. Forwarded headers (``X-Forwarded-For``, then ``Forwarded``, then
``X-Real-IP``) count only when that peer is a proxy the operator lists (``--trusted-proxies``, env
``RESTORATION_TRUSTED_PROXIES``: addresses or CIDR networks, comma separated; default none); the
client is then the right-most address of the chain that is not itself a trusted proxy. uvicorn's own
forwarded-header rewriting (which trusts 127.0.0.1 by default) is switched off by :func:`launch_settings`,
so gradio's ``request.client`` is always the socket peer.

:class:`RateLimiter` keeps one token bucket per (action, client) for uploads, restorations, joins and
play reports; a refused request gets one line and nothing is written. Both the buckets and the
client records elsewhere are bounded (least recently used go first).
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

import gradio as gr

from restoration import BadInputError

TRUSTED_PROXIES_ENV = "RESTORATION_TRUSTED_PROXIES"
RATE_LIMITS_ENV = "RESTORATION_RATE_LIMITS"
#: Longest client key kept (a non-IP token in a forwarded header is cut to this).
MAX_KEY = 64
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


# ============================================================================== the client's address

class TrustedProxies:
    """The proxies whose forwarded headers are believed: addresses and networks (``"10.0.0.0/8"``)."""

    def __init__(self, spec: str | Iterable[str] = ()):
        items = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
        self.networks = []
        for item in items:
            try:
                self.networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise BadInputError(f"trusted proxy {item!r} is not an IP address or network "
                                    "(such as 10.0.0.1 or 10.0.0.0/8)") from None

    def __bool__(self) -> bool:
        return bool(self.networks)

    def __contains__(self, host: str) -> bool:
        address = _address(host)
        return address is not None and any(address in net for net in self.networks)

    def client(self, peer: str, headers: Any = None) -> str:
        """The client's address: ``peer`` unless ``peer`` is trusted, then the right-most untrusted
        address of the forwarded chain (the left-most when every hop is trusted)."""
        peer = _normal(peer) or "local"
        if peer not in self or headers is None:
            return peer
        chain = forwarded_chain(headers)
        for host in reversed(chain):
            if host not in self:
                return host
        return chain[0] if chain else peer


def forwarded_chain(headers: Any) -> list[str]:
    """The addresses the proxies recorded, oldest first: ``X-Forwarded-For`` if present, else the
    ``for=`` of ``Forwarded`` (RFC 7239), else ``X-Real-IP``; each normalised (ports dropped)."""
    xff = _values(headers, "x-forwarded-for")
    if xff:
        raw = [part for value in xff for part in value.split(",")]
    else:
        forwarded = _values(headers, "forwarded")
        if forwarded:
            raw = [m.group(1) for value in forwarded for m in re.finditer(r'(?i)\bfor\s*=\s*("[^"]*"|[^;,\s]+)', value)]
        else:
            raw = _values(headers, "x-real-ip")[-1:]
    return [host for host in (_normal(part) for part in raw) if host]


def _values(headers: Any, name: str) -> list[str]:
    """Every value of header ``name`` (starlette ``Headers`` or a plain mapping)."""
    if hasattr(headers, "getlist"):
        return list(headers.getlist(name))
    if isinstance(headers, Mapping):
        return [str(v) for k, v in headers.items() if str(k).lower() == name]
    return []


def _address(host: str) -> _Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _normal(host: Any) -> str:
    """``host`` without quotes, brackets or port; IP addresses in canonical form; '' when empty."""
    text = str(host or "").strip().strip('"').strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    address = _address(text)
    if address is not None:
        mapped = getattr(address, "ipv4_mapped", None)
        return str(mapped or address)
    return text[:MAX_KEY]


_trusted = TrustedProxies()


def trust(proxies: TrustedProxies) -> None:
    """Make ``proxies`` the ones this process believes (set once at start by ``app.main``)."""
    global _trusted
    _trusted = proxies


def client_address(request: Any) -> str:
    """The address a gradio request (``gr.Request`` or starlette ``Request``) came from, under the
    trusted proxies; "local" when there is no request (tests, start-up work)."""
    if request is None:
        return "local"
    peer = getattr(getattr(request, "client", None), "host", None)
    try:
        headers = request.headers
    except Exception:  # a gr.Request without a real request behind it
        headers = None
    return _trusted.client(peer, headers)


def launch_settings() -> None:
    """Switch off uvicorn's forwarded-header handling (read from ``FORWARDED_ALLOW_IPS`` when gradio
    builds its server), so the socket peer reaches :func:`client_address` unchanged."""
    os.environ["FORWARDED_ALLOW_IPS"] = ""


# ============================================================================== rate limits

@dataclass(frozen=True)
class Rate:
    """A token bucket: up to ``burst`` at once, refilled at ``burst`` per ``period_s`` seconds."""

    burst: float
    period_s: float

    @property
    def per_s(self) -> float:
        return self.burst / self.period_s


#: What each action is called in a refusal, and its default rate per client.
ACTIONS = {"restore": "restorations", "upload": "uploads", "upload_mb": "upload megabytes", "join": "joins",
           "played": "play reports"}


def default_rates(max_upload_mb: float = 300.0) -> dict[str, Rate]:
    """Per client: 20 restorations a minute, 30 uploads a minute and 3 largest uploads per 10 minutes,
    30 joins and 240 play reports a minute."""
    return {"restore": Rate(20, 60.0), "upload": Rate(30, 60.0), "upload_mb": Rate(3 * max_upload_mb, 600.0),
            "join": Rate(30, 60.0), "played": Rate(240, 60.0)}


def parse_rates(text: str, rates: dict[str, Rate]) -> dict[str, Rate]:
    """``rates`` with the overrides of ``text`` (``"restore=5/60,join=10/60"``: ACTION=COUNT/SECONDS)."""
    rates = dict(rates)
    for item in (part.strip() for part in str(text or "").split(",")):
        if not item:
            continue
        match = re.fullmatch(r"(\w+)\s*=\s*([0-9.eE+]+)\s*/\s*([0-9.eE+]+)", item)
        if not match or match.group(1) not in ACTIONS:
            raise BadInputError(f"rate limit {item!r} must be ACTION=COUNT/SECONDS with ACTION one of "
                                f"{', '.join(ACTIONS)}")
        try:
            burst, period = float(match.group(2)), float(match.group(3))
        except ValueError:
            burst = period = math.nan
        if not (0 < burst < math.inf and 0 < period < math.inf):
            raise BadInputError(f"rate limit {item!r}: COUNT and SECONDS must be numbers above zero")
        rates[match.group(1)] = Rate(burst, period)
    return rates


class RateLimiter:
    """Token buckets per (action, client) with at most ``max_clients`` buckets kept (the least
    recently used go first; a forgotten client starts with a full bucket)."""

    def __init__(self, rates: dict[str, Rate] | None = None, *, max_clients: int = 10_000,
                 clock: Callable[[], float] = time.monotonic):
        self.rates = dict(rates or default_rates())
        self.max_clients, self.clock = max_clients, clock
        self._buckets: OrderedDict[tuple[str, str], tuple[float, float]] = OrderedDict()  # -> (tokens, when)
        self._lock = threading.Lock()

    def take(self, action: str, client: str, cost: float = 1.0) -> float:
        """Spend ``cost`` tokens of ``client``'s ``action`` bucket: 0.0 when allowed, else the
        seconds until it would be (nothing is spent then)."""
        rate = self.rates[action]
        now = self.clock()
        with self._lock:
            tokens, when = self._buckets.pop((action, client), (rate.burst, now))
            tokens = min(rate.burst, tokens + (now - when) * rate.per_s)
            cost = min(cost, rate.burst)  # one request larger than the bucket waits for a full bucket
            wait = 0.0 if tokens >= cost else (cost - tokens) / rate.per_s
            self._buckets[(action, client)] = (tokens - cost if not wait else tokens, now)
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
        return wait

    def refusal(self, action: str, wait: float) -> str:
        """The one line a refused client reads."""
        return f"too many {ACTIONS[action]} from your address; try again in {math.ceil(wait)} s"

    def check(self, action: str, request: Any, cost: float = 1.0) -> None:
        """Raise a one-line ``gr.Error`` when ``request``'s client is over its ``action`` rate."""
        wait = self.take(action, client_address(request), cost)
        if wait:
            raise gr.Error(self.refusal(action, wait), print_exception=False)

    def __len__(self) -> int:
        return len(self._buckets)


_limiter = RateLimiter()


def limiter() -> RateLimiter:
    """This process's rate limiter (set at start by :func:`use_limiter`)."""
    return _limiter


def use_limiter(new: RateLimiter) -> None:
    global _limiter
    _limiter = new


def limit(action: str, request: Any, cost: float = 1.0) -> None:
    """:meth:`RateLimiter.check` on this process's limiter."""
    _limiter.check(action, request, cost)


class UploadLimit:
    """ASGI middleware: a POST to gradio's ``/upload`` counts one upload and its ``Content-Length``
    in MB against the client's buckets; over the rate it is answered 429 with one line before a byte
    of the body is read (so nothing is written)."""

    def __init__(self, app, limiter_of: Callable[[], RateLimiter] = limiter):
        self.app, self.limiter_of = app, limiter_of

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope.get("method") == "POST" and scope.get("path", "").endswith("/upload"):
            from starlette.requests import Request
            from starlette.responses import PlainTextResponse

            request = Request(scope)
            client = client_address(request)
            try:
                megabytes = int(request.headers.get("content-length") or 0) / 1e6
            except ValueError:
                megabytes = 0.0
            rates = self.limiter_of()
            for action, cost in (("upload", 1.0), ("upload_mb", megabytes)):
                wait = rates.take(action, client, cost) if cost else 0.0
                if wait:
                    await PlainTextResponse(rates.refusal(action, wait), status_code=429)(scope, receive, send)
                    return
        await self.app(scope, receive, send)


# ============================================================================== flags

def add_arguments(parser) -> None:
    """``--trusted-proxies`` and ``--rate-limits`` (each with its environment variable)."""
    env = os.environ.get
    parser.add_argument("--trusted-proxies", default=env(TRUSTED_PROXIES_ENV, ""), metavar="LIST",
                        help="proxies whose X-Forwarded-For/Forwarded/X-Real-IP are believed: addresses or "
                             f"networks, comma separated (env {TRUSTED_PROXIES_ENV}; default none: the socket peer)")
    parser.add_argument("--rate-limits", default=env(RATE_LIMITS_ENV, ""), metavar="LIST",
                        help="per-client limits ACTION=COUNT/SECONDS, comma separated, ACTION one of "
                             f"{', '.join(ACTIONS)} (env {RATE_LIMITS_ENV}; defaults in README)")


def from_arguments(parser, args, max_upload_mb: float) -> None:
    """Install the trusted proxies and rate limits the flags ask for; a bad value stops the app with
    one line (exit status 2)."""
    try:
        proxies = TrustedProxies(args.trusted_proxies)
        rates = parse_rates(args.rate_limits, default_rates(max_upload_mb))
    except BadInputError as exc:
        parser.exit(2, f"error: {exc}\n")
    trust(proxies)
    use_limiter(RateLimiter(rates))
