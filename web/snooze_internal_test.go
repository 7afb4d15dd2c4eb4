package web

import (
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // Europe/Berlin, for a clock change, wherever the test runs

	"github.com/switchboard/switchboard"
)

// TestSnoozeUntil: when each of the Snooze control's choices wakes a
// conversation, in the server's time zone, and what it refuses.
func TestSnoozeUntil(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time {
		t.Helper()
		v, err := time.ParseInLocation("2006-01-02 15:04:05", s, berlin)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	wednesday := at("2030-03-13 15:04:05").Add(500 * time.Millisecond)
	for _, tc := range []struct {
		name  string
		now   time.Time
		form  url.Values
		want  time.Time
		field string // the field an error names; "" when none is wanted
	}{
		{"AnHourInWholeSeconds", wednesday, url.Values{"snooze": {"hour"}}, at("2030-03-13 16:04:05"), ""},
		{"TomorrowMorning", wednesday, url.Values{"snooze": {"tomorrow"}}, at("2030-03-14 09:00:00"), ""},
		{"TomorrowIsNextMonth", at("2030-03-31 23:30:00"), url.Values{"snooze": {"tomorrow"}}, at("2030-04-01 09:00:00"), ""},
		// The clocks go forward on 31 March 2030: 09:00 is still 09:00.
		{"TomorrowAcrossAClockChange", at("2030-03-30 10:00:00"), url.Values{"snooze": {"tomorrow"}}, time.Date(2030, 3, 31, 7, 0, 0, 0, time.UTC), ""},
		{"NextWeekFromWednesday", wednesday, url.Values{"snooze": {"next_week"}}, at("2030-03-18 09:00:00"), ""},
		{"NextWeekFromSunday", at("2030-03-17 20:00:00"), url.Values{"snooze": {"next_week"}}, at("2030-03-18 09:00:00"), ""},
		{"NextWeekFromEarlyMonday", at("2030-03-18 07:00:00"), url.Values{"snooze": {"next_week"}}, at("2030-03-25 09:00:00"), ""},
		{"CustomTime", wednesday, url.Values{"snooze": {"custom"}, "snoozed_until": {"2030-03-14T10:15"}}, at("2030-03-14 10:15:00"), ""},
		{"CustomTimeWithSeconds", wednesday, url.Values{"snoozed_until": {"2030-03-14T10:15:30"}}, at("2030-03-14 10:15:30"), ""},
		{"CustomTimeThisMinute", wednesday, url.Values{"snoozed_until": {"2030-03-13T15:04"}}, time.Time{}, "snoozed_until"},
		{"CustomTimePast", wednesday, url.Values{"snoozed_until": {"2029-03-14T10:15"}}, time.Time{}, "snoozed_until"},
		{"NoTime", wednesday, url.Values{}, time.Time{}, "snoozed_until"},
		{"BlankTime", wednesday, url.Values{"snooze": {"custom"}, "snoozed_until": {" "}}, time.Time{}, "snoozed_until"},
		{"NotATime", wednesday, url.Values{"snoozed_until": {"tomorrow"}}, time.Time{}, "snoozed_until"},
		{"NoSuchMonth", wednesday, url.Values{"snoozed_until": {"2030-13-01T09:00"}}, time.Time{}, "snoozed_until"},
		{"YearTenThousand", wednesday, url.Values{"snoozed_until": {"10000-01-01T09:00"}}, time.Time{}, "snoozed_until"},
		{"WithATimeZone", wednesday, url.Values{"snoozed_until": {"2030-03-14T10:15Z"}}, time.Time{}, "snoozed_until"},
		{"UnknownChoice", wednesday, url.Values{"snooze": {"forever"}}, time.Time{}, "snooze"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := snoozeUntil(tc.form, tc.now, berlin)
			if tc.field == "" {
				if err != nil || !got.Equal(tc.want) {
					t.Errorf("got %v (%v), want %v", got, err, tc.want)
				}
				return
			}
			e, ok := errors.AsType[*switchboard.Error](err)
			if !ok || e.Code != switchboard.EINVALID || !slices.Equal(e.Fields, []string{tc.field}) {
				t.Errorf("got %v, %v; want an invalid %s", got, err, tc.field)
			}
		})
	}
}

func TestSnoozeNote(t *testing.T) {
	now := time.Date(2030, 3, 13, 15, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		until time.Time
		want  string
	}{
		{"Ahead", now.Add(time.Minute), ""},
		{"Due", now.Add(-time.Minute), "due: it reopens at the next check"},
		{"TooLate", now.Add(-4 * 24 * time.Hour), "its time passed long ago: it stays snoozed until someone reopens it"},
	} {
		if got := snoozeNote(tc.until, now); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestFormZone: the Snooze control's times are read in the zone the
// script names, the server's without one, and a name that is no time zone
// is refused, naming the field.
func TestFormZone(t *testing.T) {
	for _, tc := range []struct {
		name, zone, want string // want "" for a refusal
	}{
		{"None", "", time.Local.String()},
		{"Named", "America/Los_Angeles", "America/Los_Angeles"},
		{"UTC", "UTC", "UTC"},
		{"Unknown", "Mars/Olympus_Mons", ""},
		{"ThisServersOwnName", "Local", ""},
		{"APath", "../../etc/passwd", ""},
		{"Absolute", "/etc/localtime", ""},
		{"TooLong", strings.Repeat("Europe/", 100) + "Paris", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			loc, err := formZone(url.Values{"zone": {tc.zone}})
			if tc.want != "" {
				if err != nil || loc.String() != tc.want {
					t.Errorf("got %v (%v), want %s", loc, err, tc.want)
				}
				return
			}
			e, ok := errors.AsType[*switchboard.Error](err)
			if !ok || e.Code != switchboard.EINVALID || !slices.Equal(e.Fields, []string{"zone"}) || len(e.Error()) > 200 {
				t.Errorf("got %v, %v; want an invalid zone, briefly said", loc, err)
			}
		})
	}
}
