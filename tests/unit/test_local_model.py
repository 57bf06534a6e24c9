"""Tests for annotator.llm.local (offline TF-IDF + logistic regression backend)."""

from __future__ import annotations

import random

import pytest

from annotator.llm.local import (
    LocalModel,
    nearest_to_centroid,
    train_local_model,
    training_fingerprint,
)

VOCAB = {
    "Email": "email reply draft letter manager meeting schedule regards colleague invite".split(),
    "Coding": "python code function error traceback script sql query bug compile".split(),
    "Translation": "translate spanish french language interpreter wording chinese vietnamese portuguese".split(),
}
FILLER = "please can you help me with this the a for to and quickly today".split()


def _corpus(per_class: int = 15, seed: int = 0) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    texts, labels = [], []
    for _ in range(per_class):
        for label, words in VOCAB.items():
            tokens = rng.sample(words, 4) + rng.sample(FILLER, 4)
            rng.shuffle(tokens)
            texts.append(" ".join(tokens))
            labels.append(label)
    return texts, labels


@pytest.fixture(scope="module")
def model() -> LocalModel:
    texts, labels = _corpus()
    return train_local_model(texts, labels, seed=7)


def test_predicts_held_out_texts(model: LocalModel) -> None:
    held_out = [
        "can you draft a reply email to my manager about the meeting",
        "there is a traceback error in my python script",
        "please translate this wording into spanish",
    ]
    predictions = model.predict(held_out)
    assert [label for label, _ in predictions] == ["Email", "Coding", "Translation"]
    assert all(1 / 3 < confidence <= 1.0 for _, confidence in predictions)
    assert model.classes == ["Coding", "Email", "Translation"]
    assert model.predict([]) == []


def test_cross_validated_scores_present(model: LocalModel) -> None:
    assert model.cv["folds"] == 5
    assert model.cv["n"] == 45
    assert model.cv["accuracy"] >= 0.9
    assert model.cv["macro_f1"] >= 0.9
    assert model.cv["singleton_classes"] == [] and model.cv["undefined"] == {}


def test_training_is_deterministic_per_seed(model: LocalModel) -> None:
    texts, labels = _corpus()
    again = train_local_model(texts, labels, seed=7)
    probe = ["help with the sql query please", "letter to a colleague"]
    assert again.cv == model.cv
    assert again.predict(probe) == model.predict(probe)


def test_round_trips_through_bytes(model: LocalModel) -> None:
    data = model.to_bytes()
    assert isinstance(data, bytes)
    loaded = LocalModel.from_bytes(data)
    probe = ["translate to french", "compile error", "meeting invite"]
    assert loaded.predict(probe) == model.predict(probe)
    assert (loaded.fingerprint, loaded.classes, loaded.cv, loaded.seed) == (
        model.fingerprint,
        model.classes,
        model.cv,
        model.seed,
    )


def test_from_bytes_rejects_foreign_payload() -> None:
    import io

    import joblib

    buffer = io.BytesIO()
    joblib.dump({"something": "else"}, buffer)
    with pytest.raises(ValueError, match="not a local model"):
        LocalModel.from_bytes(buffer.getvalue())


def test_fingerprint_is_stable_and_sensitive(model: LocalModel) -> None:
    texts, labels = _corpus()
    fp = training_fingerprint(texts, labels, seed=7)
    assert fp == model.fingerprint
    assert len(fp) == 64 and fp == training_fingerprint(list(texts), list(labels), seed=7)
    assert training_fingerprint(texts, labels, seed=8) != fp
    assert training_fingerprint(texts, labels, seed=7, cv_folds=3) != fp
    changed = list(labels)
    changed[0] = "Coding"
    assert training_fingerprint(texts, changed, seed=7) != fp
    # Length-prefixed parts: moving a character between text and label changes the hash.
    assert training_fingerprint(["ab"], ["c"]) != training_fingerprint(["a"], ["bc"])


def test_singleton_class_is_handled() -> None:
    texts, labels = _corpus(per_class=4)
    texts.append("a lonely example about parking permits")
    labels.append("Other")
    trained = train_local_model(texts, labels, seed=0)
    assert trained.cv["folds"] == 4  # the largest class has 4 examples: fewer than 5 folds
    assert trained.cv["singleton_classes"] == ["Other"]
    other = texts.index("a lonely example about parking permits")
    assert trained.out_of_fold[other][0] != "Other"  # its fold's model never saw the category
    assert trained.cv["accuracy"] is not None
    assert "Other" in trained.classes


