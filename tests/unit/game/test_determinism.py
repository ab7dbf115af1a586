"""The reward is exact and deterministic: a sample's reward depends on its answer and its group, not on the
order of the samples (permuted samples get the same rewards, permuted, bit for bit) nor on the process
(Python's string-hash seed), for every objective, through the game core and the TRL reward function."""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from alft_cli.game import get_objective
from alft_cli.rewards import AnswerLevelReward

from .test_rewards import ALL, IDS

ANSWERS = ["1", "2", "3", "4", "5", None]
REPO = Path(__file__).resolve().parents[3]


def _cases(seed: int, n: int = 30) -> list[tuple[list[list[str | None]], list[list[float]]]]:
    """Random groups: m ∈ {1, 2, 4} variants × G ∈ {2, 4, 8} answers from a small alphabet with unparsed ones."""
    rng = random.Random(seed)
    cases = []
    for _ in range(n):
        m, g = rng.choice([1, 2, 4]), rng.choice([2, 4, 8])
        groups = [[rng.choice(ANSWERS) for _ in range(g)] for _ in range(m)]
        cases.append((groups, [[float(a == "1") for a in group] for group in groups]))
    return cases


@pytest.mark.parametrize(("name", "params"), [c for c in ALL if c[0] != "random"],
                         ids=[i for i, c in zip(IDS, ALL) if c[0] != "random"])
def test_permuted_samples_get_the_same_rewards_bit_for_bit(name, params):
    rng = random.Random(1)
    for groups, correct in _cases(0):
        rewards = get_objective(name, **params).rewards(groups, correct)
        perms = [rng.sample(range(len(g)), len(g)) for g in groups]
        shuffled = get_objective(name, **params).rewards([[g[i] for i in p] for g, p in zip(groups, perms)],
                                                         [[c[i] for i in p] for c, p in zip(correct, perms)])
        assert shuffled == [[row[i] for i in p] for row, p in zip(rewards, perms)], groups


def test_the_reward_function_follows_its_rows_in_any_batch_order():
    """TRL's batch order is not the reward's business: rows are grouped by problem id, never by position."""
    rng = random.Random(2)
    rows = [(f"p{p}", label, f"The answer is {rng.choice(['1', '2', '3', 'x'])}.")
            for p in range(3) for label in ("identity", "paraphrase") for _ in range(4)]
    reward = AnswerLevelReward(get_objective("coherence"), num_generations=4, variants=["identity", "paraphrase"])
    base = reward([r[2] for r in rows], uid=[r[0] for r in rows], variant=[r[1] for r in rows])
    for _ in range(5):
        order = rng.sample(range(len(rows)), len(rows))
        got = reward([rows[i][2] for i in order], uid=[rows[i][0] for i in order], variant=[rows[i][1] for i in order])
        assert got == [base[i] for i in order]


DIGEST = """
import hashlib, json, sys
sys.path.insert(0, {tests!r})
from unit.game.test_determinism import digest
print(digest())
"""


def digest() -> str:
    """SHA-256 of every objective's rewards (as exact reprs) on the random cases, through the game core."""
    out = {}
    for i, (name, params) in enumerate(ALL):
        out[f"{i}-{name}"] = [[[repr(x) for x in row] for row in get_objective(name, **params).rewards(g, c)]
                              for g, c in _cases(3)]
    return hashlib.sha256(json.dumps(out, sort_keys=True).encode()).hexdigest()


def test_rewards_do_not_depend_on_the_string_hash_seed():
    code = DIGEST.format(tests=str(REPO / "tests"))
    digests = set()
    for seed in ("0", "1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(REPO)}
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                              check=True)
        digests.add(proc.stdout.strip())
    assert digests == {digest()}
