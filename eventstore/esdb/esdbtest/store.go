package esdbtest

import (
	"bytes"
	"encoding/json"
	"math"
	"sync"
	"time"

	"github.com/google/uuid"
)

const (
	// firstPosition keeps Position{0,0} from ever naming a real event, as on a real node
	// where system records precede the first user event.
	firstPosition uint64 = 4096
	// recordHeaderBytes approximates a prepare record's fixed overhead so that positions
	// grow like byte offsets in a transaction log.
	recordHeaderBytes = 128
	// deletedStreamRevision is EventNumber.DeletedStream (long.MaxValue): the revision of a
	// tombstone record, and the truncate-before value of a soft-deleted stream.
	deletedStreamRevision = math.MaxInt64
	// maxAppendBytes mirrors the real server's default MaxAppendSize (1 MiB).
	maxAppendBytes = 1 << 20

	contentTypeJSON   = "application/json"
	contentTypeBinary = "application/octet-stream"
	eventTypeMetadata = "$metadata"
	eventTypeDeleted  = "$streamDeleted"
	metaStreamPrefix  = "$$"
)

// record is one committed event. It is immutable once appended to the log, which lets
// readers and subscriptions use it without holding the store lock.
type record struct {
	id      uuid.UUID
	stream  string
	rev     uint64
	pos     uint64 // commit == prepare, like a single-node server
	typ     string
	isJSON  bool
	created int64 // .NET ticks (100 ns) since the Unix epoch
	custom  []byte
	data    []byte
}

// stream holds the per-stream view of the log.
type stream struct {
	events []*record // index == revision
	// byID finds an earlier write of the same event ID (latest wins, as on the real
	// server) for idempotency checks with expected revision any/stream_exists.
	byID map[uuid.UUID]*record
	// truncateBefore hides revisions below it from stream reads: set by a soft delete
	// to deletedStreamRevision, and lowered to the next revision when the stream is
	// written again.
	truncateBefore uint64
	tombstone      *record
}

// lastRev is the real server's "current version": -1 for a stream without events.
// It ignores truncate-before, so numbering continues after a soft delete.
func (st *stream) lastRev() int64 {
	if st == nil {
		return -1
	}
	return int64(len(st.events)) - 1
}

func (st *stream) softDeleted() bool {
	return st != nil && st.truncateBefore == deletedStreamRevision
}

// visible returns the events a stream read may return.
func (st *stream) visible() []*record {
	if st == nil || st.truncateBefore >= uint64(len(st.events)) {
		return nil
	}
	return st.events[st.truncateBefore:]
}

// store is the single append-only log plus per-stream indexes. One mutex serialises
// every write, so exactly one of several concurrent appends wins each revision.
type store struct {
	mu      sync.Mutex
	log     []*record
	streams map[string]*stream
	nextPos uint64
	// changed is closed and replaced after every write; subscriptions wait on it and
	// then re-scan the log from their cursor, so a wake-up can never lose an event.
	changed chan struct{}
}

func newStore() *store {
	return &store{streams: map[string]*stream{}, nextPos: firstPosition, changed: make(chan struct{})}
}

// expectation is an expected stream revision encoded as the real server does.
type expectation int64

const (
	expectAny          expectation = -2
	expectNoStream     expectation = -1
	expectStreamExists expectation = -4
)

type decision int

const (
	decisionOK decision = iota
	decisionIdempotent
	decisionWrongVersion
	decisionDeleted
)

// proposed is one event of an append request, already validated.
type proposed struct {
	id     uuid.UUID
	typ    string
	isJSON bool
	custom []byte
	data   []byte
}

// appendResult is what an Append answers.
type appendResult struct {
	decision decision
	// current is the stream's last revision (-1 for none), reported on conflicts.
	current int64
	// last is the final event written (or found again, for an idempotent retry);
	// nil when nothing was written.
	last *record
}

