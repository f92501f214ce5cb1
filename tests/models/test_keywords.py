from __future__ import annotations

import pytest

from models.keywords import KeywordRules, normalise
from models.scorer import Scorer
from models.taxonomy import REQUIRED_LANGUAGES, load_taxonomy

# Sentences written for these tests (not the taxonomy's own examples), one per language.
SENTENCES = {
    "en": ("The embassy congratulates our athletes on their Olympic medals.", "sport"),
    "fr": ("Le consulat rappelle que les demandes de passeport se font en ligne.", "consular_services"),
    "es": ("Nuevas becas para estudiantes universitarios en nuestras universidades.", "education"),
    "de": (
        "Gemeinsam für den Klimaschutz: Deutschland baut erneuerbare Energien aus.",
        "climate_environment",
    ),
    "ar": ("وصلت شحنة من اللقاحات إلى المستشفيات في العاصمة.", "health"),
    "ru": (
        "Посол встретился с министром иностранных дел для обсуждения двусторонних отношений.",
        "bilateral_multilateral",
    ),
    "zh": ("两国企业签署多项投资协议，推动双边贸易发展。", "economy_trade"),
    "pt": ("A ajuda humanitária chegou às famílias afetadas pelas cheias.", "development_aid"),
}


@pytest.fixture(scope="module")
def rules() -> KeywordRules:
    t = load_taxonomy()
    return KeywordRules({x.key: [k for ks in x.keywords.values() for k in ks] for x in t.topics})


def test_taxonomy_has_every_topic_in_every_required_language() -> None:
    taxonomy = load_taxonomy()
    assert set(taxonomy.keys) >= {
        "culture",
        "education",
        "science_technology",
        "economy_trade",
        "tourism",
        "development_aid",
        "health",
        "climate_environment",
        "security_defence",
        "human_rights_democracy",
        "consular_services",
        "bilateral_multilateral",
        "sport",
    }
    for topic in taxonomy.topics:
        for table in (topic.descriptions, topic.examples, topic.keywords):
            assert set(REQUIRED_LANGUAGES) <= set(table), topic.key


@pytest.mark.parametrize("lang", sorted(SENTENCES))
def test_rules_find_the_topic_in_each_language(rules: KeywordRules, lang: str) -> None:
    text, topic = SENTENCES[lang]
    assert topic in rules.hits(text)


def test_every_taxonomy_example_triggers_its_own_topic(rules: KeywordRules) -> None:
    missed = [
        (t.key, lang)
        for t in load_taxonomy().topics
        for lang, examples in t.examples.items()
        for e in examples
        if t.key not in rules.hits(e)
    ]
    assert missed == []


def test_word_boundaries_prefixes_and_phrases() -> None:
    rules = KeywordRules({"culture": ["art", "cultur*"], "rights": ["human rights"]})
    assert rules.hits("A new article on artificial things") == {}
    assert rules.hits("Art and CULTURAL life") == {"culture": 2}
    assert rules.hits("defending human\n rights") == {"rights": 1}


def test_cjk_matches_inside_unspaced_text_and_arabic_after_attached_prefixes() -> None:
    rules = KeywordRules({"health": ["疫苗", "لقاح*", "الأمن الغذائي"]})
    assert rules.hits("中国向非洲捐赠疫苗。") == {"health": 1}
    assert rules.hits("وباللقاحات") == {"health": 1}  # wa + bi + al + word, plural
    assert rules.hits("ولِلأمنِ الغذائيّ") == {"health": 1}  # li + al merged, diacritics, shadda
    assert rules.hits("ملاحظات") == {}


def test_normalise_folds_case_and_arabic_variants() -> None:
    assert normalise("ÉCOLE") == "école"
    assert normalise("إسلامية") == normalise("اسلاميه")
    assert KeywordRules({"m": ["museum*"]}).hits("Museums, museo") == {"m": 1}


def test_rules_alone_score_topics_with_no_model(rules_scorer: Scorer) -> None:
    [score] = rules_scorer.score([SENTENCES["de"][0]], ["de"])
    assert score.sentiment is None
    assert score.language == "de"
    assert score.topics == {"climate_environment": 0.65}  # two keywords: 0.5 + 0.15
    assert rules_scorer.versions().topic_model == "keyword rules"
