"""Token estimates and cost of classification runs, from an editable price table.

Prices are USD per 1 million tokens (input, output), as published by OpenAI; the Batch API bills half.
A price file (JSON or YAML) overrides or extends the defaults:

    gpt-4o: {input: 2.50, output: 10.00}
    my-local-model: {input: 0, output: 0}
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from annotator.errors import InvalidInput

BATCH_DISCOUNT = 0.5
batch_discount = BATCH_DISCOUNT  # the name used in the design notes
CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD_TOKENS = 4


@dataclass(frozen=True)
class ModelPrice:
    """USD per 1M input (prompt) and output (completion) tokens."""

    input_per_million: float
    output_per_million: float


@dataclass(frozen=True)
class Cost:
    """An estimated cost in USD, or None with the reason it cannot be computed."""

    usd: float | None
    reason: str | None = None


DEFAULT_PRICES: dict[str, ModelPrice] = {
    "gpt-4o": ModelPrice(2.50, 10.00),
    "gpt-4o-mini": ModelPrice(0.15, 0.60),
    "gpt-4.1": ModelPrice(2.00, 8.00),
    "gpt-4.1-mini": ModelPrice(0.40, 1.60),
}


def _price(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise InvalidInput(f"{where}: a price must be a non-negative number, got {value!r}.")
    return float(value)


def load_price_table(path: str | None) -> dict[str, ModelPrice]:
    """The default table, overridden and extended by the JSON or YAML file at `path` (if given).

    The file maps model names to {input: USD per 1M, output: USD per 1M}. Raises InvalidInput when the
    file is missing, unreadable or holds a bad entry.
    """
    table = dict(DEFAULT_PRICES)
    if path is None:
        return table
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read the price file ({exc.strerror}).") from exc
    try:
        if file.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as exc:  # yaml.YAMLError or json.JSONDecodeError: one readable line either way
        raise InvalidInput(f"{path}: not valid {file.suffix.lstrip('.') or 'JSON'} ({type(exc).__name__}).") from exc
    if not isinstance(data, Mapping):
        raise InvalidInput(f"{path}: expected a mapping of model name to {{input, output}} prices.")
    for model, entry in data.items():
        where = f"{path}, model '{model}'"
        if not isinstance(entry, Mapping) or set(entry) != {"input", "output"}:
            raise InvalidInput(f"{where}: expected exactly the keys 'input' and 'output'.")
        table[str(model)] = ModelPrice(_price(entry["input"], where), _price(entry["output"], where))
    return table


def price_for(model: str, table: Mapping[str, ModelPrice] | None = None) -> ModelPrice | None:
    """The price of `model`: exact name first, else the longest table name that prefixes it before a "-"
    (so a dated snapshot such as gpt-4o-2024-08-06 is billed as gpt-4o). None if not in the table."""
    table = DEFAULT_PRICES if table is None else table
    if model in table:
        return table[model]
    prefixes = [name for name in table if model.startswith(name + "-")]
    return table[max(prefixes, key=len)] if prefixes else None


def estimate_tokens(text: str) -> int:
    """Rough token count: ceil(characters / 4), OpenAI's rule of thumb for English text.

    No tokenizer is used (tiktoken downloads its encodings at run time and the deployment has no
    internet). Expect roughly +-25% on English and an underestimate on non-Latin scripts.
    """
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def estimate_prompt_tokens(messages: Sequence[Mapping[str, str]]) -> int:
    """Rough prompt tokens of chat messages: estimate_tokens of each content plus 4 per message."""
    return sum(estimate_tokens(m["content"]) + MESSAGE_OVERHEAD_TOKENS for m in messages)


def estimate_cost(
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    *,
    batch: bool = False,
    table: Mapping[str, ModelPrice] | None = None,
) -> Cost:
    """USD cost of the given token counts; Batch API requests cost BATCH_DISCOUNT (half) as much.

    Returns Cost(None, reason) for a model missing from the table. Raises InvalidInput on negative counts.
    """
    if prompt_tokens < 0 or completion_tokens < 0:
        raise InvalidInput("Token counts cannot be negative.")
    price = price_for(model, table)
    if price is None:
        return Cost(None, f"no price for model '{model}'; add it to the price file")
    usd = (prompt_tokens * price.input_per_million + completion_tokens * price.output_per_million) / 1_000_000
    return Cost(usd * BATCH_DISCOUNT if batch else usd)
