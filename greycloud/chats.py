"""Chats on `GreyCloudClient`: ``client.chats.create(...)``, then ``send_message``.

Like google-genai's chats, but every turn is a call of the GreyCloud client
(retried; on the async twin, `greycloud.async_chats`, also rate limited), never
a request of the SDK's own chat module. History handling is shared with the
async twin (`greycloud._chat_history`).
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import TYPE_CHECKING, Any

from google.genai import types
from typing_extensions import Unpack

from greycloud._chat_history import ChatSession, MessageInput
from greycloud._option_types import GenerationOptions
from greycloud._request import ContentsInput
from greycloud.streaming import TextStream

if TYPE_CHECKING:
    from greycloud.client import GreyCloudClient

ConfigInput = types.GenerateContentConfig | Mapping[str, Any] | None


class Chat:
    """A multi-turn conversation; create it with ``client.chats.create(...)``."""

    def __init__(self, client: GreyCloudClient, session: ChatSession, max_retries: int) -> None:
        self._client = client
        self._session = session
        self._max_retries = max_retries

    def send_message(
        self,
        message: MessageInput,
        *,
        config: ConfigInput = None,
        **options: Unpack[GenerationOptions],
    ) -> types.GenerateContentResponse:
        """Send ``message`` with the history; returns the answer and keeps the turn.

        ``config`` / ``options`` override the chat's options for this message.
        Python functions in ``tools`` are run (each model round trip retried)
        and their calls and results kept in the history.
        """
        user_turn, contents, merged = self._session.request(message, config, options)
        response: types.GenerateContentResponse = self._client.generate_with_retry(
            contents, self._max_retries, **merged
        )
        self._session.record(user_turn, response)
        return response

    def send_message_stream(
        self,
        message: MessageInput,
        *,
        config: ConfigInput = None,
        **options: Unpack[GenerationOptions],
    ) -> TextStream[types.GenerateContentResponse]:
        """Send ``message``; yields the answer's `GenerateContentResponse` chunks.

        The turn is kept once the stream has ended normally (a broken or
        closed stream leaves the history as it was), with any function-calling
        rounds: Python functions in ``tools`` run between rounds, as in
        `send_message`, and every round's chunks are yielded.
        """
        user_turn, contents, merged = self._session.request(message, config, options)
        stream = self._client.generate_with_retry(
            contents, self._max_retries, streaming=True, return_chunks=True, **merged
        )

        def chunks() -> Generator[types.GenerateContentResponse, None, None]:
            with stream:
                yield from stream
            state = stream._state
            self._session.record_stream(
                user_turn, state.model_turn(), state.function_calling_history
            )

        return TextStream(stream._state, chunks())

    def get_history(self, curated: bool = False) -> list[types.Content]:
        """The turns so far: user messages, model answers, function calls and responses.

        ``curated=True`` leaves out turns whose answer was empty or invalid
        (those are not sent again), as google-genai's ``get_history`` does.
        """
        return self._session.history(curated)


class Chats:
    """``client.chats``: creates `Chat` objects bound to the client."""

    def __init__(self, client: GreyCloudClient) -> None:
        self._client = client

    def create(
        self,
        *,
        config: ConfigInput = None,
        history: ContentsInput | None = None,
        max_retries: int = 5,
        **options: Unpack[GenerationOptions],
    ) -> Chat:
        """A new chat (``model=`` defaults to the config's model).

        ``config`` (a `GenerateContentConfig` or dict) and keyword ``options``
        (``model``, ``temperature``, ``tools``, ...) apply to every message;
        ``history`` is earlier turns. With ``cached_content=`` the chat starts
        from a context cache (give the cache's ``model``). Each message is sent
        with ``max_retries``.
        """
        self._client._policy(max_retries)  # checks the number now
        session = ChatSession(config=config, history=history, options=options)
        return Chat(self._client, session, max_retries)
