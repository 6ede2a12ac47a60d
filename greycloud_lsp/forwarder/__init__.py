"""The editor's side of the daemon: ``greycloud-lsp`` as editors start it.

A thin stdio <-> unix-socket relay (gopls style) that starts the per-user daemon when
none answers and mirrors the session so a restarted daemon can be replayed. Imports
neither pygls nor lsprotocol, so it starts fast.
"""
