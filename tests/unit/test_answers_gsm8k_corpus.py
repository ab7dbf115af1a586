"""Agreement of alft_cli.answers with OpenAI's `is_correct` labels on the 5276 GPT-3 solutions of
GSM8K test problems (../shared/data/gsm8k/example_model_solutions.jsonl, joined with test.jsonl).
The data is found by the `shared_data` fixture (tests/conftest.py: ../shared/data or $ALFT_SHARED_DATA)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alft_cli.answers import check_answer, extract_answer, parse_gold

MODELS = ("6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification")


@pytest.fixture(scope="module")
def rows(shared_data: Path) -> list[tuple[str, dict]]:
    """(GSM8K `answer` field, solutions row), joined on the question text."""
    solutions, test = (
        shared_data / "gsm8k" / "example_model_solutions.jsonl",
        shared_data / "gsm8k" / "test.jsonl",
    )
    if not (solutions.is_file() and test.is_file()):
        pytest.skip(f"GSM8K example solutions or test split not found under {shared_data}")
    with test.open() as f:
        gold_by_question = {p["question"]: p["answer"] for p in map(json.loads, f)}
    with solutions.open() as f:
        return [(gold_by_question[s["question"]], s) for s in map(json.loads, f)]


def test_every_solution_row_joins_a_parsable_gold(rows: list[tuple[str, dict]]) -> None:
    assert len(rows) == 1319
    assert all(parse_gold(gold) is not None for gold, _ in rows)


@pytest.mark.parametrize("strict", [False, True], ids=["flexible", "strict"])
def test_agreement_with_openai_labels_is_total(rows: list[tuple[str, dict]], strict: bool) -> None:
    disagreements = []
    n_correct = 0
    for gold_field, solutions in rows:
        gold = parse_gold(gold_field)
        for model in MODELS:
            label = solutions[model]["is_correct"]
            n_correct += label
            verdict = check_answer(extract_answer(solutions[model]["solution"], strict=strict), gold)
            if verdict != label:
                disagreements.append((solutions["question"][:60], model, label))
    assert disagreements == []
    assert n_correct == 2001  # the labels themselves: 2001 of the 5276 solutions are correct
