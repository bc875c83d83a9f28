"""`releasebot models init DIR`: a first release model of one's own, commented line by line.

The file is valid as written (so `releasebot models check DIR` passes at once) and uses
made-up ids in the examples' style (`C0123…`, `U0123…`, `S0123…`), which `serve` warns
about and `releasebot doctor` flags until they are replaced with the workspace's own.
"""

from __future__ import annotations

from pathlib import Path

FILE_NAME = "standard.yaml"

STARTER = """\
# A release model: how one type of release is planned, approved, verified, announced and
# reviewed. One model per file; the file name is yours to choose, `key` is what people type.
# Check it with `releasebot models check DIR`, then check it against your workspace with
# `releasebot doctor` (with RELEASEBOT_MODELS=DIR). Every field is described in
# docs/release-models.md.
#
# Slack ids, not names: the bot needs the ids of channels, people and user groups.
# - a channel (C…, private ones may start with G…): open the channel, click its name at the
#   top; the Channel ID is at the bottom of the About tab. Invite the bot there:
#   /invite @releasebot
# - a person (U…, or W… on Enterprise Grid): open their profile, click ⋮ (More) and
#   Copy member ID.
# - a user group (S…): open People → User groups in Slack in a browser and click the group;
#   the address ends in its id. Members are looked up when needed, so the group can change.
# The ids below (C0123…, U0123…, S0123…) are made up: replace every one of them.

key: standard                  # lower-case letters, digits, dashes: /release new standard …
name: Standard release
description: A planned change to a service, approved before it starts
approach: push                 # push: it reaches people; pull: they opt in (see opt_in below)
# planners: [U0123APPROVER, S0123CAB]   # who may plan releases of this model (default: anyone)
# Release managers (RELEASEBOT_MANAGERS, a setting, not a model field) may do everything an
# owner may on any release, freeze the schedule and post reviews.

approval:
  channel: C0123APPROVALS      # where approval requests are posted (the bot must be a member)
  approvers: [U0123APPROVER, S0123CAB]   # people and user groups who may approve
  quorum: 1                    # approvals needed before the release is approved
  self_approval: false         # may the release's owner approve it too?
  remind_every: 4h             # nudge approvers who have not answered (s, m, h, d)
  reapprove_on_change: true    # a plan edited after approval is approved again

plan:                          # what the planning form requires beside the window
  require: [risk, rollback_plan]   # also: release_notes

verification:                  # each criterion is recorded pass/fail, with evidence
  components: [Build artefacts signed, Tests green]   # before execution
  procedures: [Rollback procedure rehearsed]          # before execution
  release: [Smoke tests pass]                         # after execution: released or failed

communications:
  channel: C0123ANNOUNCE       # the audience's channel (the bot must be a member)
  # opt_in: "Install it from Self Service when it suits you."   # for approach: pull
  plan:                        # each entry names a template: planned, upcoming, released, …
    - {on: approved, template: planned}
    - {before_start: 24h, template: upcoming}
    - {on: released, template: released}
    - {on: failed, template: failed}
    - {on: rolled_back, template: rolled_back}
    - {on: cancelled, template: cancelled}

reminders:                     # direct messages before the planned start
  - {before_start: 1h, to: owner, template: starting_soon}

survey:                        # the post-release survey, by direct message
  after_release: 2h
  recipients: [S0123USERS]     # people and user groups
  closes_after: 3d
  questions:                   # quote text that holds : ? or #
    - {key: satisfaction, kind: rating, text: "How smooth was this release for you?"}
    - {key: comments, kind: text, text: "What should we do differently next time?"}
"""


class StarterExists(Exception):
    """The folder already holds a file of that name; it is never overwritten."""


def write_starter(folder: Path) -> Path:
    """Write the starter model into `folder` (made if missing) and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / FILE_NAME
    try:
        with path.open("x", encoding="utf-8") as out:
            out.write(STARTER)
    except FileExistsError:
        raise StarterExists(f"{path} exists already; it is left as it is") from None
    return path
