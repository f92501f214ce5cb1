"""The contract of a classifier: what the scoring job needs from the models (Scorer implements it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from models.scorer import Score, Versions


class Classifier(Protocol):
    """Scores texts: language, sentiment, soft-power topics, one `Score` per text, in order.

    A configured model that is not on disk is left out, never an error (`Versions.missing`
    says which and why); the versions' fingerprint names exactly what contributed, so texts
    scored without a part are scored again once it is there. Raises only models.ModelError
    subclasses (a model that is there but does not load or fit).
    """

    @property
    def posts_per_batch(self) -> int:
        """Texts per database transaction: the unit the scoring job claims, scores and writes."""
        ...

    def versions(self) -> Versions:
        """What would score now, found without loading; a missing model is looked for again."""
        ...

    def load(self) -> Versions:
        """Load what the last `versions()` found (idempotent): seconds, so before claiming rows."""
        ...

    def score(self, texts: Sequence[str], declared: Sequence[object] | None = None) -> list[Score]:
        """One Score per text, in order; `declared`: per text the platform's language(s), as evidence."""
        ...
