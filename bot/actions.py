"""Identifiers shared by the messages the bot renders and the handlers that listen to them.

Kept in one Slack-free place so a button and its listener cannot drift apart.
"""

PLAN_VIEW = "release_plan"

# Planning modal block ids; they double as the field names the service reports errors on.
FIELD_TITLE = "title"
FIELD_MODEL = "model"
FIELD_START = "start"
FIELD_END = "end"
FIELD_COMPONENTS = "components"
FIELD_CHANGE = "change_ref"
FIELD_DESCRIPTION = "description"

# The release card's "Change window" button, and the modal it opens.
CHANGE_WINDOW = "release_change_window"
WINDOW_VIEW = "release_window"
FIELD_REASON = "reason"

# `/release announce`: the preview's buttons.
ANNOUNCE_SEND = "release_announce_send"
ANNOUNCE_SKIP = "release_announce_skip"
