// Package cluster is how the server processes of one deployment share the
// work of an inbox: every process sends the conversations created in an
// inbox to the one process that leads it, which creates them in its own
// transactions. An inbox's creates take turns at its routing lock, held to
// each commit; in one process they share a transaction and a turn, in
// several they would each take turns of their own (BENCHMARKS.md).
//
// Leading is for speed only. Every create still takes the inbox's lock in
// the database, so a create made by a process that does not lead, while a
// lead changes hands, is as correct as any other.
package cluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/switchboard/switchboard"
)

// Path is where a process takes the creates that others send it.
const Path = "/internal/v1/conversations"

// TokenHeader carries the token of the process a create is sent to.
const TokenHeader = "X-Switchboard-Peer-Token"

// Creator creates conversations in this process (store.DB).
type Creator interface {
	CreateConversation(ctx context.Context, c switchboard.Caller, n switchboard.NewConversation) (switchboard.Conversation, error)
	// ConversationByKey returns the conversation created with a key, if any.
	ConversationByKey(ctx context.Context, c switchboard.Caller, key string) (switchboard.Conversation, bool, error)
}

// Leads says which process leads an inbox (store.Leads).
type Leads interface {
	// TryLead makes this process the inbox's leader unless another is; the
	// lead lasts while Generation returns gen, until Release.
	TryLead(ctx context.Context, inboxID int64) (gen uint64, ok bool, err error)
	Generation() uint64
	Release(ctx context.Context, inboxID int64) error
	// Leader returns where the inbox's leader listens and its token.
	Leader(ctx context.Context, inboxID int64) (address, token string, found bool, err error)
}

const (
	// A process sends an inbox's creates to the leader it found for
	// leaderTTL before it looks again; after finding none, it creates them
	// itself for noLeaderTTL.
	leaderTTL   = 10 * time.Second
	noLeaderTTL = 5 * time.Second
	// A process gives up the lead of an inbox that has had no create for
	// idleLead, for another process to take when it needs it.
	idleLead = time.Minute
	// After a request to a leader goes unanswered, the creates for it are
	// made where they arrive for downFor.
	downFor = 5 * time.Second
	// sendTimeout bounds a request to a leader: a create waits no longer
	// for its inbox's lock in the leader than in this process.
	sendTimeout = 30 * time.Second
	// lookupTimeout bounds finding an inbox's leader.
	lookupTimeout = 2 * time.Second
)

// errPerhapsMade is a create sent to the inbox's leader that may have been
// made there, and that could not be looked up.
var errPerhapsMade = switchboard.Errorf(switchboard.EINTERNAL, "The conversation may have been created: the process of its inbox did not say, and the database could not tell. Look for it before sending it again.")

// Router creates conversations where their inbox's leader is. It is safe for
// concurrent use.
type Router struct {
	local  Creator
	leads  Leads
	token  string
	client *http.Client
	log    *slog.Logger
	// Now is the clock; tests may replace it before use.
	Now func() time.Time
	// beforeHere, if set, runs before a create that the leader may have
	// made is made here (tests).
	beforeHere func()

	// leading is held while taking and giving up leads, so that a lead
	// taken is not given up by a release that began before.
	leading sync.Mutex

	mu       sync.Mutex
	inboxes  map[int64]lead
	outboxes map[string]*outbox // by the leader's address
	sent     map[bool]int       // creates sent to a leader (true) or made here (false)
}

// lead is what a process knows of an inbox's leader.
type lead struct {
	here           bool
	gen            uint64    // here: the lead connection that holds it
	used           time.Time // here: the last create
	address, token string    // elsewhere: the leader, or "" for none
	until          time.Time // elsewhere: when to look again
}

