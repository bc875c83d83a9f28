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

SUBMIT = "release_submit"
APPROVE = "release_approve"
REJECT = "release_reject"
REJECT_VIEW = "release_reject_reason"
FIELD_REASON = "reason"

SURVEY_RATE = "survey_rate"          # action ids are `survey_rate:<question>:<n>`
SURVEY_COMMENT = "survey_comment"
SURVEY_COMMENT_VIEW = "survey_comment_view"
LESSONS = "review_lessons"
LESSONS_VIEW = "review_lessons_view"
FIELD_LESSONS = "lessons"
CLOSE = "release_close"
VERIFY = "release_verify"
START = "release_start"
VERIFY_VIEW = "release_verify_checklist"
# The release card's "Change window" button, and the modal it opens.
CHANGE_WINDOW = "release_change_window"
WINDOW_VIEW = "release_window"

# `/release announce`: the preview's buttons.
ANNOUNCE_SEND = "release_announce_send"
ANNOUNCE_SKIP = "release_announce_skip"

# The release plan (DESIGN.md §5a). The field ids double as the domain's field names
# (bot/release_plan.py) in the planning and edit modals.
FIELD_RELEASE_NOTES = "release_notes"
FIELD_RISK = "risk"
FIELD_IMPACT = "impact"
FIELD_ROLLBACK_PLAN = "rollback_plan"
# The card's "Edit plan" button and its modal; "Read the plan" (card, request, record).
PLAN_EDIT = "release_plan_edit"
PLAN_EDIT_VIEW = "release_plan_edit_view"
PLAN_READ = "release_plan_read"
# The rollback form (`/release rollback REL-n`), and the question after a typed rollback:
# action ids are `rollback_plan:<followed|partly|not_followed>`.
ROLLBACK_VIEW = "release_rollback"
FIELD_PLAN_FOLLOWED = "plan_followed"
ROLLBACK_PLAN_NOTE = "rollback_plan"
