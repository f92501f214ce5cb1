from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models import TaxonomyError
from models.keywords import KeywordError, KeywordRules, LanguageRules, signals
from models.scorer import Scorer
from models.settings import DEFAULT_LANGUAGES
from models.taxonomy import REQUIRED_LANGUAGES, load_taxonomy
from models.words import normalise, tokenise

TOPICS = (
    "culture", "education", "science_research", "digital_tech", "cybersecurity", "economy_trade",
    "sanctions", "energy", "tourism", "development_aid", "health", "climate_environment",
    "security_defence", "human_rights_democracy", "information_integrity", "migration_diaspora",
    "consular_services", "bilateral", "multilateral", "ceremonial", "sport",
)  # fmt: skip

# Sentences written for these tests (not the taxonomy's examples, not the benchmark's posts).
SENTENCES = {
    "en": ("Congratulations to our athletes on their Olympic medals!", {"sport"}),
    "fr": ("Le consulat rappelle que les demandes de passeport se font en ligne.", {"consular_services"}),
    "es": ("Nuevas becas para estudiantes universitarios en nuestras universidades.", {"education"}),
    "de": ("Gemeinsam für den Klimaschutz: neue Regeln gegen Plastikmüll im Meer.", {"climate_environment"}),
    "ar": ("وصلت شحنة من اللقاحات إلى المستشفيات في العاصمة.", {"health"}),
    "ru": ("Министр провёл переговоры с коллегой и подписал меморандум о двустороннем сотрудничестве.",
           {"bilateral"}),
    "zh": ("两国企业签署多项投资协议，推动双边贸易发展。", {"economy_trade", "bilateral"}),
    "pt": ("A ajuda humanitária chegou às famílias deslocadas pelas cheias.", {"development_aid"}),
}  # fmt: skip

# Each topic that is new in the 21-topic taxonomy, in several languages.
NEW_TOPICS = [
    (
        "en",
        "Our tech ambassador discussed AI governance and platform regulation in Silicon Valley.",
        "digital_tech",
    ),
    ("de", "Der Digitalbotschafter sprach mit Plattformen über künstliche Intelligenz.", "digital_tech"),
    ("ja", "人工知能のガバナンスとデジタル分野の協力について協議しました。", "digital_tech"),
    (
        "en",
        "The ransomware attack on hospitals was the work of a state-backed hacker group.",
        "cybersecurity",
    ),
    ("fi", "Kyberturvallisuuskeskus varoittaa kiristyshaittaohjelmista.", "cybersecurity"),
    ("es", "Condenamos el ciberataque contra la infraestructura crítica.", "cybersecurity"),
    ("en", "The EU adopted its 15th sanctions package and froze the assets of 20 entities.", "sanctions"),
    ("ru", "Новые санкции против наших компаний незаконны.", "sanctions"),
    ("ko", "정부는 불법 무기 거래에 관여한 기관을 독자제재 대상으로 지정했습니다.", "sanctions"),
    ("fr", "Le nouveau terminal GNL renforce notre sécurité énergétique.", "energy"),
    ("pl", "Nowy gazociąg zwiększa bezpieczeństwo energetyczne regionu.", "energy"),
    (
        "en",
        "Beware of this deepfake video: a disinformation campaign by a foreign state.",
        "information_integrity",
    ),
    (
        "it",
        "Attenzione alla disinformazione: le notizie false circolano sui social.",
        "information_integrity",
    ),
    ("tr", "Sosyal medyadaki dezenformasyon iddialarına itibar etmeyin.", "information_integrity"),
    (
        "en",
        "We met the diaspora community and discussed remittances and labour mobility.",
        "migration_diaspora",
    ),
    ("pt", "Encontro com a diáspora e a comunidade de migrantes em Paris.", "migration_diaspora"),
    (
        "fr",
        "Entretien avec son homologue : une visite officielle pour un partenariat stratégique.",
        "bilateral",
    ),
    ("id", "Kunjungan kenegaraan mempererat kemitraan strategis kedua negara.", "bilateral"),
    ("es", "Intervención ante el Consejo de Seguridad de las Naciones Unidas.", "multilateral"),
    ("hi", "संयुक्त राष्ट्र महासभा में भारत का संबोधन।", "multilateral"),
    (
        "en",
        "Happy National Day to all our friends! Our sincere condolences to the victims' families.",
        "ceremonial",
    ),
    ("no", "Gratulerer med nasjonaldagen! Hipp hurra for 17. mai.", "ceremonial"),
    ("he", "יום העצמאות שמח לכל אזרחי ישראל!", "ceremonial"),
    (
        "en",
        "Our scientists and researchers opened a joint laboratory for quantum physics.",
        "science_research",
    ),
    ("sv", "Svenska forskare leder ett nytt forskningsprojekt i Arktis.", "science_research"),
]


