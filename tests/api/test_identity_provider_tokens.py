"""Bearer tokens of the host system's identity provider: verified against the keys of a JWKS that
the tests serve on loopback (RSA and EC keys generated here), mapped to a tokenbill user by email
or by linked subject, and every forgery refused 401 in the API's error shape."""

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from api.auth.jwks_cache import JwksCache, KeysUnavailable, jwks_client, parse_jwks
from api.auth.jwt_tokens import issue_token
from db import directory
from db.audit import Actor
from tests.api.helpers import Maker, api_client
from tests.api.test_error_shape import assert_error
from tokenbill.settings import Settings

ISSUER = "https://login.care.test/"
AUDIENCE = "tokenbill"
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass
class JwksServer:
    """A JWKS document served on 127.0.0.1; `delay` makes every answer slow, `status` fail."""

    url: str = ""
    keys: list[dict[str, Any]] = field(default_factory=list)
    delay: float = 0.0
    status: int = 200
    fetches: int = 0


def public_jwk(private: PrivateKey, kid: str, **extra: str) -> dict[str, Any]:
    if isinstance(private, rsa.RSAPrivateKey):
        jwk = RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
    else:
        jwk = ECAlgorithm.to_jwk(private.public_key(), as_dict=True)
    return {**jwk, "kid": kid, **extra}


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def jwks(rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey) -> Iterator[JwksServer]:
    state = JwksServer(keys=[public_jwk(rsa_key, "rsa-1"), public_jwk(ec_key, "ec-1")])

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.fetches += 1
            time.sleep(state.delay)
            body = json.dumps({"keys": state.keys}).encode()
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def idp_settings(api_settings: Settings, url: str, **update: Any) -> Settings:
    return api_settings.model_copy(
        update={
            "identity_provider_jwks_url": url,
            "identity_provider_issuer": ISSUER,
            "identity_provider_audience": AUDIENCE,
            "identity_provider_jwks_min_refetch": timedelta(0),
            **update,
        }
    )


@dataclass(frozen=True)
class Person:
    email: str
    subject: str
    organization_id: int
    other_organization_id: int


async def make_person(session_maker: Maker, *, active: bool = True) -> Person:
    async with session_maker() as session, session.begin():
        own = await directory.create_organization(session, "IdP Org", actor=Actor.system("t"))
        other = await directory.create_organization(session, "Other Org", actor=Actor.system("t"))
        user = await directory.create_user(
            session,
            email=f"nurse-{uuid.uuid4().hex[:8]}@care.test",
            organization_id=own.id,
            permissions=(directory.VIEW,),
            actor=Actor.system("tests"),
        )
        subject = f"auth0|{uuid.uuid4().hex}"
        await directory.link_external_subject(session, user.id, subject, actor=Actor.system("t"))
        if not active:
            await directory.deactivate_user(session, user.id, actor=Actor.system("t"))
    return Person(user.email, subject, own.id, other.id)


@pytest.fixture
async def person(session_maker: Maker) -> Person:
    return await make_person(session_maker)


def claims_of(person: Person, **override: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": person.subject,
        "email": person.email,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=5)).timestamp()),
    }
    claims.update(override)
    return {name: value for name, value in claims.items() if value is not None}


