package main

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // the SQLite driver, registered as "sqlite"
)

// baseline is the least a server can do for a create: a bare net/http
// handler that decodes the same JSON and inserts one row into SQLite with
// Switchboard's durability (WAL, synchronous=FULL, one writer connection), so
// each acknowledged row is on disk. It runs inside the bench process on
// loopback and is driven exactly like Switchboard.
type baseline struct {
	db    *sql.DB
	srv   *http.Server
	url   string
	token string
}

const baselineToken = "baseline-token"

func startBaseline(dir string) (*baseline, error) {
	path := filepath.Join(dir, "baseline.db")
	pragmas := "_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)"
	db, err := sql.Open("sqlite", "file:"+url.PathEscape(path)+"?"+pragmas+"&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetConnMaxIdleTime(0)
	_, err = db.Exec(`CREATE TABLE conversations (
		id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL, inbox_id INTEGER NOT NULL,
		status TEXT NOT NULL, content TEXT NOT NULL, created_at BIGINT NOT NULL)`)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("baseline schema: %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		db.Close()
		return nil, err
	}
	b := &baseline{db: db, url: "http://" + l.Addr().String(), token: baselineToken}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/accounts/{account_id}/conversations", b.create)
	b.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go b.srv.Serve(l)
	return b, nil
}

type baselineRequest struct {
	InboxID json.Number `json:"inbox_id"`
	Message *struct {
		Content string `json:"content"`
	} `json:"message"`
}

func (b *baseline) create(w http.ResponseWriter, r *http.Request) {
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("api_access_token")), []byte(b.token)) != 1 {
		http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
		return
	}
	var req baselineRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
		http.Error(w, `{"error":"malformed"}`, http.StatusBadRequest)
		return
	}
	inbox, err := req.InboxID.Int64()
	if err != nil || inbox <= 0 {
		http.Error(w, `{"message":"inbox_id","attributes":["inbox_id"]}`, http.StatusUnprocessableEntity)
		return
	}
	content := ""
	if req.Message != nil {
		content = req.Message.Content
	}
	now := time.Now()
	var id int64
	err = b.db.QueryRowContext(r.Context(),
		`INSERT INTO conversations (account_id, inbox_id, status, content, created_at) VALUES (?, ?, 'open', ?, ?) RETURNING id`,
		r.PathValue("account_id"), inbox, content, now.UnixMilli()).Scan(&id)
	if err != nil {
		http.Error(w, `{"error":"internal"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"id": id, "inbox_id": inbox, "status": "open", "created_at": now.Unix(), "meta": map[string]any{}})
}

func (b *baseline) count(ctx context.Context) (int, error) {
	var n int
	err := b.db.QueryRowContext(ctx, `SELECT count(*) FROM conversations`).Scan(&n)
	return n, err
}

func (b *baseline) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return errors.Join(b.srv.Shutdown(ctx), b.db.Close())
}
