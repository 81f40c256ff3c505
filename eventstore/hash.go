package eventstore

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
)

// chainDomain separates Kazna's event hashes from any other SHA-256 use, and versions the encoding.
const chainDomain = "kazna/event-chain/v1"

// ChainHash is the link of an event in its stream's hash chain: SHA-256 over the previous link and every
// field the event was written with, length-prefixed so that no two different events encode alike. The global
// position is left out because a distributed store assigns it after the hash is fixed.
func ChainHash(prev Hash, stream string, revision uint64, e EventData) Hash {
	h := sha256.New()
	h.Write([]byte(chainDomain))
	h.Write(prev[:])
	writeString(h, stream)
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], revision)
	h.Write(n[:])
	h.Write(e.ID[:])
	writeString(h, e.Type)
	writeBytes(h, e.Data)
	m := e.Metadata
	for _, s := range []string{m.Actor, m.Counterparty, m.CorrelationID, m.CausationID, m.RequestID} {
		writeString(h, s)
	}
	binary.BigEndian.PutUint64(n[:], uint64(m.Time.UnixNano()))
	h.Write(n[:])
	var out Hash
	h.Sum(out[:0])
	return out
}

func writeString(h hash.Hash, s string) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(s)))
	h.Write(n[:])
	h.Write([]byte(s))
}

func writeBytes(h hash.Hash, b []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(b)))
	h.Write(n[:])
	h.Write(b)
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
