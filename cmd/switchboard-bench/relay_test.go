package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary be a relay, as the bench's binary is when
// the processes scenario starts relay processes.
func TestMain(m *testing.M) {
	if to := os.Getenv(relayEnv); to != "" {
		if err := runRelay(to); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// A relay, in the bench or in a process of its own, carries requests to
// its server and their answers back, on connections kept open between
// them, until it is stopped.
func TestRelay(t *testing.T) {
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, body)
	}))
	defer server.Close()
	e := &env{log: io.Discard}
	for _, kind := range []string{relayInBench, relayProcess} {
		t.Run(kind, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			u, stop, err := e.startRelay(ctx, kind, server.URL, 1)
			if err != nil {
				t.Fatal(err)
			}
			client := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
			for i := range 3 {
				resp, err := client.Post(u+"/conversations", "text/plain", strings.NewReader(fmt.Sprint(i)))
				if err != nil {
					t.Fatal(err)
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if want := fmt.Sprintf("POST /conversations %d", i); string(got) != want {
					t.Errorf("answer %q through the relay, want %q", got, want)
				}
			}
			client.CloseIdleConnections()
			if err := stop(); err != nil {
				t.Errorf("the relay did not stop when told: %v", err)
			}
			if resp, err := client.Get(u + "/after"); err == nil {
				resp.Body.Close()
				t.Errorf("the stopped relay still answered: %s", resp.Status)
			}
		})
	}
}

// TestSmokeRelay runs the processes scenario tiny with -relay process: the
// creates meant for the other processes reach the first one through relay
// processes, and the first makes every one.
func TestSmokeRelay(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	pg := os.Getenv("SWITCHBOARD_TEST_POSTGRES")
	if pg == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("SWITCHBOARD_TEST_POSTGRES is not set on CI")
		}
		t.Skip("SWITCHBOARD_TEST_POSTGRES is not set")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out strings.Builder
	rep, err := run(ctx, []string{"-smoke", "-scenario", "processes", "-relay", "process", "-postgres", pg}, &out)
	t.Log(out.String())
	if err != nil {
		t.Fatal(err)
	}
	relayed, madeByFirst := false, false
	for _, r := range rep.Results {
		if strings.Contains(r.Name, "relayed to one (process)") {
			relayed = r.Count > 0 && r.Errors == 0
		}
	}
	for _, c := range rep.Checks {
		if !c.OK {
			t.Errorf("check %s %s failed: %s", c.Scenario, c.Name, c.Detail)
		}
		if strings.HasSuffix(c.Name, "the first made every create") {
			madeByFirst = c.OK
		}
	}
	if !relayed || !madeByFirst {
		t.Errorf("relayed creates measured: %v; the first process made every create: %v", relayed, madeByFirst)
	}
}

func TestControlOptions(t *testing.T) {
	tests := []struct {
		args    []string
		relay   string
		wantErr string
	}{
		{[]string{"-scenario", "processes", "-relay", "process"}, relayProcess, ""},
		{[]string{"-scenario", "create,processes", "-relay", "bench"}, relayInBench, ""},
		{[]string{"-scenario", "processes", "-direct"}, "", ""},
		{[]string{"-scenario", "processes", "-relay", "kernel"}, "", `-relay "kernel"`},
		{[]string{"-scenario", "processes", "-relay", "process", "-direct"}, "", "give one"},
		{[]string{"-scenario", "mixed", "-relay", "process"}, "", "-scenario processes"},
		{[]string{"-scenario", "create", "-direct"}, "", "-scenario processes"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			o, err := parseOptions(tt.args, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o.relay != tt.relay {
				t.Errorf("relay %q, want %q", o.relay, tt.relay)
			}
		})
	}
}
