"""JSON output: a pydantic model as the response schema, parsed for you.

greycloud --emulator run examples/json_output.py   # offline, against the emulator
python examples/json_output.py                     # on Vertex AI (PROJECT_ID, ...)
"""

from pydantic import BaseModel

from greycloud import GreyCloudClient


class Recipe(BaseModel):
    name: str
    minutes: int
    ingredients: list[str]


with GreyCloudClient() as client:
    response = client.generate_content(
        "Give me a recipe for pancakes.",
        response_mime_type="application/json",
        response_schema=Recipe,
    )

recipe = response.parsed  # a Recipe, filled from the JSON answer
print(f"{recipe.name}: {recipe.minutes} minutes, {len(recipe.ingredients)} ingredients")
print(response.text)
