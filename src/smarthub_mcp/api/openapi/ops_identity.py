"""Documented operations: sign-in and sessions, API keys, and the admin's users and roles."""

from __future__ import annotations

from smarthub_mcp.api import admin, auth
from smarthub_mcp.api.openapi import shapes as s
from smarthub_mcp.api.openapi.spec import CURSOR, Operation, limit, path, query

AUTH, KEYS, ADMIN = "auth", "keys", "admin"

OPERATIONS = [
    Operation("POST", "/auth/register", "Create an account", AUTH, auth.RegisterBody, s.Registered, 201,
              auth="public", errors=(409, 429),
              description="Answers a session (access and refresh token); the account gets the sign-up credits "
                          "and a verification email. Sign-ups are capped per client IP."),
    Operation("POST", "/auth/login", "Sign in with email and password", AUTH, auth.LoginBody, s.TokenPair,
              auth="public", errors=(401, 403, 429),
              description="Failed logins are throttled per email and per client IP."),
    Operation("POST", "/auth/refresh", "Trade a refresh token for a new session pair", AUTH, auth.RefreshBody,
              s.TokenPair, auth="public", errors=(401, 403),
              description="Each refresh token works once; presenting a used one ends that whole session."),
    Operation("POST", "/auth/logout", "End a session", AUTH, auth.LogoutBody, s.Status, auth="unscoped",
              body_required=False,
              description="Revokes the calling access token and, when given, the refresh token's session."),
    Operation("GET", "/auth/me", "The signed-in user, with permissions", AUTH, response=s.Me),
    Operation("POST", "/auth/verify-email", "Verify an email address with the emailed token", AUTH,
              auth.TokenBody, s.Verified, auth="public"),
    Operation("POST", "/auth/resend-verification", "Send the verification email again", AUTH,
              response=s.ResendStatus, auth="unscoped", errors=(429,)),
    Operation("POST", "/auth/forgot-password", "Email a password-reset link", AUTH, auth.EmailBody, s.Status, 202,
              auth="public",
              description="The same answer whether or not the address has an account."),
    Operation("POST", "/auth/reset-password", "Set a new password with the emailed token", AUTH, auth.ResetBody,
              s.PasswordReset, auth="public",
              description="Account recovery: every API key of the account is revoked."),
    Operation("POST", "/auth/change-password", "Change the password", AUTH, auth.ChangePasswordBody, s.TokenPair,
              auth="unscoped", description="Other sessions end; API keys keep working. Answers a new session."),
    Operation("GET", "/keys", "Your API keys", KEYS, response=s.ApiKeyList, auth="unscoped"),
    Operation("POST", "/keys", "Create an API key", KEYS, admin.CreateKeyBody, s.ApiKeyCreated, 201,
              auth="unscoped", body_required=False, errors=(409,),
              description="The key is shown in this answer only. `scopes` narrow what it may do."),
    Operation("DELETE", "/keys/{key_id}", "Revoke an API key", KEYS, response=s.ApiKeyRevoked,
              params=(path("key_id"),), auth="unscoped", errors=(404,),
              description="Your own key; an admin (`users:manage`) may revoke anyone's."),
    Operation("GET", "/admin/users", "Find users", ADMIN, response=s.UserPage, permission="users:manage",
              params=(query("q", "Part of an email address.", type="string", maxLength=320),
                      query("role", "Only users of this role.", type="string", maxLength=64),
                      CURSOR, limit(50, admin.MAX_PAGE))),
    Operation("PATCH", "/admin/users/{user_id}", "Change a user's role or status", ADMIN, admin.PatchUserBody,
              s.UserUpdated, params=(path("user_id"),), permission="users:manage", errors=(404, 409),
              description="Disabling a user ends their sessions. Admins cannot demote or disable themselves."),
    Operation("GET", "/admin/roles", "The roles and their permissions", ADMIN, response=s.RoleList,
              permission="roles:manage"),
    Operation("PUT", "/admin/roles/{role}", "Set a role's own permissions", ADMIN, admin.RolePermissionsBody,
              s.RoleUpdated, params=(path("role", maxLength=64),), permission="roles:manage", errors=(409,),
              description="Every replica sees the change within 5 seconds."),
]
