"""Generated credentials: random, URL-safe, hidden in repr, distinct per deploy."""

from __future__ import annotations

import string

from testing.platform.credentials import SPECS, TOKEN_BYTES, generate

URL_SAFE = set(string.ascii_letters + string.digits + "-_")


def test_passwords_are_long_url_safe_and_fresh() -> None:
    spec = SPECS[0]
    first, second = generate(spec), generate(spec)
    password = first.value("password")
    assert len(password) == 43  # 32 bytes of randomness, base64url without padding
    assert set(password) <= URL_SAFE
    assert password != second.value("password")
    assert first.value("username") == "platform"
    assert TOKEN_BYTES == 32


def test_values_never_show_in_repr_or_str() -> None:
    credential = generate(SPECS[1])
    secret = credential.value("root-password")
    assert secret not in repr(credential)
    assert secret not in str(credential)
    assert "**********" in repr(credential)


def test_generator_is_injectable_and_used_for_every_generated_key() -> None:
    calls: list[int] = []

    def token(size: int) -> str:
        calls.append(size)
        return f"tok{len(calls)}"

    credential = generate(SPECS[1], token=token)
    assert credential.value("root-password") == "tok1"
    assert calls == [32]
