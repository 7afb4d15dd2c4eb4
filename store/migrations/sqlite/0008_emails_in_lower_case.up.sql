-- E-mail addresses are stored with their ASCII letters in lower case
-- (switchboard.CanonicalEmail), so that one person is one user whatever
-- case their address is typed in. An address already stored in another
-- case is lowered, unless another user has it in some case (two users
-- then; each still signs in as stored). SQLite's lower() changes ASCII
-- letters only, as CanonicalEmail does.
UPDATE users SET email = lower(email)
WHERE email <> lower(email)
  AND NOT EXISTS (SELECT 1 FROM users o WHERE o.id <> users.id AND lower(o.email) = lower(users.email));
