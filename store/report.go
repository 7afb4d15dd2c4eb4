package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/switchboard/switchboard"
)

// ReportWindow is how far back a routing report looks when it is not told
// where to start.
const ReportWindow = 7 * 24 * time.Hour

// Report is the routing report of an account over [Since, Until): one row per
// agent and one per inbox that the caller may see.
type Report struct {
	Since, Until time.Time
	Agents       []ReportRow
	Inboxes      []ReportRow
}

// ReportRow is the routing figures of one agent or one inbox.
type ReportRow struct {
	ID   int64
	Name string
	// Assigned counts the assignment events of the window that gave a
	// conversation to the agent (to anyone, for an inbox), by reason.
	Assigned ReasonCounts
	// FirstAssignment is the time from creation to the first assignment event
	// of the conversations created in the window that have had one; an
	// agent's are those whose first assignment went to them.
	FirstAssignment Percentiles
	// Open is the open conversations held now: by the agent, or by anyone in
	// the inbox.
	Open int
}

// ReasonCounts counts assignment events by reason.
type ReasonCounts struct {
	Manual, Auto, Reassign int
}

// Total is the count over every reason.
func (r ReasonCounts) Total() int { return r.Manual + r.Auto + r.Reassign }

func (r *ReasonCounts) add(reason switchboard.Reason, n int) {
	switch reason {
	case switchboard.ReasonManual:
		r.Manual += n
	case switchboard.ReasonAuto:
		r.Auto += n
	case switchboard.ReasonReassign:
		r.Reassign += n
	}
}

// Percentiles are nearest-rank percentiles of durations; nil when there were
// none.
type Percentiles struct {
	P50, P90 *time.Duration
	// Samples is how many durations there were.
	Samples int
}

// percentiles returns the nearest-rank 50th and 90th percentiles of ds,
// which it sorts.
func percentiles(ds []time.Duration) Percentiles {
	if len(ds) == 0 {
		return Percentiles{}
	}
	slices.Sort(ds)
	p50, p90 := nearestRank(ds, 50), nearestRank(ds, 90)
	return Percentiles{P50: &p50, P90: &p90, Samples: len(ds)}
}

// nearestRank returns the p-th percentile of sorted (not empty): the value
// at rank ceil(p/100 × n).
func nearestRank(sorted []time.Duration, p int) time.Duration {
	rank := (p*len(sorted) + 99) / 100
	rank = max(rank, 1)
	return sorted[rank-1]
}

// RoutingReport returns the routing figures of the caller's account over
// [since, until): administrators get every inbox and user of the account;
// agents get their inboxes, and the users who are members of them or have
// figures there, counted within those inboxes only. A zero until is now; a
// zero since is ReportWindow before until. Users who have left the account
// have no row, though their events count in their inboxes' rows.
func (db *DB) RoutingReport(ctx context.Context, c switchboard.Caller, since, until time.Time) (Report, error) {
	if until.IsZero() {
		until = db.Now()
	}
	if since.IsZero() {
		since = until.Add(-ReportWindow)
	}
	if !since.Before(until) {
		return Report{}, switchboard.Invalid("since", "since must be before until")
	}
	report := Report{Since: since, Until: until, Agents: []ReportRow{}, Inboxes: []ReportRow{}}
	tx, err := db.readTx(ctx)
	if err != nil {
		return report, fmt.Errorf("routing report: %w", err)
	}
	defer tx.Rollback()
	admin := c.IsAdministrator()
	visible := []any{c.AccountID, admin, c.UserID}
	window := []any{millis(since), millis(until)}

	inboxes := map[int64]*ReportRow{}
	var inboxOrder []int64
	err = db.reportRows(ctx, tx, db.q.ReportInboxes, visible, func(scan func(...any) error) error {
		var r ReportRow
		if err := scan(&r.ID, &r.Name); err != nil {
			return err
		}
		inboxes[r.ID] = &r
		inboxOrder = append(inboxOrder, r.ID)
		return nil
	})
	if err != nil {
		return report, err
	}

	agents := map[int64]*ReportRow{}
	member := map[int64]bool{}
	var agentOrder []int64
	err = db.reportRows(ctx, tx, db.q.ReportAgents, []any{admin, c.UserID, c.AccountID}, func(scan func(...any) error) error {
		var r ReportRow
		var isMember bool
		if err := scan(&r.ID, &r.Name, &isMember); err != nil {
			return err
		}
		agents[r.ID], member[r.ID] = &r, isMember
		agentOrder = append(agentOrder, r.ID)
		return nil
	})
	if err != nil {
		return report, err
	}

	err = db.reportRows(ctx, tx, db.q.ReportAssigned, append(window, visible...), func(scan func(...any) error) error {
		var inbox, to int64
		var reason switchboard.Reason
		var n int
		if err := scan(&inbox, &to, &reason, &n); err != nil {
			return err
		}
		if in := inboxes[inbox]; in != nil {
			in.Assigned.add(reason, n)
		}
		if a := agents[to]; a != nil {
			a.Assigned.add(reason, n)
		}
		return nil
	})
	if err != nil {
		return report, err
	}

	inboxWaits, agentWaits := map[int64][]time.Duration{}, map[int64][]time.Duration{}
	err = db.reportRows(ctx, tx, db.q.ReportFirstAssignments, append(window, visible...), func(scan func(...any) error) error {
		var inbox, ms int64
		var to sql.NullInt64
		if err := scan(&inbox, &to, &ms); err != nil {
			return err
		}
		d := time.Duration(ms) * time.Millisecond
		inboxWaits[inbox] = append(inboxWaits[inbox], d)
		if to.Valid {
			agentWaits[to.Int64] = append(agentWaits[to.Int64], d)
		}
		return nil
	})
	if err != nil {
		return report, err
	}

	err = db.reportRows(ctx, tx, db.q.ReportOpen, visible, func(scan func(...any) error) error {
		var inbox, assignee int64
		var n int
		if err := scan(&inbox, &assignee, &n); err != nil {
			return err
		}
		if in := inboxes[inbox]; in != nil {
			in.Open += n
		}
		if a := agents[assignee]; a != nil {
			a.Open += n
		}
		return nil
	})
	if err != nil {
		return report, err
	}

	for _, id := range inboxOrder {
		r := inboxes[id]
		r.FirstAssignment = percentiles(inboxWaits[id])
		report.Inboxes = append(report.Inboxes, *r)
	}
	for _, id := range agentOrder {
		r := agents[id]
		r.FirstAssignment = percentiles(agentWaits[id])
		if !admin && !member[id] && r.Assigned.Total() == 0 && r.FirstAssignment.Samples == 0 && r.Open == 0 {
			continue // an agent sees the members of their inboxes, and whoever has figures there
		}
		report.Agents = append(report.Agents, *r)
	}
	return report, nil
}

// reportRows runs one of the report's queries in tx and calls row for each
// row it returns.
func (db *DB) reportRows(ctx context.Context, tx querier, query string, args []any, row func(scan func(...any) error) error) error {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("routing report: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows.Scan); err != nil {
			return fmt.Errorf("routing report: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("routing report: %w", err)
	}
	return nil
}