@pytest.fixture(scope="module")
def rules() -> LanguageRules:
    t = load_taxonomy()
    return LanguageRules(t.keywords_by_language(), t.signals)


@pytest.fixture(scope="module")
def rules_only(model_cache) -> Scorer:  # type: ignore[no-untyped-def]
    from models.settings import ModelSettings

    return Scorer(ModelSettings(sentiment="", embedding="", cache_dir=str(model_cache)))


def test_taxonomy_is_the_21_stable_ids_with_texts_and_keywords_in_every_default_language() -> None:
    taxonomy = load_taxonomy()
    assert taxonomy.keys == TOPICS
    assert set(taxonomy.rule_languages) == set(DEFAULT_LANGUAGES) >= {"da", "no", "fi", "ja", "ko", "fa"}
    for topic in taxonomy.topics:
        assert set(REQUIRED_LANGUAGES) <= set(topic.descriptions), topic.key
        assert set(REQUIRED_LANGUAGES) <= set(topic.examples), topic.key
        assert set(DEFAULT_LANGUAGES) <= set(topic.keywords), topic.key
    assert taxonomy.signals == {"two_flags": "bilateral"}


@pytest.mark.parametrize("lang", sorted(SENTENCES))
def test_rules_find_the_topic_in_each_language(rules_only: Scorer, lang: str) -> None:
    text, topics = SENTENCES[lang]
    [score] = rules_only.score([text])
    assert score.language == lang and set(score.topics) == topics and score.topic_basis == "rules"


@pytest.mark.parametrize(("lang", "text", "topic"), NEW_TOPICS)
def test_each_new_topic_in_several_languages(rules_only: Scorer, lang: str, text: str, topic: str) -> None:
    [score] = rules_only.score([text])
    assert score.language == lang
    assert topic in score.topics


def test_every_taxonomy_example_triggers_its_own_topic_in_its_own_language(rules: LanguageRules) -> None:
    missed = [
        (t.key, lang, e)
        for t in load_taxonomy().topics
        for lang, examples in t.examples.items()
        for e in examples
        if rules.hits(e, [lang]).get(t.key, 0) < 1
    ]
    assert missed == []


# --- language gating: a post is read with the lists of its own language(s) ------------------


@pytest.mark.parametrize(
    ("text", "lang", "not_topic"),
    [
        (
            "Uno de los mejores días del año: ¡gracias a todos por venir!",
            "es",
            "multilateral",
        ),  # de: uno = UN
        ("Uno spettacolo straordinario, grazie a tutti gli amici!", "it", "multilateral"),
        ("Becas para doctorados en universidades de Madrid.", "es", "health"),  # en: doctor*
        (
            "Senators are expected to pass the bill on Thursday after a long debate.",
            "en",
            "consular_services",
        ),
        ("Zur Wahl stehen heute Schnitzel oder Spätzle in unserer Kantine.", "de", "human_rights_democracy"),
    ],
)
def test_a_word_of_another_language_never_fires(
    rules_only: Scorer, text: str, lang: str, not_topic: str
) -> None:
    [score] = rules_only.score([text])
    assert score.language == lang
    assert not_topic not in score.topics


