"""A chat's history and options, shared by `Chat` and `AsyncChat`.

The two chat classes only send; this module decides what is sent (the
curated history plus the new message, with the chat's options under the
message's) and what is kept afterwards, as google-genai's chats do: every
turn goes into the comprehensive history, and into the curated one (the one
sent next time) only when the model's answer is valid (non-empty). Automatic
function calling's intermediate turns (the model's function calls and the
function responses) are kept too, so the next request carries them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from google.genai import types

from greycloud._options import check_option_names, config_options
from greycloud._request import ContentsInput, normalize_contents

MessageInput = str | types.Part | Mapping[str, Any] | Sequence[str | types.Part | Mapping[str, Any]]
"""A chat message: text, parts or part dicts (one user turn)."""


def _valid(content: types.Content | None) -> bool:
    """A turn worth sending again: it has parts, none of them empty."""
    parts = content.parts if content is not None else None
    return bool(parts) and all(part != types.Part() for part in parts or ())


class ChatSession:
    """History and per-chat options; no I/O."""

    def __init__(
        self,
        *,
        config: types.GenerateContentConfig | Mapping[str, Any] | None,
        history: ContentsInput | None,
        options: Mapping[str, Any],
    ) -> None:
        chat_options = config_options(config)
        check_option_names(options)
        chat_options.update({k: v for k, v in options.items() if v is not None})
        self.options = chat_options
        turns = normalize_contents(history) if history else []
        for index, turn in enumerate(turns):
            if turn.role not in ("user", "model"):
                raise ValueError(
                    f"history[{index}].role is {turn.role!r}: a chat's turns are 'user' or 'model'."
                )
        self._comprehensive = list(turns)
        self._curated = [t for t in turns if t.role == "user" or _valid(t)]

    def request(
        self,
        message: MessageInput,
        config: types.GenerateContentConfig | Mapping[str, Any] | None,
        options: Mapping[str, Any],
    ) -> tuple[types.Content, list[types.Content], dict[str, Any]]:
        """The user turn for ``message``, the contents to send and the options to use."""
        [user_turn] = normalize_contents(_as_parts(message))  # parts make one turn
        merged = dict(self.options)
        merged.update(config_options(config))
        check_option_names(options)
        merged.update({k: v for k, v in options.items() if v is not None})
        return user_turn, [*self._curated, user_turn], merged

    def record(self, user_turn: types.Content, response: types.GenerateContentResponse) -> None:
        """Keep a finished turn: the message, any function-calling rounds, the answer."""
        sent = len(self._curated) + 1
        rounds = list(response.automatic_function_calling_history or [])[sent:]
        answer = response.candidates[0].content if response.candidates else None
        self._keep(user_turn, [*rounds, answer or types.Content(role="model", parts=[])])

    def record_stream(
        self,
        user_turn: types.Content,
        answer: types.Content,
        function_calling: Sequence[types.Content] | None,
    ) -> None:
        """Keep a streamed turn whose stream ended normally: its function-calling
        rounds (if Python functions ran) and the last round's ``answer``."""
        rounds = list(function_calling or [])[len(self._curated) + 1 :]
        self._keep(user_turn, [*rounds, answer])

    def _keep(self, user_turn: types.Content, turns: list[types.Content]) -> None:
        self._comprehensive += [user_turn, *turns]
        if all(_valid(t) for t in turns if t.role == "model"):
            self._curated += [user_turn, *turns]

    def history(self, curated: bool = False) -> list[types.Content]:
        """The turns so far (``curated``: only those sent with the next message)."""
        return list(self._curated if curated else self._comprehensive)


def _as_parts(message: MessageInput) -> list[Any]:
    """A message as parts of one user turn (a Content would start a new turn)."""
    single = isinstance(message, (str, types.Part, types.Content, Mapping))
    items = [message] if single else list(message)
    if any(isinstance(item, types.Content) or _is_content_dict(item) for item in items):
        raise TypeError(
            "message holds a Content (a whole turn): send text or parts; the chat adds the "
            "user turn, and earlier turns go in history=."
        )
    return items


def _is_content_dict(item: Any) -> bool:
    return isinstance(item, Mapping) and "parts" in item
