"""The slip-up policy: every category in both languages, evasions, detectors, allow-list, lint."""

from __future__ import annotations

import random
import string
import sys
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from bench.policy import adversarial
from pipeline.cli.main import cli
from pipeline.policy import (
    Policy,
    PolicyError,
    add_to_allow_list,
    flag_post,
    iban_valid,
    lint,
    luhn_valid,
    normalise,
    normalise_with_spans,
)
from pipeline.policy.folding import CleanOffsets, clean
from pipeline.policy.policy_file import DEFAULT_POLICY
from schemas.events import MAX_TEXT_LENGTH, Post

POLICY = Policy.load()

FLAGGED = {
    "confidential_leak": {
        "en": [
            "This deck is strictly CONFIDENTIAL.",
            "Internal only, do not share!",
            "Project Falcon is real",
        ],
        "fr": ["Document à usage interne, ne pas diffuser.", "C'est confidentiel pour l'instant"],
    },
    "financial_disclosure": {
        "en": ["Our Q3 revenue will beat estimates", "Numbers look great before the earnings call"],
        "fr": [
            "Le chiffre d'affaires du trimestre est énorme",
            "Avant l'annonce des résultats : ça monte",
        ],
    },
    "profanity_insult": {
        "en": ["What an idiot", "this is crap", "total bullshit", "our stupid customers"],
        "fr": ["Quelle merde", "un vrai connard", "c'est débile"],
    },
    "competitor_attack": {
        "en": ["Rivalcorp is garbage", "Contoso? A scam."],
        "fr": ["Rivalcorp c'est une arnaque", "Contoso est nul"],
    },
    "personal_data": {
        "en": ["mail me at jane.doe@example.com", "call (555) 123-4567"],
        "fr": ["appelez le 06 12 34 56 78", "mon numéro : +33 6 12 34 56 78"],
    },
    "legal_risk": {
        "en": [
            "guaranteed returns for everyone",
            "we will sue them",
            "this is illegal but who cares",
        ],
        "fr": ["C'est illégal mais bon", "un rendement garanti de 8 %"],
    },
}

CLEAN = [
    "Proud of our team at the summit this week! Join us at booth 42.",
    "We are hiring engineers in Lyon: https://example.com/careers/2026",
    "Great conversation with customers about privacy by design.",
    "Our scrapbook of the hackathon is online, 120 photos.",
    "Nous recrutons ! Rejoignez une équipe formidable à Nantes.",
    "Merci à nos partenaires pour cette belle journée de conférences.",
    "Meet Contoso and Rivalcorp engineers at the open-source meetup on 12 March.",
    "Version 2.4.1 is out, with 30% faster exports.",
    "Call for papers closes on 2026-03-15.",
]


def categories(text: str, policy: Policy = POLICY) -> set[str]:
    return {match.category for match in policy.check(text)}


@pytest.mark.parametrize(
    ("category", "text"),
    [(c, t) for c, langs in FLAGGED.items() for texts in langs.values() for t in texts],
)
def test_every_category_fires_in_both_languages(category: str, text: str) -> None:
    assert category in categories(text)


@pytest.mark.parametrize("text", CLEAN)
def test_ordinary_posts_are_clean(text: str) -> None:
    assert POLICY.check(text) == []


def test_the_simulator_templates() -> None:
    from pipeline.simulator.texts import CLEAN_TEMPLATES, SLIPUP_TEMPLATES

    for category, langs in SLIPUP_TEMPLATES.items():
        for texts in langs.values():
            for text in texts:
                assert category in categories(text), text
    for texts in CLEAN_TEMPLATES.values():
        for text in texts:
            assert POLICY.check(text) == [], text


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("you 1d10t", "profanity_insult/idiot*"),
        ("what a c0nn4rd", "profanity_insult/connard*"),
        ("s.t.u.p.i.d", "profanity_insult/stupid"),
        ("s-t-u-p-i-d people", "profanity_insult/stupid"),
        ("i d i o t", "profanity_insult/idiot*"),
        ("stuuuupid", "profanity_insult/stupid"),
        ("bullllshiiiit", "profanity_insult/bullshit"),
        ("MERDE", "profanity_insult/merde"),
        ("DÉBILE", "profanity_insult/debile*"),
        ("debile", "profanity_insult/debile*"),
        ("C*O*N*F*I*D*E*N*T*I*A*L", "confidential_leak/confidential"),
        ("guaranteeeed returns", "legal_risk/guaranteed return*"),
    ],
)
def test_evasions(text: str, rule: str) -> None:
    assert rule in {match.rule for match in POLICY.check(text)}


