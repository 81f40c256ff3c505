package command

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

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

	mu      sync.Mutex
	entries map[string]*cached[S]
	tick    uint64
}

type cached[S any] struct {
	mu     sync.Mutex // held while the stream is read, decided or viewed
	state  S
	exists bool
	last   uint64 // revision of the last folded event
	valid  bool   // state is the fold of events 0…last
	used   uint64 // the Cache's tick when last used, for eviction
}

// NewCache returns a cache of at most maxStreams states (a stream beyond it evicts the least recently used).
func NewCache[S, C, E any](store Store, d Decider[S, C, E], codec Codec[E], maxStreams int) (*Cache[S, C, E], error) {
	if store == nil || codec == nil || d.Evolve == nil || d.Decide == nil {
		return nil, fmt.Errorf("%w: store, codec, Evolve and Decide are all required", ErrInvalid)
	}
	if maxStreams < 1 {
		return nil, fmt.Errorf("%w: a cache holds at least one stream", ErrInvalid)
	}
	return &Cache[S, C, E]{store: store, decider: d, codec: codec, max: maxStreams, entries: map[string]*cached[S]{}}, nil
}

// entry returns the stream's entry, locked.
func (c *Cache[S, C, E]) entry(stream string) *cached[S] {
	c.mu.Lock()
	c.tick++
	e := c.entries[stream]
	if e == nil {
		if len(c.entries) >= c.max {
			c.evict()
		}
		e = &cached[S]{}
		c.entries[stream] = e
	}
	e.used = c.tick
	c.mu.Unlock()
	e.mu.Lock()
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
func (c *Cache[S, C, E]) catchUp(ctx context.Context, stream string, e *cached[S]) error {
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
	e := c.entry(stream)
	defer e.mu.Unlock()
	var conflict error
	for attempt := 1; attempt <= attempts; attempt++ {
		if attempt > 1 {
			if err := pause(ctx, attempt); err != nil {
				return Result[E]{}, err
			}
		}
		if err := c.catchUp(ctx, stream, e); err != nil {
			return Result[E]{}, err
		}
		events, err := c.decider.Decide(e.state, cmd)
		if err != nil {
			return Result[E]{}, err
		}
		if len(events) == 0 {
			return Result[E]{Revision: e.last, Attempts: attempt}, nil
		}
		if len(events) > eventstore.MaxAppendEvents {
			return Result[E]{}, fmt.Errorf("command: %s: decided %d events, over the limit of %d", stream, len(events), eventstore.MaxAppendEvents)
		}
		data := make([]eventstore.EventData, len(events))
		for i, ev := range events {
			typ, body, err := c.codec.Encode(ev)
			if err != nil {
				return Result[E]{}, fmt.Errorf("command: %s: event %d: %w", stream, i, err)
			}
			id, err := uuid.NewRandom()
			if err != nil {
				return Result[E]{}, fmt.Errorf("command: event ID: %w", err)
			}
			data[i] = eventstore.EventData{ID: id, Type: typ, Data: body, Metadata: env.Metadata}
		}
		var expected eventstore.ExpectedRevision = eventstore.NoStream{}
		if e.exists {
			expected = eventstore.Exact(e.last)
		}
		ar, err := c.store.Append(ctx, stream, expected, data...)
		if errors.Is(err, eventstore.ErrWrongExpectedRevision) {
			conflict = err // another process wrote: catch up and decide again
			continue
		}
		if err != nil {
			// The append may or may not have happened: read the stream again next time.
			e.valid = false
			return Result[E]{}, err
		}
		for _, ev := range events {
			e.state = c.decider.Evolve(e.state, ev)
		}
		e.exists, e.last = true, ar.NextExpectedRevision
		return Result[E]{Events: events, Revision: ar.NextExpectedRevision, Position: ar.Position, Attempts: attempt}, nil
	}
	return Result[E]{}, fmt.Errorf("%w: %s after %d attempts: %w", ErrTooManyConflicts, stream, attempts, conflict)
}
