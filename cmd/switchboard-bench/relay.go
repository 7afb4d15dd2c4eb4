package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
)

// A relay copies the bytes of each TCP connection it takes to a server and
// back, reading nothing of them: the cheapest hop a create can take from
// the process it reached to another. The processes scenario's -relay sends
// the creates meant for the other processes through relays to the first
// one, which then makes them all; its ratio to one process is the floor of
// every design in which a process other than the one a create reached
// makes it (BENCHMARKS.md).
const (
	relayInBench = "bench"   // a goroutine of the bench's
	relayProcess = "process" // a process of its own, as a server that forwards
)

// relayEnv, in the environment of the bench's own binary, makes it a relay
// to the address it names: it prints the address it listens on, then
// relays until its standard input closes.
const relayEnv = "SWITCHBOARD_BENCH_RELAY_TO"

// startRelay starts a relay to the server at target, of kind relayInBench
// or relayProcess (with GOMAXPROCS procs when > 0), and returns its URL and
// how to stop it, which says whether a relay process failed or was killed
// (when ctx ended) rather than stopping.
func (e *env) startRelay(ctx context.Context, kind, target string, procs int) (string, func() error, error) {
	u, err := url.Parse(target)
	if err != nil {
		return "", nil, err
	}
	if kind == relayInBench {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", nil, err
		}
		var wg sync.WaitGroup
		wg.Go(func() { relay(ln, u.Host) })
		return "http://" + ln.Addr().String(), func() error { ln.Close(); wg.Wait(); return nil }, nil
	}
	self, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.CommandContext(ctx, self)
	cmd.Env = append(os.Environ(), relayEnv+"="+u.Host)
	if procs > 0 {
		cmd.Env = append(cmd.Env, fmt.Sprintf("GOMAXPROCS=%d", procs))
	}
	cmd.Stderr = e.log
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() error { stdin.Close(); return cmd.Wait() }
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		stop()
		return "", nil, fmt.Errorf("relay process: %w", err)
	}
	return "http://" + strings.TrimSpace(line), stop, nil
}

// runRelay is the relay process: it listens on loopback, prints its
// address, and relays to to until its standard input closes.
func runRelay(to string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr())
	go func() {
		io.Copy(io.Discard, os.Stdin)
		ln.Close()
	}()
	if err := relay(ln, to); !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

// relay copies each connection ln takes to a connection of its own to to,
// both ways, until ln is closed.
func relay(ln net.Listener, to string) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			d, err := net.Dial("tcp", to)
			if err != nil {
				return
			}
			defer d.Close()
			go func() {
				io.Copy(d, c) // net's TCP connections splice in the kernel
				d.Close()
			}()
			io.Copy(c, d)
		}()
	}
}
