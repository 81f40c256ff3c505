package eventstore

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// EventData is an event as a writer proposes it. The ID is chosen by the writer (derived from a request's
// idempotency key where there is one) so that re-appending after a lost reply writes nothing twice.
type EventData struct {
	ID       uuid.UUID
	Type     string
	Data     json.RawMessage
	Metadata Metadata
}

// Metadata says who did what, for whom, in answer to what. Time is set by the writer (the domain passes time
// in); a zero Time is filled with the store's clock at append.
type Metadata struct {
	Actor         string    `json:"actor,omitempty"`
	Counterparty  string    `json:"counterparty,omitempty"`
	CorrelationID string    `json:"correlation_id,omitempty"`
	CausationID   string    `json:"causation_id,omitempty"`
	RequestID     string    `json:"request_id,omitempty"`
	Time          time.Time `json:"time"`
}

// RecordedEvent is an event as the store holds it: where it sits in its stream and in the global log, and the
// link in its stream's hash chain.
type RecordedEvent struct {
	ID       uuid.UUID
	Type     string
	Data     json.RawMessage
	Metadata Metadata

	Stream   string
	Revision uint64   // 0-based number of the event in its stream
	Position Position // place in the global log ($all)
	PrevHash Hash     // Hash of the previous event of the stream; zero for revision 0
	Hash     Hash     // ChainHash(PrevHash, Stream, Revision, event)
}

// Position is a place in the global log. Positions grow strictly in log order. The zero Position is before the
// first event (no event ever has it); EndPosition is after the last one.
type Position struct {
	Commit  uint64
	Prepare uint64
}

var (
	StartPosition = Position{}
	EndPosition   = Position{Commit: ^uint64(0), Prepare: ^uint64(0)}
)

// Less orders positions as the global log does: by commit, then prepare.
func (p Position) Less(q Position) bool {
	if p.Commit != q.Commit {
		return p.Commit < q.Commit
	}
	return p.Prepare < q.Prepare
}

func (p Position) String() string {
	if p.Commit == p.Prepare {
		return fmt.Sprintf("%d", p.Commit)
	}
	return fmt.Sprintf("%d/%d", p.Commit, p.Prepare)
}

// StreamEnd as a revision means "from the last event" when reading a stream backwards.
const StreamEnd = ^uint64(0)

// Direction of a read.
type Direction int

const (
	Forwards Direction = iota
	Backwards
)

func (d Direction) String() string {
	if d == Backwards {
		return "backwards"
	}
	return "forwards"
}

// AppendResult tells where an append left the stream.
type AppendResult struct {
	// NextExpectedRevision is the revision of the last event of the stream after the append: pass
	// Exact(NextExpectedRevision) to append after it.
	NextExpectedRevision uint64
	// Position is the global-log position of the last event written (or, for an append of no events, the
	// zero Position).
	Position Position
}

// Hash is a SHA-256 link of a stream's hash chain.
type Hash [32]byte

func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// IsZero reports whether h is the zero hash, the PrevHash of a stream's first event.
func (h Hash) IsZero() bool { return h == Hash{} }

func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

func (h *Hash) UnmarshalText(b []byte) error {
	if hex.DecodedLen(len(b)) != len(h) {
		return fmt.Errorf("eventstore: hash must be %d hex characters, got %d", 2*len(h), len(b))
	}
	_, err := hex.Decode(h[:], b)
	return err
}
