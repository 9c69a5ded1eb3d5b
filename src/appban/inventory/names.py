"""Display names matched to the catalogue, for sources that name apps but give no identifier.

Intune's detected apps, Fleet's and osquery's Windows programs carry a display name only. The match is exact
(case and runs of white space aside) against a family's name, or a variant name that starts with it, on a
platform where the family has an identity: "TikTok" is TikTok, "TikTok Downloader" and "Tik Tok" are not.
An unmatched name keeps an identity of its own, `name:<display name>`, that no real identifier can equal.
"""

from __future__ import annotations

from appban.catalog import Catalog
from appban.model import App, Platform

__all__ = ["NAME_PREFIX", "CatalogNames", "normal_name"]

NAME_PREFIX = "name:"  # an app known only by its display name: no package, bundle or package family name has a colon


class CatalogNames:
    """Which catalogue identity a display name stands for on a platform, matched exactly as the module says."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self._names: dict[tuple[Platform, str], App] = {}
        for family_id in sorted(catalog.families):
            family = catalog.families[family_id]
            family_name = normal_name(family.name)
            for platform in Platform:
                chosen = _first_identity(family.variants, family.apps, platform)
                if chosen is None:
                    continue
                self._names.setdefault((platform, family_name), chosen)
                for variant, app in family.variants:
                    if app.platform is platform and normal_name(variant).startswith(family_name):
                        self._names.setdefault((platform, normal_name(variant)), app)

    def match(self, platform: Platform, display_name: str) -> App:
        """The catalogue identity `display_name` names on `platform`, else the name's own `name:` identity."""
        named = self._names.get((platform, normal_name(display_name)))
        if named is not None:
            return named
        as_identity = App(platform, display_name.strip())
        if self._catalog.family_of(as_identity) is not None:
            return as_identity
        return App(platform, NAME_PREFIX + display_name.strip())


def normal_name(name: str) -> str:
    """A display name compared without case and with runs of white space as one space."""
    return " ".join(name.split()).casefold()


def _first_identity(variants: tuple[tuple[str, App], ...], apps: frozenset[App], platform: Platform) -> App | None:
    for _, app in variants:
        if app.platform is platform and app in apps:
            return app
    on_platform = sorted(app for app in apps if app.platform is platform)
    return on_platform[0] if on_platform else None
