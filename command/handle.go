package command

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/eventstore"
)

// Decider is a pure aggregate: the state before any event, how an event changes the state, and what events
// a command produces in a state (or a domain error). Neither function may do I/O or read a clock; time comes
// in the command.
type Decider[S, C, E any] struct {
	Initial S
	Evolve  func(state S, event E) S
	Decide  func(state S, cmd C) ([]E, error)
}

// Store is what Handle needs of the event store; every eventstore.Store has it.
type Store interface {
	ReadStream(ctx context.Context, stream string, dir eventstore.Direction, from uint64, count int) ([]eventstore.RecordedEvent, error)
	Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error)
}

const (
	// DefaultMaxAttempts bounds the decisions of one Handle when the stream keeps moving under it.
	DefaultMaxAttempts = 5
	// MaxAttemptsLimit bounds Envelope.MaxAttempts.
	MaxAttemptsLimit = 100
	// MaxStreamEvents bounds the events Handle folds to decide. An aggregate that outgrows it needs a
	// snapshot or a new stream (close the books), not a longer load.
	MaxStreamEvents = 1_000_000
	// conflictPauseStep spreads retries of writers that lost a race: before attempt n, Handle waits a
	// random time below (n-1)*conflictPauseStep, so at most MaxAttemptsLimit² / 2 steps in all.
	conflictPauseStep = 2 * time.Millisecond
)

var (
	// ErrTooManyConflicts is a command that lost the race for its stream on every attempt. The error also
	// matches eventstore.ErrWrongExpectedRevision. Retrying the request later is safe.
	ErrTooManyConflicts = errors.New("command: stream kept changing, gave up")
	// ErrIdempotencyConflict is an idempotency key already used on the stream by a request with another body.
	ErrIdempotencyConflict = errors.New("command: idempotency key reused with a different request")
	// ErrInvalid is a call Handle cannot run: a decider or codec missing, bad bounds.
	ErrInvalid = errors.New("command: invalid call")
)

// Envelope is what a command carries besides its body: the metadata written on every event it produces, and
// the idempotency of the request.
type Envelope struct {
	// Metadata is written on each new event as given. A zero Time is filled by the store's clock; pass the
	// command's time to keep the two equal.
	Metadata eventstore.Metadata
	// IdempotencyKey, when set, derives the new events' IDs from (stream, key, index) and the Fingerprint
	// (see idempotency.go). A later Handle with the same key on the same stream finds those events while
	// loading: with the same Fingerprint it returns them as they were (Result.Replayed) and writes nothing;
	// with another it fails with ErrIdempotencyConflict. Without a key every event gets a random ID.
	IdempotencyKey string
	// Fingerprint identifies the request's content (for an HTTP request, a hash of its method, path and
	// body). Empty means the JSON encoding of the command. A command that carries something a retry
	// changes, such as the time the request was received, needs a Fingerprint of the request itself, or an
	// honest retry is taken for a different request.
	Fingerprint []byte
	// MaxAttempts bounds the decisions when the stream keeps changing; 0 means DefaultMaxAttempts.
	MaxAttempts int
}

// Result is what a handled command did.
type Result[E any] struct {
	// Events are the events the command produced (none if the decider had nothing to do).
	Events []E
	// Revision is the revision of the stream's last event after the command, or of the last replayed event.
	// It is meaningless when the stream has no events.
	Revision uint64
	// Position is the global-log position of the last event written (or replayed); wait for it on the read
	// models to read your own write. Zero when no event was written.
	Position eventstore.Position
	// Replayed says the idempotency key had been used for this request before: Events are the events it
	// wrote then, and nothing was decided or written now.
	Replayed bool
	// Attempts is the number of decisions made (1 unless a conflict forced a reload).
	Attempts int
}

// Handle loads stream, folds it with d.Evolve, decides cmd with d.Decide and appends the new events with the
// exact revision it decided on (NoStream for a new stream). When another writer appended first, it reloads
// and decides again, at most env.MaxAttempts times, then returns an error matching ErrTooManyConflicts.
//
// An error from d.Decide is returned unchanged and nothing is written. A stored event the codec cannot
// decode is an error: an aggregate must never decide on a state it could not fully rebuild.
func Handle[S, C, E any](ctx context.Context, store Store, stream string, d Decider[S, C, E], codec Codec[E], cmd C, env Envelope) (Result[E], error) {
	var none Result[E]
	if store == nil || codec == nil || d.Evolve == nil || d.Decide == nil {
		return none, fmt.Errorf("%w: store, codec, Evolve and Decide are all required", ErrInvalid)
	}
	attempts := env.MaxAttempts
	if attempts == 0 {
		attempts = DefaultMaxAttempts
	}
	if attempts < 1 || attempts > MaxAttemptsLimit {
		return none, fmt.Errorf("%w: MaxAttempts %d outside 1..%d", ErrInvalid, env.MaxAttempts, MaxAttemptsLimit)
	}
	var idem *idempotency
	if env.IdempotencyKey != "" {
		fp := env.Fingerprint
		if len(fp) == 0 {
			b, err := json.Marshal(cmd)
			if err != nil {
				return none, fmt.Errorf("%w: fingerprint the command: %v", ErrInvalid, err)
			}
			fp = b
		}
		idem = newIdempotency(stream, env.IdempotencyKey, fp)
	}

	var conflict error
	for attempt := 1; attempt <= attempts; attempt++ {
		if attempt > 1 {
			if err := pause(ctx, attempt); err != nil {
				return none, err
			}
		}
		res, lost, err := handleOnce(ctx, store, stream, d, codec, cmd, env.Metadata, idem)
		if !lost {
			res.Attempts = attempt
			return res, err
		}
		conflict = err
	}
	return none, fmt.Errorf("%w: %s after %d attempts: %w", ErrTooManyConflicts, stream, attempts, conflict)
}

