"""Function calling: the model asks for a Python function, GreyCloud runs it.

Each model round trip goes through the async client's rate limiter and retries.

    greycloud --emulator run examples/function_calling.py   # offline
    python examples/function_calling.py                     # on Vertex AI
"""

import asyncio

from greycloud import GreyCloudAsyncClient


def get_weather(city: str) -> dict:
    """Today's weather in a city."""
    return {"city": city, "sky": "sunny", "temperature_c": 21}


async def main() -> None:
    async with GreyCloudAsyncClient(rpm=60) as client:
        # Automatic: GreyCloud calls get_weather and sends the result back.
        response = await client.generate_with_retry(
            "What is the weather in Paris?", tools=[get_weather]
        )
        print(response.text)
        print(f"{client.rate_limiter.requests_in_window()} model requests, all rate limited")

        # Manual: the function calls come back to you.
        response = await client.generate_content(
            "What is the weather in Rome?",
            tools=[get_weather],
            automatic_function_calling={"disable": True},
        )
        for call in response.function_calls:
            print(f"The model asks for {call.name}({call.args})")


asyncio.run(main())
