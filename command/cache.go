package command

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/eventstore"
)

// Cache handles the commands of one kind of aggregate the way Handle does, for streams that are written
// often: it keeps the state of recently used streams (so a command reads only the events written since, not
// the whole stream), and it decides the commands of this process on one stream one after another (so they do
// not race each other for the expected revision; only writers in other processes can, and a conflict with
// them reloads and decides again, as Handle does).
//
// A cached state is only ever changed by folding events the store has confirmed, under the stream's lock, so
// Evolve may change the state's maps in place. Decide must not change its input.
//
// Idempotency keys work as with Handle, except that a command with a key loads its stream in full (the earlier
// request's events may be older than the cached state); domain-level idempotency (the aggregate remembering
// what it did) is the cheap path for hot streams.
type Cache[S, C, E any] struct {
	store   Store
	decider Decider[S, C, E]
	codec   Codec[E]
	max     int

	// snapshot copies a state for Recent; nil keeps no snapshots.
	snapshot func(S) S

	mu      sync.Mutex
	entries map[string]*cached[S, C, E]
	tick    uint64
}

type cached[S, C, E any] struct {
	mu     sync.Mutex // held while the stream is read, decided or viewed
	qmu    sync.Mutex // guards queue
	queue  []*queued[C, E]
	state  S
	exists bool
	last   uint64 // revision of the last folded event
	valid  bool   // state is the fold of events 0…last
	used   uint64 // the Cache's tick when last used, for eviction
	recent atomic.Pointer[snapshot[S]]
}

// snapshot is a copy of a stream's state as the store last confirmed it to this process.
type snapshot[S any] struct {
	state S
	at    time.Time
}

// KeepSnapshots makes the cache keep, for each stream, a copy (made by copy, which must share nothing the
// cache changes in place) of the last state the store confirmed, for Recent. Call it before any use.
func (c *Cache[S, C, E]) KeepSnapshots(copy func(S) S) { c.snapshot = copy }

// Recent returns the stream's last confirmed state if this process read or wrote it within maxAge, without
// waiting for commands being written. It is for facts a caller may read slightly late (an account's owner,
// whether it is open): writes by other processes show only at the stream's next read. ok is false when
// there is no snapshot young enough; then use View.
func (c *Cache[S, C, E]) Recent(stream string, maxAge time.Duration) (state S, ok bool) {
	c.mu.Lock()
	e := c.entries[stream]
	c.mu.Unlock()
	if e == nil {
		return state, false
	}
	snap := e.recent.Load()
	if snap == nil || time.Since(snap.at) > maxAge {
		return state, false
	}
	return snap.state, true
}

// remember refreshes the entry's snapshot from its state. Called with e.mu held and the state confirmed.
func (c *Cache[S, C, E]) remember(e *cached[S, C, E]) {
	if c.snapshot != nil && e.valid {
		e.recent.Store(&snapshot[S]{state: c.snapshot(e.state), at: time.Now()})
	}
}

// NewCache returns a cache of at most maxStreams states (a stream beyond it evicts the least recently used).
func NewCache[S, C, E any](store Store, d Decider[S, C, E], codec Codec[E], maxStreams int) (*Cache[S, C, E], error) {
	if store == nil || codec == nil || d.Evolve == nil || d.Decide == nil {
		return nil, fmt.Errorf("%w: store, codec, Evolve and Decide are all required", ErrInvalid)
	}
	if maxStreams < 1 {
		return nil, fmt.Errorf("%w: a cache holds at least one stream", ErrInvalid)
	}
	return &Cache[S, C, E]{store: store, decider: d, codec: codec, max: maxStreams, entries: map[string]*cached[S, C, E]{}}, nil
}

// entry returns the stream's entry, locked.
func (c *Cache[S, C, E]) entry(stream string) *cached[S, C, E] {
	e := c.lookup(stream)
	e.mu.Lock()
	return e
}

// lookup returns the stream's entry, unlocked.
func (c *Cache[S, C, E]) lookup(stream string) *cached[S, C, E] {
	c.mu.Lock()
	c.tick++
	e := c.entries[stream]
	if e == nil {
		if len(c.entries) >= c.max {
			c.evict()
		}
		e = &cached[S, C, E]{}
		c.entries[stream] = e
	}
	e.used = c.tick
	c.mu.Unlock()
	return e
}