// check reproduces the real server's commit check (IndexWriter.CheckCommit), including
// its idempotency rules. Callers hold s.mu.
func (s *store) check(name string, exp expectation, ids []uuid.UUID) (decision, *record) {
	st := s.streams[name]
	if st != nil && st.tombstone != nil {
		return decisionDeleted, nil
	}
	cur := st.lastRev()
	if exp == expectStreamExists {
		if st.softDeleted() {
			return decisionDeleted, nil
		}
		if cur < 0 && s.streams[metaStreamPrefix+name].lastRev() < 0 {
			return decisionWrongVersion, nil
		}
	}
	if exp == expectAny || exp == expectStreamExists {
		var last *record
		for i, id := range ids {
			var r *record
			if st != nil {
				r = st.byID[id]
			}
			if r == nil {
				if i == 0 {
					return decisionOK, nil
				}
				return decisionWrongVersion, nil // partly written before: not idempotent
			}
			last = r
		}
		if last == nil {
			return decisionOK, nil
		}
		return decisionIdempotent, last
	}
	e := int64(exp)
	if e < cur {
		n := e
		for _, id := range ids {
			n++
			if n <= cur && st.events[n].id == id {
				continue
			}
			if n != e+1 {
				return decisionWrongVersion, nil // partly written before: not idempotent
			}
			if exp == expectNoStream && st.softDeleted() {
				return decisionOK, nil // recreating a soft-deleted stream
			}
			return decisionWrongVersion, nil
		}
		if n == e {
			return decisionWrongVersion, nil // nothing proposed
		}
		return decisionIdempotent, st.events[n]
	}
	if e > cur {
		return decisionWrongVersion, nil
	}
	return decisionOK, nil
}

