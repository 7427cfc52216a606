"""Write the JSON Schema of every event type to schemas/json/ (`python -m schemas.export`).

The files are the contract for producers in other languages; a test fails
when they differ from what the code would write.
"""

from __future__ import annotations

import json
from pathlib import Path

import msgspec

from schemas.events import EVENT_TYPES

JSON_DIR = Path(__file__).resolve().parent / "json"


def rendered() -> dict[str, str]:
    """File name -> content, for every event type."""
    return {
        f"{name}.schema.json": json.dumps(
            {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "title": f"Chorus {name} event",
                **msgspec.json.schema(kind),
            },
            indent=2,
            sort_keys=True,
        )
        + "\n"
        for name, kind in EVENT_TYPES.items()
    }


def main() -> None:
    JSON_DIR.mkdir(exist_ok=True)
    for name, content in rendered().items():
        (JSON_DIR / name).write_text(content)
        print(f"wrote {JSON_DIR / name}")


if __name__ == "__main__":
    main()