def test_near_rules_with_three_lists(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "[categories.x]\n"
        'severity = "low"\n'
        'hint = "h"\n'
        "[[categories.x.near]]\n"
        'name = "forecast"\n'
        'terms = ["revenue"]\n'
        'near = ["beat"]\n'
        'also = ["q3", "before"]\n'
        "within = 4\n",
    )
    assert lint(path) == []
    policy = Policy.load(path)
    assert categories("Revenue will beat Q3", policy) == {"x"}
    assert categories("Before Q3 our revenue will beat all", policy) == {"x"}
    assert categories("Revenue will beat everything", policy) == set()  # no third list
    assert categories("Revenue will beat one two three four five q3", policy) == set()


def test_allow_list_covers_words_of_near_rules_and_punctuation() -> None:
    assert POLICY.check("Contoso's worst-case analysis is a great read") == []
    assert POLICY.check("Our switchboard: +33 1 23 45 67 89") == []
    assert "competitor_attack" in categories("Contoso is the worst")


def test_patterns_are_re2_on_folded_text(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "[categories.x]\n"
        'severity = "low"\n'
        'hint = "h"\n'
        "patterns = ['\\bprévisions\\s+T[1-4]\\b', '(?<=a)b']\n",
    )
    [problem] = lint(path)
    assert problem.key == "categories.x.patterns[1]" and "RE2" in problem.message
    path = write(
        tmp_path,
        "[categories.x]\n"
        'severity = "low"\n'
        'hint = "h"\n'
        "patterns = ['\\bprévisions\\s+T[1-4]\\b']\n",
    )
    policy = Policy.load(path)
    for text in ("nos PRÉVISIONS T3", "nos previsions t3", "nos prévisi\u00adons Ｔ３"):
        assert categories(text, policy) == {"x"}, text


def test_word_boundaries() -> None:
    assert POLICY.check("scrap metal and a scrapbook") == []
    assert POLICY.check("Rivalcorp alone is fine") == []
    far = "Rivalcorp launched a product today and ours is one two three four five six garbage"
    assert "competitor_attack" not in categories(far)


def test_luhn_and_mod97() -> None:
    assert luhn_valid("4539148803436467")
    assert luhn_valid("5555555555554444")
    assert not luhn_valid("4539148803436468")
    assert iban_valid("FR14 2004 1010 0505 0001 3M02 606")
    assert iban_valid("DE89370400440532013000")
    assert not iban_valid("FR15 2004 1010 0505 0001 3M02 606")
    assert not iban_valid("FR14")


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("card 4539 1488 0343 6467 please", "personal_data/payment_card"),
        ("card 5555-5555-5555-4444", "personal_data/payment_card"),
        ("Amex 3782 822463 10005 declined", "personal_data/payment_card"),
        ("pay to BE68 5390 0754 7034 please", "personal_data/iban"),
        ("send to gb82 west 1234 5698 7654 32", "personal_data/iban"),
        ("jane.doe [at] example [dot] com", "personal_data/email"),
        ("jane (at) example.com", "personal_data/email"),
        ("jane at example dot com", "personal_data/email"),
        ("+1 (415) 555-0132", "personal_data/phone"),
        ("0033 6 12 34 56 78", "personal_data/phone"),
        ("07700 900123", "personal_data/phone"),
        ("415 555 0132", "personal_data/phone"),
        ("IBAN FR14 2004 1010 0505 0001 3M02 606 thanks", "personal_data/iban"),
        ("iban DE89370400440532013000", "personal_data/iban"),
        ("write to jean.dupont@exemple.fr", "personal_data/email"),
        ("06 12 34 56 78", "personal_data/phone"),
        ("06.12.34.56.78", "personal_data/phone"),
        ("+33 6 12 34 56 78", "personal_data/phone"),
        ("+33 (0)6 12 34 56 78", "personal_data/phone"),
        ("(555) 123-4567", "personal_data/phone"),
        ("555-123-4567", "personal_data/phone"),
    ],
)
def test_personal_data_detectors(text: str, rule: str) -> None:
    matches = {match.rule: match for match in POLICY.check(text)}
    assert rule in matches
    assert matches[rule].severity == "critical"


