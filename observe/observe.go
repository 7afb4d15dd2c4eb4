// Package observe is what an operator sees of a running Switchboard: one log
// line per request, and Prometheus metrics of routing, requests and the
// database.
package observe

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are Switchboard's Prometheus metrics.
type Metrics struct {
	registry    *prometheus.Registry
	assignments *prometheus.CounterVec
	pick        prometheus.Histogram
	batch       prometheus.Histogram
	requests    *prometheus.HistogramVec
	retries     *prometheus.CounterVec
	dbErrors    prometheus.Counter
}

// QueueLength is the waiting queue of one inbox.
type QueueLength struct {
	AccountID, InboxID int64
	Waiting            int
}

// New returns the metrics; queues reads the waiting queues at each scrape,
// so the figure is the database's, shared by every process.
func New(queues func(ctx context.Context) ([]QueueLength, error)) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		assignments: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_assignments_total",
			Help: "Changes of assignee committed by this process, by reason (manual, auto, reassign).",
		}, []string{"reason"}),
		pick: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "switchboard_pick_seconds",
			Help:    "Time to route one new or reopened conversation: load the inbox, choose, write.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 14),
		}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "switchboard_writes_per_commit",
			Help:    "Writes that shared one transaction and commit: SQLite's writer, or PostgreSQL's creates of one inbox.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64},
		}),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "switchboard_http_request_seconds",
			Help:    "HTTP request latency by route and status.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "status"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_write_retries_total",
			Help: "Write transactions run again from the start, by reason: deadlock or serialization (PostgreSQL's word), lock_order (one that needed another inbox's routing lock after taking its own), connection (its connection to PostgreSQL lost before the commit).",
		}, []string{"reason"}),
		dbErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchboard_database_errors_total",
			Help: "Database operations that failed for a reason other than the request's input, including PostgreSQL deadlocks and serialization failures that were then retried (switchboard_write_retries_total).",
		}),
	}
	m.registry.MustRegister(m.assignments, m.pick, m.batch, m.requests, m.retries, m.dbErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&queueCollector{read: queues, desc: prometheus.NewDesc("switchboard_waiting_conversations",
			"Conversations waiting in an inbox's queue for an agent with room.", []string{"account_id", "inbox_id"}, nil)})
	for _, reason := range []string{"manual", "auto", "reassign"} {
		m.assignments.WithLabelValues(reason)
	}
	for _, reason := range []string{"deadlock", "serialization", "lock_order", "connection"} {
		m.retries.WithLabelValues(reason)
	}
	return m
}

// Assigned counts a committed change of assignee.
func (m *Metrics) Assigned(reason string) { m.assignments.WithLabelValues(reason).Inc() }

// Picked records how long routing one conversation took.
func (m *Metrics) Picked(d time.Duration) { m.pick.Observe(d.Seconds()) }

// Batched records how many writes shared a commit.
func (m *Metrics) Batched(writes int) { m.batch.Observe(float64(writes)) }

// Retried counts a write transaction run again, by reason.
func (m *Metrics) Retried(reason string) { m.retries.WithLabelValues(reason).Inc() }

// DatabaseError counts a failed database operation.
func (m *Metrics) DatabaseError() { m.dbErrors.Inc() }

// Handler serves the metrics in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

type queueCollector struct {
	read func(ctx context.Context) ([]QueueLength, error)
	desc *prometheus.Desc
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	queues, err := c.read(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	for _, q := range queues {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(q.Waiting),
			strconv.FormatInt(q.AccountID, 10), strconv.FormatInt(q.InboxID, 10))
	}
}

// request is what a request's handlers learn that its log line reports.
type request struct{ userID int64 }

type requestKey struct{}

// SetUser notes who made the request, for its log line.
func SetUser(ctx context.Context, userID int64) {
	if r, ok := ctx.Value(requestKey{}).(*request); ok {
		r.userID = userID
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

// Unwrap lets http.ResponseController reach the connection (live updates).
func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Requests logs one line per request (route, status, duration, user) and
// records its latency.
func (m *Metrics) Requests(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := &request{}
		r = r.WithContext(context.WithValue(r.Context(), requestKey{}, info))
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		d := time.Since(start)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		m.requests.WithLabelValues(route, strconv.Itoa(rec.status)).Observe(d.Seconds())
		attrs := []slog.Attr{slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.String("route", route), slog.Int("status", rec.status), slog.Duration("duration", d)}
		if info.userID != 0 {
			attrs = append(attrs, slog.Int64("user_id", info.userID))
		}
		log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
	})
}
