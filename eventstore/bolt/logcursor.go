package bolt

import (
	"encoding/binary"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/kazna-ledger/kazna/eventstore"
)

// logCursor walks the log one event at a time across chunks (one chunk per append, keyed by the position of
// its first event), checking on the way that chunks meet without a gap or an overlap.
type logCursor struct {
	c     *bbolt.Cursor
	first uint64 // position of the current chunk's first event; 0 when there is no current chunk
	chunk []byte
	ends  []int // end offset of each record of the current chunk; its start is the previous end plus a length
	i     int   // index of the current record in the chunk
	err   error
}

func newLogCursor(log *bbolt.Bucket) *logCursor { return &logCursor{c: log.Cursor()} }

// Err is the error that stopped the cursor, if any.
func (lc *logCursor) Err() error { return lc.err }

// pos is the position of the current event.
func (lc *logCursor) pos() uint64 { return lc.first + uint64(lc.i) }

// rec is the record of the current event.
func (lc *logCursor) rec() []byte {
	start := 0
	if lc.i > 0 {
		start = lc.ends[lc.i-1]
	}
	_, n := binary.Uvarint(lc.chunk[start:]) // checked in load
	return lc.chunk[start+n : lc.ends[lc.i]]
}

// load makes k, v the current chunk and splits it into records.
func (lc *logCursor) load(k, v []byte) bool {
	lc.first, lc.chunk, lc.ends, lc.i = 0, nil, lc.ends[:0], 0
	if k == nil {
		return false
	}
	if len(k) != 8 || u64(k) == 0 {
		lc.err = fmt.Errorf("bolt: corrupt log key %x", k)
		return false
	}
	for off := 0; off < len(v); {
		n, m := binary.Uvarint(v[off:])
		if m <= 0 || n > uint64(len(v)-off-m) {
			lc.err = fmt.Errorf("%w: chunk at position %d is cut short", errCorrupt, u64(k))
			return false
		}
		off += m + int(n)
		lc.ends = append(lc.ends, off)
	}
	if len(lc.ends) == 0 {
		lc.err = fmt.Errorf("%w: empty chunk at position %d", errCorrupt, u64(k))
		return false
	}
	lc.first, lc.chunk = u64(k), v
	return true
}

// seek makes pos current and reports whether the log holds it. If pos is past the end and clamp is set, the
// last event becomes current instead.
func (lc *logCursor) seek(pos uint64, clamp bool) bool {
	var key [8]byte
	putU64(key[:], pos)
	k, v := lc.c.Seek(key[:])
	atEnd := k == nil
	if atEnd {
		k, v = lc.c.Last()
	} else if len(k) == 8 && u64(k) > pos {
		k, v = lc.c.Prev()
	}
	if !lc.load(k, v) {
		return false
	}
	if pos-lc.first < uint64(len(lc.ends)) {
		lc.i = int(pos - lc.first)
		return true
	}
	if !atEnd {
		lc.err = fmt.Errorf("%w: no event at position %d, but the log goes on", errCorrupt, pos)
		return false
	}
	if !clamp {
		return false
	}
	lc.i = len(lc.ends) - 1
	return true
}

// at makes pos current, reusing the current chunk when it holds pos.
func (lc *logCursor) at(pos uint64) bool {
	if lc.first != 0 && pos >= lc.first && pos-lc.first < uint64(len(lc.ends)) {
		lc.i = int(pos - lc.first)
		return true
	}
	return lc.seek(pos, false)
}

// next moves to the following event; false at the end of the log or on error.
func (lc *logCursor) next() bool {
	if lc.first == 0 {
		return false
	}
	if lc.i+1 < len(lc.ends) {
		lc.i++
		return true
	}
	want := lc.first + uint64(len(lc.ends))
	if !lc.load(lc.c.Next()) {
		return false
	}
	if lc.first != want {
		lc.err = fmt.Errorf("%w: the log jumps from position %d to %d", errCorrupt, want-1, lc.first)
		return false
	}
	return true
}

// prev moves to the preceding event; false at the start of the log or on error.
func (lc *logCursor) prev() bool {
	if lc.first == 0 {
		return false
	}
	if lc.i > 0 {
		lc.i--
		return true
	}
	want := lc.first - 1
	if !lc.load(lc.c.Prev()) {
		return false
	}
	if lc.first+uint64(len(lc.ends))-1 != want {
		lc.err = fmt.Errorf("%w: the log jumps from position %d to %d", errCorrupt, lc.first+uint64(len(lc.ends))-1, want+1)
		return false
	}
	lc.i = len(lc.ends) - 1
	return true
}

// step moves one event in direction dir.
func (lc *logCursor) step(dir eventstore.Direction) bool {
	if dir == eventstore.Backwards {
		return lc.prev()
	}
	return lc.next()
}
