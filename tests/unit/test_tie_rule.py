"""One tie rule: tied modes split the vote, in the game core, eval's maj@k and coherence, and the training log."""

from __future__ import annotations

import pytest

from alft_cli.game import get_objective
from alft_cli.game.groups import agreement, counts, group_stats, modes, split_vote
from alft_cli.metrics import maj_at_k
from alft_cli.rewards import AnswerLevelReward
from alft_cli.scoring import compute_metrics, score_rows

# two variants of one problem, both tied between "3" and "7"; the gold answer is "7"
TIED = [["3", "3", "7", "7"], ["7", "3", "7", "3"]]


def test_modes_and_the_split_vote():
    assert modes(counts(TIED[0])) == ["3", "7"]
    assert modes(counts([None, None])) == []
    assert split_vote(["3", "7"], {"7"}) == 0.5
    assert split_vote([], {"7"}) == 0.0
    assert agreement([["3", "7"], ["3", "7"]]) == 0.25 + 0.25  # P(both pick 3) + P(both pick 7)
    assert agreement([["3"], [], ["3"]]) == pytest.approx(1 / 3)  # an unparsed-only variant agrees with nothing
    with pytest.raises(ValueError, match=">= 2 variants"):
        agreement([["3"]])


def test_tied_groups_give_the_same_numbers_in_training_log_and_eval():
    logged = {}
    reward = AnswerLevelReward(get_objective("majority"), num_generations=4, variants=["identity", "paraphrase"])
    uid, variant = ["p"] * 8, ["identity"] * 4 + ["paraphrase"] * 4
    answers = TIED[0] + TIED[1]
    reward([f"#### {a}" for a in answers], uid=uid, variant=variant, gold=["7"] * 8,
           log_metric=lambda k, v: logged.__setitem__(k.removeprefix("answers/"), v))

    rows = [{"id": "p", "variant": name, "completion": f"#### {a}", "gold": "7"}
            for name, group in zip(["identity", "paraphrase"], TIED) for a in group]
    metrics = compute_metrics(score_rows(rows, "gsm8k"), [4])

    assert logged["agreement"] == metrics["agreement"] == group_stats(TIED)["agreement"] == 0.5
    assert logged["majority_accuracy"] == maj_at_k(answers, {"3": False, "7": True}, k=8) == 0.5
    assert metrics["maj@4"] == 0.5  # eval's maj@k over the first variant's 4 samples: the same split
    assert logged["target_mode_correct"] == 0.5  # majority's Target: uniform over the tied modes
    # the TTRL majority reward already splits: 1/2 for each of the two tied modes
    assert get_objective("majority").rewards([TIED[0]]) == [[0.5, 0.5, 0.5, 0.5]]
