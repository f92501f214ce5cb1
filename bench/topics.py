"""`python -m bench topics [--posts=N]`: keyword topics and language detection, no model at all.

On the labelled posts of bench/data/topics (see its README: written blind to the keyword
lists, split into a tuning half and a held-out half), with the shipped taxonomy and the
default detector languages, rules only, exactly as `diplomonitor classify` scores without
models (`models.scorer.Scorer`, no declared language):

  topics     micro precision / recall / F1 overall and per language, macro-F1, posts left
             in a language without rules; baseline in the same run: the same lists read
             without language gating (every list against every post, as before issue 12)
  language   detection accuracy on whole posts and on posts cut to 40 characters
  speed      posts/s of language detection + keyword topics on one core (N distinct texts,
             so the scorer's cache of repeated texts never helps); baseline: ungated rules

Held-out figures are the ones to report; tuning-half figures are printed beside them so the
gap is visible. Only aggregate figures are printed for the held-out half, never its posts.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from models.evaluate import Labelled, Predicted, evaluate, read_labelled
from models.scorer import Scorer
from models.settings import ModelSettings

DATA = Path(__file__).parent / "data" / "topics"
TARGETS = {"micro_f1": 0.85, "language_f1": 0.75, "detection": 0.97, "posts_per_s": 2000.0}
CUT = 40


def main(argv: list[str]) -> None:
    posts_for_speed = next((int(a.split("=", 1)[1]) for a in argv if a.startswith("--posts=")), 4000)
    _one_core()
    scorer = Scorer(ModelSettings(sentiment="", embedding=""))
    halves = {
        name: read_labelled(DATA / f"{name}.jsonl", scorer.taxonomy.keys) for name in ("heldout", "tune")
    }
    print(f"rules only; taxonomy {scorer.taxonomy.version}; {len(scorer.taxonomy.rule_languages)} languages "
          f"with rules; detector over {len(scorer.settings.languages)} languages")  # fmt: skip
    for name, posts in halves.items():
        _quality(name, scorer, posts)
    _speed(scorer, [p for posts in halves.values() for p in posts], posts_for_speed)


def _one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def _quality(name: str, scorer: Scorer, posts: list[Labelled]) -> None:
    keys = scorer.taxonomy.keys
    texts = [p.text for p in posts]
    scores = scorer.score(texts)
    gated = [Predicted(frozenset(s.topics), s.language, None, s.topic_basis) for s in scores]
    report = evaluate(posts, gated, keys)
    everything = [scorer.taxonomy.rule_languages] * len(texts)
    combined = scorer.topic_scorer().combine(texts, everything, [None] * len(texts))
    ungated = [Predicted(frozenset(t), s.language) for (t, _), s in zip(combined, scores, strict=True)]
    baseline = evaluate(posts, ungated, keys)
    cut = [d.language for d in scorer.detector.detect([t[:CUT] for t in texts])]
    cut_accuracy = sum(p.lang == c for p, c in zip(posts, cut, strict=True)) / len(posts)
    m = report.micro
    print(f"\n== {name} half: {len(posts)} posts, {len(report.languages)} languages")
    target = f"target >= {TARGETS['micro_f1']:.2f}: {_ok(m['f1'] >= TARGETS['micro_f1'])}"
    print(f"topic micro-F1 {m['f1']:.3f} (precision {m['precision']:.3f}, recall {m['recall']:.3f}), "
          f"macro-F1 {report.macro_f1:.3f}   {target}")  # fmt: skip
    b = baseline.micro
    print(f"baseline, every list on every post: micro-F1 {b['f1']:.3f} (precision {b['precision']:.3f}); "
          f"gated/baseline {m['f1'] / b['f1']:.2f}x")  # fmt: skip
    detection = report.language_accuracy or 0.0
    target = (
        f"target >= {TARGETS['detection']:.2f}: {_ok(min(detection, cut_accuracy) >= TARGETS['detection'])}"
    )
    print(f"language detection {detection:.3f} whole, {cut_accuracy:.3f} cut to {CUT} characters   {target}")
    print(f"posts in a language without rules: {report.no_rules}")
    worst = min(v["f1"] for v in report.languages.values())
    print(f"per language (target F1 >= {TARGETS['language_f1']:.2f} in every language: "
          f"{_ok(worst >= TARGETS['language_f1'])}, lowest {worst:.3f})")  # fmt: skip
    print("  lang  posts  precision  recall  F1     detected")
    for lang, v in sorted(report.languages.items(), key=lambda kv: (kv[1]["f1"], kv[0])):
        print(f"  {lang:<4}  {v['posts']:>5}  {v['precision']:>9.3f}  {v['recall']:>6.3f}  {v['f1']:.3f}  "
              f"{v['language_accuracy']:.3f}")  # fmt: skip


def _speed(scorer: Scorer, posts: list[Labelled], n: int, repeats: int = 3) -> None:
    topics = scorer.topic_scorer()
    scorer.score([p.text for p in posts[:50]])  # the detector's model is read once, outside the timing
    everything = [scorer.taxonomy.rule_languages] * n
    gated, ungated, detection = [], [], []
    for r in range(repeats):  # the best of a few runs: other processes share the cores
        texts = [f"{posts[i % len(posts)].text} #{r}-{i}" for i in range(n)]  # distinct: no cache hits
        start = time.perf_counter()
        scorer.score(texts)
        gated.append(n / (time.perf_counter() - start))
        start = time.perf_counter()
        scorer.detector.detect(texts)
        detection.append(n / (time.perf_counter() - start))
        topics.combine(texts, everything, [None] * n)
        ungated.append(n / (time.perf_counter() - start))
    best, worst = max(gated), min(gated)
    print(f"\n== speed, one core, {n} distinct posts, best of {repeats} runs (slowest {worst:,.0f})")
    print(f"language detection + gated keyword topics: {best:,.0f} posts/s   "
          f"target >= {TARGETS['posts_per_s']:,.0f}: {_ok(best >= TARGETS['posts_per_s'])}")  # fmt: skip
    print(f"baseline, detection + every list on every post: {max(ungated):,.0f} posts/s "
          f"({best / max(ungated):.2f}x); language detection alone: {max(detection):,.0f} posts/s "
          f"(the ceiling: {best / max(detection):.2f}x of it)")  # fmt: skip


def _ok(passed: bool) -> str:
    return "met" if passed else "NOT MET"