def test_the_same_words_fire_in_their_own_language(rules_only: Scorer) -> None:
    un, passport = rules_only.score(
        [
            "Die UNO hat heute eine Resolution verabschiedet.",
            "Ihr Pass muss noch sechs Monate gültig sein, prüfen Sie ihn vor der Reise.",
        ]
    )
    assert "multilateral" in un.topics and "consular_services" in passport.topics


def test_a_post_in_two_languages_is_read_with_both_lists(rules: LanguageRules) -> None:
    text = "Festival de cine en la embajada. Museumsnacht im Goethe-Institut mit Konzert."
    spanish = rules.hits(text, ["es"])["culture"]  # festival*, cine
    assert spanish >= 2 and rules.hits(text, ["es", "de"])["culture"] >= spanish + 2  # + museum-, konzert*


def test_declared_language_counts_only_when_the_text_supports_it(rules_only: Scorer) -> None:
    german = "Die Ausstellung im Museum ist ab heute geöffnet."
    detected = rules_only.detector.detect([german])[0]
    assert rules_only.detector.languages_of(detected, ["en"]) == ("de",)  # the app's default, not evidence
    short = rules_only.detector.detect(["🎉🎉"])[0]
    assert rules_only.detector.languages_of(short, ["fr"]) == ("fr",)  # nothing to judge: the declared one


def test_japanese_is_read_with_its_own_list_not_with_chinese_keywords(rules_only: Scorer) -> None:
    ja_culture, ja_security, zh_ocean = rules_only.score(
        [
            "大使館で日本文化の夕べを開催しました。",
            "海洋安全保障について日米で協議しました。",
            "保护海洋环境，减少塑料污染。",
        ]
    )
    assert ja_culture.language == "ja" and set(ja_culture.topics) == {"culture"}  # not 大使 -> bilateral
    assert ja_security.language == "ja" and "security_defence" in ja_security.topics
    assert "climate_environment" not in ja_security.topics  # 海洋 inside 海洋安全保障
    assert zh_ocean.language == "zh" and set(zh_ocean.topics) == {"climate_environment"}


def test_kana_makes_a_kanji_heavy_post_japanese(rules_only: Scorer) -> None:
    [score] = rules_only.score(["日本国大使館は明日休館します。"])
    assert score.language == "ja"


# --- compounds and syntax ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "text", "topic"),
    [
        ("de", "Bitte beachten Sie die Visumpflicht bei der Einreise.", "consular_services"),
        ("de", "Das Sprachdiplom öffnet den Weg an deutsche Hochschulen.", "education"),
        ("de", "Nächtliche Drohnenangriffe auf zivile Ziele.", "security_defence"),
        ("nl", "De cyberaanval op de haven wordt onderzocht.", "cybersecurity"),
        ("sv", "Klimatförändringarna hotar Östersjön.", "climate_environment"),
        ("da", "Cyberangrebene mod hospitalerne fortsætter.", "cybersecurity"),
        ("fi", "Kyberturvallisuuskeskus antoi varoituksen.", "cybersecurity"),
        ("no", "Husk å fornye reisepasset før sommerferien.", "consular_services"),
    ],
)
def test_a_keyword_ending_or_inside_a_compound_is_found(
    rules: LanguageRules, lang: str, text: str, topic: str
) -> None:
    assert rules.hits(text, [lang]).get(topic, 0) >= 1


def test_compound_keywords_make_no_false_hits(rules: LanguageRules) -> None:
    assert "consular_services" not in rules.hits("Der Kompass zeigt nach Norden.", ["de"])
    assert "education" not in rules.hits("Die Diplomatie der Diplomaten.", ["de"])
    assert "sport" not in rules.hits("Der Transport der Güter.", ["de"])
    assert "development_aid" not in rules.hits("Diplomaatti vieraili.", ["fi"])


