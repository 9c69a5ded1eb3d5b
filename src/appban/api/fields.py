"""The shapes of values the API accepts, checked before anything reaches the store.

Every string a client sends is bounded and free of control characters: PostgreSQL refuses NUL bytes in text
and an unbounded id is a denial of service, so both are a 422 naming the field, never a 500 from the driver.
Times must carry a zone and are kept in UTC.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, StringConstraints

from appban.policy.organisations import COUNTRY
from appban.policy.organisations import ID_PATTERN as ORGANISATION_ID
from appban.store.tables import DEVICE_ID_LENGTH, EMAIL_LENGTH, ID_LENGTH

__all__ = [
    "COUNTRY_PATTERN",
    "DEVICE_ID_PATTERN",
    "EMAIL_PATTERN",
    "ID_PATTERN",
    "LINE_PATTERN",
    "NAME_LENGTH",
    "ORGANISATION_ID_PATTERN",
    "TEXT_PATTERN",
    "Country",
    "DeviceId",
    "Email",
    "Name",
    "Note",
    "ObjectId",
    "OrganisationId",
    "UtcDatetime",
]

NAME_LENGTH = 200
NOTE_LENGTH = 2_000
# No C0 control characters except tab and line ends, no DEL: what a person or an MDM writes.
TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
LINE_PATTERN = r"^[^\x00-\x1f\x7f]*$"  # one line: no control characters at all
# Organisation, restriction, exemption and token ids: the organisation id shape, with `_` for token ids.
ID_PATTERN = rf"^[A-Za-z0-9][A-Za-z0-9._-]{{0,{ID_LENGTH - 1}}}$"
# Device ids as MDMs make them (AMAPI resource names hold `/`), printable, no leading or trailing space.
DEVICE_ID_PATTERN = rf"^[^\x00-\x20\x7f]([^\x00-\x1f\x7f]{{0,{DEVICE_ID_LENGTH - 2}}}[^\x00-\x20\x7f])?$"
ORGANISATION_ID_PATTERN = f"^{ORGANISATION_ID.pattern}$"
COUNTRY_PATTERN = f"^{COUNTRY.pattern}$"
EMAIL_PATTERN = rf"^[^\s@\x00-\x1f\x7f]{{1,64}}@[^\s@\x00-\x1f\x7f]{{1,{EMAIL_LENGTH - 65}}}$"


def _utc(value: dt.datetime) -> dt.datetime:
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError("the time is out of range once converted to UTC") from None


OrganisationId = Annotated[str, StringConstraints(pattern=ORGANISATION_ID_PATTERN, max_length=ID_LENGTH)]
Country = Annotated[str, StringConstraints(pattern=COUNTRY_PATTERN)]
ObjectId = Annotated[str, StringConstraints(pattern=ID_PATTERN, max_length=ID_LENGTH)]
DeviceId = Annotated[str, StringConstraints(pattern=DEVICE_ID_PATTERN, max_length=DEVICE_ID_LENGTH)]
Email = Annotated[str, StringConstraints(pattern=EMAIL_PATTERN, max_length=EMAIL_LENGTH)]
Name = Annotated[str, StringConstraints(pattern=LINE_PATTERN, min_length=1, max_length=NAME_LENGTH,
                                        strip_whitespace=True)]
Note = Annotated[str, StringConstraints(pattern=TEXT_PATTERN, max_length=NOTE_LENGTH)]
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_utc)]
