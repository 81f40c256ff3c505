package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/domain/application"
	"github.com/kazna-ledger/kazna/eventstore"
)

// The call recorder counts the calls of API applications in memory and appends what it counted every few
// seconds (and when it stops) as application.CallsRecorded events, one per UTC hour seen, so that the log grows
// with time rather than with traffic. The applications read model folds these into the call analytics and the
// monthly quota counts; both therefore survive a restart. Counts not yet flushed when a node crashes are lost:
// at most one interval of calls.

// Defaults and bounds of the call recorder.
const (
	DefaultCallFlushInterval = 5 * time.Second
	minCallFlushInterval     = 10 * time.Millisecond
	maxCallFlushInterval     = time.Minute
	// callFlushTimeout bounds one flush, the final one at shutdown included.
	callFlushTimeout = 10 * time.Second
	callShards       = 16
	callActor        = "kazna analytics"
)

// Call is one call of an application, as the API reports it.
type Call struct {
	Application  uuid.UUID
	Counterparty string
	Product      application.Product
	Route        string // method and path template
	Status       int
	// Limited: refused by the rate limit or the quota before the endpoint ran.
	Limited bool
	Latency time.Duration
	At      time.Time
}

// CallAppender is what the recorder needs of the event store.
type CallAppender interface {
	Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error)
}

// CallRecorderConfig tunes a CallRecorder; zero values take the defaults.
type CallRecorderConfig struct {
	Store CallAppender
	// Interval between flushes (default 5 s).
	Interval time.Duration
	// Node names this node in the events, for an operator tracing a figure; default "kazna".
	Node   string
	Logger *slog.Logger
}

// CallRecorder aggregates application calls and flushes them to the log. Record is safe for concurrent use and
// allocates only for a combination of application, route and status it has not seen since the last flush.
type CallRecorder struct {
	cfg    CallRecorderConfig
	shards [callShards]callShard
	// flushMu makes flushes one at a time and guards pending.
	flushMu sync.Mutex
	// pending are events whose append failed: they are appended again, with the same IDs, before anything
	// new, so that an append that did succeed behind a lost answer is not counted twice.
	pending []pendingCalls
	ran     atomic.Bool
	flushed atomic.Int64 // calls flushed since start, for tests and the log
}

type pendingCalls struct {
	stream string
	event  eventstore.EventData
	calls  int64
}

type callShard struct {
	mu sync.Mutex
	m  map[callKey]*callCount
}

type callKey struct {
	app     uuid.UUID
	hour    int64
	product application.Product
	route   string
	status  int
	limited bool
}

type callCount struct {
	counterparty string
	calls        int64
	latency      [application.LatencyBuckets]int64
}

// NewCallRecorder checks cfg and fills defaults.
func NewCallRecorder(cfg CallRecorderConfig) (*CallRecorder, error) {
	if cfg.Store == nil {
		return nil, errors.New("app: the call recorder needs the event store")
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultCallFlushInterval
	}
	if cfg.Interval < minCallFlushInterval || cfg.Interval > maxCallFlushInterval {
		return nil, fmt.Errorf("app: call flush interval %v outside [%v, %v]", cfg.Interval, minCallFlushInterval, maxCallFlushInterval)
	}
	if cfg.Node == "" {
		cfg.Node = "kazna"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	r := &CallRecorder{cfg: cfg}
	for i := range r.shards {
		r.shards[i].m = map[callKey]*callCount{}
	}
	return r, nil
}

// Record counts one call.
func (r *CallRecorder) Record(c Call) {
	k := callKey{app: c.Application, hour: c.At.Unix() / 3600, product: c.Product, route: c.Route, status: c.Status, limited: c.Limited}
	sh := &r.shards[int(c.Application[15])%callShards]
	sh.mu.Lock()
	n := sh.m[k]
	if n == nil {
		n = &callCount{counterparty: c.Counterparty}
		sh.m[k] = n
	}
	n.calls++
	n.latency[application.LatencyBucket(c.Latency)]++
	sh.mu.Unlock()
}

// Pending is the number of distinct rows (application, hour, route, status) counted and not yet flushed.
func (r *CallRecorder) Pending() int {
	n := 0
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

// Flushed is the number of calls appended to the log since the recorder started.
func (r *CallRecorder) Flushed() int64 { return r.flushed.Load() }

// Run flushes every interval until ctx ends, then flushes once more (bounded by callFlushTimeout) so that a
// node stopping cleanly loses no count.
func (r *CallRecorder) Run(ctx context.Context) error {
	if !r.ran.CompareAndSwap(false, true) {
		return errors.New("app: call recorder Run called twice")
	}
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), callFlushTimeout)
			_, err := r.Flush(final)
			cancel()
			if err != nil {
				r.cfg.Logger.Error("call analytics: the last counts were not written", "err", err)
			}
			return ctx.Err()
		case <-t.C:
			fctx, cancel := context.WithTimeout(ctx, callFlushTimeout)
			if _, err := r.Flush(fctx); err != nil && ctx.Err() == nil {
				r.cfg.Logger.Warn("call analytics: flush failed; the counts are kept for the next one", "err", err)
			}
			cancel()
		}
	}
}