@pytest.mark.parametrize(
    "text",
    [
        "card 4539 1488 0343 6468 please",  # Luhn fails
        "IBAN FR15 2004 1010 0505 0001 3M02 606",  # mod-97 fails
        "order 1234 5678 9012 3456",  # Luhn fails
        "on 12.03.2026 at 10:30, room 1204",
        "meet us at example.com/events",  # " at " with a real dot is prose
        "tracking 1Z 999 AA1 01 2345 6784",
        "ISBN 978-2-07-036822-8",
    ],
)
def test_invalid_checksums_and_numbers_are_not_personal_data(text: str) -> None:
    assert "personal_data" not in categories(text)


def test_excerpts_mask_personal_data() -> None:
    text = "Pay with 4539 1488 0343 6467 or call 06 12 34 56 78, you idiot"
    matches = POLICY.check(text)
    assert {m.category for m in matches} == {"personal_data", "profanity_insult"}
    for match in matches:
        assert "6467" not in match.excerpt and "56 78" not in match.excerpt
    insult = next(m for m in matches if m.category == "profanity_insult")
    assert "idiot" in insult.excerpt and "[phone]" in insult.excerpt
    assert insult.hint and insult.severity == "medium"
    assert text[insult.start : insult.end] == "idiot"


def test_allow_list(tmp_path: Path) -> None:
    assert POLICY.check("Press: press@chorus-demo.example") == []
    assert "personal_data" in categories("Press: press.office@chorus-demo.example")
    company = tmp_path / "company.toml"
    company.write_text(
        'include = ["chorus:default"]\n'
        "[company]\n"
        'code_names = ["Nightjar"]\n'
        'competitors = ["Globex"]\n'
        "[allow]\n"
        'terms = ["Nightjar Public Beta"]\n'
    )
    policy = Policy.load(company)
    assert "competitor_attack" in categories("Globex is a total scam", policy)
    assert "competitor_attack" in categories("Contoso is a scam", policy)  # the default's too
    assert {m.rule for m in policy.check("Nightjar ships soon")} == {
        "confidential_leak/code_name:Nightjar"
    }
    assert policy.check("The Nightjar public beta is open to all") == []


ALLOWED_COMPUTING = "confidential_leak/confidential"


