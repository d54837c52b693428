"""The tests' name for `cti/sipp.py`: SIPp as the carrier and as phones (`plateau demo --live` uses it)."""

from cti.sipp import (
    Caller,
    Sipp,
    register_phone,
    register_test_phones,
    sipp_binary,
    sipp_for,
    udp_bound,
    unregister_phone,
    wait_bound,
)
from cti.sipp_scenarios import (
    AGENT_ANSWER,
    AGENT_REJECT,
    CALLER,
    NEVER_MS,
    OK_TO_BYE,
    REGISTER,
    SDP,
    agent_scenario,
    caller_scenario,
)

__all__ = [
    "AGENT_ANSWER",
    "AGENT_REJECT",
    "CALLER",
    "NEVER_MS",
    "OK_TO_BYE",
    "REGISTER",
    "SDP",
    "Caller",
    "Sipp",
    "agent_scenario",
    "caller_scenario",
    "register_phone",
    "register_test_phones",
    "sipp_binary",
    "sipp_for",
    "udp_bound",
    "unregister_phone",
    "wait_bound",
]
