"""Accounts, sessions, CSRF tokens and login rate limiting.

* Passwords: scrypt (stdlib ``hashlib.scrypt``, n=2^14, r=8, p=1: about
  16 MiB and tens of milliseconds per check) with a random 16-byte salt per
  user; compared in constant time.  An unknown user costs the same hash,
  so timing does not tell which accounts exist.
* Sessions: a random 32-byte token in an ``HttpOnly``, ``SameSite=Strict``
  cookie (``Secure`` over TLS); the store keeps only its SHA-256, so a copy
  of the database opens no session.  Idle sessions expire.
* CSRF: a random token per session, sent with every form and checked on
  every POST (and, before login, a double-submit cookie for the login form).
* Rate limiting: failed logins are counted per account and per client
  address over a sliding window; past either limit, logins are refused
  (HTTP 429) until the oldest failure leaves the window -- even with the
  right password, so guessing cannot go on at a slower pace unnoticed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import defaultdict, deque

from .store import Store

SCRYPT = {"n": 1 << 14, "r": 8, "p": 1}
USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@")


def hash_password(password: str, salt: bytes, params: dict = SCRYPT) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=params["n"], r=params["r"], p=params["p"],
                          maxmem=64 << 20, dklen=32)


def check_username(name: str) -> str:
    if not (1 <= len(name) <= 64) or not set(name) <= USERNAME_CHARS:
        raise ValueError(f"user name {name!r}: use 1-64 letters, digits and . _ - @")
    return name


def add_user(store: Store, name: str, password: str, patients: list[str], now: float) -> None:
    """``ecg-web adduser``: create (or replace) an account seeing exactly ``patients``."""
    check_username(name)
    if len(password) < 8:
        raise ValueError("the password must have at least 8 characters")
    salt = secrets.token_bytes(16)
    store.put_user(name, salt, hash_password(password, salt), SCRYPT, patients, now)


_DUMMY_SALT = secrets.token_bytes(16)


def verify(store: Store, name: str, password: str) -> bool:
    user = store.user(name)
    if user is None:
        hash_password(password, _DUMMY_SALT)  # the same work as for a real account
        return False
    return hmac.compare_digest(hash_password(password, user.salt, user.params), user.hash)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def same(a: str | None, b: str | None) -> bool:
    """Constant-time equality of two tokens (False when either is missing)."""
    return bool(a) and bool(b) and hmac.compare_digest(a.encode(), b.encode())


class Sessions:
    def __init__(self, store: Store, idle_s: float):
        self.store, self.idle_s = store, idle_s

    def open(self, user: str, now: float) -> str:
        """A new session for ``user``; returns the cookie's token."""
        token = secrets.token_urlsafe(32)
        self.store.add_session(token_hash(token), user, secrets.token_urlsafe(24), now)
        return token

    def find(self, token: str | None, now: float) -> tuple[str, str] | None:
        """(user, csrf token) of a live session; an expired one is ended."""
        if not token:
            return None
        key = token_hash(token)
        found = self.store.session(key)
        if found is None:
            return None
        user, csrf, last_seen = found
        if now - last_seen > self.idle_s:
            self.store.end_session(key)
            return None
        if now - last_seen > 60:  # keep writes rare
            self.store.touch_session(key, now)
        return user, csrf

    def close(self, token: str | None) -> None:
        if token:
            self.store.end_session(token_hash(token))


class LoginLimiter:
    """Failed logins per account and per address within ``window_s``; over a limit: wait."""

    def __init__(self, window_s: float, per_account: int, per_address: int):
        self.window_s, self.limits = window_s, {"account": per_account, "address": per_address}
        self._failures: dict[tuple[str, str], deque[float]] = defaultdict(deque)

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures[key]
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[key]  # keeps the table as small as the attack
            return deque()
        return times

    def retry_after(self, account: str, address: str, now: float) -> float:
        """Seconds until a login may be tried (0: now)."""
        wait = 0.0
        for kind, value in (("account", account), ("address", address)):
            times = self._recent((kind, value), now)
            if len(times) >= self.limits[kind]:
                wait = max(wait, times[len(times) - self.limits[kind]] + self.window_s - now)
        return wait

    def failed(self, account: str, address: str, now: float) -> None:
        for key in (("account", account), ("address", address)):
            self._failures[key].append(now)

    def succeeded(self, account: str) -> None:
        self._failures.pop(("account", account), None)
