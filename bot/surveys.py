"""The post-release survey: ask the model's recipients once, record one answer per person
and question (a changed rating replaces the last), remind non-respondents once, then close.

Recipients are resolved (user groups through the Directory) before the transaction; inside
it, the unique keys on surveys, invitations and answers make retries, restarts and double
clicks harmless. Every message goes through the outbox.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from bot import lifecycle
from bot.catalog import ReleaseModel
from bot.clock import Clock
from bot.directory import Directory, resolve
from bot.lifecycle import EventKind, Refused
from bot.model_versions import ModelVersions
from bot.outbox import Message
from bot.outcome import Outcome
from bot.records import ReleaseRecord
from bot.rendering.messages import Rendered
from bot.rendering.surveys import survey_anchor, survey_message
from bot.roles import Roles
from storage.uow import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)

#: The reminder goes this long before the survey closes (or halfway, for short surveys).
REMINDER_LEAD = timedelta(hours=24)


class SurveyService:
    def __init__(self, uow: UnitOfWorkFactory, versions: ModelVersions, clock: Clock, directory: Directory,
                 roles: Roles):
        self.uow = uow
        self.versions = versions
        self.clock = clock
        self.directory = directory
        self.roles = roles

    async def _release(self, release_id: int) -> tuple[ReleaseRecord, ReleaseModel] | Refused:
        async with self.uow(read_only=True) as uow:
            row = await uow.releases.get(release_id)
            if row is None:
                return lifecycle.no_such_release(release_id)
            release = ReleaseRecord.from_row(row)
            model = await self.versions.for_release(release, uow)
        if model is None:
            return lifecycle.model_missing(release.snapshot)
        if model.survey is None:
            return lifecycle.no_survey(release.snapshot)
        return release, model

    async def send(self, release_id: int, by: str | None = None) -> Outcome[ReleaseRecord]:
        """Open the survey and message each recipient who has not been asked yet. `by` is the
        person who asked (the rules say who may); None when it came due by itself."""
        found = await self._release(release_id)
        if isinstance(found, Refused):
            return Outcome.of(found.refusal)
        release, model = found
        actor = None if by is None else await self.roles.actor(by, release, model)
        if refused := lifecycle.may_send_survey(release.snapshot, actor, has_survey=True):
            return Outcome.of(refused.refusal)
        assert model.survey is not None
        recipients = sorted(await resolve(self.directory, model.survey.recipients))
        now = self.clock()
        async with self.uow() as uow:
            opened = await uow.surveys.open(release.id, now, now + model.survey.closes_after, model.survey.anonymous)
            survey = await uow.surveys.get(release.id)
            assert survey is not None
            if survey.closes_at <= now:
                return Outcome.refuse("survey_closed", f"The survey of {release.ref} has closed.")
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
            await uow.commit()
        if not asked and not opened:
            return Outcome.refuse("already_sent",
                                  f"The survey of {release.ref} was already sent to everyone it is for.")
        return Outcome.success(release)

    async def text_questions(self, release_id: int) -> Outcome[list[tuple[str, str]]]:
        """The survey's free-text questions (key, text), for the comment form."""
        found = await self._release(release_id)
        if isinstance(found, Refused):
            return Outcome.of(found.refusal)
        _, model = found
        assert model.survey is not None
        return Outcome.success([(q.key, q.text) for q in model.survey.questions if q.kind == "text"])

    async def rate(self, release_id: int, user: str, question: str, rating: int) -> Outcome[ReleaseRecord]:
        return await self._answer(release_id, user, {question: rating}, {})

    async def comment(self, release_id: int, user: str, texts: dict[str, str]) -> Outcome[ReleaseRecord]:
        return await self._answer(release_id, user, {}, texts)

    async def tell(self, user: str, rendered: Rendered, key: str) -> None:
        """A direct message to a survey respondent whose form has closed (why their answer was
        not taken), through the outbox like every message."""
        now = self.clock()
        async with self.uow() as uow:
            await Message.post(channel=user, rendered=rendered, dedupe_key=f"survey-notice:{key}"[:255]).enqueue(
                uow, now)
            await uow.commit()

    async def _answer(self, release_id: int, user: str, ratings: dict[str, int],
                      texts: dict[str, str]) -> Outcome[ReleaseRecord]:
        found = await self._release(release_id)
        if isinstance(found, Refused):
            return Outcome.of(found.refusal)
        release, model = found
        assert model.survey is not None
        known = {q.key: q.kind for q in model.survey.questions}
        if any(known.get(k) != "rating" or not 1 <= v <= 5 for k, v in ratings.items()) or \
                any(known.get(k) != "text" for k in texts):
            return Outcome.refuse("not_in_survey", "That answer does not belong to this survey any more.")
        now = self.clock()
        async with self.uow() as uow:
            survey = await uow.surveys.get(release.id)
            if survey is None or not await uow.surveys.invited(release.id, user):
                return Outcome.refuse("not_asked", f"You were not asked about {release.ref}.")
            if survey.closes_at <= now:
                return Outcome.refuse("survey_closed", f"This survey has closed: answers to {release.ref} were "
                                                       f"taken until {survey.closes_at:%Y-%m-%d %H:%M} UTC.")
            for key, rating in ratings.items():
                await uow.surveys.answer(release.id, user, key, now, rating=rating)
            for key, text in texts.items():
                await uow.surveys.answer(release.id, user, key, now, text=text.strip() or None)
            await uow.events.append(release.id, EventKind.SURVEY_ANSWERED.value, user, now,
                                    {"ratings": ratings, "comments": sorted(texts)})
            await self._thank(uow, release, model, user, now)
            await uow.commit()
        return Outcome.success(release)

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
        """Scheduled: open the surveys that have come due, and remind once before closing.

        A survey whose whole window has passed (released longer ago than its delay and its
        time open together: the bot was down for days, or the model gained a survey after a
        year of releases) is not opened by itself: people would be asked about releases long
        behind them, hundreds at once. `/release survey REL-n` still sends one."""
        now = self.clock()
        for key, version, model in await self._with_surveys():
            assert model.survey is not None
            after = model.survey.after_release
            async with self.uow(read_only=True) as uow:
                due = await uow.surveys.due_to_open(key, now - after, now - after - model.survey.closes_after,
                                                    version=version)
            for release_id in due:
                outcome = await self.send(release_id)
                if outcome.refusal:
                    log.info("survey of REL-%s not sent: %s", release_id, outcome.refusal.message)
        await self._remind(now)

    async def next_due(self, after: datetime) -> datetime | None:
        """The first moment after `after` a survey comes due or its reminder does: when the
        heartbeat wakes `tick` (bot/due_jobs.py), rather than on a poll."""
        moments: list[datetime] = []
        for key, version, model in await self._with_surveys():
            assert model.survey is not None
            async with self.uow(read_only=True) as uow:
                released = await uow.surveys.first_released_after(key, after - model.survey.after_release,
                                                                  version=version)
            if released is not None:
                moments.append(released + model.survey.after_release)
        async with self.uow(read_only=True) as uow:
            for survey in await uow.surveys.open_between(after):
                lead = min(REMINDER_LEAD, (survey.closes_at - survey.opened_at) / 2)
                if survey.closes_at - lead > after:
                    moments.append(survey.closes_at - lead)
        return min(moments, default=None)

    async def _with_surveys(self) -> list[tuple[str, str | None, ReleaseModel]]:
        """Each stored version of a model with a survey (its releases are surveyed by it), and
        the current models for releases planned before versions were kept (version None)."""
        found: list[tuple[str, str | None, ReleaseModel]] = []
        async with self.uow(read_only=True) as uow:
            stored = await uow.model_versions.keys()
            for key, version in stored:
                model = await self.versions.get(key, version, uow)
                if model is not None and model.survey is not None:
                    found.append((key, version, model))
        for model in self.versions.catalog:
            if model.survey is not None:
                found.append((model.key, None, model))
        return found

    async def _remind(self, now: datetime) -> None:
        async with self.uow() as uow:
            for survey in await uow.surveys.open_between(now):
                lead = min(REMINDER_LEAD, (survey.closes_at - survey.opened_at) / 2)
                if now < survey.closes_at - lead:
                    continue
                row = await uow.releases.get(survey.release_id)
                release = ReleaseRecord.from_row(row) if row else None
                model = await self.versions.for_release(release, uow) if release else None
                if release is None or model is None or model.survey is None:
                    continue
                for recipient in await uow.surveys.unanswered(survey.release_id):
                    await Message.post(channel=recipient, rendered=survey_message(release, model, reminder=True),
                                       anchor=reminder_anchor(release.id, recipient),
                                       dedupe_key=reminder_key(release, recipient),
                                       release_id=release.id).enqueue(uow, now)
            await uow.commit()


def reminder_key(release: ReleaseRecord, recipient: str) -> str:
    return f"{release.ref}:survey-reminder:{recipient}"


def reminder_anchor(release_id: int, recipient: str) -> str:
    return f"{survey_anchor(release_id, recipient)}:reminder"
