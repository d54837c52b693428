"""SIPp's XML scenarios, generated from templates: the carrier's caller, agent phones that answer, ring
or refuse, and REGISTER.
"""

from __future__ import annotations

from pathlib import Path

SDP = """Content-Type: application/sdp
Content-Length: [len]

v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
"""

# With audio, the SDP offers G.711 A-law and SIPp streams a raw A-law file in a loop once the call is up
# (`rtp_stream`, until the call ends), as a person talking would.
AUDIO_SDP = SDP.replace("RTP/AVP 0 101", "RTP/AVP 8 101").replace("rtpmap:0 PCMU/8000", "rtpmap:8 PCMA/8000")


def _talk(audio: Path | None) -> str:
    if audio is None:
        return ""
    return f'  <nop><action><exec rtp_stream="{audio},-1,8"/></action></nop>\n'


# The far end hung up first: acknowledge its BYE and end the scenario (callers and phones alike).
OK_TO_BYE = """  <send next="end"><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
]]></send>"""

CALLER = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="plateau trunk caller">
  <send retrans="500"><![CDATA[
INVITE sip:[field1]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "[field2]" <sip:[field0]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[field1]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:trunk@[local_ip]:[local_port]>
Max-Forwards: 70
{sdp}
]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="true"/>
  <send><![CDATA[
ACK sip:[field1]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "[field2]" <sip:[field0]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[field1]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Contact: <sip:trunk@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0
]]></send>
{talk}  <recv request="BYE" timeout="{hold_ms}" ontimeout="hangup"/>
{ok_to_bye}
  <label id="hangup"/>
  <send retrans="500"><![CDATA[
BYE sip:[field1]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "[field2]" <sip:[field0]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[field1]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 2 BYE
Max-Forwards: 70
Content-Length: 0
]]></send>
  <recv response="200" crlf="true"/>
  <label id="end"/>
</scenario>
"""

_UAS_HEAD = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="plateau agent phone">
  <recv request="INVITE" crlf="true" rrs="true">
    <action>
      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="remote_from"/>
      <ereg regexp=".*" search_in="hdr" header="To:" assign_to="local_to"/>
      <ereg regexp=".*" search_in="hdr" header="CSeq:" assign_to="invite_cseq"/>
    </action>
  </recv>
"""

_REPLY_HEADERS = """[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>"""

AGENT_ANSWER = (
    _UAS_HEAD
    + """  <send><![CDATA[
SIP/2.0 180 Ringing
{reply}
Content-Length: 0
]]></send>
  <recv request="CANCEL" timeout="{ring_ms}" ontimeout="answer"/>
  <send><![CDATA[
SIP/2.0 200 OK
{reply}
Content-Length: 0
]]></send>
  <send><![CDATA[
SIP/2.0 487 Request Terminated
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
CSeq:[$invite_cseq]
Content-Length: 0
]]></send>
  <recv request="ACK" next="end"/>
  <label id="answer"/>
  <send retrans="500"><![CDATA[
SIP/2.0 200 OK
{reply}
{sdp}
]]></send>
  <recv request="ACK" crlf="true"/>
{talk}  <recv request="BYE" timeout="{talk_ms}" ontimeout="hangup"/>
{ok_to_bye}
  <label id="hangup"/>
  <send retrans="500"><![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From:[$local_to];tag=[pid]SIPpTag01[call_number]
To:[$remote_from]
[last_Call-ID:]
CSeq: 2 BYE
Max-Forwards: 70
Content-Length: 0
]]></send>
  <recv response="200" crlf="true"/>
  <label id="end"/>
</scenario>
"""
)

# No ereg here: SIPp refuses a scenario that assigns variables it never uses.
AGENT_REJECT = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="plateau phone rejecting">
  <recv request="INVITE" crlf="true"/>
  <send><![CDATA[
SIP/2.0 {code} {reason}
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
]]></send>
  <recv request="ACK" crlf="true"/>
</scenario>
"""

NEVER_MS = 3_600_000

# A phone registering with its own credentials (digest auth: SIPp answers the 401 from -au/-ap). Asterisk
# keeps the source address as the contact (rewrite_contact), where the phone's UAS then listens.
REGISTER = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="plateau phone register">
  <send retrans="500"><![CDATA[
REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{user}@[remote_ip]:[remote_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:{user}@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 REGISTER
Contact: <sip:{user}@[local_ip]:[local_port]>
Expires: {expires}
Max-Forwards: 70
Content-Length: 0
]]></send>
  <recv response="401" auth="true"/>
  <send retrans="500"><![CDATA[
REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{user}@[remote_ip]:[remote_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:{user}@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 2 REGISTER
Contact: <sip:{user}@[local_ip]:[local_port]>
[authentication]
Expires: {expires}
Max-Forwards: 70
Content-Length: 0
]]></send>
  <recv response="200"/>
</scenario>
"""


def agent_scenario(
    behaviour: str, ring_ms: int = 1000, talk_ms: int = NEVER_MS, audio: Path | None = None
) -> str:
    """`answer` after ring_ms (talk_ms then hang up), `noanswer` (rings until cancelled), `busy` (486);
    with `audio` (a raw A-law file, `voice_file`), speech is streamed once answered."""
    if behaviour == "busy":
        return AGENT_REJECT.format(code=486, reason="Busy Here")
    if behaviour == "congestion":
        return AGENT_REJECT.format(code=503, reason="Service Unavailable")
    if behaviour == "noanswer":
        ring_ms = NEVER_MS
    return AGENT_ANSWER.format(
        reply=_REPLY_HEADERS,
        sdp=AUDIO_SDP if audio else SDP,
        ring_ms=ring_ms,
        talk_ms=talk_ms,
        ok_to_bye=OK_TO_BYE,
        talk=_talk(audio),
    )


def caller_scenario(hold_ms: int, audio: Path | None = None) -> str:
    """The carrier's caller: hangs up hold_ms after the call is answered (by the queue, on entry)."""
    sdp = AUDIO_SDP if audio else SDP
    return CALLER.format(sdp=sdp, hold_ms=hold_ms, ok_to_bye=OK_TO_BYE, talk=_talk(audio))
