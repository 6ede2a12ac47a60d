"""Typed access to the emulator state stored on the aiohttp application."""

from __future__ import annotations

from aiohttp import web

from greycloud.emulator.state import EmulatorState

STATE_KEY = web.AppKey("greycloud_emulator_state", EmulatorState)


def get_state(request: web.Request) -> EmulatorState:
    """The :class:`EmulatorState` serving ``request``."""
    return request.app[STATE_KEY]
