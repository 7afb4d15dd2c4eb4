package web

import (
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
	// The agent's time zone, named by the browser, must load on any host,
	// with or without the system's time zone files.
	_ "time/tzdata"

	"github.com/switchboard/switchboard"
	"github.com/switchboard/switchboard/store"
)

// The choices of the conversation page's Snooze control (the form field
// "snooze"); none, or "custom", means the date and time in "snoozed_until".
const (
	snoozeHour     = "hour"      // an hour from now
	snoozeTomorrow = "tomorrow"  // tomorrow at snoozeMorning
	snoozeNextWeek = "next_week" // next Monday at snoozeMorning
	snoozeCustom   = "custom"
)

// snoozeMorning is the hour at which "until tomorrow" and "until next week"
// wake a conversation: the start of a support agent's day, as in Chatwoot.
const snoozeMorning = 9

// dateTimeLayouts are the forms of a datetime-local input's value: the
// browser sends seconds only when they are not zero.
var dateTimeLayouts = []string{"2006-01-02T15:04", "2006-01-02T15:04:05"}

// formZone returns the time zone that the Snooze control's times of day and
// typed date and time are read in: the agent's, which the console's script
// puts in the form's "zone" (the browser's IANA name, such as
// Europe/Paris), or the server's local time zone when the form has none (no
// script), the one the page then shows every time in. A name that is not a
// time zone is refused.
func formZone(form url.Values) (*time.Location, error) {
	name := form.Get("zone")
	if name == "" {
		return time.Local, nil
	}
	invalid := switchboard.Invalid("zone", "zone must be a time zone such as Europe/Paris, not %q.", truncate(name, maxZoneName))
	if len(name) > maxZoneName || name == "Local" {
		// LoadLocation would look a long name up all the same, and takes
		// "Local" for the server's zone; the browser sends neither.
		return nil, invalid
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, invalid
	}
	return loc, nil
}

// maxZoneName bounds a time zone's name; the longest IANA name is 32 bytes.
const maxZoneName = 64

// truncate shortens s to at most n bytes, at a rune's start, for a message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// snoozeUntil returns when a conversation snoozed from the console wakes:
// the choice in form's "snooze", or else the date and time in
// "snoozed_until". Times of day, and the date and time typed, are in loc
// (formZone), since a datetime-local input carries no time zone.
//
// A time that is not after now is refused. The store takes one (so does the
// API, as Chatwoot's does), and the conversation would reopen at the next
// sweep, or never by itself if it is older than store.WakeWindow: from the
// console that is a typing mistake, not a wish.
func snoozeUntil(form url.Values, now time.Time, loc *time.Location) (time.Time, error) {
	local := now.In(loc)
	morning := func(days int) time.Time {
		// time.Date carries a day past the month's end into the next month,
		// and an hour that a clock change skips to the one after it.
		return time.Date(local.Year(), local.Month(), local.Day()+days, snoozeMorning, 0, 0, 0, loc)
	}
	switch form.Get("snooze") {
	case snoozeHour:
		// Whole seconds, as the API reports snoozed_until.
		return now.Add(time.Hour).Truncate(time.Second), nil
	case snoozeTomorrow:
		return morning(1), nil
	case snoozeNextWeek:
		// The Monday after today: tomorrow on a Sunday, a week on on a Monday.
		days := (8 - int(local.Weekday())) % 7
		if days == 0 {
			days = 7
		}
		return morning(days), nil
	case "", snoozeCustom:
	default:
		return time.Time{}, switchboard.Invalid("snooze", "snooze must be %s, %s, %s or %s", snoozeHour, snoozeTomorrow, snoozeNextWeek, snoozeCustom)
	}
	v := strings.TrimSpace(form.Get("snoozed_until"))
	if v == "" {
		return time.Time{}, switchboard.Invalid("snoozed_until", "Choose the date and time to snooze the conversation until.")
	}
	var until time.Time
	var err error
	for _, layout := range dateTimeLayouts {
		if until, err = time.ParseInLocation(layout, v, loc); err == nil {
			break
		}
	}
	if err != nil {
		return time.Time{}, switchboard.Invalid("snoozed_until", "snoozed_until must be a date and time such as 2030-03-14T09:30.")
	}
	if !until.After(now) {
		return time.Time{}, switchboard.Invalid("snoozed_until", "Snooze until a time in the future: %s has passed.", until.Format(whenLayout))
	}
	return until, nil
}

// whenLayout shows a time that may be days or months away: with its
// weekday, year and time zone.
const whenLayout = "Mon 2 Jan 2006, 15:04 MST"

// snoozeNote says, beside a snoozed conversation's time to wake, what
// happens when that time has passed but the conversation is still snoozed
// ("" while the time is ahead): the store reopens it at its next sweep, but
// only within store.WakeWindow of its time.
func snoozeNote(until, now time.Time) string {
	switch {
	case until.After(now):
		return ""
	case now.Sub(until) <= store.WakeWindow:
		return "due: it reopens at the next check"
	}
	return "its time passed long ago: it stays snoozed until someone reopens it"
}
