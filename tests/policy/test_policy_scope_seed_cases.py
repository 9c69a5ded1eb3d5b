"""Scope matching for the seed cases, as a person reading each decision would expect it."""

from __future__ import annotations

import pytest

from appban.model import Device, Funding, Ownership, Platform
from appban.policy import in_scope

from .seed import restriction, tree

C, P = Ownership.CORPORATE, Ownership.PERSONAL
FULL, PART, NONE = Funding.FULL, Funding.PARTIAL, Funding.NONE


def device(org: str, ownership: Ownership, funding: Funding, enrolled: bool,
           platform: Platform = Platform.ANDROID) -> Device:
    return Device(id="d1", organisation=org, platform=platform, ownership=ownership, funding=funding,
                  enrolled=enrolled)


CASES = [
    # European Commission: corporate devices, and personal devices enrolled in its device service.
    ("eu-commission-tiktok-2023", device("eu-commission", C, FULL, True), True),
    ("eu-commission-tiktok-2023", device("eu-commission-dg-digit", C, FULL, False), True),
    ("eu-commission-tiktok-2023", device("eu-commission", P, NONE, True, Platform.IOS), True),
    ("eu-commission-tiktok-2023", device("eu-commission-dg-comm", P, NONE, False), False),
    ("eu-commission-tiktok-2023", device("eu-commission", P, PART, False), False),
    ("eu-commission-tiktok-2023", device("be-federal", C, FULL, True), False),
    # Belgium: every device the federal authorities fully or partly pay for, whoever owns it.
    ("be-federal-tiktok-2023", device("be-federal", P, PART, False), True),
    ("be-federal-tiktok-2023", device("be-federal", C, FULL, True), True),
    ("be-federal-tiktok-2023", device("be-federal", P, NONE, True), False),
    # ... recommended to the regions and municipalities: not binding on them until they adopt it.
    ("be-federal-tiktok-2023", device("be-flanders", C, FULL, True), False),
    ("be-federal-tiktok-2023", device("be-gent", C, FULL, True), False),
    # Belgium, the advisory half: personal devices nobody in the federal service pays for.
    ("be-federal-tiktok-personal-2023", device("be-federal", P, NONE, False), True),
    ("be-federal-tiktok-personal-2023", device("be-federal", P, PART, False), False),
    ("be-federal-tiktok-personal-2023", device("be-federal", C, NONE, True), False),
    # Danish Parliament: work phones, tablets and computers.
    ("dk-parliament-tiktok-2023", device("dk-parliament", C, FULL, True, Platform.WINDOWS), True),
    ("dk-parliament-tiktok-2023", device("dk-parliament", P, NONE, True), False),
    ("dk-parliament-tiktok-2023", device("eu-commission", C, FULL, True), False),
    # US federal: the information technology of an agency, owned or paid for.
    ("us-federal-tiktok-2022", device("us-federal", C, NONE, True), True),
    ("us-federal-tiktok-2022", device("us-federal", P, PART, False), True),
    ("us-federal-tiktok-2022", device("us-federal", P, NONE, True), False),
    ("us-pafaca-2024", device("us-federal", C, FULL, True, Platform.MACOS), True),
    ("us-pafaca-2024", device("us-federal", P, NONE, False), False),
    ("us-pafaca-2024", device("dk-parliament", C, FULL, True), False),
]


@pytest.mark.parametrize(("restriction_id", "dev", "expected"), CASES,
                         ids=[f"{r}-{d.organisation}-{d.ownership}-{d.funding}-{'enr' if d.enrolled else 'not'}"
                              for r, d, _ in CASES])
def test_seed_case_scope(restriction_id: str, dev: Device, expected: bool) -> None:
    assert in_scope(restriction(restriction_id), dev, tree()) is expected


def test_adoption_extends_a_recommended_restriction_to_the_adopters_subtree() -> None:
    belgian = restriction("be-federal-tiktok-2023")
    ghent = device("be-gent", C, FULL, True)
    liege = device("be-liege", C, FULL, True)
    adopted = frozenset({"be-flanders"})
    assert in_scope(belgian, ghent, tree(), adopted)
    assert not in_scope(belgian, liege, tree(), adopted)
    # adoption does not widen the device attributes: an unfunded personal phone stays out of scope
    assert not in_scope(belgian, device("be-gent", P, NONE, True), tree(), adopted)


def test_mandatory_restriction_binds_every_department() -> None:
    commission = restriction("eu-commission-tiktok-2023")
    assert all(in_scope(commission, device(org, C, FULL, True), tree())
               for org in tree().subtree("eu-commission"))
