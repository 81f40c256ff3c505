package bolt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/kazna-ledger/kazna/eventstore"
)

// The file holds four buckets (format 2). Integers in keys are big-endian so that cursors walk in order.
//
//	meta       "format" → formatVersion; "last" → u64 position of the last event of the log (0 when empty)
//	log        first position u64 → chunk: one append's records, each a uvarint length and the record
//	           (see encodeRecord); positions are 1, 2, 3… without gaps, so a chunk of n events at p holds
//	           positions p…p+n-1 and the next chunk starts at p+n
//	streams    name → stream id u64 | last revision u64 | last position u64 | last hash [32] | tail runs
//	revisions  stream id u64 ‖ first revision u64 → packed runs
//
// A run is pos u64 | count u32: count events of the stream at consecutive revisions and consecutive
// positions pos…pos+count-1. A run list (tail runs, packed runs) holds 1 to maxRuns runs that follow each
// other: the next run's first revision is the previous run's first revision plus its count, and its position
// is higher than the previous run's last. A stream's runs cover revisions 0…last revision without a gap:
// its packed entries, in key order, then the tail runs in its streams value, which end at the last
// revision and position (so the tail's first revision is the last revision + 1 − the tail's counts).
//
// An append of n events is one log chunk and one run, not n keys, which is most of what bbolt spends per
// event; an append that lands right after the stream's previous one in the log extends that run. A read of
// one event seeks its chunk and skips the records before it. The runs of a stream's recent appends stay in
// its streams value, which an append rewrites anyway; only when that tail is full (maxRuns runs) does an
// append move it to the revisions bucket as one packed entry keyed by the tail's first revision. Writing
// the index entry of every append to the revisions bucket instead dirtied one more leaf page per append in
// each commit (every stream's last entry lives in a different leaf), and a commit's cost grows with the
// pages it writes; now the revisions bucket is written once per maxRuns appends of a stream. Stream ids
// come from the streams bucket's sequence so that revision keys stay short and each stream's keys sit
// together. Keeping the last hash in the stream's entry lets an append link its chain without reading the
// stream's last event.
//
// There is deliberately no event-ID index. The contract recognises a retry only at the place in the stream
// where the writer expected its events, which the run index answers; an index keyed by random UUIDs would
// dirty one page per event in every commit, several times the log's own write volume.
var (
	bucketMeta      = []byte("meta")
	bucketLog       = []byte("log")
	bucketStreams   = []byte("streams")
	bucketRevisions = []byte("revisions")

	keyFormat = []byte("format")
	keyLast   = []byte("last")
)

// formatVersion 2 keeps a stream's recent runs in its streams value (format 1 had one revisions entry per
// append). Format 1 only ever came from pre-releases, so there is no conversion: such a file is refused.
const formatVersion = 2

// A record is the fixed part first, so that an ID or a hash is read at a known offset, then the
// variable-length fields, each a uvarint length and its bytes. Stream and type come before the rest so that a
// filtered subscription decides on an event without decoding it.
//
//	version byte | id [16] | time int64 (Unix ns) | prev hash [32] | hash [32] | revision uvarint |
//	stream | type | actor | counterparty | correlation id | causation id | request id | data
const (
	recOffID      = 1
	recOffTime    = recOffID + 16
	recOffPrev    = recOffTime + 8
	recOffHash    = recOffPrev + 32
	recFixedBytes = recOffHash + 32
	recordVersion = 1
)

// stateBytes is the size of the fixed part of a streams-bucket value, before its tail runs.
const stateBytes = 8 + 8 + 8 + 32

var errCorrupt = errors.New("bolt: corrupt record")

func putU64(b []byte, v uint64) { binary.BigEndian.PutUint64(b, v) }

