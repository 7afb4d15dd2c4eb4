package store

// SetBetweenSteps makes db run f before each step of a reassignment after
// the first, for tests of what may happen between them; an error from f
// stops the reassignment there, as a process that stops would.
func SetBetweenSteps(db *DB, f func(accountID, userID int64) error) { db.betweenSteps = f }
