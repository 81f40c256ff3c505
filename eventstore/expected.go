package eventstore

import (
	"fmt"
	"strconv"
)

// ExpectedRevision is what a writer believes about a stream when it appends. The store refuses the append with
// a *RevisionConflict when the belief is wrong, which is how two concurrent deciders on one aggregate are kept
// from both winning.
type ExpectedRevision interface {
	expectedRevision()
	String() string
}

// Any appends whatever the stream holds. Use it only where no invariant depends on the stream's state.
type Any struct{}

// NoStream expects the stream to have no events.
type NoStream struct{}

// StreamExists expects the stream to have at least one event.
type StreamExists struct{}

// Exact expects the stream's last event to have this revision.
type Exact uint64

func (Any) expectedRevision()          {}
func (NoStream) expectedRevision()     {}
func (StreamExists) expectedRevision() {}
func (Exact) expectedRevision()        {}

func (Any) String() string          { return "any" }
func (NoStream) String() string     { return "no_stream" }
func (StreamExists) String() string { return "stream_exists" }
func (e Exact) String() string      { return strconv.FormatUint(uint64(e), 10) }

// ParseExpectedRevision reads the textual forms used in configuration, logs and tools: "any", "no_stream",
// "stream_exists" or a decimal revision. Anything else is ErrInvalidExpectedRevision.
func ParseExpectedRevision(s string) (ExpectedRevision, error) {
	switch s {
	case "any":
		return Any{}, nil
	case "no_stream":
		return NoStream{}, nil
	case "stream_exists":
		return StreamExists{}, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == StreamEnd {
		return nil, fmt.Errorf("%w: %q (want any, no_stream, stream_exists or a revision)", ErrInvalidExpectedRevision, s)
	}
	return Exact(n), nil
}

// StreamState is what a stream holds at the moment of an append.
type StreamState struct {
	Exists       bool
	LastRevision uint64 // meaningful only when Exists
}

func (s StreamState) String() string {
	if !s.Exists {
		return "no_stream"
	}
	return strconv.FormatUint(s.LastRevision, 10)
}

// CheckExpected decides whether an append expecting e may go ahead on a stream in state s. Adapters that
// decide this themselves (rather than leaving it to a server) use it so that every adapter agrees.
func CheckExpected(stream string, e ExpectedRevision, s StreamState) error {
	ok := false
	switch e := e.(type) {
	case Any:
		ok = true
	case NoStream:
		ok = !s.Exists
	case StreamExists:
		ok = s.Exists
	case Exact:
		ok = s.Exists && s.LastRevision == uint64(e)
	default:
		return fmt.Errorf("%w: %v", ErrInvalidExpectedRevision, e)
	}
	if !ok {
		return &RevisionConflict{Stream: stream, Expected: e, Actual: s}
	}
	return nil
}
