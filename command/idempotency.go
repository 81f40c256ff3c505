package command

import (
	"crypto/sha256"
	"encoding/binary"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/eventstore"
)

// idempotency derives and recognises the event IDs of one keyed request.
//
// A request with an idempotency key gets event IDs derived from it, so that the same request always proposes
// the same IDs. The port's Metadata has no field for a request fingerprint, so the ID carries it too: an event
// ID is an RFC 9562 version 8 (custom) UUID whose first half names (stream, key, index of the event in the
// request) and whose second half names the request's fingerprint:
//
//	bytes 0-7   SHA-256(stream, key, index)[0:8]   (version nibble 8 in byte 6)
//	bytes 8-15  SHA-256(fingerprint)[0:8]          (RFC variant in byte 8)
//
// Before deciding, Handle looks in the loaded stream for an event whose first half names (stream, key, 0).
// If there is one, the key was used on this stream: when the second half matches too, the events of that
// request are returned as they were (Result.Replayed) and nothing is decided or written; when it does not,
// the answer is ErrIdempotencyConflict. Two identical requests racing both decide and append the same IDs
// at the same revision, so the store's idempotent append (or the reload after a conflict) settles them into
// one write.
//
// Keys are scoped to a stream: the same key on another stream is another request. A keyed request that
// decided no event leaves no trace, so its retry decides again.
type idempotency struct {
	stream, key string
	fingerprint [8]byte
}

func newIdempotency(stream, key string, fingerprint []byte) *idempotency {
	sum := sha256.Sum256(fingerprint)
	id := &idempotency{stream: stream, key: key}
	copy(id.fingerprint[:], sum[:8])
	id.fingerprint[0] = id.fingerprint[0]&0x3f | 0x80 // RFC 9562 variant bits
	return id
}

// name is the first half of the ID of the event at index of the request.
func (p *idempotency) name(index int) [8]byte {
	h := sha256.New()
	// Length prefixes keep ("ab","c") and ("a","bc") apart.
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(p.stream)))
	h.Write(n[:])
	h.Write([]byte(p.stream))
	binary.BigEndian.PutUint64(n[:], uint64(len(p.key)))
	h.Write(n[:])
	h.Write([]byte(p.key))
	binary.BigEndian.PutUint64(n[:], uint64(index))
	h.Write(n[:])
	var out [8]byte
	copy(out[:], h.Sum(nil))
	out[6] = out[6]&0x0f | 0x80 // version 8
	return out
}

// id is the ID of the event at index of the request.
func (p *idempotency) id(index int) uuid.UUID {
	var u uuid.UUID
	name := p.name(index)
	copy(u[0:8], name[:])
	copy(u[8:16], p.fingerprint[:])
	return u
}

// priorRequest finds, while a stream is folded, the events an earlier request with the same key wrote.
type priorRequest[E any] struct {
	p        *idempotency
	first    [8]byte // name(0), computed once
	found    bool
	done     bool // the run of the request's events has ended
	sameBody bool
	events   []E
	revision uint64
	position eventstore.Position
}

func (r *priorRequest[E]) observe(id uuid.UUID, e E, revision uint64, pos eventstore.Position) {
	if r == nil || r.done {
		return
	}
	if !r.found {
		if [8]byte(id[0:8]) != r.first {
			return
		}
		r.found = true
		r.sameBody = [8]byte(id[8:16]) == r.p.fingerprint
	} else if [8]byte(id[0:8]) != r.p.name(len(r.events)) {
		// The request's events were appended together, so the first event that is not the next one ends them.
		r.done = true
		return
	}
	r.events = append(r.events, e)
	r.revision, r.position = revision, pos
}