def test_a_reviewed_phrase_joins_the_allow_list_and_nothing_else_changes(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(DEFAULT_POLICY.read_text())
    text = "Confidential computing is the theme of our next meetup."
    assert categories(text) == {"confidential_leak"}
    assert add_to_allow_list(path, ALLOWED_COMPUTING, "Confidential computing")
    before, after = DEFAULT_POLICY.read_text().splitlines(), path.read_text().splitlines()
    added = [line for line in after if line not in before]
    assert added == [f'  "Confidential computing",  # {ALLOWED_COMPUTING}: allowed after review']
    assert [line for line in after if line not in added] == before  # comments and layout kept
    assert lint(path) == []
    policy = Policy.load(path)
    assert policy.check(text) == []
    assert categories("This deck is confidential", policy) == {"confidential_leak"}
    # Allowed already, however written: nothing to do.
    assert not add_to_allow_list(path, ALLOWED_COMPUTING, "CONFIDENTIAL  computing")
    assert not add_to_allow_list(path, "confidential_leak/between us", "between us and")


@pytest.mark.parametrize(
    "company",
    [
        'include = ["chorus:default"]\n[company]\ncompetitors = ["Globex"]',  # no [allow]
        'include = ["chorus:default"]\n[allow] # ours\n\n[company]\ncompetitors = ["Globex"]\n',
        'include = ["chorus:default"]\n[allow]\nterms = ["a]b", \'x#\', "q\\"]"] # c\n'
        '[company]\ncompetitors = ["Globex"]\n',
        'include = ["chorus:default"]\n[allow]\nterms = [\n  "a", # first\n  "b"  # no comma\n]\n',
        'include = ["chorus:default"]\n[allow]\nterms = []\n',
    ],
)
def test_the_allow_list_is_written_into_any_layout(tmp_path: Path, company: str) -> None:
    path = write(tmp_path, company)
    before = tomllib.loads(company)
    assert add_to_allow_list(path, ALLOWED_COMPUTING, 'Confidential "computing"')
    after = tomllib.loads(path.read_text())
    terms = before.get("allow", {}).get("terms", [])
    assert after == {**before, "allow": {"terms": [*terms, 'Confidential "computing"']}}
    assert lint(path) == []
    assert Policy.load(path).check("Confidential computing is the theme") == []


def test_the_allow_list_refuses_what_it_cannot_write_safely(tmp_path: Path) -> None:
    path = write(tmp_path, 'include = ["chorus:default"]\n')
    with pytest.raises(ValueError, match="would change nothing"):
        add_to_allow_list(path, ALLOWED_COMPUTING, "our next meetup")  # not flagged by the rule
    with pytest.raises(ValueError, match="would change nothing"):
        add_to_allow_list(path, "profanity_insult/crap", "Confidential computing")
    with pytest.raises(ValueError, match="no `\\*`"):
        add_to_allow_list(path, ALLOWED_COMPUTING, "confidential comput*")
    inline = write(tmp_path, 'include = ["chorus:default"]\nallow = { terms = ["x1"] }\n')
    with pytest.raises(ValueError, match="by hand"):
        add_to_allow_list(inline, ALLOWED_COMPUTING, "Confidential computing")
    assert inline.read_text() == 'include = ["chorus:default"]\nallow = { terms = ["x1"] }\n'
    broken = write(tmp_path, '[categories.x]\nseverity = "severe"\nhint = "h"\nterms = ["x"]\n')
    with pytest.raises(PolicyError):
        add_to_allow_list(broken, "x/x", "the x files")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["policy.toml"]  # no file left behind


def test_thousands_of_terms() -> None:
    rng = random.Random(7)
    words = ["".join(rng.choices(string.ascii_lowercase, k=9)) for _ in range(5000)]
    policy = POLICY.with_terms("confidential_leak", words)
    assert policy.term_count >= 5000
    assert categories(f"we discussed {words[1234]} today", policy) == {"confidential_leak"}
    assert policy.check("Proud of our team at the summit") == []


# Characters each step of the folding treats specially: case, accents, l33t,
# separators, symbols, invisible ones, look-alikes, expansions, a lone surrogate.
FOLDING_ALPHABET = (
    "aAéÉeE1 3.-_*!'zZsS0oç\u0130ß@$l|·"
    "\u200b\u200d\u00ad\u0301\u3164\U000e0100ｉＤаоі𝐢ﬁœ²٣⁄\ud800\ue001"
)


@given(st.text(alphabet=st.sampled_from(FOLDING_ALPHABET), max_size=40))
def test_the_offset_map_agrees_with_the_fast_path(text: str) -> None:
    normalised, spans = normalise_with_spans(text)
    assert normalised == normalise(text)
    assert len(spans) == len(normalised)
    assert all(0 <= a <= b <= len(text) for a, b in spans)
    assert [a for a, _ in spans] == sorted(a for a, _ in spans)


@given(st.text(alphabet=st.sampled_from(FOLDING_ALPHABET), min_size=1, max_size=40))
def test_clean_offsets_point_into_the_text(text: str) -> None:
    cleaned = clean(text)
    spans = CleanOffsets(text).spans([(i, i + 1) for i in range(len(cleaned))])
    assert all(0 <= a < b <= len(text) for a, b in spans)
    assert [a for a, _ in spans] == sorted(a for a, _ in spans)


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("i\u200bd\u200ci\u200do\u2060t", " idiot "),  # zero-width (non-)joiners, word joiner
        ("idi\u00adot", " idiot "),  # soft hyphen
        ("\ufeffidiot\ufe0f", " idiot "),  # BOM, variation selector
        ("іdіоt", " idiot "),  # Cyrillic і and о
        ("ΙDΙΟΤ", " idiot "),  # Greek capitals
        ("ＩＤＩＯＴ", " idiot "),  # fullwidth
        ("𝐢𝐝𝐢𝐨𝐭", " idiot "),  # mathematical bold
        ("i̶d̶i̶o̶t̶", " idiot "),  # combining strokes
        ("Débile Crétin", " debile cretin "),  # accents fold to the base letter
        ("cœur façade naïve", " coeur facade naive "),
        ("İstanbul", " istanbul "),
        ("ﬁnal", " final "),
        ("sc@m bull$hit f*ck", " scam bulshit fck "),
        ("jane@example.com", " jane example com "),  # an address keeps its @
        ("modern 1984 I lol", " modern 1984 i lol "),  # ASCII is never a look-alike: m, 1, I stay
        ("٠٦ ١٢", " 06 12 "),  # other scripts' digits
    ],
)
def test_folding_undoes_evasions(text: str, folded: str) -> None:
    assert normalise(text) == folded


