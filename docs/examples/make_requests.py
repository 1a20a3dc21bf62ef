"""Build docs/examples/requests.csv: a CSV in a user's own shape, cut from the vendored HWU64.

Rows of four HWU64 scenarios (alarm, calendar, email, play), at most 80 per intent, renamed to
columns a user might have: request (the text), area (the coarse label), intent (the fine label,
kept only to score the result). HWU64: Liu et al., 2019, CC BY 4.0.

    python docs/examples/make_requests.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from coarse2fine import load_dataset

AREAS = ["alarm", "calendar", "email", "play"]
PER_INTENT = 80


def main() -> None:
    data = load_dataset("hwu64", "train")
    rng = np.random.default_rng(0)
    keep = []
    for intent in sorted(set(data.fine[np.isin(data.coarse, AREAS)])):
        rows = np.flatnonzero(data.fine == intent)
        keep += sorted(rng.choice(rows, size=min(PER_INTENT, len(rows)), replace=False))
    keep = rng.permutation(keep)
    frame = pd.DataFrame(
        {
            "request": [data.texts[i] for i in keep],
            "area": data.coarse[keep],
            "intent": data.fine[keep],
        }
    )
    frame.to_csv(Path(__file__).with_name("requests.csv"), index=False)
    print(f"{len(frame)} rows, {frame['intent'].nunique()} intents in {len(AREAS)} areas")


if __name__ == "__main__":
    main()