def test_out_of_fold_predictions_equal_sklearn_cross_val_predict() -> None:
    """Every training text is predicted by a model fitted without it: the same labels scikit-learn's own
    cross_val_predict gives with the same splitter and pipeline, and never the in-sample fit's 100%."""
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    from annotator.llm.local import build_pipeline

    texts, labels = _corpus(per_class=12, seed=3)
    rng = random.Random(1)
    labels = [rng.choice(list(VOCAB)) if rng.random() < 0.3 else label for label in labels]  # hard: noisy labels
    trained = train_local_model(texts, labels, seed=5)
    expected = cross_val_predict(build_pipeline(seed=5), texts, labels,
                                 cv=StratifiedKFold(n_splits=5, shuffle=True, random_state=5))
    assert [c for c, _ in trained.out_of_fold] == list(expected)
    assert trained.cv["accuracy"] == pytest.approx(sum(e == y for e, y in zip(expected, labels)) / len(labels))
    in_sample = [c for c, _ in trained.predict(texts)]
    assert sum(p == y for p, y in zip(in_sample, labels)) > sum(e == y for e, y in zip(expected, labels))
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=5).split(texts, labels)
    for fold, (_, test) in enumerate(folds):
        assert {trained.fold_of[i] for i in test} == {fold}
    assert all(0 < conf <= 1 for _, conf in trained.out_of_fold)


def test_a_small_category_keeps_five_folds_and_is_in_every_training_split() -> None:
    texts, labels = _corpus(per_class=10, seed=2)
    texts += ["translate this email to spanish please", "spanish translation of my email"]
    labels += ["Both", "Both"]
    trained = train_local_model(texts, labels, seed=1)
    assert trained.cv["folds"] == 5 and trained.cv["small_classes"] == ["Both"]
    held = {trained.fold_of[-2], trained.fold_of[-1]}
    assert len(held) == 2  # the two examples are held out in different folds, each seen by the other's model


def test_cv_skipped_when_only_one_class_repeats() -> None:
    trained = train_local_model(["email draft", "email reply", "python bug"], ["Email", "Email", "Coding"])
    assert trained.cv["folds"] is None and trained.cv["accuracy"] is None
    assert trained.cv["undefined"]["accuracy"] == "fewer than 2 categories have at least 2 examples"
    assert trained.out_of_fold is None and trained.fold_of is None
    assert trained.predict(["email"])[0][0] == "Email"


def test_invalid_training_input_raises() -> None:
    with pytest.raises(ValueError, match="at least 2 categories to train, got 1"):
        train_local_model(["a text", "another"], ["Email", "Email"])
    with pytest.raises(ValueError, match="differ in length"):
        train_local_model(["a text"], ["Email", "Coding"])
    with pytest.raises(ValueError, match="cv_folds must be >= 2"):
        train_local_model(["a", "b"], ["x", "y"], cv_folds=1)
    with pytest.raises(ValueError, match="every training text is blank"):
        train_local_model([" ", ""], ["x", "y"])


def test_nearest_to_centroid_prefers_typical_texts() -> None:
    texts = [
        "python code error traceback",  # 0 typical Coding
        "python code error in script",  # 1 typical Coding
        "draft an email reply",  # 2 Email
        "python code error traceback again",  # 3 typical Coding
        "my cat likes the garden",  # 4 Coding outlier (mislabelled)
        "email reply to manager",  # 5 Email
    ]
    labels = ["Coding", "Coding", "Email", "Coding", "Coding", "Email"]
    nearest = nearest_to_centroid(texts, labels, "Coding", k=3)
    assert sorted(nearest) == [0, 1, 3]
    assert nearest_to_centroid(texts, labels, "Coding", k=10)[-1] == 4
    assert sorted(nearest_to_centroid(texts, labels, "Email", k=5)) == [2, 5]
    assert nearest_to_centroid(texts, labels, "Missing") == []
    with pytest.raises(ValueError, match="k must be >= 1"):
        nearest_to_centroid(texts, labels, "Coding", k=0)