// New returns a Router that creates with local what this process leads and
// takes from others with token.
func New(local Creator, leads Leads, token string, log *slog.Logger) *Router {
	transport := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: time.Second}).DialContext,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     time.Minute,
	}
	return &Router{
		local: local, leads: leads, token: token, log: log, Now: time.Now,
		// A redirect is not followed: it would take the token elsewhere.
		client: &http.Client{Transport: transport, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}},
		inboxes:  map[int64]lead{},
		outboxes: map[string]*outbox{},
		sent:     map[bool]int{},
	}
}

// CreateConversation creates the conversation in the process that leads its
// inbox: here when this one does, or none does. A create sent to the leader
// carries a key; when the leader does not answer it (it could not be
// reached, or died with the request), it is made here with that key, which
// finds the leader's conversation if the leader made it after all.
func (r *Router) CreateConversation(ctx context.Context, c switchboard.Caller, n switchboard.NewConversation) (switchboard.Conversation, error) {
	l, err := r.leadOf(ctx, n.InboxID)
	if err != nil {
		r.log.Warn("cannot tell which process leads an inbox; creating here", "inbox", n.InboxID, "err", err)
	}
	if err == nil && !l.here && l.address != "" {
		n.Key = rand.Text()
		res := r.outboxFor(l).send(ctx, r, request{Caller: c, Conversation: n})
		if res.answered {
			r.count(true)
			return res.conv, res.err
		}
		r.log.Warn("the leader of an inbox did not answer a create; settling it here", "inbox", n.InboxID, "leader", l.address, "err", res.err)
		if !errors.Is(res.err, errLeaderDown) {
			r.forget(n.InboxID) // look again at the next create
		}
		if res.sent {
			return r.settle(ctx, c, n, res.err)
		}
	}
	r.count(false)
	return r.local.CreateConversation(ctx, c, n)
}

// settle answers a create sent to the leader that the leader may have made
// (it did not say): with the conversation it made, found by the create's
// key, or else by making it here with that key, which finds the leader's
// if the leader makes it meanwhile. When neither can tell, because the
// database is out of reach, the answer is errPerhapsMade: an error that
// says to try again (unavailable) could have it made twice.
func (r *Router) settle(ctx context.Context, c switchboard.Caller, n switchboard.NewConversation, leaderErr error) (switchboard.Conversation, error) {
	conv, ok, err := r.local.ConversationByKey(ctx, c, n.Key)
	if err == nil && ok {
		r.count(true)
		return conv, nil
	}
	if err == nil {
		if r.beforeHere != nil {
			r.beforeHere()
		}
		r.count(false)
		conv, err = r.local.CreateConversation(ctx, c, n)
		if switchboard.ErrorCode(err) != switchboard.EUNAVAILABLE {
			return conv, err
		}
	} else {
		r.count(true)
	}
	r.log.Error("a create sent to the leader of its inbox may have been made, and cannot be told", "inbox", n.InboxID, "leader", leaderErr, "err", err)
	return conv, fmt.Errorf("%w: %v; the leader: %v", errPerhapsMade, err, leaderErr)
}

func (r *Router) count(sent bool) {
	r.mu.Lock()
	r.sent[sent]++
	r.mu.Unlock()
}

// Counts returns how many creates this Router had made by other processes
// and how many it made here.
func (r *Router) Counts() (sent, here int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sent[true], r.sent[false]
}

// leadOf returns the inbox's leader, taking the lead when no process has it.
func (r *Router) leadOf(ctx context.Context, inboxID int64) (lead, error) {
	if l, ok := r.known(inboxID); ok {
		return l, nil
	}
	r.leading.Lock()
	defer r.leading.Unlock()
	if l, ok := r.known(inboxID); ok { // found by a create that held leading
		return l, nil
	}
	// leading is held meanwhile, by every create whose inbox's leader is
	// not known: the lookups are bounded, and a failed one is remembered
	// as no leader (creates are made here) for noLeaderTTL.
	now := r.Now()
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	l, err := r.lookUp(ctx, inboxID, now)
	if err != nil {
		l = lead{until: now.Add(noLeaderTTL)}
	}
	r.mu.Lock()
	r.inboxes[inboxID] = l
	r.mu.Unlock()
	return l, err
}