def sign(private: PrivateKey, kid: str, claims: dict[str, Any], algorithm: str = "") -> str:
    algorithm = algorithm or ("RS256" if isinstance(private, rsa.RSAPrivateKey) else "ES256")
    return jwt.encode(claims, private, algorithm=algorithm, headers={"kid": kid})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made(header: dict[str, Any], claims: dict[str, Any], secret: bytes | None) -> str:
    """A token PyJWT would refuse to make: alg none, or HS256 keyed with a public key."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    if secret is None:
        return signing_input + "."
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def wallet_answers(settings: Settings, person: Person, token: str) -> tuple[int, int]:
    """The status of the person's own wallet and of another organization's, with the token."""
    async with api_client(settings) as client:
        own = await client.get(
            f"/api/tokens/wallet/{person.organization_id}", headers=bearer(token)
        )
        other = await client.get(
            f"/api/tokens/wallet/{person.other_organization_id}", headers=bearer(token)
        )
    return own.status_code, other.status_code


async def test_an_rs256_token_reaches_the_user_with_its_email(
    api_settings: Settings, jwks: JwksServer, person: Person, rsa_key: rsa.RSAPrivateKey
):
    settings = idp_settings(api_settings, jwks.url, identity_provider_user_claim="email")
    token = sign(rsa_key, "rsa-1", claims_of(person, email=person.email.upper()))
    assert await wallet_answers(settings, person, token) == (200, 403)


async def test_an_es256_token_reaches_the_user_linked_to_its_subject(
    api_settings: Settings, jwks: JwksServer, person: Person, ec_key: ec.EllipticCurvePrivateKey
):
    settings = idp_settings(api_settings, jwks.url, identity_provider_user_claim="sub")
    token = sign(ec_key, "ec-1", claims_of(person, email="someone-else@care.test"))
    assert await wallet_answers(settings, person, token) == (200, 403)


async def test_tokenbill_own_tokens_still_work_beside_the_provider(
    api_settings: Settings, jwks: JwksServer, session_maker: Maker, person: Person
):
    async with session_maker() as session:
        user = await directory.find_user_by_email(session, person.email)
    assert user is not None
    settings = idp_settings(api_settings, jwks.url)
    assert await wallet_answers(settings, person, issue_token(settings, user.id)) == (200, 403)


REFUSALS = [
    "wrong issuer",
    "wrong audience",
    "expired",
    "no expiry",
    "unknown key id",
    "no key id",
    "bad signature",
    "alg none",
    "HS256 keyed with the public key",
    "RS256 naming the EC key",
    "algorithm not allowed",
    "email not verified",
    "unknown email",
    "unlinked subject",
    "inactive user",
]


@pytest.mark.parametrize("case", REFUSALS)
async def test_a_bad_provider_token_is_refused_401(
    api_settings: Settings,
    jwks: JwksServer,
    session_maker: Maker,
    person: Person,
    rsa_key: rsa.RSAPrivateKey,
    ec_key: ec.EllipticCurvePrivateKey,
    case: str,
):
    claim = "sub" if case == "unlinked subject" else "email"
    update: dict[str, Any] = {"identity_provider_user_claim": claim}
    rsa_public_pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if case == "wrong issuer":
        token = sign(rsa_key, "rsa-1", claims_of(person, iss="https://evil.test/"))
    elif case == "wrong audience":
        token = sign(rsa_key, "rsa-1", claims_of(person, aud="another-service"))
    elif case == "expired":
        token = sign(rsa_key, "rsa-1", claims_of(person, exp=int(time.time()) - 3600))
    elif case == "no expiry":
        token = sign(rsa_key, "rsa-1", claims_of(person, exp=None))
    elif case == "unknown key id":
        token = sign(rsa_key, "rsa-404", claims_of(person))
    elif case == "no key id":
        token = jwt.encode(claims_of(person), rsa_key, algorithm="RS256")
    elif case == "bad signature":
        stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        token = sign(stranger, "rsa-1", claims_of(person))
    elif case == "alg none":
        token = hand_made({"alg": "none", "kid": "rsa-1"}, claims_of(person), None)
    elif case == "HS256 keyed with the public key":
        header = {"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}
        token = hand_made(header, claims_of(person), rsa_public_pem)
    elif case == "RS256 naming the EC key":
        token = sign(rsa_key, "ec-1", claims_of(person))
    elif case == "algorithm not allowed":
        update["identity_provider_algorithms"] = ["RS256"]
        token = sign(ec_key, "ec-1", claims_of(person))
    elif case == "email not verified":
        token = sign(rsa_key, "rsa-1", claims_of(person, email_verified=False))
    elif case == "unknown email":
        token = sign(rsa_key, "rsa-1", claims_of(person, email="nobody@care.test"))
    elif case == "unlinked subject":
        token = sign(rsa_key, "rsa-1", claims_of(person, sub="auth0|never-linked"))
    else:
        inactive = await make_person(session_maker, active=False)
        token = sign(rsa_key, "rsa-1", claims_of(inactive))
    settings = idp_settings(api_settings, jwks.url, **update)
    async with api_client(settings) as client:
        response = await client.get(
            f"/api/tokens/wallet/{person.organization_id}", headers=bearer(token)
        )
    assert_error(response, 401, "unauthenticated")
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_a_rotated_key_is_picked_up(
    api_settings: Settings, jwks: JwksServer, person: Person, rsa_key: rsa.RSAPrivateKey
):
    settings = idp_settings(api_settings, jwks.url)
    new_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    async with api_client(settings) as client:
        path = f"/api/tokens/wallet/{person.organization_id}"
        before = await client.get(path, headers=bearer(sign(rsa_key, "rsa-1", claims_of(person))))
        jwks.keys = [public_jwk(new_key, "rsa-2", alg="RS256", use="sig")]
        rotated = await client.get(path, headers=bearer(sign(new_key, "rsa-2", claims_of(person))))
    assert (before.status_code, rotated.status_code) == (200, 200)
    assert jwks.fetches == 2


async def test_unknown_key_ids_refetch_at_most_once_per_interval(
    api_settings: Settings, jwks: JwksServer, person: Person, rsa_key: rsa.RSAPrivateKey
):
    settings = idp_settings(
        api_settings, jwks.url, identity_provider_jwks_min_refetch=timedelta(minutes=5)
    )
    async with api_client(settings) as client:
        path = f"/api/tokens/wallet/{person.organization_id}"
        known = await client.get(path, headers=bearer(sign(rsa_key, "rsa-1", claims_of(person))))
        made_up = [
            await client.get(path, headers=bearer(sign(rsa_key, f"made-up-{n}", claims_of(person))))
            for n in range(5)
        ]
    assert known.status_code == 200
    assert {r.status_code for r in made_up} == {401}
    assert jwks.fetches == 1


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/jwks"


async def test_an_unreachable_provider_answers_503_at_once_and_own_tokens_still_work(
    api_settings: Settings, session_maker: Maker, person: Person, rsa_key: rsa.RSAPrivateKey
):
    settings = idp_settings(api_settings, closed_port_url())
    async with session_maker() as session:
        user = await directory.find_user_by_email(session, person.email)
    assert user is not None
    async with api_client(settings) as client:
        path = f"/api/tokens/wallet/{person.organization_id}"
        started = time.monotonic()
        down = await client.get(path, headers=bearer(sign(rsa_key, "rsa-1", claims_of(person))))
        elapsed = time.monotonic() - started
        own = await client.get(path, headers=bearer(issue_token(settings, user.id)))
    assert_error(down, 503, "identity_provider_unavailable")
    assert down.headers["Retry-After"] == "5"
    assert elapsed < 2
    assert own.status_code == 200


async def test_a_provider_that_does_not_answer_times_out_with_503(
    api_settings: Settings, jwks: JwksServer, person: Person, rsa_key: rsa.RSAPrivateKey
):
    jwks.delay = 3.0
    settings = idp_settings(
        api_settings, jwks.url, identity_provider_jwks_timeout=timedelta(milliseconds=300)
    )
    async with api_client(settings) as client:
        started = time.monotonic()
        response = await client.get(
            f"/api/tokens/wallet/{person.organization_id}",
            headers=bearer(sign(rsa_key, "rsa-1", claims_of(person))),
        )
        elapsed = time.monotonic() - started
    assert_error(response, 503, "identity_provider_unavailable")
    assert elapsed < 2


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_the_cache_refreshes_after_its_ttl_and_keeps_its_keys_through_an_outage(
    jwks: JwksServer,
):
    clock = FakeClock()
    async with jwks_client(1.0) as client:
        cache = JwksCache(client, jwks.url, ttl_seconds=60, min_refetch_seconds=10, clock=clock)
        assert await cache.key("rsa-1") is not None
        clock.now += 30
        assert await cache.key("ec-1") is not None
        assert jwks.fetches == 1
        clock.now += 31
        jwks.status = 503
        # Past its TTL the set is read again; the provider fails, the held keys keep serving.
        assert await cache.key("rsa-1") is not None
        assert jwks.fetches == 2
        clock.now += 61
        jwks.status = 200
        jwks.keys = []
        # The provider is back and has withdrawn every key.
        assert await cache.key("rsa-1") is None
        assert jwks.fetches == 3


async def test_the_cache_without_keys_fails_fast_after_a_failure():
    clock = FakeClock()
    async with jwks_client(1.0) as client:
        cache = JwksCache(
            client, closed_port_url(), ttl_seconds=60, min_refetch_seconds=10, clock=clock
        )
        with pytest.raises(KeysUnavailable):
            await cache.key("any")
        started = time.monotonic()
        with pytest.raises(KeysUnavailable, match="moments ago"):
            await cache.key("any")
        assert time.monotonic() - started < 0.1


def test_a_jwks_keeps_only_public_signature_keys_with_an_id(rsa_key: rsa.RSAPrivateKey):
    document = {
        "keys": [
            public_jwk(rsa_key, "sig"),
            public_jwk(rsa_key, "enc", use="enc"),
            {"kty": "oct", "kid": "hmac", "k": b64(b"secret")},
            {k: v for k, v in public_jwk(rsa_key, "x").items() if k != "kid"},
            {"kty": "RSA", "kid": "broken"},
            "not a key",
        ]
    }
    assert set(parse_jwks(document)) == {"sig"}
    with pytest.raises(KeysUnavailable):
        parse_jwks({"not": "a jwks"})


COMPLETE = {"identity_provider_issuer": ISSUER, "identity_provider_audience": AUDIENCE}


@pytest.mark.parametrize(
    "values",
    [
        {**COMPLETE, "identity_provider_jwks_url": "http://login.care.test/jwks"},
        {"identity_provider_jwks_url": "https://login.care.test/jwks"},
        {
            "identity_provider_jwks_url": "https://login.care.test/jwks",
            "identity_provider_issuer": ISSUER,
        },
        {**COMPLETE, "identity_provider_algorithms": "RS256,HS256"},
        {**COMPLETE, "identity_provider_algorithms": "none"},
    ],
    ids=["plain http", "no issuer nor audience", "no audience", "HS256", "none"],
)
def test_settings_refuse_an_unsafe_identity_provider(values: dict[str, str]):
    with pytest.raises(ValueError):
        Settings(_env_file=None, **values)  # type: ignore[arg-type]


def test_settings_take_a_loopback_jwks_url_and_comma_separated_algorithms():
    settings = Settings(
        _env_file=None,
        identity_provider_jwks_url="http://[::1]:8080/jwks",
        identity_provider_issuer=ISSUER,
        identity_provider_audience=AUDIENCE,
        identity_provider_algorithms="ES256, RS256",
    )
    assert settings.identity_provider_algorithms == ["ES256", "RS256"]


async def test_a_subject_links_to_one_user_only(session_maker: Maker, person: Person):
    async with session_maker() as session, session.begin():
        other = await directory.create_user(
            session, email=f"x-{uuid.uuid4().hex[:8]}@care.test", actor=Actor.system("t")
        )
        with pytest.raises(directory.AlreadyExists):
            await directory.link_external_subject(
                session, other.id, person.subject, actor=Actor.system("t")
            )
        found = await directory.find_user_by_external_subject(session, person.subject)
    assert found is not None and found.email == person.email


def test_hs256_tokens_are_never_sent_to_the_provider(rsa_key: rsa.RSAPrivateKey):
    from api.auth.identity_provider import is_identity_provider_token

    forged = hand_made({"alg": "HS256", "kid": "rsa-1"}, {"sub": "1"}, b"k")
    assert not is_identity_provider_token(forged)
    assert is_identity_provider_token(sign(rsa_key, "rsa-1", {"sub": "1"}))
    assert not is_identity_provider_token("not a jwt")
