"""Users, API keys and who is asking.

Roles are ordered ``viewer < agent < admin``. Passwords are Argon2id-hashed and API keys
SHA-256-hashed (:mod:`api.passwords`); plaintext keys are shown once, at creation. Each
user has a ``session_version`` that every session cookie carries: bumping it (log-out,
new password) ends all of the user's sessions at once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from api.passwords import (
    api_key_matches,
    check_password,
    hash_api_key,
    hash_password,
    key_prefix,
    new_api_key,
    verify_password,
)
from tickets.models import ApiKey, User

Role = Literal["viewer", "agent", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "agent", "admin")
_DUMMY_HASH = hash_password("kizuki-timing-equaliser")
TOUCH_EVERY_S = 60.0


@dataclass(frozen=True, slots=True)
class Principal:
    """Whoever a request acts for: a logged-in user or an API key."""

    name: str
    role: Role
    via: Literal["session", "api_key"]
    user_id: int | None = None
    agent_id: int | None = None
    locale: str | None = None
    timezone: str = "UTC"

    def has_role(self, needed: Role) -> bool:
        return ROLES.index(self.role) >= ROLES.index(needed)

    @property
    def actor(self) -> str:
        """How this principal appears in case timelines."""
        return f"user:{self.name}" if self.via == "session" else f"key:{self.name}"


def _check_role(role: str) -> Role:
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, not {role!r}")
    return role


def create_user(
    session_factory: sessionmaker[Session],
    username: str,
    password: str,
    role: str,
    locale: str = "en",
    agent_id: int | None = None,
) -> int:
    """Create a web user, or reset the password and role of an existing one; its id."""
    checked = _check_role(role)
    with session_factory.begin() as session:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            user = User(username=username, password_hash="", role=checked)
            session.add(user)
        else:
            user.session_version = (user.session_version or 0) + 1  # reset: all sessions end
        user.password_hash = hash_password(password)
        user.role, user.locale, user.active = checked, locale, True
        if agent_id is not None:
            user.agent_id = agent_id
        session.flush()
        return user.id


def new_password() -> str:
    """A random password for a new login (about 128 bits), to be shown once."""
    return secrets.token_urlsafe(16)


def list_users(session_factory: sessionmaker[Session]) -> list[User]:
    """Every login, by name."""
    with session_factory() as session:
        return list(session.scalars(select(User).order_by(User.username)))


def set_user_active(session_factory: sessionmaker[Session], username: str, active: bool) -> bool:
    """Enable or disable a login (a disabled one's sessions stop working); False if none."""
    with session_factory.begin() as session:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            return False
        user.active = active
        return True


def ensure_first_admin(
    session_factory: sessionmaker[Session], username: str = "admin"
) -> str | None:
    """On a case database without any login, create admin ``username`` with a random
    password and return it (to be shown once; only its hash is stored). Otherwise None."""
    with session_factory() as session:
        if session.scalar(select(func.count()).select_from(User)):
            return None
    password = new_password()
    user = User(username=username, password_hash=hash_password(password), role="admin")
    try:
        with session_factory.begin() as session:
            session.add(user)
    except IntegrityError:  # another process (a worker, an API) starting with us made it
        return None
    return password


def _lookup_prefix(key: str) -> str:
    """Our keys carry their prefix; any other key (bootstrap) is keyed by its hash."""
    return key_prefix(key) or "h" + hash_api_key(key)[:15]


def create_api_key(
    session_factory: sessionmaker[Session], name: str, role: str, key: str | None = None
) -> str:
    """Store a hashed API key with ``role`` and return the plaintext (shown only now).

    With ``key`` given (the bootstrap admin key), store that one; doing so twice is harmless.
    """
    checked = _check_role(role)
    plaintext = key or new_api_key()[0]
    prefix = _lookup_prefix(plaintext)
    with session_factory.begin() as session:
        row = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
        if row is None:
            row = ApiKey(name=name, prefix=prefix, key_hash="", role=checked)
            session.add(row)
        row.name, row.role, row.revoked_at = name, checked, None
        row.key_hash = hash_api_key(plaintext)
    return plaintext


def revoke_api_key(session_factory: sessionmaker[Session], prefix: str) -> bool:
    """Revoke the key with this prefix; False if there is none."""
    with session_factory.begin() as session:
        row = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
        if row is None:
            return False
        row.revoked_at = row.revoked_at or datetime.now(UTC)
        return True


def principal_for_key(session: Session, key: str) -> Principal | None:
    """The principal of a valid, unrevoked API key, or None."""
    row = session.scalar(select(ApiKey).where(ApiKey.prefix == _lookup_prefix(key)))
    if row is None or row.revoked_at is not None or not api_key_matches(key, row.key_hash):
        return None
    _touch(session, row)
    return Principal(name=row.name, role=_check_role(row.role), via="api_key")


def _touch(session: Session, row: ApiKey) -> None:
    """Record use, at most once a minute per key (no write per request)."""
    now = datetime.now(UTC)
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > TOUCH_EVERY_S:
        row.last_used_at = now
        session.commit()


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user with these credentials, or None (same work either way). A hash
    from an older scheme is replaced by an Argon2id one on the way."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.active:
        verify_password(password, _DUMMY_HASH)
        return None
    ok, new_hash = check_password(password, user.password_hash)
    if ok and new_hash is not None:
        user.password_hash = new_hash
        session.commit()
    return user if ok else None


def end_sessions(session_factory: sessionmaker[Session], user_id: int) -> None:
    """End every session of the user (log-out everywhere)."""
    with session_factory.begin() as session:
        user = session.get(User, user_id, with_for_update=True)
        if user is not None:
            user.session_version = (user.session_version or 0) + 1


def set_active(session_factory: sessionmaker[Session], username: str, active: bool) -> bool:
    """Enable or disable a user (disabling ends their sessions); False if unknown."""
    with session_factory.begin() as session:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            return False
        user.active = active
        user.session_version = (user.session_version or 0) + 1
        return True


def principal_for_user(user: User) -> Principal:
    return Principal(
        name=user.username,
        role=_check_role(user.role),
        via="session",
        user_id=user.id,
        agent_id=user.agent_id,
        locale=user.locale,
        timezone=user.timezone,
    )
