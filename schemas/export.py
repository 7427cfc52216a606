"""Write the JSON Schema of every event type to schemas/json/ (`python -m schemas.export`).

The files are the contract for producers in other languages; a test fails
when they differ from what the code would write. Descriptions are docstrings
cleaned here (`inspect.cleandoc`), not by msgspec, whose cleaning changed
between releases: the files depend on the code, not on the msgspec version.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import msgspec

from schemas.events import EVENT_TYPES

JSON_DIR = Path(__file__).resolve().parent / "json"


def _clean_descriptions(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: inspect.cleandoc(value)
            if key == "description" and isinstance(value, str)
            else _clean_descriptions(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_clean_descriptions(item) for item in node]
    return node


def rendered() -> dict[str, str]:
    """File name -> content, for every event type."""
    return {
        f"{name}.schema.json": json.dumps(
            {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "title": f"Chorus {name} event",
                **_clean_descriptions(msgspec.json.schema(kind)),
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
