"""What the dialplan says to a customer the dialer cannot serve: the values it gets, checked here. Pure.

The abandon message ("who is calling and a number to call back", TCPA/Ofcom) is the campaign's uploaded
recording when it has one, else built in `[plateau-dialer-message]` from stock Asterisk prompts and
SayDigits of the campaign's callback number; the machine message is a recording the campaign names. All
travel as Originate channel variables, so everything is reduced to a small alphabet here: digits for the
number, a plain relative sound name for a recording (no path climbing, no dialplan separators, no AMI line
breaks).
"""

from __future__ import annotations

import logging
import re
from typing import Protocol

import phonenumbers

from cti.sounds import SOUND_NAME, SOUND_NAME_MAX

log = logging.getLogger(__name__)

# Prompt languages shipped by asterisk-core-sounds (install.sh); anything else hears English.
LANGUAGE_OF_REGION = {"FR": "fr", "BE": "fr", "CH": "fr", "LU": "fr", "MC": "fr", "CA": "en"}
FRENCH_OVERSEAS = frozenset({"GP", "MQ", "GF", "RE", "YT", "PM", "BL", "MF", "NC", "PF", "WF"})
# Country codes of one closed numbering plan: a number of one is dialled in national form from the others
# (01 42 … from Réunion or Guadeloupe).
SHARED_PLANS = ({33, 262, 508, 590, 594, 596},)


class MessageError(ValueError):
    """A value that cannot go into the dialplan; `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def sound_name(value: str) -> str:
    """A recording Playback may take: `name` or `dir/name` under the sounds directory, no extension."""
    if len(value) > SOUND_NAME_MAX or not SOUND_NAME.fullmatch(value):
        raise MessageError(
            "machine_message",
            "a sound name like 'custom/acme-message': letters, digits, '-' and '_', up to three parts "
            "separated by '/', no extension",
        )
    return value


class _HasAbandonMessage(Protocol):
    id: int
    abandon_message: str | None


def abandon_sound(campaign: _HasAbandonMessage) -> str:
    """The sound the abandon message plays (the campaign's upload), or "" for the stock prompts; a stored
    name that fails the check (written by hand) is logged and gives the stock prompts, never silence."""
    if not campaign.abandon_message:
        return ""
    try:
        return sound_name(campaign.abandon_message)
    except MessageError:
        log.warning("dialer: campaign %s: unusable abandon message, the stock prompts play", campaign.id)
        return ""


def _parse(e164: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return None


def spoken_number(callback_e164: str | None, customer_e164: str) -> str:
    """The digits to say: the national form when the customer shares the callback number's numbering plan
    (as they would dial it), else the international form with its 00 prefix. Empty when there is none."""
    number = _parse(callback_e164) if callback_e164 else None
    if number is None:
        return ""
    customer = _parse(customer_e164)
    same_plan = customer is not None and (
        customer.country_code == number.country_code
        or any({customer.country_code, number.country_code} <= plan for plan in SHARED_PLANS)
    )
    if same_plan:
        text = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    else:
        text = "00" + phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return re.sub(r"\D", "", text)


def message_language(customer_e164: str) -> str:
    """The prompt language for the customer: French for French-speaking regions, else English."""
    number = _parse(customer_e164)
    region = phonenumbers.region_code_for_number(number) if number is not None else None
    if region in FRENCH_OVERSEAS:
        return "fr"
    return LANGUAGE_OF_REGION.get(region or "", "en")
