"""Who and what exists in the sandbox's workspace: people, channels and user groups.

Made from the release models, so that every channel and approver a model names exists: the
bundled models get the cast below (a release owner, two CAB approvers, a stakeholder), and
any other id a model names (a custom RELEASEBOT_MODELS folder) becomes a person, a channel or
a group named after its id.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from bot.catalog import Catalog

BOT_USER = "UBOT"
BOT_NAME = "releasebot"
#: Where releases are planned in the sandbox: not named by any model, so added.
RELEASES_CHANNEL = "C0123RELEASES"


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    real_name: str
    title: str
    tz: str = "Europe/London"

    @property
    def first_name(self) -> str:
        return self.real_name.split()[0]


@dataclass(frozen=True)
class Channel:
    id: str
    name: str
    purpose: str = ""


@dataclass(frozen=True)
class Group:
    id: str
    handle: str
    name: str
    members: tuple[str, ...]


#: The cast of the bundled models (bot/release_models), in the switcher's order.
CAST = (
    Person("U0123ERIN", "erin", "Erin Walsh", "Release owner", "Europe/London"),
    Person("U0123ALICE", "alice", "Alice Moreau", "CAB approver", "Europe/Paris"),
    Person("U0123CAROL", "carol", "Carol Diaz", "CAB approver (@cab)", "Europe/Madrid"),
    Person("U0123BOB", "bob", "Bob Chen", "Stakeholder", "Europe/London"),
)
EXTRAS = (
    Person("U0123DAVE", "dave", "Dave Okafor", "Product approver", "Europe/Berlin"),
)
CHANNELS = (
    Channel(RELEASES_CHANNEL, "releases", "Plan releases here: type /release new standard …"),
    Channel("C0123APPROVALS", "approvals", "Where the CAB decides on standard releases"),
    Channel("C0123ANNOUNCE", "announcements", "What changes for everyone, and when"),
    Channel("C0123INCIDENTS", "incidents", "Emergency fixes and their on-call approvals"),
    Channel("C0123PRODUCT", "product", "Approvals of phased client releases"),
)
GROUPS = (
    Group("S0123CAB", "cab", "Change advisory board", ("U0123CAROL",)),
    Group("S0123USERS", "users", "Everyone using the services", ("U0123BOB", "U0123ERIN")),
    Group("S0123ONCALL", "oncall", "On-call engineers", ("U0123ALICE", "U0123CAROL")),
    Group("S0123PILOTS", "pilots", "Pilot users of the client", ("U0123BOB",)),
)


@dataclass
class Directory:
    people: dict[str, Person] = field(default_factory=dict)
    channels: dict[str, Channel] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    #: The people one can act as, in the switcher's order.
    cast: list[str] = field(default_factory=list)

    @classmethod
    def for_catalog(cls, catalog: Catalog) -> Directory:
        """The cast, plus everyone and everything the release models name."""
        directory = cls(
            people={p.id: p for p in (*CAST, *EXTRAS)},
            channels={c.id: c for c in CHANNELS},
            groups={g.id: g for g in GROUPS},
            cast=[p.id for p in CAST],
        )
        approvers = [p.id for p in CAST if "approver" in p.title.lower()]
        for model in catalog:
            named: list[str] = list(model.approval.approvers)
            named += list(getattr(model, "planners", None) or ())
            if model.survey is not None:
                named += list(model.survey.recipients)
            directory.add_ids(named, default_members=approvers)
            channels = [model.approval.channel]
            if model.communications is not None:
                channels.append(model.communications.channel)
            directory.add_channels(channels)
        return directory

    def add_ids(self, ids: Iterable[str], default_members: list[str]) -> None:
        for some_id in ids:
            if some_id.startswith("S") and some_id not in self.groups:
                handle = some_id.removeprefix("S").lower()
                self.groups[some_id] = Group(some_id, handle, handle, tuple(default_members))
            elif some_id[:1] in ("U", "W") and some_id not in self.people:
                name = some_id[1:].lower()
                self.people[some_id] = Person(some_id, name, name.capitalize(), "Named in a release model")
                self.cast.append(some_id)

    def add_channels(self, ids: Iterable[str]) -> None:
        for channel in ids:
            if channel and channel not in self.channels and channel[:1] in ("C", "G"):
                self.channels[channel] = Channel(channel, channel.lower())

    def person(self, user: str) -> Person | None:
        return self.people.get(user)

    def name_of(self, user: str) -> str:
        if user == BOT_USER:
            return BOT_NAME
        person = self.people.get(user)
        return person.real_name if person else user

    def handle_of(self, user: str) -> str:
        if user == BOT_USER:
            return BOT_NAME
        person = self.people.get(user)
        return person.name if person else user

    def channel_name(self, channel: str) -> str:
        found = self.channels.get(channel)
        if found:
            return found.name
        if channel.startswith("D"):
            return f"{BOT_NAME} (direct message)"
        return channel

    def group_handle(self, group: str) -> str:
        found = self.groups.get(group)
        return found.handle if found else group

    def tz(self, user: str) -> str:
        person = self.people.get(user)
        return person.tz if person else "UTC"


def dm_channel(user: str) -> str:
    """The direct-message conversation between the bot and `user` (Slack's `D…` ids)."""
    return "D" + user[1:] if user[:1] in ("U", "W") else user


def dm_user(channel: str) -> str | None:
    return "U" + channel[1:] if channel.startswith("D") else None