// lookUp takes the inbox's lead, or finds who has it.
func (r *Router) lookUp(ctx context.Context, inboxID int64, now time.Time) (lead, error) {
	gen, here, err := r.leads.TryLead(ctx, inboxID)
	if err != nil {
		return lead{}, err
	}
	if here {
		return lead{here: true, gen: gen, used: now}, nil
	}
	address, token, found, err := r.leads.Leader(ctx, inboxID)
	if err != nil {
		return lead{}, err
	}
	l := lead{address: address, token: token, until: now.Add(leaderTTL)}
	if !found {
		l.until = now.Add(noLeaderTTL)
	}
	return l, nil
}

// known returns what this process knows of the inbox's leader while it
// holds: a lead of this process on its current connection, or another's
// not yet due to be looked up again.
func (r *Router) known(inboxID int64) (lead, bool) {
	now := r.Now()
	gen := r.leads.Generation()
	r.mu.Lock()
	defer r.mu.Unlock()
	l, ok := r.inboxes[inboxID]
	switch {
	case !ok:
		return l, false
	case l.here && l.gen == gen:
		l.used = now
		r.inboxes[inboxID] = l
		return l, true
	case !l.here && now.Before(l.until):
		return l, true
	}
	return l, false
}

// Keep gives up, every interval until ctx ends, the leads of the inboxes
// that have had no create for idleLead.
func (r *Router) Keep(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.releaseIdle(ctx)
	}
}

func (r *Router) releaseIdle(ctx context.Context) {
	r.leading.Lock()
	defer r.leading.Unlock()
	now := r.Now()
	var idle []int64
	r.mu.Lock()
	for id, l := range r.inboxes {
		if l.here && now.Sub(l.used) >= idleLead {
			idle = append(idle, id)
			delete(r.inboxes, id)
		}
	}
	r.mu.Unlock()
	for _, id := range idle {
		if err := r.leads.Release(ctx, id); err != nil {
			r.log.Warn("giving up the lead of an idle inbox", "inbox", id, "err", err)
		}
	}
}

// forget forgets the leader found for an inbox, to look again at the next
// create; a lead of this process taken meanwhile stays (it is released when
// idle).
func (r *Router) forget(inboxID int64) {
	r.mu.Lock()
	if !r.inboxes[inboxID].here {
		delete(r.inboxes, inboxID)
	}
	r.mu.Unlock()
}

// used notes a create in an inbox this process leads, sent by another
// process or its own: the lead is in use.
func (r *Router) used(inboxID int64) {
	now := r.Now()
	r.mu.Lock()
	if l, ok := r.inboxes[inboxID]; ok && l.here {
		l.used = now
		r.inboxes[inboxID] = l
	}
	r.mu.Unlock()
}

// request is a create as one process sends it to another: the caller was
// authenticated by the sender, and the receiver checks the rest as for a
// create of its own.
type request struct {
	Caller       switchboard.Caller
	Conversation switchboard.NewConversation
}

// size is about the bytes of r's JSON.
func (r request) size() int {
	return 6*(len(r.Conversation.Message)+len(r.Conversation.SourceID)) + 512
}

// reply is the answer: the conversation, or the error a create of the
// receiver's own would have returned.
type reply struct {
	Conversation *switchboard.Conversation `json:",omitempty"`
	Error        *switchboard.Error        `json:",omitempty"`
}

// result is what became of a create sent to a leader: answered when the
// leader answered it (with the conversation or the create's error), or its
// caller left; otherwise err says why not, and sent whether the leader may
// have made it.
type result struct {
	conv     switchboard.Conversation
	err      error
	answered bool
	sent     bool
}

// An outbox sends the creates for one leader, those that wait while
// maxSending requests to it are under way together in the next one: the
// leader makes a request's creates at once, so they share its
// transactions. A request is answered once its creates are committed, a
// turn or two of the leader's; with two at a time, a create waited 8 ms
// here on average (BENCHMARKS.md), so a create goes at once unless
// maxSending are under way.
type outbox struct {
	address, token string
	mu             sync.Mutex
	waiting        []*call
	sending        int
	down           time.Time // until when the leader is taken as gone
}

