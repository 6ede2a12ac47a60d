"""Chats on `GreyCloudAsyncClient`: the asyncio twin of `greycloud.chats`.

``await chat.send_message(...)`` and ``async for chunk in
chat.send_message_stream(...)``; every turn (and every round of automatic
function calling) goes through the client's rate limiter and retry policy.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING

from google.genai import types
from typing_extensions import Unpack

from greycloud._chat_history import ChatSession, MessageInput
from greycloud._option_types import GenerationOptions
from greycloud._request import ContentsInput
from greycloud.chats import ConfigInput
from greycloud.streaming import AsyncTextStream

if TYPE_CHECKING:
    from greycloud.async_client import GreyCloudAsyncClient


class AsyncChat:
    """A multi-turn conversation; create it with ``client.chats.create(...)``."""

    def __init__(
        self, client: GreyCloudAsyncClient, session: ChatSession, max_retries: int
    ) -> None:
        self._client = client
        self._session = session
        self._max_retries = max_retries

    async def send_message(
        self,
        message: MessageInput,
        *,
        config: ConfigInput = None,
        **options: Unpack[GenerationOptions],
    ) -> types.GenerateContentResponse:
        """Send ``message`` with the history; see `greycloud.chats.Chat.send_message`."""
        user_turn, contents, merged = self._session.request(message, config, options)
        response: types.GenerateContentResponse = await self._client.generate_with_retry(
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
    ) -> AsyncTextStream[types.GenerateContentResponse]:
        """``async for chunk in chat.send_message_stream(...)``; see the sync twin."""
        user_turn, contents, merged = self._session.request(message, config, options)
        stream = self._client.generate_with_retry(
            contents, self._max_retries, streaming=True, return_chunks=True, **merged
        )

        async def chunks() -> AsyncGenerator[types.GenerateContentResponse, None]:
            async with stream:
                async for chunk in stream:
                    yield chunk
            state = stream._state
            self._session.record_stream(
                user_turn, state.model_turn(), state.function_calling_history
            )

        return AsyncTextStream(stream._state, chunks())

    def get_history(self, curated: bool = False) -> list[types.Content]:
        """The turns so far; see `greycloud.chats.Chat.get_history`."""
        return self._session.history(curated)


class AsyncChats:
    """``client.chats`` of the async client: creates `AsyncChat` objects."""

    def __init__(self, client: GreyCloudAsyncClient) -> None:
        self._client = client

    def create(
        self,
        *,
        config: ConfigInput = None,
        history: ContentsInput | None = None,
        max_retries: int = 5,
        **options: Unpack[GenerationOptions],
    ) -> AsyncChat:
        """A new chat; see `greycloud.chats.Chats.create` (this one is not awaited)."""
        self._client._policy(max_retries)  # checks the number now
        session = ChatSession(config=config, history=history, options=options)
        return AsyncChat(self._client, session, max_retries)
