"""Errors of the template package: one class, one stable code, per broken rule."""

from __future__ import annotations

from smarthub_mcp.errors import Conflict, Forbidden, InvalidRequest, NotFound


class TemplateNotFound(NotFound):
    """Also what others' private templates look like: they are invisible, not forbidden."""

    code = "template_not_found"


class TemplateVersionNotFound(NotFound):
    code = "template_version_not_found"


class TemplateSlugTaken(Conflict):
    code = "template_slug_taken"


class TemplateNotEditable(Forbidden):
    """A system template, or a public one of someone else: visible, but not the caller's to change.

    A 404 for others' private templates comes first (`TemplateNotFound`); this one is for
    templates the caller can see but does not own."""

    code = "template_not_editable"


class InvalidTemplate(InvalidRequest):
    """The template itself (its declarations or metadata) is malformed."""

    code = "invalid_template"


class TemplateSyntaxError(InvalidRequest):
    """The body uses syntax the renderer does not have (`{% %}`, expressions, nested braces...)."""

    code = "template_syntax_error"


class UndeclaredVariable(InvalidRequest):
    """The body names a variable that is not declared, or a run passes one that is not."""

    code = "template_undeclared_variable"


class MissingVariable(InvalidRequest):
    code = "template_missing_variable"


class VariableTypeError(InvalidRequest):
    code = "template_variable_type"


class VariableTooLong(InvalidRequest):
    code = "template_variable_too_long"


class RenderedTooLarge(InvalidRequest):
    code = "template_too_large"
