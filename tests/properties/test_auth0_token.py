"""Auth0 log streams: a bearer token compared in constant time with every current version."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from integration_hub.connectors.auth0.webhook import Auth0Connector
from integration_hub.connectors.base import Delivery
from integration_hub.connectors.schemes.common import any_signature_matches
from integration_hub.errors import SignatureError
from tests.properties.strategies import bounded, char_changes, header_values

auth0 = Auth0Connector()
tokens = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=24, max_size=64)


def _accepts(authorization: str | None, tokens: list[str]) -> bool:
    headers = {} if authorization is None else {"authorization": authorization}
    try:
        auth0.verify(Delivery(b"[]", headers, "", 0), tokens, now=0)
    except SignatureError:
        return False
    return True


@bounded
@given(token=tokens, other=tokens, data=st.data())
def test_sign_then_verify_round_trips_with_any_current_token(
    token: str, other: str, data: st.DataObject
) -> None:
    headers = auth0.sign(data.draw(st.binary(max_size=64)), token, timestamp=0, url="")
    current = data.draw(st.permutations([token, other]))

    assert _accepts(headers["Authorization"], current)
    assert _accepts(token, current)  # configured without the Bearer prefix


@bounded
@given(token=tokens, data=st.data())
def test_any_single_character_change_is_rejected(token: str, data: st.DataObject) -> None:
    presented = data.draw(st.sampled_from([token, f"Bearer {token}"]))

    assert not _accepts(data.draw(char_changes(presented)), [token])
    assert not _accepts(presented[:-1], [token])
    assert not _accepts(presented + "x", [token])


@bounded
@given(token=tokens, presented=header_values)
def test_arbitrary_authorization_values_are_refused_unless_they_are_the_token(
    token: str, presented: str
) -> None:
    assert _accepts(presented or None, [token]) == (presented in (token, f"Bearer {token}"))


@bounded
@given(
    expected=st.lists(header_values, max_size=4),
    presented=st.lists(header_values, max_size=4),
)
def test_any_signature_matches_is_set_intersection(
    expected: list[str], presented: list[str]
) -> None:
    assert any_signature_matches(expected, presented) == bool(set(expected) & set(presented))
