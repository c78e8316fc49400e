"""Whether two exports hold the same answers: `ragq export --format jsonl` of the same work made by two versions of
ragq (or on two machines), compared result by result on everything an answer is (text, prompt, chunks, every
score), not on when, where or how fast it was made. Prints the differences; exits 1 if there are any.

    python scripts/same_answers.py before.jsonl after.jsonl
"""

import json
import sys
from pathlib import Path

# what an answer is; timings, hosts, pids and dates are how it was made, and differ between any two runs
FIELDS = ["model", "ratio", "question", "reference", "answer", "prompt", "chunk_ids", "dropped_chunks", "cosine",
          "token_f1", "exact_match", "rouge_l", "abstained", "groundedness", "number_match", "answer_words",
          "expert_bpb", "expert_nats_per_token", "expert_mean_rank", "evidence_rank", "fusion", "repeat", "kv_reuse",
          "spec_id", "prompt_kind", "gen_tokens", "prompt_tokens", "retrieval"]  # fmt: skip


def records(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return sorted(rows, key=lambda r: (r["model"], r["ratio"], r["question_position"], r["repetition"]))


def differences(before: list[dict], after: list[dict]) -> list[str]:
    if len(before) != len(after):
        return [f"{len(before)} results against {len(after)}"]
    found = []
    for a, b in zip(before, after, strict=True):
        where = f"{a['model']} r{a['ratio']:g} question {a['question_position']} repetition {a['repetition']}"
        found += [f"{where}: {name} differs" for name in FIELDS if a.get(name) != b.get(name)]
    return found


def main() -> None:
    before, after = (records(Path(p)) for p in sys.argv[1:3])
    found = differences(before, after)
    print(
        f"{len(before)} results compared on {len(FIELDS)} fields: "
        + ("the same" if not found else f"{len(found)} differ")
    )
    for line in found:
        print("  " + line)
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
