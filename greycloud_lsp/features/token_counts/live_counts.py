"""Live token counts: an estimate at once, an exact count after a quiet period.

Per document (jedi-language-server style debounce): every change publishes
``greycloud/tokenCount`` with a length-based estimate immediately and (re)arms
a timer; when it fires the exact count runs, with at most one count in flight
per document. Results for superseded versions are dropped, and identical text
is never counted twice (a content-hash cache).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import attrs
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from greycloud_lsp.common.errors import backend_error
from greycloud_lsp.common.payload_conversion import dump, parse
from greycloud_lsp.common.payloads import (
    CountTokensArgs,
    CountTokensResult,
    TokenCount,
    TokenCountRequest,
)
from greycloud_lsp.common.text_metrics import digest, estimate
from greycloud_lsp.features.token_counts.local_tokenizer import (
    Counter,
    LocalTokenizerUnavailable,
    load_counter,
)
from greycloud_lsp.language_server import Feature, GreyCloudLanguageServer

if TYPE_CHECKING:
    from greycloud_lsp.settings import Settings

log = logging.getLogger(__name__)

TOKEN_COUNT_METHOD = "greycloud/tokenCount"
# Live counts run in the background: they use at most half of the requests the
# shared limiter could admit, never wait in its queue, and try again this much later.
BACKGROUND_SHARE = 0.5
DEFER_SECONDS = 2.0
THREAD_THRESHOLD = 256 * 1024  # hash/count bigger texts off the event loop


@attrs.define
class DocState:
    """Token-count state of one open document."""

    uri: str
    version: int | None = None
    latest: TokenCount | None = None
    timer: asyncio.TimerHandle | None = None
    inflight: asyncio.Task[Any] | None = None
    rerun: bool = False
    api_calls: int = 0


class CountDeferred(Exception):
    """A live count that would have had to wait for the shared rate limiter."""


class TokenTracker(Feature):
    """Every open document's token state and the session's local tokenizer.

    Counts are memoised in the shared ``token_memo``: identical text is
    counted once per process.
    """

    def __init__(self, ls: GreyCloudLanguageServer):
        super().__init__(ls)
        self.docs: dict[str, DocState] = {}
        self._local: Counter | None = None
        self._local_error: str | None = None
        self._local_key: tuple[str, str | None] | None = None
        self._local_lock = asyncio.Lock()

    # -- settings -----------------------------------------------------------

    def settings_changed(self, old: Settings, new: Settings) -> None:
        if (old.token_count, old.model) != (new.token_count, new.model):
            self._local = None
            self._local_error = None
            self._local_key = None

    async def close(self) -> None:
        for state in self.docs.values():
            self._cancel(state)

    @staticmethod
    def _cancel(state: DocState) -> None:
        if state.timer is not None:
            state.timer.cancel()
            state.timer = None
        if state.inflight is not None:
            state.inflight.cancel()
            state.inflight = None

    # -- document events ------------------------------------------------------

    def document_changed(self, uri: str) -> None:
        self.changed(uri)

    def document_closed(self, uri: str) -> None:
        self.closed(uri)

    def changed(self, uri: str) -> None:
        """A document was opened or edited: publish the estimate, re-arm the debounce."""
        config = self.ls.settings.token_count
        if not config.enabled:
            return
        doc = self.ls.workspace.get_text_document(uri)
        try:
            text = doc.source
        except (OSError, UnicodeDecodeError) as exc:  # a change for a document never opened
            log.warning("ignoring change for %s: %s", uri, exc)
            return
        state = self.docs.setdefault(uri, DocState(uri))
        state.version = doc.version
        if not text:
            self._publish(state, TokenCount(uri, doc.version, 0, True, "estimate"))
            return
        self._publish(state, TokenCount(uri, doc.version, estimate(text), False, "estimate"))
        if config.mode == "estimate":
            return
        if state.timer is not None:
            state.timer.cancel()
        loop = asyncio.get_running_loop()
        state.timer = loop.call_later(config.debounce_ms / 1000, self._fire, state)

    def closed(self, uri: str) -> None:
        state = self.docs.pop(uri, None)
        if state is not None:
            self._cancel(state)

    def _publish(self, state: DocState, count: TokenCount) -> None:
        state.latest = count
        self.ls.notify(TOKEN_COUNT_METHOD, count)

    # -- exact counts -----------------------------------------------------------

    def _fire(self, state: DocState) -> None:
        state.timer = None
        if self.docs.get(state.uri) is not state:
            return
        if state.inflight is not None:
            state.rerun = True  # one count in flight per document; go again afterwards
            return
        state.inflight = self.ls.spawn(self._exact(state), name=f"count {state.uri}")

    async def _exact(self, state: DocState) -> None:
        try:
            # The editor's settings decide local vs API; never count with defaults.
            await self.ls.settings_ready()
            doc = self.ls.workspace.get_text_document(state.uri)
            version, text = doc.version, doc.source
            try:
                tokens, source = await self.count_exact(text, state)
            except CountDeferred:
                loop = asyncio.get_running_loop()
                state.timer = loop.call_later(DEFER_SECONDS, self._fire, state)
                return
            except Exception as exc:
                self._warn_once(f"exact token count failed, showing estimates: {exc}")
                return
            if self.docs.get(state.uri) is not state or state.version != version:
                log.debug("dropping count for %s v%s (now v%s)", state.uri, version, state.version)
                return
            self._publish(state, TokenCount(state.uri, version, tokens, True, source))
        finally:
            state.inflight = None
            if state.rerun and self.docs.get(state.uri) is state:
                state.rerun = False
                if state.timer is None and (state.latest is None or not state.latest.exact):
                    self._fire(state)

    async def count_exact(self, text: str, state: DocState | None = None) -> tuple[int, str]:
        """(tokens, source) for ``text``: local tokenizer or API, cached by content hash."""
        if not text:
            return 0, "local"
        model = self.ls.model
        h = await asyncio.to_thread(digest, text) if len(text) > THREAD_THRESHOLD else digest(text)
        local = await self._local_counter()
        source = "local" if local is not None else "api"
        memo = self.ls.shared.token_memo
        key = (self._counter_id(source), model, h)
        if (cached := memo.get(key)) is not None:
            return cached, source
        if local is not None:
            if len(text) > THREAD_THRESHOLD:
                tokens = await asyncio.to_thread(local, text)
            else:
                tokens = local(text)
        else:
            if state is not None:
                await self._check_spare_capacity()
                state.api_calls += 1
            tokens = await self._api_count(text, model)
        memo.put(key, tokens)
        return tokens, source

    def _counter_id(self, source: str) -> str:
        """Which counter made a count: the API, or the local tokenizer and its file."""
        if source == "local" and self._local_key is not None:
            return f"local:{self._local_key[1] or ''}"
        return source

    async def _check_spare_capacity(self) -> None:
        """Raise `CountDeferred` unless the shared limiter has room to spare.

        The client is built first: from this check to the limiter's admission
        nothing else may run, or many counts could pass the check at once.
        """
        client = self.ls.get_client()
        await client.ensure_client()
        limiter = client.rate_limiter
        rate_room = limiter.rpm - limiter.requests_in_window()
        if limiter.headroom() == 0 or rate_room <= limiter.rpm * (1 - BACKGROUND_SHARE):
            raise CountDeferred

    async def _api_count(self, text: str, model: str) -> int:
        from google.genai import types as gtypes

        contents = [gtypes.Content(role="user", parts=[gtypes.Part.from_text(text=text)])]
        client = self.ls.get_client(model)
        return int(await client.count_tokens(contents, model=model, fallback=False))

    async def _local_counter(self) -> Counter | None:
        config = self.ls.settings.token_count
        if config.mode == "api":
            return None
        key = (self.ls.model, config.local_model_path)
        async with self._local_lock:
            if self._local_key != key:
                self._local_key = key
                self._local, self._local_error = None, None
                try:
                    self._local = await asyncio.to_thread(
                        load_counter, key[0], key[1], allow_download=config.mode == "local"
                    )
                except LocalTokenizerUnavailable as exc:
                    self._local_error = str(exc)
                    if config.mode == "local" or config.local_model_path:
                        self._warn_once(f"{exc}; using the countTokens API instead.")
                    else:
                        log.info("local tokenizer not used: %s", exc)
        return self._local

    def _warn_once(self, message: str) -> None:
        self.ls.warn_once(f"GreyCloud: {message}")


def setup(server: GreyCloudLanguageServer) -> None:
    server.add_feature(TokenTracker(server))
    server.feature(types.TEXT_DOCUMENT_DID_OPEN)(on_did_open)
    server.feature(types.TEXT_DOCUMENT_DID_CHANGE)(on_did_change)
    server.feature(types.TEXT_DOCUMENT_DID_CLOSE)(on_did_close)
    server.feature(TOKEN_COUNT_METHOD)(on_token_count_request)
    server.command("greycloud.countTokens")(count_tokens_command)


def on_did_open(ls: GreyCloudLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
    ls.document_changed(params.text_document.uri)


def on_did_change(ls: GreyCloudLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
    ls.document_changed(params.text_document.uri)


def on_did_close(ls: GreyCloudLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
    ls.document_closed(params.text_document.uri)


def on_token_count_request(ls: GreyCloudLanguageServer, params: Any) -> Any:
    """``greycloud/tokenCount`` request: the latest count of an open document."""
    request = parse(TokenCountRequest, params, TOKEN_COUNT_METHOD)
    uri = request.text_document.uri
    state = ls.get_feature(TokenTracker).docs.get(uri)
    if state is not None and state.latest is not None:
        return _dump(state.latest)
    if uri not in ls.workspace.text_documents:
        raise JsonRpcInvalidParams(f"{TOKEN_COUNT_METHOD}: textDocument.uri: {uri} is not open")
    doc = ls.workspace.get_text_document(uri)
    return _dump(TokenCount(uri, doc.version, estimate(doc.source), False, "estimate"))


def _dump(value: Any) -> Any:
    return dump(value)


async def count_tokens_command(ls: GreyCloudLanguageServer, *args: Any) -> Any:
    """``greycloud.countTokens`` ``{textDocument: {uri}}`` or ``{text}``."""
    request = parse(CountTokensArgs, list(args), "greycloud.countTokens")
    await ls.settings_ready()
    if request.text is not None:
        text = request.text
    else:
        assert request.text_document is not None
        uri = request.text_document.uri
        if uri not in ls.workspace.text_documents:
            raise JsonRpcInvalidParams(
                f"greycloud.countTokens: textDocument.uri: {uri} is not open"
            )
        text = ls.workspace.get_text_document(uri).source
    if ls.settings.token_count.mode == "estimate":
        return _dump(CountTokensResult(estimate(text), False, "estimate"))
    try:
        tokens, source = await ls.get_feature(TokenTracker).count_exact(text)
    except Exception as exc:
        raise backend_error(exc, "greycloud.countTokens") from exc
    return _dump(CountTokensResult(tokens, True, source))
