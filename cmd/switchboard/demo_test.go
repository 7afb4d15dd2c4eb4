package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestDemo(t *testing.T) {
	_, dsn := tempDB(t)
	addr := freeAddr(t)
	s := startServe(t, addr, nil, "--addr", addr, "--db", dsn, "--demo", "--demo-interval", "20ms")
	out := s.stdout.String()
	for _, want := range []string{"admin@demo.test", "ann@demo.test", demoPassword, "http://" + addr} {
		if !strings.Contains(out, want) {
			t.Errorf("the demo's start does not print %q:\n%s", want, out)
		}
	}
	token := s.signIn(t, "ann@demo.test", demoPassword)
	admin := s.signIn(t, "admin@demo.test", demoPassword)
	if got := s.agents(t, token); len(got) != 5 {
		t.Errorf("demo agents %v, want the administrator and four agents", got)
	}
	// Traffic arrives by itself: wait (bounded) for conversations and events.
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, data := s.call(t, "GET", "/api/v1/accounts/1/conversations?status=all&assignee_type=all", admin, nil)
		var list struct {
			Data struct {
				Meta struct {
					All int `json:"all_count"`
				} `json:"meta"`
			} `json:"data"`
		}
		json.Unmarshal(data, &list)
		if list.Data.Meta.All >= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the demo made %d conversations in 20 s", list.Data.Meta.All)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := s.stop(t); err != nil {
		t.Fatalf("serve --demo did not stop cleanly: %v", err)
	}
	t.Run("RestartsOnItsOwnDatabase", func(t *testing.T) {
		addr := freeAddr(t)
		again := startServe(t, addr, nil, "--addr", addr, "--db", dsn, "--demo")
		if err := again.stop(t); err != nil {
			t.Errorf("second start: %v", err)
		}
	})
	t.Run("RefusesAnotherDatabase", func(t *testing.T) {
		_, other := tempDB(t)
		if _, _, err := runOnce(t, nil, "accounts", "create", "--db", other, "--name", "Real", "--admin-email", "x@example.com", "--admin-password", "password123"); err != nil {
			t.Fatal(err)
		}
		_, _, err := runOnce(t, nil, "serve", "--addr", freeAddr(t), "--db", other, "--demo")
		if err == nil || !strings.Contains(err.Error(), "--demo") {
			t.Errorf("--demo on a database in use: %v, want a refusal naming --demo", err)
		}
	})
}
