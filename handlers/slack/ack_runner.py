"""Bolt's listener runner, answering Slack the moment a listener acks.

With `process_before_response=False`, slack-bolt's `AsyncioListenerRunner.run` (1.x) starts
the listener as a task and then looks every 10 ms (`await asyncio.sleep(0.01)`) whether it
has acked yet. So every ack waits for the next look: 5 ms on average and 10 at worst, on top
of the listener's own time, and with fifty requests in flight the loop wakes 5,000 times a
second for timers that find nothing. `PromptAckRunner` waits for the ack itself: the
listener's `ack` sets an event, and the runner answers as soon as it is set.

Everything else is Bolt's: the start, completion and error handlers, the 3 s ack timeout and
its warning, an error before the ack answering 500. Requests this runner has no reason to
change (`process_before_response`, lazy listeners, Events API listeners Bolt acks itself, a
request a middleware already acked) go to Bolt's own `run`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from slack_bolt.app.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.listener.async_listener import AsyncListener
from slack_bolt.listener.asyncio_runner import AsyncioListenerRunner
from slack_bolt.logger.messages import warning_did_not_call_ack
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse


class _SignallingAck(AsyncAck):
    """Bolt's `ack`, which also tells the runner it was called."""

    def __init__(self) -> None:
        super().__init__()
        self.called = asyncio.Event()

    async def __call__(self, *args: Any, **kwargs: Any) -> BoltResponse:
        try:
            return await super().__call__(*args, **kwargs)
        finally:
            self.called.set()


class PromptAckRunner(AsyncioListenerRunner):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: The listeners running after their ack: the loop keeps only weak references to tasks.
        self._running: set[asyncio.Future[None]] = set()

    @classmethod
    def install(cls, bolt: AsyncApp) -> PromptAckRunner:
        """Put this runner in `bolt`'s place of its own, with the same handlers. Bolt has no
        setting for its runner; `AsyncApp.error()` sets the error handler on whichever runner
        is in place, so it keeps working after this."""
        own = bolt.listener_runner
        runner = cls(logger=own.logger, process_before_response=own.process_before_response,
                     listener_error_handler=own.listener_error_handler,
                     listener_start_handler=own.listener_start_handler,
                     listener_completion_handler=own.listener_completion_handler,
                     lazy_listener_runner=own.lazy_listener_runner)
        bolt._async_listener_runner = runner
        return runner

    async def run(self, request: AsyncBoltRequest, response: BoltResponse, listener_name: str,
                  listener: AsyncListener, starting_time: float | None = None) -> BoltResponse | None:
        if (self.process_before_response or listener.lazy_functions or listener.auto_acknowledgement
                or request.lazy_only or request.lazy_function_name or request.context.ack.response is not None):
            return await super().run(request, response, listener_name, listener, starting_time)
        starting_time = starting_time if starting_time is not None else time.time()
        ack = _SignallingAck()
        request.context["ack"] = ack
        task = asyncio.ensure_future(self._listen(ack, request, response, listener))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        try:
            async with asyncio.timeout(max(listener.ack_timeout - (time.time() - starting_time), 0)):
                await ack.called.wait()
        except TimeoutError:
            pass
        if ack.response is None:
            self.logger.warning(warning_did_not_call_ack(listener_name))
            return None
        return ack.response

    async def _listen(self, ack: _SignallingAck, request: AsyncBoltRequest, response: BoltResponse | None,
                      listener: AsyncListener) -> None:
        """The listener, as Bolt runs it after its ack (`run_ack_function_asynchronously`)."""
        try:
            await self.listener_start_handler.handle(request=request, response=response)
            await listener.run_ack_function(request=request, response=response)  # type: ignore[arg-type]
        except Exception as e:
            if response is None:
                response = BoltResponse(status=500)
            response.status = 500
            acked = ack.response is not None
            if acked:  # Slack has had its answer (Bolt hands the handler None then)
                response = None
            await self.listener_error_handler.handle(error=e, request=request, response=response)
            if not acked:  # Bolt replaces the ack's answer here, which loses it if it is not sent yet
                ack.response = response
        finally:
            ack.called.set()  # ended, acked or not: the runner stops waiting
            await self.listener_completion_handler.handle(request=request, response=response)
