"""The survey as a direct message: what changed, the rating question with buttons 1–5, and
a button for comments; after an answer, thanks in place, with the buttons kept to change it."""

from __future__ import annotations

import json
from collections.abc import Mapping

from bot import actions as ids
from bot.catalog import ReleaseModel, SurveyQuestion
from bot.records import ReleaseRecord
from bot.rendering import blocks as bk
from bot.rendering.messages import Rendered, components_text


def survey_anchor(release_id: int, recipient: str) -> str:
    return f"release:{release_id}:survey:{recipient}"


def rate_value(release_id: int, question: str, rating: int) -> str:
    return json.dumps({"r": release_id, "q": question, "v": rating}, separators=(",", ":"))


def survey_message(release: ReleaseRecord, model: ReleaseModel, ratings: Mapping[str, int] | None = None,
                   commented: bool = False, closed: bool = False, reminder: bool = False) -> Rendered:
    """The survey DM. `ratings` are the person's answers so far, shown as thanks."""
    assert model.survey is not None
    ratings = ratings or {}
    lead = ("Reminder: the survey closes soon. " if reminder else "") + \
        f"{release.ref} *{bk.escape(release.title)}* has been released."
    blocks: list[bk.Block] = [
        bk.header(f"How did {release.ref} go?"),
        bk.section(lead + (f"\n{bk.escape(bk.truncate(release.description, 1500))}" if release.description else "")),
        bk.context(f"What changed: {components_text(release.components)}"),
    ]
    for question in model.survey.questions:
        if question.kind != "rating":
            continue
        blocks.append(bk.section(f"*{bk.escape(question.text)}*"))
        given = ratings.get(question.key)
        if given is not None:
            blocks.append(bk.context(f":white_check_mark: Thanks: you answered *{given}*."
                                     + ("" if closed else " Click another number to change it.")))
        if not closed:
            blocks.append(bk.actions(*(_rating_button(release.id, question, n, given) for n in range(1, 6)),
                                     block_id=f"rate:{question.key}"))
    if any(q.kind == "text" for q in model.survey.questions) and not closed:
        label = "Change your comment" if commented else "Add a comment"
        blocks.append(bk.actions(bk.button(label, ids.SURVEY_COMMENT, str(release.id)),
                                 block_id="comment"))
    elif commented:
        blocks.append(bk.context(":speech_balloon: Thanks for your comment."))
    if closed:
        blocks.append(bk.context("This survey has closed. Thank you."))
    elif model.survey.anonymous:
        blocks.append(bk.context("Answers are reported without names."))
    text = f"How did {release.ref} {bk.escape(release.title)} go? Rate it from 1 to 5."
    return Rendered(bk.message_text(text), bk.cap(blocks))


def _rating_button(release_id: int, question: SurveyQuestion, n: int, given: int | None) -> bk.Block:
    return bk.button(str(n), f"{ids.SURVEY_RATE}:{question.key}:{n}", rate_value(release_id, question.key, n),
                     style="primary" if given == n else None)