@pytest.mark.parametrize(
    "text",
    [
        "Great modern classroom in Scunthorpe",
        "Our analyst assessment is in Essex",
        "Le concours de la Comic Con, les pros and cons",
        "Une équipe très soudée à Nîmes, café et crêpes",
        "Cocktail à la façon du chef, très naïf mais délicieux",
    ],
)
def test_folding_makes_no_false_alarm(text: str) -> None:
    assert POLICY.check(text) == []


@pytest.mark.parametrize(
    ("text", "rule", "matched"),
    [
        ("you і\u200bdіоt!", "profanity_insult/idiot*", "і\u200bdіоt"),
        (
            "Rіvаlсоrр is g\u00adarbage.",
            "competitor_attack/disparaging_competitor",
            "Rіvаlсоrр is g\u00adarbage",
        ),
        (
            "mail：ｊａｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ ok",
            "personal_data/email",
            "ｊａｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ",
        ),
        ("call 06\u200b12 34 56 78 now", "personal_data/phone", "06\u200b12 34 56 78"),
        (
            "ﬁnal: our ＱＵＡＲＴＥＲ figures will beat Q3 estimates",
            "financial_disclosure/figures_forecast",
            None,
        ),
    ],
)
def test_offsets_point_at_the_original_text(text: str, rule: str, matched: str | None) -> None:
    match = next(m for m in POLICY.check(text) if m.rule == rule)
    if matched is not None:
        assert text[match.start : match.end] == matched
    assert 0 <= match.start < match.end <= len(text)


# --- hostile posts: every one is checked in linear time (bench/policy.py times them) -----


@pytest.mark.parametrize(("kind", "text"), sorted(adversarial().items()))
def test_hostile_posts_are_checked(kind: str, text: str) -> None:
    assert len(text) <= MAX_TEXT_LENGTH
    matches = POLICY.check(text)
    assert len({m.rule for m in matches}) == len(matches)  # each rule once, whatever the repeats
    assert all(len(m.excerpt) < 2 * 40 + 200 for m in matches)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Rivalcorp garbage idiot " * 1600, {"competitor_attack", "profanity_insult"}),
        ("x" * (MAX_TEXT_LENGTH - 1) + "@", set()),
        ("a@" + "b." * 19_998 + "1", set()),
        ("4" * MAX_TEXT_LENGTH, set()),
        ("1 " * 20_000, set()),
        ("FR14" * 10_000, set()),
        ("s.t.u.p.i.d " * 3333, {"profanity_insult"}),
        ("Contoso " * 2500 + "nul " * 5000, {"competitor_attack"}),
        ("Contoso " + "word " * 7998 + "nul", set()),
        ("4539 1488 0343 6467 " * 2000, {"personal_data"}),
        ("press@chorus-demo.example " * 1500, set()),
        ("\u200b" * MAX_TEXT_LENGTH, set()),
    ],
)
def test_hostile_posts_give_the_right_result(text: str, expected: set[str]) -> None:
    assert categories(text) == expected


@contextmanager
def counting_calls() -> Iterator[list[int]]:
    """Count Python and C function calls (a measure of work that no load can disturb)."""
    count = [0]

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        count[0] += 1

    sys.setprofile(profile)
    try:
        yield count
    finally:
        sys.setprofile(None)


