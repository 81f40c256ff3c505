package eventstore

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// chainDomain separates Kazna's event hashes from any other SHA-256 use, and versions the encoding.
const chainDomain = "kazna/event-chain/v1"

// ChainHash is the link of an event in its stream's hash chain: SHA-256 over the previous link and every
// field the event was written with, length-prefixed so that no two different events encode alike. The global
// position is left out because a distributed store assigns it after the hash is fixed.
func ChainHash(prev Hash, stream string, revision uint64, e EventData) Hash {
	m := e.Metadata
	n := len(chainDomain) + len(prev) + 4 + len(stream) + 8 + len(e.ID) + 4 + len(e.Type) + 4 + len(e.Data) +
		5*4 + len(m.Actor) + len(m.Counterparty) + len(m.CorrelationID) + len(m.CausationID) + len(m.RequestID) + 8
	// One buffer and one hash call: this runs for every event written and verified.
	var stack [1024]byte
	b := stack[:0]
	if n > len(stack) {
		b = make([]byte, 0, n)
	}
	b = append(b, chainDomain...)
	b = append(b, prev[:]...)
	b = appendString(b, stream)
	b = binary.BigEndian.AppendUint64(b, revision)
	b = append(b, e.ID[:]...)
	b = appendString(b, e.Type)
	b = binary.BigEndian.AppendUint32(b, uint32(len(e.Data)))
	b = append(b, e.Data...)
	b = appendString(b, m.Actor)
	b = appendString(b, m.Counterparty)
	b = appendString(b, m.CorrelationID)
	b = appendString(b, m.CausationID)
	b = appendString(b, m.RequestID)
	b = binary.BigEndian.AppendUint64(b, uint64(m.Time.UnixNano()))
	return sha256.Sum256(b)
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// ChainError names the first event at which a stream's hash chain breaks.
type ChainError struct {
	Stream   string
	Revision uint64
	Reason   string
}

func (e *ChainError) Error() string {
	return fmt.Sprintf("eventstore: hash chain of %q broken at revision %d: %s", e.Stream, e.Revision, e.Reason)
}

// ChainVerifier checks a stream's events one by one, in order from revision 0, so that a long stream can be
// verified page by page without holding it in memory.
type ChainVerifier struct {
	stream string
	next   uint64
	prev   Hash
}

// NewChainVerifier starts the verification of stream from its first event.
func NewChainVerifier(stream string) *ChainVerifier { return &ChainVerifier{stream: stream} }

// Next checks the next event of the stream: its place, its link to the one before, and its own hash.
func (v *ChainVerifier) Next(e RecordedEvent) error {
	fail := func(format string, args ...any) error {
		return &ChainError{Stream: v.stream, Revision: e.Revision, Reason: fmt.Sprintf(format, args...)}
	}
	if e.Stream != v.stream {
		return fail("event belongs to stream %q", e.Stream)
	}
	if e.Revision != v.next {
		return fail("expected revision %d here: an event is missing or out of order", v.next)
	}
	if e.PrevHash != v.prev {
		return fail("previous hash %s does not match the hash %s of the event before", e.PrevHash, v.prev)
	}
	want := ChainHash(e.PrevHash, e.Stream, e.Revision, EventData{ID: e.ID, Type: e.Type, Data: e.Data, Metadata: e.Metadata})
	if e.Hash != want {
		return fail("stored hash %s does not match the event's contents (%s): the event was changed", e.Hash, want)
	}
	v.prev, v.next = e.Hash, e.Revision+1
	return nil
}

// VerifyChain checks a whole stream read forwards from revision 0.
func VerifyChain(stream string, events []RecordedEvent) error {
	v := NewChainVerifier(stream)
	for _, e := range events {
		if err := v.Next(e); err != nil {
			return err
		}
	}
	return nil
}
