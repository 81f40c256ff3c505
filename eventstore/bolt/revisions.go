package bolt

import (
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/kazna-ledger/kazna/eventstore"
)

// revWalker yields the positions of a stream's events one revision at a time, forwards or backwards, from
// the run that holds the starting revision. It sees the stream's packed entries in the revisions bucket and
// the tail runs of its streams value as one list of runs (see layout.go), and checks that neighbouring run
// lists meet without a gap or an overlap.
type revWalker struct {
	revs *bbolt.Bucket
	c    *bbolt.Cursor // opened on first use: a stream whose runs all fit in its tail never reads the bucket
	st   *streamState
	dir  eventstore.Direction

	list   []byte // the current run list: the tail, or a packed entry's value
	first  uint64 // revision of the list's first event
	end    uint64 // revision after the list's last event
	inTail bool
	i      int // index of the current run in list
	run    run
	rev    uint64

	packed  int // packed entries loaded, so that Verify can tell whether every entry was reached
	started bool
	done    bool
	err     error
}

// newRevWalker walks the stream of st, which must stay valid (and its transaction open) during the walk.
func newRevWalker(revs *bbolt.Bucket, st *streamState, from uint64, dir eventstore.Direction) *revWalker {
	return &revWalker{revs: revs, st: st, dir: dir, rev: from}
}

// next returns the next revision and its position; ok is false at the end of the stream or on error (Err).
func (w *revWalker) next() (rev, pos uint64, ok bool) {
	if w.done {
		return 0, 0, false
	}
	switch {
	case !w.started:
		w.started = true
		if !w.seek() {
			return 0, 0, false
		}
	case w.dir == eventstore.Forwards && w.rev+1 < w.run.end():
		w.rev++
	case w.dir == eventstore.Backwards && w.rev > w.run.first:
		w.rev--
	case w.dir == eventstore.Forwards:
		if !w.forward() {
			return 0, 0, false
		}
		w.rev = w.run.first
	default:
		if !w.backward() {
			return 0, 0, false
		}
		w.rev = w.run.end() - 1
	}
	return w.rev, w.run.pos + (w.rev - w.run.first), true
}

// seek finds the run holding w.rev: in the tail if it is at or after the tail's first revision, else in
// the last packed entry that starts at or before it.
func (w *revWalker) seek() bool {
	st := w.st
	if !st.exists || w.rev > st.lastRev {
		w.done = true // past the stream's end
		return false
	}
	if w.rev >= st.tailFirst {
		w.loadTail()
	} else {
		w.cursor()
		var key [16]byte
		k, v := w.c.Seek(revKey(key[:], st.id, w.rev))
		if len(k) != 16 || u64(k) != st.id || u64(k[8:]) != w.rev {
			if k == nil {
				k, v = w.c.Last()
			} else {
				k, v = w.c.Prev()
			}
		}
		if !w.loadPacked(k, v) {
			return false
		}
		if w.rev < w.first || w.rev >= w.end {
			w.fail("no index entry holds revision %d, which is before the tail's first revision %d", w.rev, st.tailFirst)
			return false
		}
	}
	// Find the run; a list holds at most maxRuns of them.
	w.i, w.run = 0, runAt(w.list, 0, w.first)
	for w.rev >= w.run.end() {
		w.i++
		w.run = runAt(w.list, w.i, w.run.end())
	}
	return true
}

// forward moves to the first run after the current one.
func (w *revWalker) forward() bool {
	if w.i+1 < numRuns(w.list) {
		w.i++
		w.run = runAt(w.list, w.i, w.run.end())
		return true
	}
	if w.inTail {
		w.done = true // the tail ends at the stream's last revision
		return false
	}
	switch after := w.end; {
	case after == w.st.tailFirst:
		w.loadTail()
	case after > w.st.tailFirst:
		return w.fail("the index entry at revision %d runs past the tail's first revision %d", w.first, w.st.tailFirst)
	default:
		if !w.loadPacked(w.c.Next()) {
			return false
		}
		if w.first != after {
			return w.fail("revision %d follows revision %d", w.first, after-1)
		}
	}
	w.i, w.run = 0, runAt(w.list, 0, w.first)
	return true
}

// backward moves to the last run before the current one.
func (w *revWalker) backward() bool {
	if w.i > 0 {
		w.i--
		r := runAt(w.list, w.i, 0)
		r.first = w.run.first - r.count
		w.run = r
		return true
	}
	if w.first == 0 {
		w.done = true
		return false
	}
	var k, v []byte
	if w.inTail {
		// The stream's last packed entry: the one before the first key past the tail's first revision.
		w.cursor()
		var key [16]byte
		if k, _ = w.c.Seek(revKey(key[:], w.st.id, w.st.tailFirst)); k == nil {
			k, v = w.c.Last()
		} else {
			k, v = w.c.Prev()
		}
	} else {
		k, v = w.c.Prev()
	}
	before := w.first
	if !w.loadPacked(k, v) {
		return false
	}
	if w.end != before {
		return w.fail("the index entry before revision %d ends at revision %d", before, w.end-1)
	}
	w.i = numRuns(w.list) - 1
	r := runAt(w.list, w.i, 0)
	r.first = w.end - r.count
	w.run = r
	return true
}

func (w *revWalker) cursor() {
	if w.c == nil {
		w.c = w.revs.Cursor()
	}
}

func (w *revWalker) loadTail() {
	w.list, w.first, w.end, w.inTail = w.st.tail, w.st.tailFirst, w.st.lastRev+1, true
}

// loadPacked makes k, v the current run list; it must be a packed entry of the walker's stream.
func (w *revWalker) loadPacked(k, v []byte) bool {
	if len(k) != 16 || u64(k) != w.st.id {
		if k == nil || len(k) == 16 {
			return w.fail("an index entry is missing")
		}
		return w.fail("corrupt index key %x", k)
	}
	events, _, err := checkRuns(v)
	if err != nil {
		return w.fail("corrupt index entry %x: %v", k, err)
	}
	first := u64(k[8:])
	end, ok := runsEnd(first, events)
	if !ok {
		return w.fail("corrupt index entry %x: %d events from revision %d", k, events+1, first)
	}
	w.list, w.first, w.end, w.inTail = v, first, end, false
	w.packed++
	return true
}

func (w *revWalker) fail(format string, args ...any) bool {
	w.done = true
	w.err = fmt.Errorf("bolt: revision index of stream id %d: %s", w.st.id, fmt.Sprintf(format, args...))
	return false
}

// Err is the error that ended the walk, if any.
func (w *revWalker) Err() error { return w.err }