func (s *store) appendEvents(name string, exp expectation, events []proposed) appendResult {
	ids := make([]uuid.UUID, len(events))
	for i, e := range events {
		ids[i] = e.id
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d, found := s.check(name, exp, ids)
	res := appendResult{decision: d, current: s.streams[name].lastRev(), last: found}
	if d != decisionOK || len(events) == 0 {
		return res
	}
	st := s.stream(name)
	if st.softDeleted() {
		// The real server "undeletes" by rewriting the metadata with $tb pointing at
		// the first new revision, so earlier events stay hidden.
		st.truncateBefore = uint64(len(st.events))
		s.writeMetadataTB(name, int64(st.truncateBefore))
	}
	now := ticksNow()
	for _, e := range events {
		res.last = s.write(st, name, uint64(len(st.events)), e, now)
	}
	s.broadcast()
	return res
}

// deleteStream soft-deletes (tombstone=false) or hard-deletes a stream after the same
// expected-revision check as an empty append. It returns the written record's position.
func (s *store) deleteStream(name string, exp expectation, tombstone bool) (decision, int64, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, _ := s.check(name, exp, nil)
	cur := s.streams[name].lastRev()
	if d != decisionOK {
		return d, cur, 0
	}
	st := s.stream(name)
	var r *record
	if tombstone {
		r = s.write(nil, name, deletedStreamRevision, proposed{id: uuid.New(), typ: eventTypeDeleted}, ticksNow())
		st.tombstone = r
	} else {
		st.truncateBefore = deletedStreamRevision
		r = s.writeMetadataTB(name, deletedStreamRevision)
	}
	s.broadcast()
	return d, cur, r.pos
}

// writeMetadataTB appends a $metadata event to the stream's metastream that keeps the
// previous metadata and sets $tb, as the real server does for deletes.
func (s *store) writeMetadataTB(name string, tb int64) *record {
	metaName := metaStreamPrefix + name
	meta := map[string]any{}
	if ms := s.streams[metaName]; ms != nil && len(ms.events) > 0 {
		// UseNumber keeps integers such as $maxCount exact. Unparseable user metadata is
		// replaced, like the server's EatException.
		dec := json.NewDecoder(bytes.NewReader(ms.events[len(ms.events)-1].data))
		dec.UseNumber()
		if dec.Decode(&meta) != nil || meta == nil {
			meta = map[string]any{}
		}
	}
	meta["$tb"] = tb
	data, err := json.Marshal(meta)
	if err != nil {
		data = []byte(`{}`)
	}
	ms := s.stream(metaName)
	return s.write(ms, metaName, uint64(len(ms.events)), proposed{id: uuid.New(), typ: eventTypeMetadata, isJSON: true, data: data}, ticksNow())
}

// write appends one record to the log, and to st unless st is nil (tombstones).
// Callers hold s.mu and broadcast afterwards.
func (s *store) write(st *stream, name string, rev uint64, e proposed, created int64) *record {
	r := &record{id: e.id, stream: name, rev: rev, pos: s.nextPos, typ: e.typ, isJSON: e.isJSON, created: created, custom: e.custom, data: e.data}
	s.nextPos += uint64(recordHeaderBytes + len(name) + len(e.typ) + len(e.data) + len(e.custom))
	s.log = append(s.log, r)
	if st != nil {
		st.events = append(st.events, r)
		st.byID[e.id] = r
	}
	return r
}

func (s *store) stream(name string) *stream {
	st := s.streams[name]
	if st == nil {
		st = &stream{byID: map[uuid.UUID]*record{}}
		s.streams[name] = st
	}
	return st
}

func (s *store) broadcast() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func ticksNow() int64 { return time.Now().UnixNano() / 100 }

// streamReadState is the outcome of looking a stream up for a read.
type streamReadState int

const (
	streamFound streamReadState = iota
	streamMissing
	streamDeleted
)

// readStream returns up to count visible events of a stream, starting at from
// (inclusive); from < 0 means the start (forwards) or the end (backwards).
func (s *store) readStream(name string, from int64, backwards bool, count uint64) ([]*record, streamReadState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.streams[name]
	if st != nil && st.tombstone != nil {
		return nil, streamDeleted
	}
	vis := st.visible()
	if len(vis) == 0 {
		return nil, streamMissing
	}
	first, last := int64(vis[0].rev), int64(vis[len(vis)-1].rev)
	var out []*record
	if backwards {
		if from < 0 || from > last {
			from = last
		}
		for r := from; r >= first && uint64(len(out)) < count; r-- {
			out = append(out, st.events[r])
		}
		return out, streamFound
	}
	if from < first {
		from = first
	}
	for r := from; r <= last && uint64(len(out)) < count; r++ {
		out = append(out, st.events[r])
	}
	return out, streamFound
}

// logPosition is a $all position; the log is ordered by commit, then prepare.
type logPosition struct{ commit, prepare uint64 }

func (p logPosition) less(q logPosition) bool {
	return p.commit < q.commit || (p.commit == q.commit && p.prepare < q.prepare)
}

func (r *record) position() logPosition { return logPosition{r.pos, r.pos} }

// readAll returns up to count matching records of $all. Forwards from a position is
// inclusive; backwards from a position is exclusive, because the real server treats a
// backwards position as pointing just past a record. from == nil means start
// (forwards) or end (backwards); fromEnd means the end (forwards: nothing).
func (s *store) readAll(from *logPosition, fromEnd, backwards bool, count uint64, f *filter) []*record {
	s.mu.Lock()
	log := s.log
	s.mu.Unlock()
	var out []*record
	if backwards {
		for i := len(log) - 1; i >= 0 && uint64(len(out)) < count; i-- {
			if from != nil && !log[i].position().less(*from) {
				continue
			}
			if f.match(log[i]) {
				out = append(out, log[i])
			}
		}
		return out
	}
	if fromEnd {
		return nil
	}
	for _, r := range log {
		if uint64(len(out)) >= count {
			break
		}
		if from != nil && r.position().less(*from) {
			continue
		}
		if f.match(r) {
			out = append(out, r)
		}
	}
	return out
}
