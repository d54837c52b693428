"""Asterisk sound names Plateau passes to the dialplan (a campaign's machine message, a queue's recording
notice). Pure: one small alphabet, a plain relative name, so no path climbing, dialplan separator or AMI line
break can travel in one."""

from __future__ import annotations

import re

SOUND_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}(?:/[A-Za-z0-9][A-Za-z0-9_-]{0,39}){0,2}")
SOUND_NAME_MAX = 80
