package bolt

import (
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/kazna-ledger/kazna/eventstore"
)

// revWalker yields the positions of a stream's events one revision at a time, forwards or backwards, from
// the run that holds the starting revision. It checks that neighbouring runs meet without a gap.
type revWalker struct {
	c       *bbolt.Cursor
	stream  uint64
	dir     eventstore.Direction
	run     run
	rev     uint64
	started bool
	done    bool
	err     error
}

func newRevWalker(revs *bbolt.Bucket, stream, from uint64, dir eventstore.Direction) *revWalker {
	return &revWalker{c: revs.Cursor(), stream: stream, dir: dir, rev: from}
}

// next returns the next revision and its position; ok is false at the end of the stream or on error (Err).
func (w *revWalker) next() (rev, pos uint64, ok bool) {
	if w.done {
		return 0, 0, false
	}
	if !w.started {
		w.started = true
		if !w.seek() {
			return 0, 0, false
		}
		return w.rev, w.run.pos + (w.rev - w.run.first), true
	}
	var k, v []byte
	switch {
	case w.dir == eventstore.Forwards && w.rev+1 < w.run.first+w.run.count:
		w.rev++
	case w.dir == eventstore.Backwards && w.rev > w.run.first:
		w.rev--
	case w.dir == eventstore.Forwards:
		k, v = w.c.Next()
		if !w.load(k, v) {
			return 0, 0, false
		}
		if w.run.first != w.rev+1 {
			return w.fail("revision %d follows revision %d", w.run.first, w.rev)
		}
		w.rev = w.run.first
	default:
		if w.rev == 0 {
			w.done = true
			return 0, 0, false
		}
		k, v = w.c.Prev()
		if !w.load(k, v) {
			return 0, 0, false
		}
		if w.run.first+w.run.count != w.rev {
			return w.fail("the run before revision %d ends at revision %d", w.rev, w.run.first+w.run.count-1)
		}
		w.rev--
	}
	return w.rev, w.run.pos + (w.rev - w.run.first), true
}

// seek finds the run holding w.rev: the last run that starts at or before it.
func (w *revWalker) seek() bool {
	var key [16]byte
	k, v := w.c.Seek(revKey(key[:], w.stream, w.rev))
	if r, ok, err := parseRun(k, v, w.stream); err != nil {
		w.done, w.err = true, err
		return false
	} else if !ok || r.first != w.rev {
		k, v = w.c.Prev()
	}
	if !w.load(k, v) {
		return false
	}
	if w.rev >= w.run.first+w.run.count {
		w.done = true // past the stream's end
		return false
	}
	return true
}

func (w *revWalker) load(k, v []byte) bool {
	r, ok, err := parseRun(k, v, w.stream)
	if err != nil || !ok {
		w.done, w.err = true, err
		return false
	}
	w.run = r
	return true
}

func (w *revWalker) fail(format string, args ...any) (uint64, uint64, bool) {
	w.done = true
	w.err = fmt.Errorf("bolt: revision index of stream id %d: %s", w.stream, fmt.Sprintf(format, args...))
	return 0, 0, false
}

// Err is the error that ended the walk, if any.
func (w *revWalker) Err() error { return w.err }
