package main

import (
	"context"
	"encoding/json"
	"net"
	"regexp"
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

// TestDemoOnAPortTheKernelGives: with --addr 127.0.0.1:0, the demo names
// the port it listens on, not 0.
func TestDemoOnAPortTheKernelGives(t *testing.T) {
	_, dsn := tempDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	stdout := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--db", dsn, "--demo"}, env(nil), stdout, &syncBuffer{})
	}()
	defer func() { cancel(); <-done }()
	listening := regexp.MustCompile(`msg="switchboard listening" addr=(\S+)`)
	deadline := time.Now().Add(15 * time.Second) // a hang guard, not a speed check
	for {
		if m := listening.FindStringSubmatch(stdout.String()); m != nil {
			if want := "Switchboard demo on http://" + m[1] + "/"; !strings.Contains(stdout.String(), want) {
				t.Errorf("the demo's start does not print %q:\n%s", want, stdout)
			}
			return
		}
		select {
		case err := <-done:
			done <- err
			t.Fatalf("serve returned before it listened: %v\n%s", err, stdout)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve never said where it listens:\n%s", stdout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestBrowserURL(t *testing.T) {
	for _, c := range []struct{ addr, want string }{
		{"127.0.0.1:3000", "http://127.0.0.1:3000/"},
		{"0.0.0.0:3000", "http://localhost:3000/"},
		{"[::]:3000", "http://localhost:3000/"},
		{"[::1]:8080", "http://[::1]:8080/"},
		{"10.0.0.5:80", "http://10.0.0.5:80/"},
	} {
		addr, err := net.ResolveTCPAddr("tcp", c.addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := browserURL(addr); got != c.want {
			t.Errorf("browserURL(%s) = %q, want %q", c.addr, got, c.want)
		}
	}
}
