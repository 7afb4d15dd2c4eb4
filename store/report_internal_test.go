package store

import (
	"strings"
	"testing"
	"time"
)

// TestQueriesLoad checks that the query files have exactly the blocks the
// store runs (the report's included), and that they rebind for PostgreSQL.
func TestQueriesLoad(t *testing.T) {
	q, err := loadQueries(queryFile+"\n"+reportFile, postgresQueryFile, true)
	if err != nil {
		t.Fatal(err)
	}
	if q.ReportOpen == "" || strings.Contains(q.ReportOpen, "?") {
		t.Errorf("ReportOpen not loaded and rebound: %q", q.ReportOpen)
	}
	if _, err := loadQueries(queryFile+"\n"+reportFile+"\n-- name: ReportExtra\nSELECT 1;\n", "", false); err == nil {
		t.Error("an unused block was accepted")
	}
	if _, err := loadQueries(queryFile, "", false); err == nil {
		t.Error("missing blocks were accepted")
	}
	if _, err := loadQueries(queryFile+"\n"+reportFile, "-- name: NoSuchQuery\nSELECT 1;\n", true); err == nil {
		t.Error("an override of an unknown query was accepted")
	}
	// A query tagged dialect:"postgres" is PostgreSQL's alone: empty on
	// SQLite, required of postgres.sql, refused in queries.sql.
	sqlite, err := loadQueries(queryFile+"\n"+reportFile, "", false)
	if err != nil || sqlite.InsertCreated != "" {
		t.Errorf("SQLite's queries: InsertCreated %q, %v; want empty", sqlite.InsertCreated, err)
	}
	if q.InsertCreated == "" {
		t.Error("PostgreSQL's InsertCreated is empty")
	}
	if _, err := loadQueries(queryFile+"\n"+reportFile, "", true); err == nil {
		t.Error("PostgreSQL's queries loaded without their InsertCreated")
	}
	if _, err := loadQueries(queryFile+"\n"+reportFile+"\n-- name: InsertCreated\nSELECT 1;\n", "", false); err == nil {
		t.Error("a PostgreSQL-only query was accepted in queries.sql")
	}
}

// TestReportPercentilesNearestRank checks the nearest-rank definition:
// the value at rank ceil(p/100 × n) of the sorted durations.
func TestReportPercentilesNearestRank(t *testing.T) {
	s := func(secs ...int) []time.Duration {
		var ds []time.Duration
		for _, n := range secs {
			ds = append(ds, time.Duration(n)*time.Second)
		}
		return ds
	}
	for _, tc := range []struct {
		in       []time.Duration
		p50, p90 time.Duration
	}{
		{s(7), 7 * time.Second, 7 * time.Second},
		{s(10, 20), 10 * time.Second, 20 * time.Second},
		{s(40, 10, 30, 20), 20 * time.Second, 40 * time.Second},
		{s(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 5 * time.Second, 9 * time.Second},
		{s(11, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 6 * time.Second, 10 * time.Second},
	} {
		got := percentiles(tc.in)
		if got.P50 == nil || got.P90 == nil || *got.P50 != tc.p50 || *got.P90 != tc.p90 || got.Samples != len(tc.in) {
			t.Errorf("percentiles(%v) = %v, %v (%d); want %v, %v", tc.in, got.P50, got.P90, got.Samples, tc.p50, tc.p90)
		}
	}
	if got := percentiles(nil); got.P50 != nil || got.P90 != nil || got.Samples != 0 {
		t.Errorf("percentiles of nothing = %+v, want nil percentiles", got)
	}
}