func u64(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func fieldLen(n int) int { return uvarintLen(uint64(n)) + n }

// recordSize is the exact encoded size of an event, so that the committer can carve it from its arena.
func recordSize(stream string, revision uint64, e *eventstore.EventData) int {
	m := &e.Metadata
	return recFixedBytes + uvarintLen(revision) + fieldLen(len(stream)) + fieldLen(len(e.Type)) +
		fieldLen(len(m.Actor)) + fieldLen(len(m.Counterparty)) + fieldLen(len(m.CorrelationID)) +
		fieldLen(len(m.CausationID)) + fieldLen(len(m.RequestID)) + fieldLen(len(e.Data))
}

// encodeRecord writes the event into b, which must be exactly recordSize bytes.
func encodeRecord(b []byte, stream string, revision uint64, e *eventstore.EventData, prev, hash eventstore.Hash) {
	b[0] = recordVersion
	copy(b[recOffID:], e.ID[:])
	putU64(b[recOffTime:], uint64(e.Metadata.Time.UnixNano()))
	copy(b[recOffPrev:], prev[:])
	copy(b[recOffHash:], hash[:])
	n := recFixedBytes
	n += binary.PutUvarint(b[n:], revision)
	put := func(s string) {
		n += binary.PutUvarint(b[n:], uint64(len(s)))
		n += copy(b[n:], s)
	}
	m := &e.Metadata
	put(stream)
	put(e.Type)
	put(m.Actor)
	put(m.Counterparty)
	put(m.CorrelationID)
	put(m.CausationID)
	put(m.RequestID)
	n += binary.PutUvarint(b[n:], uint64(len(e.Data)))
	copy(b[n:], e.Data)
}

// text is what a record is read from: the log's bytes, or a string copied out of a read transaction.
type text interface{ ~string | ~[]byte }

// uvarintAt is binary.Uvarint for either kind of text; n <= 0 means a malformed or cut-short number.
func uvarintAt[T text](b T, off int) (v uint64, n int) {
	var shift uint
	for i := 0; i < binary.MaxVarintLen64 && off+i < len(b); i++ {
		c := b[off+i]
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				return 0, -1 // overflows 64 bits
			}
			return v | uint64(c)<<shift, i + 1
		}
		v |= uint64(c&0x7f) << shift
		shift += 7
	}
	return 0, 0
}

func u64At[T text](b T, off int) uint64 {
	var v uint64
	for i := range 8 {
		v = v<<8 | uint64(b[off+i])
	}
	return v
}

// recReader walks the variable part of a record; any overrun marks it bad instead of panicking.
type recReader[T text] struct {
	b   T
	off int
	bad bool
}

func (r *recReader[T]) uvarint() uint64 {
	if r.bad {
		return 0
	}
	v, n := uvarintAt(r.b, r.off)
	if n <= 0 {
		r.bad = true
		return 0
	}
	r.off += n
	return v
}

// field returns the bounds of the next length-prefixed field.
func (r *recReader[T]) field() (start, end int) {
	n := r.uvarint()
	if r.bad || n > uint64(len(r.b)-r.off) {
		r.bad = true
		return 0, 0
	}
	start, end = r.off, r.off+int(n)
	r.off = end
	return start, end
}

// peekStreamType returns the stream and type of a record without decoding the rest.
func peekStreamType(rec []byte) (stream, eventType []byte, err error) {
	if len(rec) < recFixedBytes || rec[0] != recordVersion {
		return nil, nil, errCorrupt
	}
	r := recReader[[]byte]{b: rec, off: recFixedBytes}
	r.uvarint()
	s0, s1 := r.field()
	t0, t1 := r.field()
	if r.bad {
		return nil, nil, errCorrupt
	}
	return rec[s0:s1], rec[t0:t1], nil
}

// recordID returns the event ID of a record.
func recordID(rec []byte) ([16]byte, error) {
	var id [16]byte
	if len(rec) < recFixedBytes || rec[0] != recordVersion {
		return id, errCorrupt
	}
	copy(id[:], rec[recOffID:])
	return id, nil
}

// decodeRecord fills e from rec, except for Data, whose bounds in rec it returns: the strings of e are cut
// from rec without copying, and the caller decides where the data's bytes live.
func decodeRecord(rec string, pos uint64, e *eventstore.RecordedEvent) (dataStart, dataEnd int, err error) {
	if len(rec) < recFixedBytes || rec[0] != recordVersion {
		return 0, 0, fmt.Errorf("%w at position %d", errCorrupt, pos)
	}
	copy(e.ID[:], rec[recOffID:])
	e.Metadata.Time = time.Unix(0, int64(u64At(rec, recOffTime))).UTC()
	copy(e.PrevHash[:], rec[recOffPrev:])
	copy(e.Hash[:], rec[recOffHash:])
	r := recReader[string]{b: rec, off: recFixedBytes}
	e.Revision = r.uvarint()
	s := func() string {
		a, b := r.field()
		return rec[a:b]
	}
	e.Stream = s()
	e.Type = s()
	e.Metadata.Actor = s()
	e.Metadata.Counterparty = s()
	e.Metadata.CorrelationID = s()
	e.Metadata.CausationID = s()
	e.Metadata.RequestID = s()
	dataStart, dataEnd = r.field()
	if r.bad || dataEnd != len(rec) {
		return 0, 0, fmt.Errorf("%w at position %d", errCorrupt, pos)
	}
	e.Position = position(pos)
	return dataStart, dataEnd, nil
}

// decodeCopy decodes a record into an event that owns all of its memory.
func decodeCopy(rec []byte, pos uint64) (eventstore.RecordedEvent, error) {
	var e eventstore.RecordedEvent
	str := string(rec)
	a, b, err := decodeRecord(str, pos, &e)
	if err != nil {
		return e, err
	}
	e.Data = []byte(str[a:b])
	return e, nil
}

