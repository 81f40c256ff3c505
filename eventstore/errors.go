package eventstore

import (
	"errors"
	"fmt"
)

// Errors every adapter returns, so that callers can tell them apart with errors.Is whatever the store.
var (
	ErrWrongExpectedRevision   = errors.New("eventstore: wrong expected revision")
	ErrStreamNotFound          = errors.New("eventstore: stream not found")
	ErrInvalidStream           = errors.New("eventstore: invalid stream name")
	ErrInvalidEvent            = errors.New("eventstore: invalid event")
	ErrEventTooLarge           = errors.New("eventstore: event too large")
	ErrInvalidExpectedRevision = errors.New("eventstore: invalid expected revision")
	ErrInvalidRead             = errors.New("eventstore: invalid read")
	ErrClosed                  = errors.New("eventstore: store closed")
)

// RevisionConflict is the error of an append whose expected revision did not match the stream. It matches
// ErrWrongExpectedRevision under errors.Is. The command layer reloads the stream and decides again.
type RevisionConflict struct {
	Stream   string
	Expected ExpectedRevision
	Actual   StreamState
}

func (e *RevisionConflict) Error() string {
	return fmt.Sprintf("eventstore: append to %q expected revision %v but the stream is at %v", e.Stream, e.Expected, e.Actual)
}

func (e *RevisionConflict) Unwrap() error { return ErrWrongExpectedRevision }

// TooLarge says which limit an event or append broke, so that the writer can see why.
type TooLarge struct {
	What  string // "event data", "event metadata", "append"
	Size  int
	Limit int
}

func (e *TooLarge) Error() string {
	return fmt.Sprintf("eventstore: %s is %d bytes, over the limit of %d bytes", e.What, e.Size, e.Limit)
}

func (e *TooLarge) Unwrap() error { return ErrEventTooLarge }
