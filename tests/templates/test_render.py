"""The renderer: placeholders only, values inserted literally, everything else refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smarthub_mcp.templates.render import Placeholder, parse, placeholders, render
from smarthub_mcp.templates.variables import bind, check_body, declare, render_with


@pytest.mark.parametrize(
    "body",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ name.upper() }}",
        "{{ name|safe }}",
        "{{ config }}x{% if true %}y{% endif %}",
        "{% include 'secrets.txt' %}",
        "{# a comment #}",
        "{{ {{ name }} }}",
        "{{{ name }}}",
        "{{ name",
        "{{ 1 + 1 }}",
        "{{ na me }}",
        "{{ __import__('os').system('id') }}",
        "{{\nname }}",
    ],
)
def test_refuses_anything_but_placeholders(body):
    with pytest.raises(Exception) as info:
        parse(body)
    assert info.value.code == "template_syntax_error"


def test_renders_placeholders_with_or_without_spaces():
    assert render("Hi {{name}}, {{ name }}!", {"name": "Ada"}) == "Hi Ada, Ada!"
    assert placeholders("{{ b }} {{a}} {{ b }}") == ["b", "a"]


def test_values_are_inserted_literally_and_never_parsed_again():
    evil = "{{ ''.__class__ }} {% include 'x' %} {{ name }} \\{{"
    assert render("<{{ v }}>", {"v": evil}) == f"<{evil}>"


def test_literal_text_survives():
    body = 'JSON: {"a": {"b": [1]}} }} and \\{{ not a var }} and \\{% raw %} and a \\ backslash'
    assert parse(body) == ('JSON: {"a": {"b": [1]}} }} and {{ not a var }} and {% raw %} and a \\ backslash',)


def test_missing_value_for_a_placeholder_is_a_clear_error():
    with pytest.raises(Exception) as info:
        render("{{ a }}", {})
    assert info.value.code == "template_missing_variable"


def test_body_may_use_only_declared_variables():
    with pytest.raises(Exception) as info:
        check_body("{{ a }} {{ b }}", declare([{"name": "a"}]))
    assert info.value.code == "template_undeclared_variable"
    assert info.value.details["variables"] == ["b"]


@pytest.mark.parametrize(
    ("values", "code"),
    [
        ({}, "template_missing_variable"),
        ({"text": "x", "extra": "y"}, "template_undeclared_variable"),
        ({"text": "x" * 11}, "template_variable_too_long"),
        ({"text": 5}, None),
        ({"text": ["a"]}, "template_variable_type"),
        ({"text": "a", "n": "three"}, "template_variable_type"),
        ({"text": "a", "n": True}, "template_variable_type"),
        ({"text": "a", "n": float("nan")}, "template_variable_type"),
        ({"text": "a", "n": "9" * 5000}, "template_variable_type"),  # past int()'s 4300-digit limit
        ({"text": "a", "n": 10**5000}, "template_variable_type"),  # and str()'s
        ({"text": 10**5000}, "template_variable_type"),
        ({"text": "a", "flag": "maybe"}, "template_variable_type"),
        ({"text": "a", "tone": "rude"}, "template_variable_type"),
    ],
)
def test_binding_errors_have_stable_codes(values, code):
    variables = declare(
        [
            {"name": "text", "max_length": 10},
            {"name": "n", "type": "number", "required": False},
            {"name": "flag", "type": "boolean", "default": False},
            {"name": "tone", "type": "enum", "choices": ["kind", "terse"], "default": "kind"},
        ]
    )
    if code is None:
        bind(variables, values)
        return
    with pytest.raises(Exception) as info:
        bind(variables, values)
    assert info.value.code == code


def test_binding_converts_types_and_applies_defaults():
    variables = declare(
        [
            {"name": "n", "type": "number"},
            {"name": "flag", "type": "boolean", "default": True},
            {"name": "opt", "required": False},
        ]
    )
    assert bind(variables, {"n": "3"}) == {"n": "3", "flag": "true", "opt": ""}
    assert bind(variables, {"n": 2.5, "flag": "no"}) == {"n": "2.5", "flag": "false", "opt": ""}
    assert render_with("{{n}}/{{flag}}/{{opt}}", variables, {"n": 4.0}) == "4/true/"


@pytest.mark.parametrize(
    "decl",
    [
        [{"name": "1bad"}],
        [{"name": "a.b"}],
        [{"name": "e", "type": "enum"}],
        [{"name": "s", "choices": ["x"]}],
        [{"name": "n", "type": "number", "default": "abc"}],
        [{"name": "s", "max_length": 3, "default": "toolong"}],
        [{"name": "a"}, {"name": "a"}],
        [{"name": "a", "type": "date"}],
        [{"name": "a", "eval": "x"}],
        "not a list",
    ],
)
def test_bad_declarations_are_refused(decl):
    with pytest.raises(Exception) as info:
        declare(decl)
    assert info.value.code == "invalid_template"


@given(st.text(max_size=200))
def test_any_value_round_trips_unchanged(value):
    assert render("[{{ v }}]", {"v": value}) == f"[{value}]"


@given(st.text(alphabet="{}%#\\ ab", max_size=40))
def test_parse_never_crashes_and_rejoins_text(body):
    try:
        segments = parse(body)
    except Exception as exc:
        assert exc.code == "template_syntax_error"
        return
    for seg in segments:
        assert isinstance(seg, str | Placeholder)
