package store

// SetBetweenSteps makes db run f before each step of a reassignment after
// the first, for tests of what may happen between them; an error from f
// stops the reassignment there, as a process that stops would.
func SetBetweenSteps(db *DB, f func(accountID, userID int64) error) { db.betweenSteps = f }

// SetSweeping makes db run f in the presence sweep's transaction once it
// has found a user away, before it sets them offline.
func SetSweeping(db *DB, f func(accountID, userID int64)) { db.sweeping = f }
