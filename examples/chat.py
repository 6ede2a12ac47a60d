"""A chat: history kept across turns, every turn retried (and, async, rate limited).

greycloud --emulator run examples/chat.py   # offline
python examples/chat.py                     # on Vertex AI
"""

from greycloud import GreyCloudClient


def get_weather(city: str) -> dict:
    """Today's weather in a city."""
    return {"city": city, "sky": "sunny", "temperature_c": 21}


with GreyCloudClient() as client:
    chat = client.chats.create(
        system_instruction="You are a friendly travel assistant.",
        tools=[get_weather],
    )
    print(chat.send_message("What is the weather in Lisbon?").text)

    for chunk in chat.send_message_stream("Suggest a walk for this afternoon."):
        print(chunk.text, end="", flush=True)
    print()

    for turn in chat.get_history():  # text, function calls and function responses
        part = turn.parts[0]
        if part.function_call:
            print(f"{turn.role}: calls {part.function_call.name}({part.function_call.args})")
        elif part.function_response:
            print(f"{turn.role}: {part.function_response.response}")
        else:
            print(f"{turn.role}: {part.text[:40]}...")
