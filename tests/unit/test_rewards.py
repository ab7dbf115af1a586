"""The TRL reward adapter: grouping by id (never position), split groups, completeness, logged stats."""

from __future__ import annotations

import math

import pytest

from alft_cli.game import get_objective
from alft_cli.rewards import AnswerLevelReward, CorrectnessReward


def _completions(answers):
    return ["I think. #### " + a if a is not None else "no idea" for a in answers]


def test_rewards_equal_the_game_core_for_a_hand_made_coherence_group():
    objective = get_objective("coherence", consensus="geometric")
    reward = AnswerLevelReward(objective, num_generations=3, variants=["identity", "paraphrase"])
    v0, v1 = ["4", "4", "5"], ["4", None, "4"]
    # interleave the problems and variants: grouping must use ids, not positions
    uids = ["a", "b", "a", "b", "a", "b", "a", "a", "a", "b", "b", "b"]
    variants = ["identity"] * 6 + ["paraphrase"] * 6
    b0, b1 = ["7", "7", "7"], ["8", "7", "7"]
    answers = [v0[0], b0[0], v0[1], b0[1], v0[2], b0[2], v1[0], v1[1], v1[2], b1[0], b1[1], b1[2]]
    got = reward(_completions(answers), uid=uids, variant=variants, gold=["4"] * 6 + ["7"] * 6)
    want_a, want_b = objective.rewards([v0, v1]), objective.rewards([b0, b1])
    expected = [want_a[0][0], want_b[0][0], want_a[0][1], want_b[0][1], want_a[0][2], want_b[0][2],
                want_a[1][0], want_a[1][1], want_a[1][2], want_b[1][0], want_b[1][1], want_b[1][2]]
    assert got == pytest.approx(expected, abs=1e-12)
    assert all(math.isfinite(r) for r in got)
    assert got[7] == min(want_a[1])  # the unparsed sample is the lowest in its group


def test_a_group_split_across_two_processes_gets_the_same_rewards():
    objective = get_objective("sharpen")
    answers = ["1", "1", "2", "3", "3", "3"]
    uids = ["p", "p", "p", "q", "q", "q"]
    whole = AnswerLevelReward(objective, num_generations=3)(_completions(answers), uid=uids)
    # TRL's measured layout: rank 0 gets [p, p, p, q], rank 1 [q, q] -> problem q is split
    rank_rows = {}
    rank_rows[0] = [(u, "identity", a, None) for u, a in zip(uids[:4], answers[:4])]
    rank_rows[1] = [(u, "identity", a, None) for u, a in zip(uids[4:], answers[4:])]
    r0 = AnswerLevelReward(objective, 3, gather=lambda local: ([rank_rows[0], rank_rows[1]], 0))(
        _completions(answers[:4]), uid=uids[:4])
    r1 = AnswerLevelReward(objective, 3, gather=lambda local: ([rank_rows[0], rank_rows[1]], 1))(
        _completions(answers[4:]), uid=uids[4:])
    assert r0 + r1 == pytest.approx(whole, abs=1e-12)
    assert whole == pytest.approx([v for g in [objective.rewards([answers[:3]]), objective.rewards([answers[3:]])]
                                   for v in g[0]], abs=1e-12)


def test_incomplete_group_names_the_problem():
    reward = AnswerLevelReward(get_objective("entropy"), num_generations=4)
    with pytest.raises(ValueError, match="incomplete group for problem 'gsm-17'"):
        reward(_completions(["1", "2", "3"]), uid=["gsm-17"] * 3)


def test_a_variant_is_named_by_its_label():
    reward = AnswerLevelReward(get_objective("coherence"), num_generations=1, variants=["identity", "numfmt"])
    assert len(reward(_completions(["1", "1"]), uid=["p", "p"], variant=["numfmt", "identity"])) == 2
    with pytest.raises(ValueError, match="variant 'rename' is not one of identity, numfmt"):
        reward(_completions(["1", "1"]), uid=["p", "p"], variant=["identity", "rename"])


def test_logged_statistics_use_gold_only_for_metrics():
    logged = {}
    reward = AnswerLevelReward(get_objective("majority"), num_generations=4)
    rewards = reward(_completions(["5", "5", "6", None]), uid=["x"] * 4, gold=["6"] * 4,
                     log_metric=lambda k, v: logged.__setitem__(k.removeprefix("answers/"), v))
    assert rewards[:2] == [max(rewards)] * 2  # majority rewards the mode, not the gold answer
    assert logged["accuracy"] == pytest.approx(0.25)
    assert logged["majority_accuracy"] == 0.0 and logged["target_mode_correct"] == 0.0
    assert logged["unparsed_rate"] == pytest.approx(0.25)
    assert logged["undecided_rate"] == 0.0
    assert logged["n_distinct"] == 2


def test_correctness_reward_uses_the_checker():
    reward = CorrectnessReward()
    assert reward(["The answer is $1,200.", "#### 1200.5", "nothing"], gold=["1200"] * 3) == [1.0, 0.0, 0.0]
    assert reward([[{"role": "assistant", "content": "#### 7"}]], gold=["7"]) == [1.0]


def test_undecided_checks_are_counted_and_never_credited(monkeypatch):
    from alft_cli import rewards
    from alft_cli.answers import Verdict

    monkeypatch.setattr(rewards, "judge_answer", lambda a, gold, style: Verdict.UNDECIDED if a == "5" else Verdict.WRONG)
    logged = {}
    AnswerLevelReward(get_objective("majority"), num_generations=4)(
        _completions(["5", "5", "6", "7"]), uid=["x"] * 4, gold=["6"] * 4,
        log_metric=lambda k, v: logged.__setitem__(k.removeprefix("answers/"), v))
    assert logged["undecided_rate"] == 0.5 and logged["accuracy"] == 0.0


def test_correctness_reward_logs_the_answer_statistics_per_problem():
    """The gold arm's learning curves get the same answer statistics as the answer-level objectives."""
    logged = {}
    reward = CorrectnessReward()
    rewards = reward(_completions(["5", "5", "6", None, "7", "7"]), gold=["6"] * 4 + ["7"] * 2,
                     uid=["x"] * 4 + ["y"] * 2, log_metric=lambda k, v: logged.__setitem__(k.removeprefix("answers/"), v))
    assert rewards == [0.0, 0.0, 1.0, 0.0, 1.0, 1.0]
    # x: 5,5,6,None (mode 5 of 3 parsed, wrong); y: 7,7 (mode 7, right); means over the two problems
    assert logged["accuracy"] == pytest.approx((0.25 + 1.0) / 2)
    assert logged["majority_accuracy"] == pytest.approx(0.5)
    assert logged["majority_share"] == pytest.approx((2 / 3 + 1.0) / 2)
    assert logged["unparsed_rate"] == pytest.approx(0.25 / 2)
    assert logged["answer_entropy"] == pytest.approx(-(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3)) / 2)
    assert "target_mode_correct" not in logged and logged["undecided_rate"] == 0.0
