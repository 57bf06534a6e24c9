"""Offline classification backend: a seeded scikit-learn TF-IDF + logistic regression model.

The pipeline is word 1-2-gram TF-IDF with sublinear term frequency (Salton &
Buckley, 1988), capped at the 30,000 most frequent terms, followed by a
multinomial logistic regression with balanced class weights. The cap bounds
training time, since L-BFGS cost grows with features x classes: on 3,000
synthetic threads, adding character n-grams to an uncapped bigram vocabulary
made training with cross-validation about twice as slow.

Cross-fitting. Training also predicts every training text out of fold: the
texts are split by ``StratifiedKFold(n_splits=K, shuffle=True,
random_state=seed)`` and each fold is predicted by a model fitted on the
other K - 1 folds (the predictions ``cross_val_predict`` would give with the
same splitter), so no training thread is ever scored by a model that saw its
label. These out-of-fold predictions are what a run stores for the threads
that trained it, which makes the run's figures on its own training rounds
honest and its prevalence correction a cross-prediction-powered one (Zrnic &
Candes, PNAS 2024). K is 5, or fewer when no category has 5 examples; a
category with fewer examples than K still appears in every fold's training
data (``cv["small_classes"]`` lists them). The cross-validated accuracy and
macro F1 in ``cv`` are these out-of-fold predictions scored.

No thread text is ever logged; only counts.

Security note: ``LocalModel.from_bytes`` unpickles. Only load bytes this
application wrote itself (for example from its own database), never bytes from
a user upload.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import joblib
import numpy as np
import sklearn
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline

__all__ = [
    "DEFAULT_PARAMS",
    "LocalModel",
    "build_pipeline",
    "nearest_to_centroid",
    "train_local_model",
    "training_fingerprint",
]

logger = logging.getLogger(__name__)

#: Hyper-parameters of the pipeline; part of the fingerprint.
DEFAULT_PARAMS: dict[str, Any] = {
    "ngram_range": [1, 2],
    "min_df": 1,
    "max_features": 30_000,
    "C": 4.0,
    "max_iter": 5000,
}
_FORMAT_VERSION = 1


@dataclass
class LocalModel:
    """A fitted local classifier with its cross-validated scores.

    Attributes:
        pipeline: the fitted scikit-learn ``Pipeline`` (features -> classifier).
        classes: category names the model can predict, sorted.
        cv: cross-validation summary: ``folds``, ``n``, ``accuracy``,
            ``macro_f1`` (``None`` when CV was impossible), ``singleton_classes``
            and ``undefined`` (measure -> reason).
        fingerprint: sha256 of training data, parameters, seed and folds.
        seed: the seed used for the folds and the classifier.
        params: pipeline hyper-parameters (see ``DEFAULT_PARAMS``).
    """

    pipeline: Pipeline
    classes: list[str]
    cv: dict[str, Any]
    fingerprint: str
    seed: int
    params: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_PARAMS))
    #: (category, confidence) per training text, from the model of the other folds (None without CV);
    #: kept in memory only, never serialised.
    out_of_fold: list[tuple[str, float]] | None = None
    #: 0-based fold that held each training text out (None without CV).
    fold_of: list[int] | None = None

    def predict(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        """Return ``(category, confidence)`` per text; confidence is the maximum class probability."""
        if len(texts) == 0:
            return []
        proba = self.pipeline.predict_proba(list(texts))
        order = self.pipeline.classes_
        best = proba.argmax(axis=1)
        return [(str(order[i]), float(proba[row, i])) for row, i in enumerate(best)]

    def to_bytes(self) -> bytes:
        """Serialise with joblib (pickle) for storage in the database."""
        buffer = io.BytesIO()
        payload = {
            "format_version": _FORMAT_VERSION,
            "sklearn_version": sklearn.__version__,
            "pipeline": self.pipeline,
            "classes": self.classes,
            "cv": self.cv,
            "fingerprint": self.fingerprint,
            "seed": self.seed,
            "params": self.params,
        }
        joblib.dump(payload, buffer, compress=3)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> LocalModel:
        """Load a model written by ``to_bytes`` (trusted bytes only: this unpickles)."""
        payload = joblib.load(io.BytesIO(data))
        if not isinstance(payload, dict) or payload.get("format_version") != _FORMAT_VERSION:
            raise ValueError("not a local model written by this version of annotator")
        if payload["sklearn_version"] != sklearn.__version__:
            logger.warning(
                "local model was saved with scikit-learn %s, running %s",
                payload["sklearn_version"],
                sklearn.__version__,
            )
        return cls(
            pipeline=payload["pipeline"],
            classes=payload["classes"],
            cv=payload["cv"],
            fingerprint=payload["fingerprint"],
            seed=payload["seed"],
            params=payload["params"],
        )


def training_fingerprint(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    seed: int = 0,
    cv_folds: int = 5,
    params: dict[str, Any] | None = None,
) -> str:
    """sha256 over the ordered (text, label) pairs, parameters, seed, folds and scikit-learn version.

    Call it before training to look up a cached model; it equals the
    ``fingerprint`` of the model ``train_local_model`` would return.
    """
    digest = hashlib.sha256()
    header = {
        "params": params or DEFAULT_PARAMS,
        "seed": seed,
        "cv_folds": cv_folds,
        "sklearn": sklearn.__version__,
        "n": len(texts),
    }
    digest.update(json.dumps(header, sort_keys=True).encode())
    for text, label in zip(texts, labels, strict=True):
        for part in (text, label):
            encoded = part.encode("utf-8")
            digest.update(len(encoded).to_bytes(8, "big"))
            digest.update(encoded)
    return digest.hexdigest()


def train_local_model(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    seed: int = 0,
    cv_folds: int = 5,
) -> LocalModel:
    """Fit the local TF-IDF + logistic-regression classifier, and predict every training text out of fold.

    Folds are ``min(cv_folds, largest class count)``. Classes with a single example are kept in training and in
    cross-fitting (where they are necessarily missed, since their only
    example is held out) and listed in ``cv["singleton_classes"]``. Cross-fitting
    is skipped, with a reason, when fewer than two classes have two examples;
    then ``out_of_fold`` and ``fold_of`` are None.

    Raises:
        ValueError: lengths differ, fewer than 2 distinct labels, fewer than
            2 folds requested, or every text is blank.
    """
    texts, labels = list(texts), [str(label) for label in labels]
    if len(texts) != len(labels):
        raise ValueError(f"texts and labels differ in length ({len(texts)} vs {len(labels)})")
    counts = Counter(labels)
    if len(counts) < 2:
        raise ValueError(f"need examples of at least 2 categories to train, got {len(counts)}")
    if cv_folds < 2:
        raise ValueError(f"cv_folds must be >= 2, got {cv_folds}")
    if not any(text.strip() for text in texts):
        raise ValueError("every training text is blank")

    params = dict(DEFAULT_PARAMS)
    cv, out_of_fold, fold_of = _cross_fit(texts, labels, counts, seed=seed, cv_folds=cv_folds, params=params)
    pipeline = build_pipeline(params, seed).fit(texts, labels)
    logger.info(
        "trained local model on %d texts, %d classes, cv folds=%s", len(texts), len(counts), cv["folds"]
    )
    return LocalModel(
        pipeline=pipeline,
        classes=sorted(counts),
        cv=cv,
        fingerprint=training_fingerprint(texts, labels, seed=seed, cv_folds=cv_folds, params=params),
        seed=seed,
        params=params,
        out_of_fold=out_of_fold,
        fold_of=fold_of,
    )


def nearest_to_centroid(
    texts: Sequence[str],
    labels: Sequence[str],
    category: str,
    k: int = 5,
) -> list[int]:
    """Indices of the ``k`` texts of ``category`` closest (cosine) to that category's TF-IDF centroid.

    TF-IDF (word 1-2-grams, sublinear tf, L2-normalised rows) is fitted on all
    ``texts`` so that the inverse document frequencies reflect the corpus. The
    result is ordered from most to least similar (ties: lower index first);
    an empty list when the category has no text.

    Raises:
        ValueError: lengths differ, ``k < 1``, or every text is blank.
    """
    if len(texts) != len(labels):
        raise ValueError(f"texts and labels differ in length ({len(texts)} vs {len(labels)})")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    members = np.flatnonzero(np.asarray([str(label) == category for label in labels], dtype=bool))
    if members.size == 0:
        return []
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    try:
        matrix = vectorizer.fit_transform(list(texts))
    except ValueError as exc:  # empty vocabulary
        raise ValueError("cannot build TF-IDF features: the texts contain no words") from exc
    rows = matrix[members]
    centroid = np.asarray(rows.mean(axis=0)).ravel()
    norm = np.linalg.norm(centroid)
    similarity = rows @ centroid / norm if norm > 0 else np.zeros(members.size)
    order = np.lexsort((members, -np.asarray(similarity).ravel()))
    return [int(members[i]) for i in order[:k]]


def build_pipeline(params: dict[str, Any] | None = None, seed: int = 0) -> Pipeline:
    """The unfitted TF-IDF + logistic-regression pipeline (``DEFAULT_PARAMS`` unless given)."""
    params = params or DEFAULT_PARAMS
    features = TfidfVectorizer(
        ngram_range=tuple(params["ngram_range"]),
        sublinear_tf=True,
        min_df=params["min_df"],
        max_features=params["max_features"],
    )
    classifier = LogisticRegression(
        C=params["C"],
        class_weight="balanced",
        max_iter=params["max_iter"],
        random_state=seed,
    )
    return Pipeline([("features", features), ("classifier", classifier)])


def _cross_fit(
    texts: list[str],
    labels: list[str],
    counts: Counter[str],
    *,
    seed: int,
    cv_folds: int,
    params: dict[str, Any],
) -> tuple[dict[str, Any], list[tuple[str, float]] | None, list[int] | None]:
    """Out-of-fold (category, confidence) for every text, the fold of each, and the scores they give."""
    singletons = sorted(label for label, count in counts.items() if count == 1)
    repeated = [count for count in counts.values() if count >= 2]
    cv: dict[str, Any] = {
        "folds": None,
        "n": len(texts),
        "accuracy": None,
        "macro_f1": None,
        "singleton_classes": singletons,
        "undefined": {},
    }
    if len(repeated) < 2:
        reason = "fewer than 2 categories have at least 2 examples"
        cv["undefined"] = {"accuracy": reason, "macro_f1": reason}
        return cv, None, None
    # K stays at cv_folds unless no category has that many examples (StratifiedKFold needs one that has):
    # a category with fewer examples than K is still in every fold's training data (its m examples are
    # held out in m different folds), so lowering K for it would only weaken every fold's model.
    folds = min(cv_folds, max(repeated))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    out_of_fold: list[tuple[str, float]] = [("", 0.0)] * len(texts)
    fold_of = [-1] * len(texts)
    with warnings.catch_warnings():
        # Singleton classes trigger "least populated class has only 1 member"; expected.
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        splits = list(splitter.split(texts, labels))
    for fold, (train, test) in enumerate(splits):
        model = build_pipeline(params, seed).fit([texts[i] for i in train], [labels[i] for i in train])
        proba = model.predict_proba([texts[i] for i in test])
        best = proba.argmax(axis=1)
        for row, i in enumerate(test):
            out_of_fold[i] = (str(model.classes_[best[row]]), float(proba[row, best[row]]))
            fold_of[i] = fold
    predicted = [category for category, _ in out_of_fold]
    cv["folds"] = folds
    cv["small_classes"] = sorted(label for label, count in counts.items() if 2 <= count < folds)
    cv["accuracy"] = float(accuracy_score(labels, predicted))
    cv["macro_f1"] = float(f1_score(labels, predicted, average="macro", zero_division=0.0))
    return cv, out_of_fold, fold_of