// evict drops the least recently used tenth of the entries (at least one), in one pass and one sort, so an
// eviction costs O(n log n) once per n/10 new streams. (Picking them one scan at a time was O(n²): at 100,000
// payments it held the cache's lock for twenty seconds.) Called with c.mu held. An evicted entry still
// locked by a command stays valid for it; the next command on its stream starts a new entry.
func (c *Cache[S, C, E]) evict() {
	type use struct {
		stream string
		at     uint64
	}
	all := make([]use, 0, len(c.entries))
	for k, e := range c.entries {
		all = append(all, use{k, e.used})
	}
	slices.SortFunc(all, func(a, b use) int { return cmp.Compare(a.at, b.at) })
	for _, u := range all[:max(1, len(all)/10)] {
		delete(c.entries, u.stream)
	}
}

// catchUp folds the events written since the entry's last revision (all of them for a new entry).
func (c *Cache[S, C, E]) catchUp(ctx context.Context, stream string, e *cached[S, C, E]) error {
	if !e.valid {
		e.state, e.exists, e.last = c.decider.Initial, false, 0
	}
	next := uint64(0)
	if e.valid && e.exists {
		next = e.last + 1
	}
	for {
		page, err := c.store.ReadStream(ctx, stream, eventstore.Forwards, next, eventstore.MaxReadCount)
		if errors.Is(err, eventstore.ErrStreamNotFound) && next == 0 {
			e.valid = true
			c.remember(e)
			return nil
		}
		if err != nil {
			e.valid = false
			return fmt.Errorf("command: read %s from %d: %w", stream, next, err)
		}
		for i := range page {
			ev := &page[i]
			if ev.Revision != next {
				e.valid = false
				return fmt.Errorf("command: read %s: got revision %d where %d was due", stream, ev.Revision, next)
			}
			dec, err := c.codec.Decode(ev.Type, ev.Data)
			if err != nil {
				e.valid = false
				return fmt.Errorf("command: %s@%d: %w", stream, ev.Revision, err)
			}
			e.state = c.decider.Evolve(e.state, dec)
			e.exists, e.last = true, ev.Revision
			next++
		}
		e.valid = true
		if len(page) < eventstore.MaxReadCount {
			c.remember(e)
			return nil
		}
		if next >= MaxStreamEvents {
			e.valid = false
			return fmt.Errorf("command: %s has more than %d events: snapshot or split the aggregate", stream, MaxStreamEvents)
		}
	}
}

// View calls fn with the stream's current state (as of this call), under the stream's lock: fn must not keep
// the state or its maps, nor change them.
func (c *Cache[S, C, E]) View(ctx context.Context, stream string, fn func(state S)) error {
	e := c.entry(stream)
	defer e.mu.Unlock()
	if err := c.catchUp(ctx, stream, e); err != nil {
		return err
	}
	fn(e.state)
	return nil
}

// Handle decides cmd on the stream's current state and appends the events, as the package's Handle does.
//
// Commands of this process that queue for the same stream while another is being written are decided
// together, one after another on the state each leaves, and written in one append (a group commit per
// stream): a hot account's debits, credits and reservations then cost one write per round instead of one
// each, and a command never waits behind a queue of single-event writes. Each command still gets its own
// answer: its own events, or its own refusal.
func (c *Cache[S, C, E]) Handle(ctx context.Context, stream string, cmd C, env Envelope) (Result[E], error) {
	if env.IdempotencyKey != "" {
		// The earlier request's events may be folded into the cached state already: look for them in full.
		e := c.entry(stream)
		defer e.mu.Unlock()
		e.valid = false
		res, err := Handle(ctx, c.store, stream, c.decider, c.codec, cmd, env)
		return res, err
	}
	attempts := env.MaxAttempts
	if attempts == 0 {
		attempts = DefaultMaxAttempts
	}
	if attempts < 1 || attempts > MaxAttemptsLimit {
		return Result[E]{}, fmt.Errorf("%w: MaxAttempts %d outside 1..%d", ErrInvalid, env.MaxAttempts, MaxAttemptsLimit)
	}
	p := &queued[C, E]{cmd: cmd, env: env, attempts: attempts}
	e := c.lookup(stream)
	e.qmu.Lock()
	e.queue = append(e.queue, p)
	e.qmu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if !p.answered { // no earlier holder of the lock took it in: this call writes the queue
		e.qmu.Lock()
		batch := e.queue
		e.queue = nil
		e.qmu.Unlock()
		c.write(ctx, stream, e, batch)
	}
	return p.res, p.err
}

