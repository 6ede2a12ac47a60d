"""Server features, one package each (esbonio style).

Each package's ``setup(server)`` adds its `Feature` state to the session and registers
its LSP handlers; `greycloud_lsp.server.FEATURE_MODULES` lists them in set-up order.
A feature imports `greycloud_lsp.language_server` and `greycloud_lsp.common`, never
`greycloud_lsp.server`.
"""
