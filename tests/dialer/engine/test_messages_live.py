"""What a customer the dialer cannot serve hears, with the real Asterisk: the abandon message (stock prompts
and the campaign's callback number said digit by digit) and the machine message (the campaign's
recording); the values that reach the dialplan are checked against hostile input."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.dialer_tables import MachineAction
from dialer.messages import MessageError, message_language, sound_name, spoken_number
from tests.cti.pbx.capture import AmiRecorder
from tests.cti.pbx.sipp import Sipp, agent_scenario
from tests.dialer.engine.conftest import Live, wait_for_async

pytestmark = pytest.mark.asterisk

SOUNDS = Path("/usr/share/asterisk/sounds")
GSM_FRAME = (33, 0.020)  # bytes, seconds: GSM files are bare frames
CALLBACK = "+33142000000"
VOICE = "/usr/share/sip-tester/g711a.pcap"  # shipped with SIPp


def _seconds(lang: str, name: str) -> float:
    size = (SOUNDS / lang / f"{name}.gsm").stat().st_size
    return size / GSM_FRAME[0] * GSM_FRAME[1]


def _user_events(data: bytes, kind: str, channel_id: str) -> list[dict[str, str]]:
    out = []
    for block in data.decode(errors="replace").split("\r\n\r\n"):
        headers = dict(
            line.split(": ", 1) for line in block.split("\r\n") if ": " in line
        )  # one value per header is enough here
        if headers.get("UserEvent") == kind and headers.get("ChannelId") == channel_id:
            out.append(headers)
    return out


async def test_given_no_free_agent_when_a_person_answers_then_they_hear_who_calls_and_the_number_to_call_back(
    live: Live, sipp: Sipp, recorder: AmiRecorder
) -> None:
    sipp.customer("answer", ring_ms=200)
    sipp.agent(1, "noanswer")  # ready, but never picks up: the call is abandoned after the rule set's 2 s
    await live.login(1)
    _, (lead_id,) = await live.campaign(["+33611000801"], callback_number=CALLBACK)
    (attempt,) = await wait_for_async(lambda: live.attempts(lead_id), timeout=40, what="the attempt")
    assert attempt.result == "dropped"
    (sent,) = live.originates()
    start, end = (
        _user_events(recorder.data, "DialerMessage", sent["channel_id"])[0],
        _user_events(recorder.data, "DialerMessage", sent["channel_id"])[-1],
    )
    assert (start["Kind"], start["Part"], start["Digits"]) == ("abandon", "start", "0142000000")
    assert (end["Part"], end["Digits"]) == ("end", "0142000000")
    # a French mobile hears the French prompts: every one of them and each digit played in full
    expected = sum(
        _seconds("fr", p) for p in ("hello", "vm-from-phonenumber", "please-try-call-later", "vm-goodbye")
    )
    expected += sum(_seconds("fr", f"digits/{d}") for d in "0142000000")
    played = float(end["Timestamp"]) - float(start["Timestamp"])
    assert played >= 0.95 * expected, (played, expected)
    assert (attempt.ended_at - attempt.answered_at).total_seconds() >= played
    log = (live.pbx.cfg.runtime / "log" / "messages").read_text(errors="replace")
    assert not re.search(r"(?i)(playback|file\.c).*(not exist|unable to open)", log)


def _customer_with_voice(sipp: Sipp) -> None:
    """A customer line that answers and talks for ~7 s (SIPp's own G.711 A-law sample): an answering
    machine's greeting to AMD."""
    text = agent_scenario("answer", ring_ms=200)
    text = text.replace("RTP/AVP 0 101", "RTP/AVP 8 101").replace("rtpmap:0 PCMU/8000", "rtpmap:8 PCMA/8000")
    text = text.replace(
        '<recv request="ACK" crlf="true"/>',
        f'<recv request="ACK" crlf="true"/>\n  <nop><action><exec play_pcap_audio="{VOICE}"/></action></nop>',
        1,
    )
    sipp.far_end("customer-voice.xml", text)


async def test_given_a_machine_when_the_campaign_leaves_a_message_then_its_recording_plays_to_it(
    live: Live, sipp: Sipp, recorder: AmiRecorder
) -> None:
    _customer_with_voice(sipp)
    sipp.agent(1, "answer", ring_ms=200, talk_ms=1000)
    await live.login(1)
    _, (lead_id,) = await live.campaign(
        ["+33611000802"], amd=True, amd_machine_action=MachineAction.message, machine_message="beep"
    )
    (attempt,) = await wait_for_async(lambda: live.attempts(lead_id), timeout=40, what="the attempt")
    (sent,) = live.originates()
    amd = _user_events(recorder.data, "AMDResult", sent["channel_id"])
    assert amd and amd[0]["AMDStatus"] == "MACHINE", amd
    assert attempt.result == "machine" and attempt.amd_machine and attempt.agent_id is None
    start, end = _user_events(recorder.data, "DialerMessage", sent["channel_id"])
    assert (start["Kind"], start["Part"], start["Sound"]) == ("machine", "start", "beep")
    assert (end["Part"], end["PlaybackStatus"]) == ("end", "SUCCESS")


@pytest.mark.parametrize(
    "value",
    [
        "../../etc/passwd",
        "/etc/passwd",
        "beep.gsm",
        "a,b",
        "a&b",
        "a\r\nAction: Originate",
        "${SHELL(id)}",
        "",
        "a/b/c/d",
        "x" * 81,
        "custom/",
    ],
)
def test_given_a_hostile_sound_name_when_checked_then_it_is_refused(value: str) -> None:
    with pytest.raises(MessageError) as err:
        sound_name(value)
    assert err.value.field == "machine_message"


@pytest.mark.parametrize("value", ["beep", "custom/acme-message", "custom/fr/relance_2026"])
def test_given_a_plain_sound_name_when_checked_then_it_is_kept(value: str) -> None:
    assert sound_name(value) == value


@pytest.mark.parametrize(
    ("callback", "customer", "digits", "lang"),
    [
        ("+33142000000", "+33611000801", "0142000000", "fr"),  # same country: as they would dial it
        ("+33142000000", "+14155550100", "0033142000000", "en"),  # abroad: international form
        ("+442079460000", "+442079460001", "02079460000", "en"),
        ("+33142000000", "+262262000000", "0142000000", "fr"),  # Réunion: the French numbering plan
        (None, "+33611000801", "", "fr"),
        ("not a number", "+33611000801", "", "fr"),
    ],
)
def test_given_a_callback_number_when_said_then_the_digits_and_language_suit_the_customer(
    callback: str | None, customer: str, digits: str, lang: str
) -> None:
    assert spoken_number(callback, customer) == digits
    assert message_language(customer) == lang


async def test_given_hostile_message_settings_when_a_manager_saves_a_campaign_then_they_get_a_422(
    live: Live,
) -> None:
    async with live.p.client("manager") as http:
        for body, field in [
            ({"machine_message": "../../../tmp/x"}, "machine_message"),
            ({"machine_message": "a,1\nAction: Originate"}, "machine_message"),
            ({"callback_number": "call us"}, "callback_number"),
        ]:
            r = await http.post(
                "/api/v1/campaigns", json={"name": f"hostile-{field}-{len(str(body))}", **body}
            )
            assert r.status_code == 422, r.text
            assert field in r.text
        r = await http.post(
            "/api/v1/campaigns",
            json={
                "name": "polite",
                "machine_message": "custom/acme-message",
                "callback_number": "01 42 00 00 00",
            },
        )
        assert r.status_code == 201, r.text
        assert (r.json()["machine_message"], r.json()["callback_number"]) == ("custom/acme-message", CALLBACK)
