"""Machine-learning models that score posts: language, multilingual sentiment, soft-power topics.

A leaf: nothing here knows the database or the schedule. `models.scorer.Scorer` turns texts
into `Score` records, keeping the contract in `models.protocol.Classifier`; `monitor.scoring`
stores them. Heavy libraries (torch, transformers,
onnxruntime) are imported on first use, never when this package is imported.

A configured model that is not on disk is no error while scoring: the scorer leaves its part
out and says so (`models.scorer.Versions.missing`); ModelUnavailable is raised where the model
itself is asked for (loading it, `models pull`, `models eval --compare-runtime`).

Errors:
    ModelError                 base of every error raised here
    ├── ModelUnavailable       a configured model is not on disk (or cannot be downloaded now)
    ├── ModelIncompatible      a model loads but does not fit (labels, architecture, export)
    ├── TaxonomyError          the topics file is missing or malformed (bad keywords included)
    └── LabelledFileError      a labelled file for `models eval` has bad lines (models.evaluate)
"""

from __future__ import annotations


class ModelError(Exception):
    """Base of the errors of the models package; messages say what to do."""


class ModelUnavailable(ModelError):
    """A configured model cannot be found locally; `diplomonitor models pull` fetches it."""


class ModelIncompatible(ModelError):
    """A model was found but cannot be used as configured."""


class TaxonomyError(ModelError):
    """The soft-power taxonomy file cannot be read or is malformed."""


__all__ = ["ModelError", "ModelIncompatible", "ModelUnavailable", "TaxonomyError"]
