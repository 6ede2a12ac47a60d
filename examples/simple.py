"""Minimal GreyCloud script: one question, one answer, then the same answer streamed.

Configuration comes from the environment (PROJECT_ID, LOCATION, GREYCLOUD_MODEL,
GREYCLOUD_ENDPOINT, ...), so the script runs unchanged against Vertex AI or the
local emulator (`greycloud emulator`).

    python examples/simple.py "Summarize the benefits of Vertex AI."
"""

from __future__ import annotations

import sys

from google.genai import types

from greycloud import GreyCloudClient, GreyCloudConfig


def main(argv: list[str]) -> int:
    question = " ".join(argv) or "Summarize the benefits of Vertex AI."
    config = GreyCloudConfig()
    contents = [types.Content(role="user", parts=[types.Part.from_text(text=question)])]

    with GreyCloudClient(config) as client:
        response = client.generate_content(contents)
        print(response.text)

        print("\n--- streamed ---")
        for chunk in client.generate_content_stream(contents):
            print(chunk, end="", flush=True)
        print()

        tokens = client.count_tokens(contents)
        print(f"\nThe question is {tokens} tokens long ({config.model}).")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
