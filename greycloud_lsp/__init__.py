"""greycloud-lsp: a long-running language server that brings GreyCloud to editors."""

__version__ = "0.1.0"

__all__ = ["__version__"]
