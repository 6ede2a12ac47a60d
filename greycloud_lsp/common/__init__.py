"""Helpers the features share; none of them imports the server (jedi-language-server style)."""
