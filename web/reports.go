package web

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/switchboard/switchboard"
	"github.com/switchboard/switchboard/store"
)

// The Reports page: the routing report of the API as two tables, per agent
// and per inbox, for the last seven days or the days asked for. Dates are
// whole days in UTC; until is the last day shown.

const dateLayout = "2006-01-02"

type reportData struct {
	Since, Until string // the first and last day shown, as dates
	From, To     string // the exact window, for the caption
	Tables       []reportTable
	AccountURL   string
}

// reportTable is one of the page's two tables.
type reportTable struct {
	ID, Caption, Head string
	Rows              []reportFigures
}

// reportFigures is a report row as the page shows it.
type reportFigures struct {
	ID                     int64
	Name                   string
	Manual, Auto, Reassign int
	P50, P90               string // "—" when there is no data
	P50Seconds, P90Seconds string // exact seconds, for data attributes; empty when none
	Open                   int
}

// dateParam reads a date (YYYY-MM-DD) query parameter; empty is the zero
// time. The day after is returned for until, so that its day is included.
func dateParam(r *http.Request, name string, dayAfter bool) (time.Time, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.ParseInLocation(dateLayout, v, time.UTC)
	if err != nil || t.Year() < 1970 || t.Year() > 9998 {
		return time.Time{}, switchboard.Invalid(name, "%s must be a date such as 2025-03-31", name)
	}
	if dayAfter {
		t = t.AddDate(0, 0, 1)
	}
	return t, nil
}

func (c *Console) reports(w http.ResponseWriter, r *http.Request, s session, caller switchboard.Caller) error {
	since, err := dateParam(r, "since", false)
	if err != nil {
		return err
	}
	until, err := dateParam(r, "until", true)
	if err != nil {
		return err
	}
	if !since.IsZero() && !until.IsZero() && !since.Before(until) {
		return switchboard.Invalid("since", "The first day must not be after the last.")
	}
	report, err := c.store.RoutingReport(r.Context(), caller, since, until)
	if err != nil {
		return err
	}
	d := reportData{
		Since: report.Since.UTC().Format(dateLayout),
		Until: report.Until.Add(-time.Millisecond).UTC().Format(dateLayout),
		From:  report.Since.UTC().Format("2 Jan 2006 15:04 UTC"),
		To:    report.Until.UTC().Format("2 Jan 2006 15:04 UTC"),
		Tables: []reportTable{
			{ID: "report-agents", Caption: "Agents", Head: "Agent", Rows: figures(report.Agents)},
			{ID: "report-inboxes", Caption: "Inboxes", Head: "Inbox", Rows: figures(report.Inboxes)},
		},
		AccountURL: fmt.Sprintf("/app/accounts/%d", caller.AccountID),
	}
	p := pageFor(s, caller, "Reports", "reports")
	p.Data = d
	return c.render(w, http.StatusOK, "reports.html", p)
}

func figures(rows []store.ReportRow) []reportFigures {
	out := make([]reportFigures, 0, len(rows))
	for _, r := range rows {
		f := reportFigures{ID: r.ID, Name: r.Name, Manual: r.Assigned.Manual, Auto: r.Assigned.Auto,
			Reassign: r.Assigned.Reassign, Open: r.Open}
		f.P50, f.P50Seconds = showDuration(r.FirstAssignment.P50)
		f.P90, f.P90Seconds = showDuration(r.FirstAssignment.P90)
		out = append(out, f)
	}
	return out
}

// showDuration returns a duration for people ("0.3s", "1m 5s", "2h 10m";
// "—" for none) and its exact seconds ("" for none).
func showDuration(d *time.Duration) (string, string) {
	if d == nil {
		return "—", ""
	}
	exact := strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
	switch v := *d; {
	case v < time.Minute:
		return strconv.FormatFloat(v.Round(100*time.Millisecond).Seconds(), 'f', -1, 64) + "s", exact
	case v < time.Hour:
		v = v.Round(time.Second)
		return fmt.Sprintf("%dm %ds", int(v.Minutes()), int(v.Seconds())%60), exact
	default:
		v = v.Round(time.Minute)
		return fmt.Sprintf("%dh %dm", int(v.Hours()), int(v.Minutes())%60), exact
	}
}
