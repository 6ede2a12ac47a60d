"""`GenerationOptions`: the keyword options of every generate method, for type checkers.

What a method *accepts* at run time is `greycloud._options.ACCEPTED_OPTIONS`,
derived from google-genai's ``GenerateContentConfig.model_fields``; this
TypedDict only tells type checkers and editors the names and types.
``tests/test_options.py`` fails when the two differ (e.g. after a google-genai
upgrade adds a field), naming the field to add here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

from google.genai import types


class GenerationOptions(TypedDict, total=False):
    """Per-request overrides accepted by every generate method (keyword-only).

    Each one left out (or None) falls back to the `GreyCloudConfig` value, if
    the config has one. Every `google.genai.types.GenerateContentConfig` field
    is here, with the same meaning, plus GreyCloud's own: ``model``,
    ``thinking_level`` / ``thinking_budget`` / ``include_thoughts`` (one
    ``thinking_config``) and ``maximum_remote_calls``.
    """

    # GreyCloud's own
    model: str | None
    thinking_level: str | None
    thinking_budget: int | None
    include_thoughts: bool | None
    maximum_remote_calls: int | None
    # GenerateContentConfig's fields
    http_options: types.HttpOptionsOrDict | None
    system_instruction: types.ContentUnionDict | None
    temperature: float | None
    top_p: float | None
    top_k: float | None
    candidate_count: int | None
    max_output_tokens: int | None
    stop_sequences: Sequence[str] | None
    response_logprobs: bool | None
    logprobs: int | None
    presence_penalty: float | None
    frequency_penalty: float | None
    seed: int | None
    response_mime_type: str | None
    response_schema: types.SchemaUnionDict | None
    response_json_schema: Any
    routing_config: types.GenerationConfigRoutingConfigOrDict | None
    model_selection_config: types.ModelSelectionConfigOrDict | None
    safety_settings: Sequence[types.SafetySetting | Mapping[str, Any]] | None
    tools: Sequence[Any] | None
    tool_config: types.ToolConfigOrDict | None
    labels: Mapping[str, str] | None
    cached_content: str | None
    response_modalities: Sequence[str] | None
    media_resolution: types.MediaResolution | str | None
    speech_config: types.SpeechConfigUnionDict | None
    audio_timestamp: bool | None
    automatic_function_calling: types.AutomaticFunctionCallingConfigOrDict | None
    thinking_config: types.ThinkingConfigOrDict | None
    image_config: types.ImageConfigOrDict | None
    enable_enhanced_civic_answers: bool | None
    model_armor_config: types.ModelArmorConfigOrDict | None
    service_tier: types.ServiceTier | str | None
    audio_transcription_config: types.AudioTranscriptionConfigOrDict | None
    continuation_token: bytes | None
    automatic_continuation: bool | None
    generation_output_config: types.GenerationOutputConfigOrDict | None
    store: bool | None
