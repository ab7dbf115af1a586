"""Test helper: the `alft` entry point with the answer-level reward instrumented to record, per rank, which
problems each process received and which complete groups it computed rewards from (ALFT_DEBUG_GROUPS_DIR).

Run as `accelerate launch … tests/integration/record_groups.py train …`; alft_cli itself is unchanged.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from alft_cli import rewards
from alft_cli.cli import main

_reward_call = rewards.AnswerLevelReward.__call__


def _recording_call(self, completions, uid, **kwargs):
    from accelerate.state import PartialState

    out = _reward_call(self, completions, uid, **kwargs)
    row = {"uids": [str(u) for u in uid], "rewards": out,
           "group_sizes": {str(u): [len(v) for v in g] for u, g in self.last_groups.items()}}
    path = Path(os.environ["ALFT_DEBUG_GROUPS_DIR"]) / f"rank{PartialState().process_index}.jsonl"
    with path.open("a") as fh:
        fh.write(json.dumps(row) + "\n")
    return out


rewards.AnswerLevelReward.__call__ = _recording_call

if __name__ == "__main__":
    main()
