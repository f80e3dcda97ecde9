"""The name gazetteer behind the ``[NAME]`` detector: frequent first names and surnames of
the people this project's sources hold (Brazil, Portugal, the Netherlands, Belgium, the UK,
the US), in ``names.json`` next to this module.

The lists come from ``names-dataset`` (MIT, on PyPI), which needs about 2 GB of memory and a
minute to load: far too much for a detector, so the lists are extracted once and shipped
here. Regenerate them (``names-dataset`` installed in any environment):

    python -m pipelines.protection.names --rebuild
"""

from __future__ import annotations

import json
import sys
from functools import cache
from pathlib import Path

NAMES_FILE = Path(__file__).with_name("names.json")
COUNTRIES = ("BR", "PT", "NL", "BE", "GB", "US")
TOP = 500
PARTICLES = frozenset(
    [
        "da",
        "de",
        "do",
        "das",
        "dos",
        "e",
        "van",
        "der",
        "den",
        "ten",
        "ter",
        "von",
        "del",
        "di",
        "la",
        "le",
        "el",
        "ben",
        "al",
    ]
)
STOP_WORDS = frozenset(
    [
        "Amber",
        "Angel",
        "Berry",
        "Brandy",
        "Candy",
        "Crystal",
        "Daisy",
        "Dawn",
        "Dom",
        "Don",
        "Esperança",
        "Estrela",
        "Faith",
        "Flor",
        "Grace",
        "Hazel",
        "Holly",
        "Hope",
        "Iris",
        "Jade",
        "Jasmine",
        "Jesus",
        "Joy",
        "Lily",
        "Luz",
        "May",
        "Mercedes",
        "Prince",
        "Rosa",
        "Rose",
        "Ruby",
        "Sem",
        "Sol",
        "Summer",
        "Sunny",
        "Victoria",
        "Vitoria",
        "Vitória",
        "Will",
        "Bela",
        "Branca",
        "Celeste",
        "Linda",
        "Art",
        "Max",
        "Santa",
        "Santo",
        "Sao",
        "São",
        "Saint",
        "Brasil",
        "King",
        "Love",
        "Paixão",
        "Paz",
        "Campos",
        "Rio",
        "Porto",
        "Vila",
    ]
)
"""Names that are as often a common noun, a product word or part of a place name."""


@cache
def gazetteer() -> tuple[frozenset[str], frozenset[str]]:
    """(first names, surnames), as Title-case words."""
    data = json.loads(NAMES_FILE.read_text(encoding="utf-8"))
    return frozenset(data["first"]), frozenset(data["last"])


def _word(name: str) -> str | None:
    word = name.split()[-1] if name.split() else ""
    if word.lower() in PARTICLES or len(word) < 3 or not word.isalpha():
        return None
    if not (word[0].isupper() and word[1:].islower()) or word in STOP_WORDS:
        return None
    return word


def rebuild(path: Path = NAMES_FILE) -> None:
    """Extract the lists from ``names-dataset`` into ``path``."""
    from names_dataset import NameDataset

    data = NameDataset()
    first: set[str] = set()
    last: set[str] = set()
    for country in COUNTRIES:
        top = data.get_top_names(n=TOP, use_first_names=True, country_alpha2=country)[country]
        first |= {w for names in top.values() for n in names if " " not in n and (w := _word(n))}
        top = data.get_top_names(n=TOP, use_first_names=False, country_alpha2=country)[country]
        last |= {w for n in top if (w := _word(n))}
    source = (
        f"names-dataset (MIT, https://pypi.org/project/names-dataset/): the {TOP} most "
        f"frequent first names and last names of {', '.join(COUNTRIES)}; see {__name__}"
    )
    payload = {"source": source, "first": sorted(first), "last": sorted(last)}
    path.write_text(json.dumps(payload, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:] != ["--rebuild"]:
        sys.exit(f"usage: python -m {__spec__.name if __spec__ else 'names'} --rebuild")
    rebuild()
