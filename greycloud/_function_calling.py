"""Automatic function calling, run by GreyCloud's clients (not google-genai's loop).

google-genai calls the model again itself after running a function, outside
GreyCloud's rate limiter and retry policy. The clients turn that loop off on
the wire and run it here instead (`generate_rounds` and `stream_rounds`, and
their async twins): each model round trip is the client's own generate call or
stream (limited, retried), passed in, and `Rounds` keeps the conversation
between them. Functions are called as google-genai calls them: arguments converted to
the parameters' annotated types (pydantic models included), the return value
sent back as ``{"result": value}``, an exception as ``{"error": message}``.
The sync client calls functions directly; the async one awaits coroutine
functions and runs plain ones in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import logging
import typing
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from typing import TYPE_CHECKING, Any

import pydantic
from google.genai import types

from greycloud._options import is_async_function
from greycloud._request import PreparedRequest, estimate_request_tokens

if TYPE_CHECKING:
    from greycloud.streaming import StreamState

Response = types.GenerateContentResponse

logger = logging.getLogger(__name__)


class Rounds:
    """The state of one automatic-function-calling call, round by round.

    ``request`` is what to send next; after each response, `function_calls`
    says which calls to run (none: the response is the answer) and `answer`
    adds the model's turn and the function results to the conversation.
    """

    def __init__(self, prepared: PreparedRequest) -> None:
        self._prepared = prepared
        self._first_contents = list(prepared.contents)
        self._added: list[types.Content] = []
        self.remaining = prepared.calling.maximum_remote_calls
        self.request = prepared

    def function_calls(self, response: types.GenerateContentResponse) -> list[types.FunctionCall]:
        """The calls to run for ``response``; empty when it is the final answer.

        It is final when it asks for no call, when a call names a function that
        is not one of the Python functions given (the caller handles it), or
        when ``maximum_remote_calls`` model requests have been made (then the
        calls are returned unrun, as google-genai does).
        """
        self.remaining -= 1
        calls = response.function_calls or []
        functions = self._prepared.calling.functions
        if not calls or any(call.name not in functions for call in calls):
            return []
        if self.remaining <= 0:
            logger.info("maximum_remote_calls reached: the function calls are returned unrun")
            return []
        return calls

    @staticmethod
    def streamed(turn: types.Content) -> types.GenerateContentResponse:
        """A streamed round's model turn as a response, for `function_calls` and `answer`."""
        return types.GenerateContentResponse(candidates=[types.Candidate(content=turn)])

    def answer(self, response: types.GenerateContentResponse, results: list[types.Part]) -> None:
        """Add the model's turn and the function results; the next request carries both."""
        assert response.candidates and response.candidates[0].content
        turn = response.candidates[0].content
        reply = types.Content(role="user", parts=results)
        self._added += [turn, reply]
        contents = self._first_contents + self._added
        # every earlier round is sent again: the estimate covers the whole conversation
        estimate = self._prepared.estimated_tokens + estimate_request_tokens(self._added)
        self.request = dataclasses.replace(
            self._prepared, contents=contents, estimated_tokens=estimate
        )

    @property
    def history(self) -> list[types.Content] | None:
        """The conversation before the last round (None when no function ran)."""
        return self._first_contents + self._added if self._added else None

    def finish(self, response: types.GenerateContentResponse) -> types.GenerateContentResponse:
        """``response`` with the conversation so far, as google-genai reports it."""
        if self._added:
            response.automatic_function_calling_history = self.history
        return response

    def function(self, call: types.FunctionCall) -> Callable[..., Any]:
        """The Python function ``call`` names."""
        return self._prepared.calling.functions[call.name or ""]


# -- the loops: each model round trip is the client's own (limited, retried) call --


def generate_rounds(
    prepared: PreparedRequest, generate_once: Callable[[PreparedRequest], Response]
) -> Response:
    """The answer after running the calls of every round (sync client)."""
    rounds = Rounds(prepared)
    while True:
        response = generate_once(rounds.request)
        calls = rounds.function_calls(response)
        if not calls:
            return rounds.finish(response)
        rounds.answer(response, [call_function(rounds.function(c), c) for c in calls])