def test_word_boundaries_prefixes_endings_and_phrases() -> None:
    rules = KeywordRules({"culture": ["art", "cultur*"], "rights": ["human rights"], "consular": ["*pflicht"],
                          "security": ["*angriff*"]})  # fmt: skip
    assert rules.hits("A new article on artificial things") == {}
    assert rules.hits("Art and CULTURAL life") == {"culture": 2}
    assert rules.hits("defending human\n rights") == {"rights": 1}
    assert rules.hits("Visumpflicht und Pflicht") == {"consular": 1}  # one keyword counts once
    assert rules.hits("Drohnenangriffe, ein Angriff") == {"security": 1}
    assert rules.hits("pflichtbewusst, angreifen") == {}


def test_exceptions_words_and_phrases_and_weak_keywords() -> None:
    rules = KeywordRules({"consular": ["*pass", "!kompass"], "security": ["security", "!security council"],
                          "trade": ["~invest*", "~companies", "trade"]})  # fmt: skip
    assert rules.hits("Kompass") == {} and rules.hits("Reisepass") == {"consular": 1}
    assert rules.hits("The Security Council met") == {}
    assert rules.hits("Security first; the Security Council met") == {"security": 1}
    assert rules.hits("investment") == {"trade": 0.5}
    assert rules.hits("investment by companies") == {"trade": 1.0}
    assert rules.hits("trade and investment") == {"trade": 1.5}


def test_a_word_found_by_two_keywords_counts_once() -> None:
    rules = KeywordRules({"trade": ["export*", "*export*", "handel"]})
    assert rules.hits("Exportkontrollen") == {"trade": 1}
    assert rules.hits("Export und Handel") == {"trade": 2}


def test_hyphen_prefixes_apostrophes_hashtags_and_underscores() -> None:
    rules = KeywordRules({"bilateral": ["deutsch-*"], "culture": ["exposition*", "national day"],
                          "rights": ["حقوق"]})  # fmt: skip
    assert rules.hits("Die deutsch-französische Freundschaft") == {"bilateral": 1}
    assert rules.hits("Deutsch lernen") == {}
    assert rules.hits("Visitez l'exposition") == {"culture": 1}
    assert rules.hits("#HappyNationalDay to all!") == {"culture": 1}
    assert rules.hits("#حقوق_المرأة") == {"rights": 1}


def test_cjk_matches_inside_unspaced_text_and_arabic_after_attached_prefixes() -> None:
    rules = KeywordRules({"health": ["疫苗", "لقاح*", "الأمن الغذائي"], "bilateral": ["大使", "!大使館"]})
    assert rules.hits("中国向非洲捐赠疫苗。") == {"health": 1}
    assert rules.hits("وباللقاحات") == {"health": 1}  # wa + bi + al + word, plural
    assert rules.hits("ولِلأمنِ الغذائيّ") == {"health": 1}  # li + al merged, diacritics, shadda
    assert rules.hits("ملاحظات") == {}
    assert rules.hits("大使館で") == {} and rules.hits("大使が") == {"bilateral": 1}


def test_latin_words_inside_cjk_hangul_and_indic_text_are_words() -> None:
    assert tokenise(normalise("G7広島AIプロセス")) == [("g7",), ("広島",), ("ai",), ("プロセス",)]
    assert tokenise(normalise("KOICA를 통해")) == [("koica",), ("를",), ("통해",)]
    assert tokenise(normalise("भारतीय कलाकारों।")) == [("भारतीय",), ("कलाकारों",)]
    rules = KeywordRules({"development_aid": ["jica"], "culture": ["*문화*"]})
    assert rules.hits("JICAは支援します") == {"development_aid": 1}
    assert rules.hits("한국문화원에서 공연") == {"culture": 1}


