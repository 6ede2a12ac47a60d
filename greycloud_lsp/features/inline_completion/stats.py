"""What one session's inline completions did: ``greycloud.completionStats``."""

from __future__ import annotations

import attrs


@attrs.define
class CompletionStats:
    """Counts since the session started.

    ``requests``: ``textDocument/inlineCompletion`` requests received;
    ``upstream``: model calls sent (admitted by the quota lane);
    ``shown``: items answered to a request that was still current;
    ``accepted``: ``greycloud.completionAccepted`` commands received;
    ``dropped``: completions the quota lane had no room for within ``maxWaitMs``;
    ``reused``: answers from the last suggestion (typed ahead, no model call);
    ``cancelled``: model calls stopped because the text moved on or the client
    cancelled.
    """

    requests: int = 0
    upstream: int = 0
    shown: int = 0
    accepted: int = 0
    dropped: int = 0
    reused: int = 0
    cancelled: int = 0
