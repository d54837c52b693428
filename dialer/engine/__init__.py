"""The live dialer: one loop per running campaign, originating through the CTI's AMI link.

- `call_book`: the pure call book, fed `(event, now)`, answering with effects as data; `actions`: the
  Originate of a call as data (pure);
- `loops` (campaign loops and ticks), `originate`, `attempts` (events in, effects and attempt writes out,
  restart recovery), `preview`, `monitor`: the thin shells, combined in `service.DialerService`;
- `facts`: what the engine reads of campaigns and their abandon history; `ports`: the CTI as a Protocol.

The clock is injected (`clock`), so a test can place the engine outside the calling windows; durations
are measured on the monotonic clock and laid on the injected one.
"""

from dialer.engine.call_book import LiveCall
from dialer.engine.facts import campaign_abandons, utc_now
from dialer.engine.service import DialerService
from dialer.engine.state import CampaignLoop, PreviewError, Reservation

__all__ = [
    "CampaignLoop",
    "DialerService",
    "LiveCall",
    "PreviewError",
    "Reservation",
    "campaign_abandons",
    "utc_now",
]