// pause waits a random moment before attempt, so that writers that collided do not collide again in step.
func pause(ctx context.Context, attempt int) error {
	d := time.Duration(rand.Int64N(int64(attempt-1) * int64(conflictPauseStep)))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// handleOnce makes one decision; lost reports that the append lost the race for the stream.
func handleOnce[S, C, E any](ctx context.Context, store Store, stream string, d Decider[S, C, E], codec Codec[E], cmd C, meta eventstore.Metadata, idem *idempotency) (res Result[E], lost bool, err error) {
	state := d.Initial
	var prior *priorRequest[E]
	if idem != nil {
		prior = &priorRequest[E]{p: idem, first: idem.name(0)}
	}
	exists, last, err := load(ctx, store, stream, func(ev *eventstore.RecordedEvent) error {
		e, err := codec.Decode(ev.Type, ev.Data)
		if err != nil {
			return fmt.Errorf("command: %s@%d: %w", stream, ev.Revision, err)
		}
		state = d.Evolve(state, e)
		prior.observe(ev.ID, e, ev.Revision, ev.Position)
		return nil
	})
	if err != nil {
		return res, false, err
	}
	if prior != nil && prior.found {
		if !prior.sameBody {
			return res, false, fmt.Errorf("%w: key %q on %s", ErrIdempotencyConflict, idem.key, stream)
		}
		return Result[E]{Events: prior.events, Revision: prior.revision, Position: prior.position, Replayed: true}, false, nil
	}

	events, err := d.Decide(state, cmd)
	if err != nil {
		return res, false, err // a domain error, for the caller to map
	}
	if len(events) == 0 {
		return Result[E]{Revision: last}, false, nil
	}
	if len(events) > eventstore.MaxAppendEvents {
		return res, false, fmt.Errorf("command: %s: decided %d events, over the limit of %d", stream, len(events), eventstore.MaxAppendEvents)
	}
	data := make([]eventstore.EventData, len(events))
	for i, e := range events {
		typ, body, err := codec.Encode(e)
		if err != nil {
			return res, false, fmt.Errorf("command: %s: event %d: %w", stream, i, err)
		}
		var id uuid.UUID
		if idem != nil {
			id = idem.id(i)
		} else if id, err = uuid.NewRandom(); err != nil {
			return res, false, fmt.Errorf("command: event ID: %w", err)
		}
		data[i] = eventstore.EventData{ID: id, Type: typ, Data: body, Metadata: meta}
	}
	var expected eventstore.ExpectedRevision = eventstore.NoStream{}
	if exists {
		expected = eventstore.Exact(last)
	}
	ar, err := store.Append(ctx, stream, expected, data...)
	if errors.Is(err, eventstore.ErrWrongExpectedRevision) {
		return res, true, err
	}
	if err != nil {
		return res, false, err
	}
	return Result[E]{Events: events, Revision: ar.NextExpectedRevision, Position: ar.Position}, false, nil
}

// load reads stream forwards in pages, handing each event to fold in order. It relies on the port's promise
// that a read returns count events when the stream has them, so a short page is the end of the stream.
func load(ctx context.Context, store Store, stream string, fold func(*eventstore.RecordedEvent) error) (exists bool, last uint64, err error) {
	var next uint64
	for next < MaxStreamEvents {
		page, err := store.ReadStream(ctx, stream, eventstore.Forwards, next, eventstore.MaxReadCount)
		if errors.Is(err, eventstore.ErrStreamNotFound) && next == 0 {
			return false, 0, nil
		}
		if err != nil {
			return false, 0, fmt.Errorf("command: read %s from %d: %w", stream, next, err)
		}
		for i := range page {
			if page[i].Revision != next {
				return false, 0, fmt.Errorf("command: read %s: got revision %d where %d was due", stream, page[i].Revision, next)
			}
			if err := fold(&page[i]); err != nil {
				return false, 0, err
			}
			next++
		}
		if len(page) < eventstore.MaxReadCount {
			if next == 0 {
				return false, 0, nil
			}
			return true, next - 1, nil
		}
	}
	return false, 0, fmt.Errorf("command: %s has more than %d events: snapshot or split the aggregate", stream, MaxStreamEvents)
}
