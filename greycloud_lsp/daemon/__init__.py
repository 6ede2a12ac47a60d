"""One daemon per user: ``greycloud-lsp`` forwards stdio to it (see the README)."""