@pytest.mark.parametrize(
    "unit",
    ["Rivalcorp garbage idiot ", "Contoso nul ", "revenue will beat Q3 ", "06 12 34 56 78 idiot "],
)
def test_doubling_a_post_does_not_quadruple_the_work(unit: str) -> None:
    work = []
    for repeats in (400, 800):
        text = unit * repeats
        POLICY.check(text)  # fold its characters once, as a worker would have
        with counting_calls() as count:
            POLICY.check(text)
        work.append(count[0])
    assert work[1] < 3 * work[0]


def test_flag_post_gives_stable_slipups() -> None:
    post = Post(
        event_id="e1",
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
        post_id="p1",
        employee_id="emp1",
        network="linkedin",
        account_id="a1",
        text="Internal only: Rivalcorp is garbage",
    )
    now = datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)
    first = flag_post(POLICY, post, "Sales", "emea", now)
    again = flag_post(POLICY, post, "Sales", "emea", now)
    assert [s.slipup_id for s in first] == [s.slipup_id for s in again]
    assert {s.category for s in first} == {"confidential_leak", "competitor_attack"}
    assert len({s.slipup_id for s in first}) == len(first)
    assert all(s.department == "Sales" and s.post_id == "p1" for s in first)


# --- broken policy files -----------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(text)
    return path


def test_syntax_errors_carry_their_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[categories.x]\nseverity = "low"\nhint = \n')
    [problem] = lint(path)
    assert problem.line == 3 and "TOML syntax" in problem.message
    with pytest.raises(PolicyError):
        Policy.load(path)


def test_semantic_problems_carry_line_and_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "version = 1\n"
        "[categories.x]\n"
        'severity = "huge"\n'
        'hint = "h"\n'
        'terms = ["ok", "!!!"]\n'
        'patterns = ["(unclosed"]\n'
        'detectors = ["dna"]\n'
        "colour = 1\n"
        "[categories.empty]\n"
        'severity = "low"\n'
        'hint = "x"\n'
        "[[categories.x.near]]\n"
        'name = "n"\n'
        'terms = ["$rivals"]\n'
        'near = ["bad"]\n'
        "[extra]\n",
    )
    found = {(p.key, p.line) for p in lint(path)}
    assert ("categories.x.severity", 3) in found
    assert ("categories.x.terms", 5) in found  # "!!!" has no letters
    assert ("categories.x.patterns[0]", 6) in found
    assert ("categories.x.detectors", 7) in found
    assert ("categories.x.colour", 8) in found
    assert ("categories.empty", 9) in found
    assert ("categories.x.near[0].terms", 14) in found
    assert ("extra", None) in found or any(key == "extra" for key, _ in found)


def test_missing_hint_and_include(tmp_path: Path) -> None:
    path = write(
        tmp_path, 'include = ["nowhere.toml"]\n[categories.x]\nseverity = "low"\nterms = ["a b"]\n'
    )
    messages = {(p.key, p.message) for p in lint(path)}
    assert ("categories.x.hint", "is required") in messages
    assert any("cannot read" in message for _, message in messages)


def test_the_default_policy_lints_clean() -> None:
    assert lint() == []


def test_cli_check_and_lint(tmp_path: Path) -> None:
    runner = CliRunner()
    fired = runner.invoke(cli, ["policy", "check", "Rivalcorp is garbage, call 06 12 34 56 78"])
    assert fired.exit_code == 1
    assert "competitor_attack/disparaging_competitor" in fired.output
    assert "[phone]" in fired.output and "CRITICAL" in fired.output
    clean = runner.invoke(cli, ["policy", "check", "Proud of the team"])
    assert clean.exit_code == 0 and "clean" in clean.output
    assert runner.invoke(cli, ["policy", "lint"]).exit_code == 0
    broken = write(tmp_path, '[categories.x]\nseverity = "urgent"\nhint = "h"\nterms = ["a"]\n')
    result = runner.invoke(cli, ["policy", "lint", str(broken)])
    assert result.exit_code == 1
    assert f"{broken}:2: categories.x.severity" in result.output
