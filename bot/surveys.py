"""The post-release survey: ask the model's recipients once, record one answer per person
and question (a changed rating replaces the last), remind non-respondents once, then close.

Recipients are resolved (user groups through the Directory) before the transaction; inside
it, the unique keys on surveys, invitations and answers make retries, restarts and double
clicks harmless. Every message goes through the outbox.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from bot.catalog import ReleaseModel
from bot.directory import Directory, resolve
from bot.lifecycle import OUTCOMES, EventKind, State
from bot.outbox import Message
from bot.records import ReleaseRecord
from bot.releases import Outcome, ReleaseService, no_such_release
from bot.rendering.surveys import survey_anchor, survey_message
from storage.uow import UnitOfWork

log = logging.getLogger(__name__)

#: The reminder goes this long before the survey closes (or halfway, for short surveys).
REMINDER_LEAD = timedelta(hours=24)
ANSWERABLE = OUTCOMES | {State.CLOSED}


class SurveyService:
    def __init__(self, releases: ReleaseService, directory: Directory):
        self.releases = releases
        self.directory = directory

    def _model(self, release: ReleaseRecord) -> ReleaseModel | str:
        model = self.releases.catalog.get(release.model_key)
        if model is None or model.survey is None:
            return f"The *{release.model_key}* release model has no survey, so there is nothing to send."
        return model

    async def send(self, release_id: int, by: str | None = None) -> Outcome:
        """Open the survey and message each recipient who has not been asked yet."""
        release = await self.releases.get(release_id)
        if release is None:
            return Outcome(refused=no_such_release(release_id))
        model = self._model(release)
        if isinstance(model, str):
            return Outcome(refused=model)
        if release.state not in ANSWERABLE:
            return Outcome(refused=f"{release.ref} is {release.state.label}: the survey is for releases that "
                                   "have been executed.")
        assert model.survey is not None
        recipients = sorted(await resolve(self.directory, model.survey.recipients))
        now = self.releases.clock()
        async with self.releases.uow() as uow:
            opened = await uow.surveys.open(release.id, now, now + model.survey.closes_after, model.survey.anonymous)
            survey = await uow.surveys.get(release.id)
            assert survey is not None
            if survey.closes_at <= now:
                return Outcome(refused=f"The survey of {release.ref} has closed.")
            asked = 0
            for recipient in recipients:
                if await uow.surveys.invite(release.id, recipient, now):
                    asked += 1
                    await Message.post(channel=recipient, rendered=survey_message(release, model),
                                       anchor=survey_anchor(release.id, recipient),
                                       dedupe_key=f"{release.ref}:survey:{recipient}",
                                       release_id=release.id).enqueue(uow, now)
            if asked:
                await uow.events.append(release.id, EventKind.SURVEY_SENT.value, by, now,
                                        {"recipients": asked, "first": opened})
        if not asked:
            return Outcome(release=release, refused=None if opened else
                           f"The survey of {release.ref} was already sent to everyone it is for.")
        return Outcome(release=release)

    async def text_questions(self, release_id: int) -> list[tuple[str, str]] | str:
        """The survey's free-text questions (key, text), for the comment form."""
        release = await self.releases.get(release_id)
        if release is None:
            return no_such_release(release_id)
        model = self._model(release)
        if isinstance(model, str):
            return model
        assert model.survey is not None
        return [(q.key, q.text) for q in model.survey.questions if q.kind == "text"]

    async def rate(self, release_id: int, user: str, question: str, rating: int) -> Outcome:
        return await self._answer(release_id, user, {question: rating}, {})

    async def comment(self, release_id: int, user: str, texts: dict[str, str]) -> Outcome:
        return await self._answer(release_id, user, {}, texts)

    async def _answer(self, release_id: int, user: str, ratings: dict[str, int], texts: dict[str, str]) -> Outcome:
        release = await self.releases.get(release_id)
        if release is None:
            return Outcome(refused=no_such_release(release_id))
        model = self._model(release)
        if isinstance(model, str):
            return Outcome(refused=model)
        assert model.survey is not None
        known = {q.key: q.kind for q in model.survey.questions}
        if any(known.get(k) != "rating" or not 1 <= v <= 5 for k, v in ratings.items()) or \
                any(known.get(k) != "text" for k in texts):
            return Outcome(refused="That answer does not belong to this survey any more.")
        now = self.releases.clock()
        async with self.releases.uow() as uow:
            survey = await uow.surveys.get(release.id)
            if survey is None or not await uow.surveys.invited(release.id, user):
                return Outcome(refused=f"You were not asked about {release.ref}.")
            if survey.closes_at <= now:
                return Outcome(refused=f"This survey has closed: answers to {release.ref} were taken until "
                                       f"{survey.closes_at:%Y-%m-%d %H:%M} UTC.")
            for key, rating in ratings.items():
                await uow.surveys.answer(release.id, user, key, now, rating=rating)
            for key, text in texts.items():
                await uow.surveys.answer(release.id, user, key, now, text=text.strip() or None)
            await uow.events.append(release.id, EventKind.SURVEY_ANSWERED.value, user, now,
                                    {"ratings": ratings, "comments": sorted(texts)})
            await self._thank(uow, release, model, user, now)
        return Outcome(release=release)

    async def _thank(self, uow: UnitOfWork, release: ReleaseRecord, model: ReleaseModel, user: str,
                     now: datetime, reminder: bool = False) -> None:
        """Show the person's answers in place of the question they answered."""
        answers = [a for a in await uow.surveys.answers(release.id) if a.respondent == user]
        ratings = {a.question_key: a.rating for a in answers if a.rating is not None}
        commented = any(a.text for a in answers)
        stamp = int(now.timestamp() * 1000)
        rendered = survey_message(release, model, ratings, commented)
        anchors = [survey_anchor(release.id, user)]
        if await uow.outbox.queued(reminder_key(release, user)):
            anchors.append(reminder_anchor(release.id, user))
        for anchor in anchors:
            await Message.update(channel=user, rendered=rendered, anchor=anchor, release_id=release.id,
                                 dedupe_key=f"{anchor}:at{stamp}").enqueue(uow, now)

    async def tick(self) -> None:
        """Scheduled: open the surveys that have come due, and remind once before closing."""
        now = self.releases.clock()
        for model in self.releases.catalog:
            if model.survey is None:
                continue
            async with self.releases.uow() as uow:
                due = await uow.surveys.due_to_open(model.key, now - model.survey.after_release)
            for release_id in due:
                outcome = await self.send(release_id)
                if outcome.refused:
                    log.info("survey of REL-%s not sent: %s", release_id, outcome.refused)
        await self._remind(now)

    async def _remind(self, now: datetime) -> None:
        async with self.releases.uow() as uow:
            for survey in await uow.surveys.open_between(now):
                lead = min(REMINDER_LEAD, (survey.closes_at - survey.opened_at) / 2)
                if now < survey.closes_at - lead:
                    continue
                row = await uow.releases.get(survey.release_id)
                release = ReleaseRecord.from_row(row) if row else None
                model = self._model(release) if release else "gone"
                if release is None or isinstance(model, str):
                    continue
                for recipient in await uow.surveys.unanswered(survey.release_id):
                    await Message.post(channel=recipient, rendered=survey_message(release, model, reminder=True),
                                       anchor=reminder_anchor(release.id, recipient),
                                       dedupe_key=reminder_key(release, recipient),
                                       release_id=release.id).enqueue(uow, now)


def reminder_key(release: ReleaseRecord, recipient: str) -> str:
    return f"{release.ref}:survey-reminder:{recipient}"


def reminder_anchor(release_id: int, recipient: str) -> str:
    return f"{survey_anchor(release_id, recipient)}:reminder"