// Flush appends what was counted since the last flush and returns the log position of its last append (zero
// when there was nothing to append). On failure nothing is lost: the events stay pending and the next flush
// appends them again, with the same IDs.
func (r *CallRecorder) Flush(ctx context.Context) (eventstore.Position, error) {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	r.pending = append(r.pending, r.take()...)
	var last eventstore.Position
	for len(r.pending) > 0 {
		p := r.pending[0]
		res, err := r.cfg.Store.Append(ctx, p.stream, eventstore.Any{}, p.event)
		if err != nil {
			return last, fmt.Errorf("app: append call counts to %s: %w", p.stream, err)
		}
		last = res.Position
		r.flushed.Add(p.calls)
		r.pending = r.pending[1:]
	}
	r.pending = nil
	return last, nil
}

// take empties the shards and turns their counts into events: per hour, rows sorted for a stable reading,
// at most application.MaxCallRows each.
func (r *CallRecorder) take() []pendingCalls {
	byHour := map[int64][]application.CallRow{}
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		m := sh.m
		if len(m) > 0 {
			sh.m = map[callKey]*callCount{}
		}
		sh.mu.Unlock()
		for k, n := range m {
			byHour[k.hour] = append(byHour[k.hour], application.CallRow{Application: k.app.String(), Counterparty: n.counterparty,
				Product: k.product, Route: k.route, Status: k.status, Limited: k.limited, Calls: n.calls, Latency: n.latency[:]})
		}
	}
	hours := make([]int64, 0, len(byHour))
	for h := range byHour {
		hours = append(hours, h)
	}
	slices.Sort(hours)
	now := time.Now().UTC()
	var out []pendingCalls
	for _, h := range hours {
		rows := byHour[h]
		slices.SortFunc(rows, func(a, b application.CallRow) int {
			return strings.Compare(a.Application+a.Route, b.Application+b.Route)
		})
		hour := time.Unix(h*3600, 0).UTC()
		for start := 0; start < len(rows); start += application.MaxCallRows {
			chunk := rows[start:min(start+application.MaxCallRows, len(rows))]
			rec := application.CallsRecorded{Hour: hour, Node: r.cfg.Node, Rows: chunk, At: now}
			typ, data, err := application.CallEvents.Encode(rec)
			if err != nil {
				// Plain structs of strings and numbers: this cannot fail; if it did, the counts are dropped
				// rather than blocking every later flush.
				r.cfg.Logger.Error("call analytics: encode", "err", err)
				continue
			}
			var calls int64
			for _, row := range chunk {
				calls += row.Calls
			}
			out = append(out, pendingCalls{stream: application.CallsStream(hour), calls: calls, event: eventstore.EventData{
				ID: uuid.New(), Type: typ, Data: data, Metadata: eventstore.Metadata{Actor: callActor, Time: now}}})
		}
	}
	return out
}