// queued is a command waiting for its stream, and then its answer.
type queued[C, E any] struct {
	cmd      C
	env      Envelope
	attempts int

	answered bool
	res      Result[E]
	err      error
	events   []eventstore.EventData
	decided  []E
}

// write decides the batch in order and appends all its events at once, answering every command. Called with
// e.mu held.
func (c *Cache[S, C, E]) write(ctx context.Context, stream string, e *cached[S, C, E], batch []*queued[C, E]) {
	attempts := 0
	for _, p := range batch {
		attempts = max(attempts, p.attempts)
	}
	if len(batch) > 1 {
		// The append writes other callers' commands too: one caller giving up must not fail theirs.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), batchWriteTimeout)
		defer cancel()
	}
	answerAll := func(err error) {
		for _, p := range batch {
			if !p.answered {
				p.answered, p.err = true, err
			}
		}
	}
	var conflict error
	for attempt := 1; attempt <= attempts; attempt++ {
		if attempt > 1 {
			if err := pause(ctx, attempt); err != nil {
				answerAll(err)
				return
			}
		}
		if err := c.catchUp(ctx, stream, e); err != nil {
			answerAll(err)
			return
		}
		// Decide each command on the state the ones before it leave. Evolve may change the state's maps in
		// place, so from the first decided event on the cached state is ahead of the store until the append
		// succeeds; any other outcome marks it for a reload.
		state, last, exists := e.state, e.last, e.exists
		var data []eventstore.EventData
		for _, p := range batch {
			p.res, p.err, p.events, p.decided = Result[E]{}, nil, nil, nil
			events, err := c.decider.Decide(state, p.cmd)
			if err != nil {
				p.err = err
				continue
			}
			if len(events) == 0 {
				p.res = Result[E]{Revision: last, Attempts: attempt}
				continue
			}
			if len(events) > eventstore.MaxAppendEvents-len(data) {
				if len(data) == 0 {
					p.err = fmt.Errorf("command: %s: decided %d events, over the limit of %d", stream, len(events), eventstore.MaxAppendEvents)
				} else {
					p.err = fmt.Errorf("%w: %s: the stream's queue is over %d events; retry", ErrTooManyConflicts, stream, eventstore.MaxAppendEvents)
				}
				continue
			}
			for i, ev := range events {
				typ, body, err := c.codec.Encode(ev)
				if err == nil {
					var id uuid.UUID
					if id, err = uuid.NewRandom(); err == nil {
						data = append(data, eventstore.EventData{ID: id, Type: typ, Data: body, Metadata: p.env.Metadata})
						continue
					}
				}
				// Encoding is the decider's own data: a failure is a bug, and nothing of the batch is written.
				e.valid = e.valid && len(data) == 0
				answerAll(fmt.Errorf("command: %s: event %d: %w", stream, i, err))
				return
			}
			for _, ev := range events {
				state = c.decider.Evolve(state, ev)
			}
			last += uint64(len(events))
			if !exists {
				last, exists = uint64(len(events))-1, true
			}
			p.decided = events
			p.res = Result[E]{Events: events, Revision: last, Attempts: attempt}
		}
		if len(data) == 0 {
			for _, p := range batch {
				p.answered = true
			}
			return
		}
		var expected eventstore.ExpectedRevision = eventstore.NoStream{}
		if e.exists {
			expected = eventstore.Exact(e.last)
		}
		ar, err := c.store.Append(ctx, stream, expected, data...)
		if err == nil {
			e.state, e.exists, e.last = state, true, ar.NextExpectedRevision
			c.remember(e)
			for _, p := range batch {
				if p.err == nil && len(p.decided) > 0 {
					p.res.Position = ar.Position
				}
				p.answered = true
			}
			return
		}
		e.valid = false // the state ran ahead of the store: reload it
		if errors.Is(err, eventstore.ErrWrongExpectedRevision) {
			conflict = err // another process wrote: catch up and decide every command again
			continue
		}
		// The append may or may not have happened; every answer decided after the first event rests on it.
		answerAll(nil)
		for _, p := range batch {
			p.res, p.err = Result[E]{}, err
		}
		return
	}
	answerAll(fmt.Errorf("%w: %s after %d attempts: %w", ErrTooManyConflicts, stream, attempts, conflict))
}

// batchWriteTimeout bounds an append that carries several callers' commands, which no single caller's
// context may cancel.
const batchWriteTimeout = 30 * time.Second
