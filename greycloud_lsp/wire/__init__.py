"""What both sides of the daemon speak: socket paths, the handshake, LSP framing.

Imported by the forwarder at start-up, so nothing here imports pygls.
"""