def test_hebrew_greek_and_turkish_letters_are_folded() -> None:
    rules = KeywordRules({"health": ["בריאות", "υγει*", "sağlık*"]})
    assert rules.hits("משרד הבריאות") == {"health": 1}  # the article ha- is tried off
    assert rules.hits("ΥΓΕΊΑ για όλους") == {"health": 1}  # capitals lose their accents
    assert rules.hits("SAĞLIK BAKANLIĞI") == {"health": 1}  # dotless I


def test_two_flags_are_a_weak_bilateral_signal(rules: LanguageRules) -> None:
    assert signals("Together 🇩🇪🇫🇷") == {"two_flags"}
    assert signals("🇩🇪🇪🇺") == set() and signals("🇩🇪🇫🇷🇮🇹") == set()
    assert rules.hits("Signed today 🇩🇪🇫🇷", ["en"])["bilateral"] == 1.0  # ~signed + the flags
    assert (
        "bilateral" not in rules.hits("Signed today", ["en"])
        or rules.hits("Signed today", ["en"])["bilateral"] < 1
    )


def test_bad_keywords_are_clear_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(KeywordError, match="too short"):
        KeywordRules({"x": ["*ab*"]})
    with pytest.raises(KeywordError, match="no letters"):
        KeywordRules({"x": ["!!!"]})
    bad = tmp_path / "t.toml"
    bad.write_text('[[topic]]\nkey = "a"\n[topic.description]\nen = "A"\n[keywords.en]\na = ["*x*"]\n')
    with pytest.raises(TaxonomyError, match=r"\[keywords.en\]: keyword '\*x\*'"):
        load_taxonomy(bad)
    bad.write_text(
        '[defaults]\nsimilarity_floor = 0.2\n[[topic]]\nkey = "a"\n[topic.description]\nen = "A"\n'
    )
    with pytest.raises(TaxonomyError, match=r"moved to the \[models\] calibration"):
        load_taxonomy(bad)
    bad.write_text(
        '[[topic]]\nkey = "a"\n[topic.description]\nen = "A"\n[keywords.en]\na = ["y"]\nb = ["x"]\n'
    )
    with pytest.raises(TaxonomyError, match=r"name topics that do not exist: \['b'\]"):
        load_taxonomy(bad)


def test_normalise_folds_case_and_letter_variants() -> None:
    assert normalise("ÉCOLE") == "école"
    assert normalise("إسلامية") == normalise("اسلاميه")
    assert normalise("کتاب") == normalise("كتاب")  # Persian and Arabic kaf
    assert KeywordRules({"m": ["museum*"]}).hits("Museums, museo") == {"m": 1}


def test_rules_alone_score_topics_with_no_model(rules_only: Scorer) -> None:
    [score] = rules_only.score([SENTENCES["de"][0]], ["de"])
    assert score.sentiment is None and score.language == "de"
    assert score.topics == {"climate_environment": 0.8}  # klima-, plastikmüll (one word), meer
    assert rules_only.versions().topic_model == "keyword rules"
    assert rules_only.versions().parts == ("language", "rules")


# --- arbitrary Unicode never breaks the matcher --------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400), st.lists(st.sampled_from((*DEFAULT_LANGUAGES, "xx")), max_size=3))
def test_any_text_in_any_language_set_gives_known_topics(text: str, languages: list[str]) -> None:
    found = _RULES.hits(text, languages)
    assert set(found) <= set(_T.keys)
    assert all(v > 0 for v in found.values())
    assert normalise(normalise(text)) == normalise(normalise(normalise(text)))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=5), st.text(max_size=200))
def test_any_keyword_compiles_or_is_a_clear_error(keywords: list[str], text: str) -> None:
    try:
        rules = KeywordRules({"t": keywords})
    except KeywordError:
        return
    assert set(rules.hits(text)) <= {"t"}


_T = load_taxonomy()
_RULES = LanguageRules(_T.keywords_by_language(), _T.signals)