async def generate_rounds_async(
    prepared: PreparedRequest, generate_once: Callable[[PreparedRequest], Awaitable[Response]]
) -> Response:
    """`generate_rounds` for the async client."""
    rounds = Rounds(prepared)
    while True:
        response = await generate_once(rounds.request)
        calls = rounds.function_calls(response)
        if not calls:
            return rounds.finish(response)
        rounds.answer(response, [await call_function_async(rounds.function(c), c) for c in calls])


def stream_rounds(
    prepared: PreparedRequest,
    state: StreamState,
    stream_once: Callable[[PreparedRequest], Generator[Any, None, None]],
) -> Generator[Any, None, None]:
    """Every round's stream in turn, running the calls between them (sync client).

    Each round's model turn is what ``state`` collected from its chunks.
    """
    rounds = Rounds(prepared)
    while True:
        yield from stream_once(rounds.request)
        turn = rounds.streamed(state.model_turn())
        calls = rounds.function_calls(turn)
        if not calls:
            state.function_calling_history = rounds.history
            return
        rounds.answer(turn, [call_function(rounds.function(c), c) for c in calls])


async def stream_rounds_async(
    prepared: PreparedRequest,
    state: StreamState,
    stream_once: Callable[[PreparedRequest], AsyncGenerator[Any, None]],
) -> AsyncGenerator[Any, None]:
    """`stream_rounds` for the async client."""
    rounds = Rounds(prepared)
    while True:
        async with contextlib.aclosing(stream_once(rounds.request)) as chunks:
            async for item in chunks:
                yield item
        turn = rounds.streamed(state.model_turn())
        calls = rounds.function_calls(turn)
        if not calls:
            state.function_calling_history = rounds.history
            return
        rounds.answer(turn, [await call_function_async(rounds.function(c), c) for c in calls])


def refuse_async_functions(prepared: PreparedRequest) -> None:
    """The sync client cannot await: a coroutine function in ``tools`` is an error."""
    for name, function in prepared.calling.functions.items():
        if is_async_function(function) and prepared.calling.automatic:
            raise TypeError(
                f"tools: {name} is an async function; the sync GreyCloudClient cannot await "
                "it. Use GreyCloudAsyncClient, pass a plain function, or turn automatic "
                "function calling off (automatic_function_calling={'disable': True})."
            )


def _arguments(function: Callable[..., Any], args: dict[str, Any]) -> dict[str, Any]:
    """``args`` converted to ``function``'s annotated parameter types."""
    try:
        hints = typing.get_type_hints(function)
    except (NameError, TypeError):
        hints = {}
    converted = {}
    for name, parameter in inspect.signature(function).parameters.items():
        if name not in args:
            continue
        annotation = hints.get(name, parameter.annotation)
        if annotation is inspect.Parameter.empty:
            converted[name] = args[name]
        else:
            converted[name] = pydantic.TypeAdapter(annotation).validate_python(args[name])
    return converted


def _result_part(call: types.FunctionCall, outcome: dict[str, Any]) -> types.Part:
    return types.Part.from_function_response(name=call.name or "", response=outcome)


def _failed(call: types.FunctionCall, exc: BaseException) -> dict[str, Any]:
    logger.info("function %s raised %s: the model is told so", call.name, type(exc).__name__)
    return {"error": f"{type(exc).__name__}: {exc}"}


def call_function(function: Callable[..., Any], call: types.FunctionCall) -> types.Part:
    """Run ``function`` for ``call``; its result (or error) as a function-response part."""
    try:
        outcome = {"result": function(**_arguments(function, dict(call.args or {})))}
    except Exception as exc:
        outcome = _failed(call, exc)
    return _result_part(call, outcome)


async def call_function_async(function: Callable[..., Any], call: types.FunctionCall) -> types.Part:
    """`call_function` for the async client: awaited, or in a worker thread."""
    if not is_async_function(function):
        return await asyncio.to_thread(call_function, function, call)
    try:
        outcome = {"result": await function(**_arguments(function, dict(call.args or {})))}
    except Exception as exc:
        outcome = _failed(call, exc)
    return _result_part(call, outcome)
