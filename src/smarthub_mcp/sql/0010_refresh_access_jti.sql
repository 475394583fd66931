-- The access token issued with each refresh token, so revoking a family (reuse detected, logout)
-- revokes the access tokens it handed out too, not only the refresh tokens.
ALTER TABLE refresh_tokens ADD COLUMN access_jti TEXT;
ALTER TABLE refresh_tokens ADD COLUMN access_expires_at BIGINT;
