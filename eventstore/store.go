package eventstore

import (
	"context"
	"fmt"
	"strings"
)

// Store is the port to an event store. Every adapter passes RunConformance.
type Store interface {
	// Append writes events to the end of stream if expected matches the stream, atomically: all or none.
	// Re-appending events whose IDs are already the stream's events at the expected place (a retry after a
	// lost reply) succeeds with the original result and writes nothing. A mismatch is a *RevisionConflict.
	// The store fills a zero Metadata.Time with its clock and computes each event's chain hash.
	Append(ctx context.Context, stream string, expected ExpectedRevision, events ...EventData) (AppendResult, error)

	// ReadStream returns up to count events of stream starting at revision from (inclusive), forwards or
	// backwards; from = StreamEnd reads backwards from the last event. A stream with no events is
	// ErrStreamNotFound; a read past either end is an empty slice. Fewer than count events means the read
	// reached the end of the stream.
	ReadStream(ctx context.Context, stream string, dir Direction, from uint64, count int) ([]RecordedEvent, error)

	// ReadAll returns up to count events of the global log after position from (exclusive), forwards or
	// backwards. Forwards from StartPosition reads from the first event; backwards from EndPosition from the
	// last. To page, pass the Position of the last event returned; an empty page means the end of the log.
	ReadAll(ctx context.Context, dir Direction, from Position, count int) ([]RecordedEvent, error)

	// SubscribeAll follows the global log after position from (exclusive): first the events already written
	// (catch-up), then a CaughtUp message, then events as they are appended (live), each matching event
	// exactly once and in log order, with no gap at the hand-off. With a filter, Checkpoint messages report
	// progress through events that did not match, so that a subscriber can save its place.
	SubscribeAll(ctx context.Context, from Position, filter Filter) (Subscription, error)

	// Close releases the store. Appends already acknowledged are durable; calls after Close return ErrClosed.
	Close() error
}

// Subscription is a live read of the global log.
type Subscription interface {
	// Next blocks until the next message, ctx is done, or the subscription fails or is closed.
	Next(ctx context.Context) (Message, error)
	Close() error
}

// MessageKind tells what a subscription message carries.
type MessageKind int

const (
	EventAppeared MessageKind = iota + 1
	CaughtUp
	Checkpoint
)

// Message is one step of a subscription. For EventAppeared, Event is set and Position is its position; for
// Checkpoint and CaughtUp, Position is a place in the log the subscriber may resume after (it may be the
// zero Position for CaughtUp on an empty log).
type Message struct {
	Kind     MessageKind
	Event    *RecordedEvent
	Position Position
}

// Filter selects the events a subscription delivers: events whose stream name starts with one of
// StreamPrefixes, or whose type starts with one of EventTypePrefixes. At most one of the two may be set; an
// empty Filter delivers every event.
type Filter struct {
	StreamPrefixes    []string
	EventTypePrefixes []string
}

// Validate refuses a filter that names both streams and types, which KurrentDB cannot serve.
func (f Filter) Validate() error {
	if len(f.StreamPrefixes) > 0 && len(f.EventTypePrefixes) > 0 {
		return fmt.Errorf("%w: a filter selects by stream prefix or by event-type prefix, not both", ErrInvalidRead)
	}
	for _, p := range append(append([]string(nil), f.StreamPrefixes...), f.EventTypePrefixes...) {
		if p == "" {
			return fmt.Errorf("%w: empty filter prefix", ErrInvalidRead)
		}
	}
	return nil
}

// IsEmpty reports whether f selects every event.
func (f Filter) IsEmpty() bool { return len(f.StreamPrefixes) == 0 && len(f.EventTypePrefixes) == 0 }

// Matches reports whether f selects an event of stream and type.
func (f Filter) Matches(stream, eventType string) bool {
	if f.IsEmpty() {
		return true
	}
	for _, p := range f.StreamPrefixes {
		if strings.HasPrefix(stream, p) {
			return true
		}
	}
	for _, p := range f.EventTypePrefixes {
		if strings.HasPrefix(eventType, p) {
			return true
		}
	}
	return false
}
