"""Where each role starts and what its header offers: the one rule behind "/", the landing after sign-in and the
navigation of every page (base.html).

A person with several roles gets every role's links, once each, in the order below; they start at the home of
their first role in that order (an owner who is also an administrator starts at their cameras)."""

from __future__ import annotations

from dataclasses import dataclass

from backend.accounts.models import Role, User


@dataclass(frozen=True)
class Link:
    href: str
    label: str
    css_class: str = ""


@dataclass(frozen=True)
class RoleArea:
    role: Role
    home: str
    links: tuple[Link, ...]


AREAS: tuple[RoleArea, ...] = (
    RoleArea(
        Role.OWNER,
        "/sites",
        (
            Link("/share", "Share now", "share-nav"),
            Link("/sites", "My cameras"),
            Link("/devices", "Devices"),
            Link("/requests", "Requests"),
        ),
    ),
    RoleArea(
        Role.INVESTIGATOR,
        "/console/requests",
        (Link("/console/requests", "Sent requests"), Link("/console/search", "Find cameras")),
    ),
    RoleArea(Role.LIVE_DESK, "/live", (Link("/live", "Live desk"), Link("/live/audit", "Live audit"))),
    RoleArea(
        Role.COORDINATOR,
        "/district",
        (
            Link("/district", "My district"),
            Link("/district/members", "Members"),
            Link("/district/coverage", "Coverage"),
            Link("/district/announcements", "Announcements"),
        ),
    ),
    RoleArea(
        Role.ADMIN,
        "/admin/users",
        (Link("/admin/users", "Accounts"), Link("/admin/districts", "Districts"), Link("/admin/push", "Delivery")),
    ),
)
# Someone whose roles were all taken away still has an account to look at (and to delete).
NO_ROLE_HOME = "/account"


def home_for(user: User) -> str:
    """Where this person lands after signing in and at "/"."""
    roles = user.role_names
    return next((area.home for area in AREAS if area.role in roles), NO_ROLE_HOME)


def navigation_for(user: User) -> list[Link]:
    """The role links of this person's header, before Notifications, Account and Sign out (which everyone has)."""
    roles = user.role_names
    links: list[Link] = []
    for area in AREAS:
        if area.role in roles:
            links += [link for link in area.links if link.href not in {seen.href for seen in links}]
    return links
