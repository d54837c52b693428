"""A control done on another node gives its error back by name: the asking node raises it again as the
nearest class it knows, so the API answers as if the control had failed on the asking node."""

from __future__ import annotations

import pytest

from cti.agent_controls import ControlError, PhoneNotRegistered, forwarded_error_name, raised_again
from cti.ami_wire import AmiError, AmiUnavailable
from cti.numbers import InvalidNumber


class _NoSuchQueue(ControlError):
    """A subclass the asking node does not know by name."""


@pytest.mark.parametrize(
    ("raised", "sent_as", "raised_class"),
    [
        (
            InvalidNumber("12", "wrong number of digits for FR"),
            "InvalidNumber",
            InvalidNumber,
        ),  # 422 there, not 502
        (ControlError("no such call"), "ControlError", ControlError),
        (_NoSuchQueue("no queue"), "ControlError", ControlError),
        (PhoneNotRegistered("not registered"), "PhoneNotRegistered", PhoneNotRegistered),
        (AmiUnavailable("down"), "AmiUnavailable", AmiUnavailable),
        (AmiError("refused"), "AmiError", AmiError),
        (ValueError("mode: one of listen"), "ValueError", ValueError),
        (KeyError("x"), "KeyError", AmiError),  # unknown there: raised again as an AmiError
    ],
)
def test_given_an_error_on_the_owner_when_sent_back_then_it_goes_under_its_nearest_known_class(
    raised: Exception, sent_as: str, raised_class: type[Exception]
) -> None:
    assert forwarded_error_name(raised) == sent_as
    again = raised_again(sent_as, str(raised))  # on the node that asked
    assert type(again) is raised_class and str(again) == str(raised)
