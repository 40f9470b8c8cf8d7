-- A password an administrator set (a new account, a reset) or the generated one of the
-- first start must be replaced by the user at the next login (reading.User.MustChangePassword).
-- Accounts that exist already keep working as before.
ALTER TABLE users ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0;
