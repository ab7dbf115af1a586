"""Test helper: the `alft` entry point with the answer-level reward instrumented to record, per rank, which
problems each process received and which complete groups it computed rewards from, and which process ran
the held-out generation (ALFT_DEBUG_GROUPS_DIR).

Run as `accelerate launch … tests/integration/record_groups.py train …`; alft_cli itself is unchanged.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from alft_cli import generation, rewards
from alft_cli.cli import main

_reward_call = rewards.AnswerLevelReward.__call__
_generate = generation.generate


def _record(name: str, row: dict) -> None:
    from accelerate.state import PartialState

    path = Path(os.environ["ALFT_DEBUG_GROUPS_DIR"]) / f"{name}{PartialState().process_index}.jsonl"
    with path.open("a") as fh:
        fh.write(json.dumps(row) + "\n")


def _recording_call(self, completions, uid, **kwargs):
    out = _reward_call(self, completions, uid, **kwargs)
    _record("rank", {"uids": [str(u) for u in uid], "rewards": out,
                     "group_sizes": {str(u): [len(v) for v in g] for u, g in self.last_groups.items()}})
    return out


def _recording_generate(model, tokenizer, prompts, **kwargs):
    _record("heldout", {"prompts": len(prompts), "device": str(model.device)})
    return _generate(model, tokenizer, prompts, **kwargs)


rewards.AnswerLevelReward.__call__ = _recording_call
generation.generate = _recording_generate

if __name__ == "__main__":
    main()
