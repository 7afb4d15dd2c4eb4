-- E-mail addresses are stored with their ASCII letters in lower case
-- (switchboard.CanonicalEmail), so that one person is one user whatever
-- case their address is typed in. An address already stored in another
-- case is lowered, unless another user has it in some case (two users
-- then; each still signs in as stored). translate, not lower(), which
-- would also lower other letters, as CanonicalEmail and SQLite do not.
UPDATE users SET email = translate(email, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
WHERE email <> translate(email, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
  AND NOT EXISTS (SELECT 1 FROM users o
                  WHERE o.id <> users.id
                    AND translate(o.email, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
                      = translate(users.email, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'));
