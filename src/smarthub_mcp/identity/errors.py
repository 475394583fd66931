"""Identity's own error codes: one class per broken rule, under the project's roots."""

from __future__ import annotations

from smarthub_mcp.errors import Conflict, Forbidden, InvalidRequest, Unauthenticated


class InvalidEmail(InvalidRequest):
    code = "invalid_email"


class WeakPassword(InvalidRequest):
    code = "weak_password"


class PasswordMismatch(InvalidRequest):
    """The reset form's two password fields differ."""

    code = "password_mismatch"


class EmailTaken(Conflict):
    code = "email_taken"


class UnknownRole(InvalidRequest):
    code = "unknown_role"


class InvalidCredentials(Unauthenticated):
    """Wrong email or password: one answer for both, so it never tells whether an email exists."""

    code = "invalid_credentials"

    def __init__(self) -> None:
        super().__init__("Wrong email or password")


class InvalidRefreshToken(Unauthenticated):
    code = "invalid_refresh_token"


class InvalidEmailToken(InvalidRequest):
    """A verification or reset link that is unknown, used, or expired."""

    code = "invalid_token"


class AccountDisabled(Forbidden):
    """A disabled account: its login, its keys and its tokens are refused with this code (403)."""

    code = "account_disabled"

    @classmethod
    def default_message(cls) -> str:
        return "This account is disabled; ask an operator to enable it"


class WrongPassword(InvalidRequest):
    """The current password given to change-password is wrong (400, not 401: the session is fine)."""

    code = "wrong_password"


class AmbiguousKey(InvalidRequest):
    """A key prefix that names more than one active key: nothing is revoked."""

    code = "ambiguous_key"