const maxSending = 16

// A request carries at most maxBatch creates, of about maxBatchBytes
// (more when one create alone is larger).
const (
	maxBatch      = 256
	maxBatchBytes = 4 << 20
)

// errLeaderDown answers the creates for a leader taken as gone.
var errLeaderDown = errors.New("the leader did not answer a moment ago")

type call struct {
	req  request
	done chan result
}

func (r *Router) outboxFor(l lead) *outbox {
	r.mu.Lock()
	defer r.mu.Unlock()
	o := r.outboxes[l.address]
	if o == nil || o.token != l.token {
		o = &outbox{address: l.address, token: l.token}
		r.outboxes[l.address] = o
	}
	return o
}

// send sends req with the others waiting, and returns its result.
func (o *outbox) send(ctx context.Context, r *Router, req request) result {
	c := &call{req: req, done: make(chan result, 1)}
	o.mu.Lock()
	if r.Now().Before(o.down) {
		o.mu.Unlock()
		return result{err: errLeaderDown}
	}
	o.waiting = append(o.waiting, c)
	if o.sending == maxSending {
		o.mu.Unlock()
		select {
		case res := <-c.done:
			return res
		case <-ctx.Done():
		}
		o.mu.Lock()
		for i, w := range o.waiting {
			if w == c { // not sent: the caller leaves, and so does it
				o.waiting = append(o.waiting[:i], o.waiting[i+1:]...)
				o.mu.Unlock()
				return result{err: ctx.Err(), answered: true}
			}
		}
		o.mu.Unlock()
		// Sent: answered as it comes, since it may be made.
		return <-c.done
	}
	o.sending++
	calls := o.take()
	o.mu.Unlock()
	o.flush(r, calls)
	return <-c.done
}

// take removes the calls of the next request from the waiting ones, oldest
// first. The caller holds o.mu.
func (o *outbox) take() []*call {
	n, bytes := 0, 0
	for n < len(o.waiting) && n < maxBatch && (n == 0 || bytes+o.waiting[n].req.size() <= maxBatchBytes) {
		bytes += o.waiting[n].req.size()
		n++
	}
	calls := o.waiting[:n:n]
	o.waiting = o.waiting[n:]
	return calls
}

