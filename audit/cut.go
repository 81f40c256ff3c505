package audit

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kazna-ledger/kazna/eventstore"
)

// Cut is the point in history a replay stops at: every event recorded at or before a time (its metadata
// time), or every event at or before a log position. The zero Cut keeps the whole log.
type Cut struct {
	time       time.Time
	position   eventstore.Position
	byPosition bool
}

// ErrInvalidCut is a --until value that is neither an RFC 3339 time nor a log position.
var ErrInvalidCut = errors.New("audit: invalid cut")

// Until is the cut at time t: events whose metadata time is t or earlier.
func Until(t time.Time) Cut { return Cut{time: t} }

// UntilPosition is the cut at log position p: events at p or before.
func UntilPosition(p eventstore.Position) Cut { return Cut{position: p, byPosition: true} }

// ParseCut reads an RFC 3339 time ("2026-05-01T12:00:00Z", fractions allowed) or a log position: a decimal
// number ("1500", the embedded store's positions) or commit/prepare ("1500/1498", KurrentDB's).
func ParseCut(s string) (Cut, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Cut{}, fmt.Errorf("%w: empty; give an RFC 3339 time or a log position", ErrInvalidCut)
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return Until(t), nil
	}
	commit, prepare, two := strings.Cut(s, "/")
	c, err := strconv.ParseUint(commit, 10, 64)
	if err != nil {
		return Cut{}, fmt.Errorf("%w: %q is neither an RFC 3339 time (2026-05-01T12:00:00Z) nor a log position (1500 or 1500/1498)", ErrInvalidCut, s)
	}
	p := c
	if two {
		if p, err = strconv.ParseUint(prepare, 10, 64); err != nil {
			return Cut{}, fmt.Errorf("%w: %q: the prepare part of a position must be a number", ErrInvalidCut, s)
		}
	}
	return UntilPosition(eventstore.Position{Commit: c, Prepare: p}), nil
}

// IsZero reports whether c keeps the whole log.
func (c Cut) IsZero() bool { return !c.byPosition && c.time.IsZero() }

// ByPosition reports whether c is a position cut, and the position.
func (c Cut) ByPosition() (eventstore.Position, bool) { return c.position, c.byPosition }

// Time is the time of a time cut (zero for the others).
func (c Cut) Time() time.Time { return c.time }

// Includes reports whether e is at or before the cut.
func (c Cut) Includes(e *eventstore.RecordedEvent) bool {
	switch {
	case c.byPosition:
		return !c.position.Less(e.Position)
	case c.time.IsZero():
		return true
	}
	return !e.Metadata.Time.After(c.time)
}

// past reports whether e, and so (for a position cut) everything after it, lies beyond the cut. A time cut
// is never passed for good: metadata times are the writers' clocks, which need not follow the log's order
// exactly, so a replay to a time reads the whole log and keeps what is at or before it.
func (c Cut) past(e *eventstore.RecordedEvent) bool {
	return c.byPosition && c.position.Less(e.Position)
}

func (c Cut) String() string {
	switch {
	case c.byPosition:
		return "position " + c.position.String()
	case c.time.IsZero():
		return "the end of the log"
	}
	return c.time.UTC().Format(time.RFC3339Nano)
}
