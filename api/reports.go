package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/switchboard/switchboard"
	"github.com/switchboard/switchboard/store"
)

// ReportStore is what the routing report needs of storage; the Store
// interface embeds it.
type ReportStore interface {
	RoutingReport(ctx context.Context, c switchboard.Caller, since, until time.Time) (store.Report, error)
}

// maxUnixSeconds is the last second of the year 9999: later instants do not
// fit the store's milliseconds.
const maxUnixSeconds = 253402300799

// unixParam reads the query parameter name as Unix seconds; absent or empty
// is the zero time, which the store reads as its default.
func unixParam(r *http.Request, name string) (time.Time, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > maxUnixSeconds {
		return time.Time{}, switchboard.Invalid(name, "%s must be a time in Unix seconds", name)
	}
	return time.Unix(n, 0).UTC(), nil
}

type reasonCountsJSON struct {
	Manual   int `json:"manual"`
	Auto     int `json:"auto"`
	Reassign int `json:"reassign"`
}

type percentilesJSON struct {
	P50 *float64 `json:"p50"`
	P90 *float64 `json:"p90"`
}

type reportRowJSON struct {
	ID                     int64            `json:"id"`
	Name                   string           `json:"name"`
	Assigned               reasonCountsJSON `json:"assigned"`
	FirstAssignmentSeconds percentilesJSON  `json:"first_assignment_seconds"`
	Open                   int              `json:"open"`
}

func seconds(d *time.Duration) *float64 {
	if d == nil {
		return nil
	}
	s := d.Seconds()
	return &s
}

func reportRows(rows []store.ReportRow) []reportRowJSON {
	out := make([]reportRowJSON, 0, len(rows))
	for _, r := range rows {
		out = append(out, reportRowJSON{
			ID: r.ID, Name: r.Name,
			Assigned:               reasonCountsJSON{Manual: r.Assigned.Manual, Auto: r.Assigned.Auto, Reassign: r.Assigned.Reassign},
			FirstAssignmentSeconds: percentilesJSON{P50: seconds(r.FirstAssignment.P50), P90: seconds(r.FirstAssignment.P90)},
			Open:                   r.Open,
		})
	}
	return out
}

// routingReport answers GET .../reports/routing?since=&until= (Unix seconds;
// until defaults to now, since to seven days before until).
func (s *Server) routingReport(w http.ResponseWriter, r *http.Request, c switchboard.Caller) error {
	since, err := unixParam(r, "since")
	if err != nil {
		return err
	}
	until, err := unixParam(r, "until")
	if err != nil {
		return err
	}
	if !since.IsZero() && !until.IsZero() && !since.Before(until) {
		return switchboard.Invalid("since", "since must be before until")
	}
	report, err := s.store.RoutingReport(r.Context(), c, since, until)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{
		"since":   report.Since.Unix(),
		"until":   report.Until.Unix(),
		"agents":  reportRows(report.Agents),
		"inboxes": reportRows(report.Inboxes),
	})
}