// flush posts calls, then, in the background, what gathered meanwhile.
// After a request that went unanswered, it answers every waiting call so
// (they are made where they arrived), and so does send for downFor.
func (o *outbox) flush(r *Router, calls []*call) {
	results, err := r.post(o, calls)
	for i, call := range calls {
		call.done <- results[i]
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if err != nil {
		o.down = r.Now().Add(downFor)
		for _, w := range o.waiting {
			w.done <- result{err: err}
		}
		o.waiting = nil
	}
	if len(o.waiting) == 0 {
		o.sending--
		return
	}
	go o.flush(r, o.take())
}

// post sends calls to the leader in one request, and returns their
// results, and an error if the request as a whole went unanswered. Its
// context is none of the callers': a caller that leaves does not take the
// others' creates with it.
func (r *Router) post(o *outbox, calls []*call) ([]result, error) {
	results := make([]result, len(calls))
	fail := func(err error, sent bool) ([]result, error) {
		for i := range results {
			results[i] = result{err: err, sent: sent}
		}
		return results, err
	}
	reqs := make([]request, len(calls))
	for i, c := range calls {
		reqs[i] = c.req
	}
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(reqs); err != nil {
		return fail(err, false)
	}
	ctx, cancel := context.WithTimeout(context.Background(), sendTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.address+Path, &body)
	if err != nil {
		return fail(err, false)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(TokenHeader, o.token)
	resp, err := r.client.Do(req)
	if err != nil {
		return fail(fmt.Errorf("send creates to %s: %w", o.address, err), true)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// Refused before any create: a wrong token (the leader restarted
		// on the same address), or a process without this endpoint.
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return fail(fmt.Errorf("%s answered %s", o.address, resp.Status), false)
	}
	var reps []reply
	if err := json.NewDecoder(resp.Body).Decode(&reps); err != nil {
		return fail(fmt.Errorf("read the answer of %s: %w", o.address, err), true)
	}
	if len(reps) != len(calls) {
		return fail(fmt.Errorf("%s answered %d creates of %d", o.address, len(reps), len(calls)), true)
	}
	for i, rep := range reps {
		switch {
		case rep.Error != nil && rep.Error.Code == switchboard.EINTERNAL:
			// Perhaps made (a commit whose end the leader did not
			// learn): the key settles it here.
			results[i] = result{err: rep.Error, sent: true}
		case rep.Error != nil:
			results[i] = result{err: rep.Error, answered: true}
		case rep.Conversation == nil:
			results[i] = result{err: fmt.Errorf("%s answered no conversation", o.address), sent: true}
		default:
			results[i] = result{conv: *rep.Conversation, answered: true}
		}
	}
	return results, nil
}

// maxRequest bounds a request from another process: maxBatchBytes, or one
// create with a message of switchboard.MaxMessageLength characters escaped
// in six bytes.
const maxRequest = maxBatchBytes + 6*switchboard.MaxMessageLength + 64<<10

// Handler takes the creates that other processes send to this one, and
// makes them here, all at once so that they share transactions. It answers
// 401 to a request without this process's token, and 200 with, for each
// create, the conversation or the error it met.
func (r *Router) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeError(w, http.StatusMethodNotAllowed, "method not allowed: POST only")
			return
		}
		if subtle.ConstantTimeCompare([]byte(req.Header.Get(TokenHeader)), []byte(r.token)) != 1 {
			writeError(w, http.StatusUnauthorized, TokenHeader+": not the token of this process")
			return
		}
		var in []request
		dec := json.NewDecoder(http.MaxBytesReader(w, req.Body, maxRequest))
		// A field this process does not know comes from a newer version
		// (a rolling upgrade): made here, the create would lose what it
		// says. Refused as a whole, the creates are made by the sender.
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil {
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body: over %d bytes", maxRequest))
				return
			}
			writeError(w, http.StatusBadRequest, "body: not a JSON array of creates: "+err.Error())
			return
		}
		if in == nil {
			writeError(w, http.StatusBadRequest, "body: not a JSON array of creates: null")
			return
		}
		if len(in) > maxBatch {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("body: %d creates, at most %d at once", len(in), maxBatch))
			return
		}
		reps := make([]reply, len(in))
		var wg sync.WaitGroup
		for i, c := range in {
			wg.Go(func() { reps[i] = r.createHere(req.Context(), c) })
		}
		wg.Wait()
		w.Header().Set("Content-Type", "application/json")
		if err := json.NewEncoder(w).Encode(reps); err != nil {
			r.log.Warn("answering the creates of another process", "err", err)
		}
	})
}

// writeError answers a request refused as a whole, in JSON as the API does.
func writeError(w http.ResponseWriter, status int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": message})
}

// createHere makes a create that another process sent.
func (r *Router) createHere(ctx context.Context, c request) reply {
	r.used(c.Conversation.InboxID)
	conv, err := r.local.CreateConversation(ctx, c.Caller, c.Conversation)
	if err == nil {
		return reply{Conversation: &conv}
	}
	e, ok := errors.AsType[*switchboard.Error](err)
	if !ok || e.Code == switchboard.EINTERNAL {
		// The sender says it as an internal error of its own; the
		// detail stays here.
		r.log.Error("a create sent by another process failed", "inbox", c.Conversation.InboxID, "err", err)
		e = switchboard.Errorf(switchboard.EINTERNAL, "the inbox's process failed to create the conversation")
	}
	return reply{Error: e}
}
