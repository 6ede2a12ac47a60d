"""Embeddings: find the document closest to a question.

Configuration comes from the environment (PROJECT_ID, LOCATION, GREYCLOUD_ENDPOINT,
GREYCLOUD_EMBEDDING_MODEL, ...), so the script runs unchanged against Vertex AI or
the local emulator (`greycloud emulator`).

    python examples/embeddings.py "How do I reuse a long prompt?"
"""

from __future__ import annotations

import sys

from greycloud import GreyCloudClient

DOCUMENTS = [
    "Context caching stores a long prompt once and reuses it across requests.",
    "Batch jobs read requests from Cloud Storage and write the results back.",
    "The rate limiter keeps requests and tokens within your quota.",
]


def dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def main(argv: list[str]) -> int:
    question = " ".join(argv) or "How do I reuse a long prompt?"
    with GreyCloudClient() as client:
        # One request for all three (text-embedding models take up to 250 per request).
        docs = client.embed_content(
            DOCUMENTS, model="text-embedding-005", task_type="RETRIEVAL_DOCUMENT"
        )
        query = client.embed_content(
            question, model="text-embedding-005", task_type="RETRIEVAL_QUERY"
        )
        tokens = client.count_tokens(DOCUMENTS, model="text-embedding-005")

    query_vector = query.embeddings[0].values
    scores = [dot(query_vector, d.values) for d in docs.embeddings]
    best = max(range(len(DOCUMENTS)), key=scores.__getitem__)
    print(f"{len(docs.embeddings)} documents, {len(query_vector)} dimensions, {tokens} tokens")
    print(f"Closest to {question!r}: {DOCUMENTS[best]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