// streamState is a streams-bucket entry.
type streamState struct {
	exists  bool
	id      uint64
	lastRev uint64
	lastPos uint64
	last    eventstore.Hash
	// tail is the stream's newest runs as stored (checked by decodeState); it may point into the
	// transaction's pages, so it is valid only while the transaction is open.
	tail      []byte
	tailFirst uint64 // revision of the tail's first event
}

func (s streamState) public() eventstore.StreamState {
	return eventstore.StreamState{Exists: s.exists, LastRevision: s.lastRev}
}

func decodeState(v []byte) (streamState, error) {
	if v == nil {
		return streamState{}, nil
	}
	if len(v) < stateBytes+runBytes {
		return streamState{}, fmt.Errorf("bolt: corrupt stream entry (%d bytes)", len(v))
	}
	st := streamState{exists: true, id: u64(v), lastRev: u64(v[8:]), lastPos: u64(v[16:]), tail: v[stateBytes:]}
	copy(st.last[:], v[24:])
	events, lastPos, err := checkRuns(st.tail)
	if err != nil {
		return streamState{}, fmt.Errorf("bolt: corrupt stream entry: %w", err)
	}
	if events > st.lastRev || lastPos != st.lastPos {
		// events is the tail's event count less one, so the first comparison cannot overflow.
		return streamState{}, fmt.Errorf("bolt: corrupt stream entry: its tail holds %d events ending at position %d, its last revision is %d at %d",
			events+1, lastPos, st.lastRev, st.lastPos)
	}
	st.tailFirst = st.lastRev - events
	return st, nil
}

// stateSize is the size of st's streams-bucket value.
func stateSize(st streamState) int { return stateBytes + len(st.tail) }

// encodeState writes st into b, which must be stateSize(st) bytes.
func encodeState(b []byte, st streamState) {
	putU64(b, st.id)
	putU64(b[8:], st.lastRev)
	putU64(b[16:], st.lastPos)
	copy(b[24:], st.last[:])
	copy(b[stateBytes:], st.tail)
}

const (
	// runBytes is the size of a stored run.
	runBytes = 8 + 4
	// maxRuns bounds a run list. A stream's value grows by runBytes per tail run and is rewritten on every
	// append; the revisions bucket is written once per maxRuns appends of a stream. 16 keeps the value
	// within about 250 bytes while cutting the revisions writes of single-event appends sixteenfold.
	maxRuns = 16
	// maxRunEvents is the most events one run holds (its count is a u32); appends are far smaller, but
	// runs that are extended by the appends after them would otherwise grow without bound.
	maxRunEvents = 1<<32 - 1
)

// run is count events of a stream: revisions first…first+count-1 at positions pos…pos+count-1.
type run struct {
	first, pos, count uint64
}

func (r run) end() uint64 { return r.first + r.count }

func putRun(b []byte, pos, count uint64) {
	putU64(b, pos)
	binary.BigEndian.PutUint32(b[8:], uint32(count))
}

// runAt is the i-th run of a run list that checkRuns accepted, with its first revision given.
func runAt(list []byte, i int, first uint64) run {
	b := list[i*runBytes:]
	return run{first: first, pos: u64(b), count: uint64(binary.BigEndian.Uint32(b[8:]))}
}

func numRuns(list []byte) int { return len(list) / runBytes }

// checkRuns checks a run list: 1 to maxRuns whole runs, none empty, positions rising. It returns the
// number of events it holds less one (so that it never overflows) and the position of its last event.
func checkRuns(list []byte) (events, lastPos uint64, err error) {
	n := len(list) / runBytes
	if len(list)%runBytes != 0 || n < 1 || n > maxRuns {
		return 0, 0, fmt.Errorf("a run list of %d bytes", len(list))
	}
	total := uint64(0)
	for i := range n {
		r := runAt(list, i, 0)
		if r.count == 0 || r.pos <= lastPos || r.pos+(r.count-1) < r.pos {
			return 0, 0, fmt.Errorf("run %d of %d (position %d, %d events) does not follow position %d", i, n, r.pos, r.count, lastPos)
		}
		total += r.count // at most maxRuns × 2³² − 1: no overflow
		lastPos = r.pos + r.count - 1
	}
	return total - 1, lastPos, nil
}

// runsEnd returns the revision after the last of a run list that starts at first, and false if that
// does not fit in a revision.
func runsEnd(first, events uint64) (uint64, bool) {
	end := first + events + 1
	return end, end > first
}

func revKey(b []byte, id, revision uint64) []byte {
	putU64(b, id)
	putU64(b[8:], revision)
	return b[:16]
}
