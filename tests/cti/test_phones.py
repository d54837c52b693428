"""cti/phones.py: the phones' and trunks' PJSIP sections, and trunk settings refused with their reason."""

from __future__ import annotations

import hashlib

import pytest

from core.trunks import Trunk, TrunkError, check_trunks
from cti.phones import PhoneAccount, ha1, render_phones, render_trunk_dialplan, render_trunks


def test_given_a_password_when_hashed_then_it_is_rfc2617_ha1_over_user_realm_password() -> None:
    assert ha1("agent1", "s3cret") == hashlib.md5(b"agent1:plateau:s3cret").hexdigest()


def test_given_phones_when_rendered_then_each_has_md5_auth_and_no_static_contact() -> None:
    text = render_phones([PhoneAccount("agent1", ha1("agent1", "pw"), 'Sophie "M"; x', "7001")])
    assert "[agent1](phone-endpoint)" in text and "[agent1-auth](phone-auth)" in text
    assert f"md5_cred = {ha1('agent1', 'pw')}" in text and "pw\n" not in text
    assert "contact" not in text.replace("; Rendered", "")
    assert 'callerid = "Sophie M x" <7001>' in text  # quotes and ';' cannot break the file


@pytest.mark.parametrize(
    ("trunk", "says"),
    [
        (Trunk("t", server="sip.example.net", username="u"), "needs username and password"),
        (Trunk("t"), "give host"),
        (Trunk("t", host="10.0.0.1", username="u", password="p"), "username/password are for a trunk"),
        (Trunk("t", host="10.0.0.1:99999"), "port '99999'"),
        (Trunk("t", host="10.0.0.1", match=("nope",)), "match: 'nope'"),
        (Trunk("t", host="10.0.0.1", dids=("01 23",)), "dids: '01 23'"),
        (Trunk("bad name", host="10.0.0.1"), "name"),
        (Trunk("t", host="10.0.0.1", caller_id="abc"), "caller_id"),
    ],
)
def test_given_a_trunk_that_cannot_work_when_checked_then_the_field_is_named(trunk: Trunk, says: str) -> None:
    with pytest.raises(TrunkError, match="trunk 0") as err:
        check_trunks([trunk])
    assert says in str(err.value)


def test_given_a_registering_trunk_with_dids_when_rendered_then_it_registers_and_takes_only_its_dids() -> (
    None
):
    t = Trunk(
        "carrier",
        server="sip.example.net:5060",
        username="0123",
        password="pw",
        dids=("+33100000001",),
        caller_id="+33100000001",
    )
    text = render_trunks([t])
    for line in (
        "type = registration",
        "server_uri = sip:sip.example.net:5060",
        "outbound_auth = carrier-auth",
        "context = plateau-from-carrier",
        "match = sip.example.net",
        "from_user = +33100000001",
    ):
        assert line in text
    plan = render_trunk_dialplan([t])
    assert "exten => +33100000001,1,Goto(plateau-inbound,+33100000001,1)" in plan
    assert "Hangup(1)" in plan  # another DID is refused
