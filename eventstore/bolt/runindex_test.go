package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"
	bbolt "go.etcd.io/bbolt"

	"github.com/kazna-ledger/kazna/eventstore"
)

// runModel is what a test expects of the store: each stream's event IDs and positions in revision order.
type runModel struct {
	ids map[string][]uuid.UUID
	pos map[string][]uint64
}

func newRunModel() *runModel {
	return &runModel{ids: map[string][]uuid.UUID{}, pos: map[string][]uint64{}}
}

// add appends n events to stream, expecting its model head, and records them.
func (m *runModel) add(t *testing.T, s *Store, stream string, n int) []eventstore.EventData {
	t.Helper()
	var expected eventstore.ExpectedRevision = eventstore.NoStream{}
	if k := len(m.ids[stream]); k > 0 {
		expected = eventstore.Exact(k - 1)
	}
	evs := make([]eventstore.EventData, n)
	for i := range evs {
		evs[i] = testEvent(len(m.ids[stream]) + i)
	}
	r, err := s.Append(context.Background(), stream, expected, evs...)
	if err != nil {
		t.Fatalf("append %d to %s: %v", n, stream, err)
	}
	for i, e := range evs {
		m.ids[stream] = append(m.ids[stream], e.ID)
		m.pos[stream] = append(m.pos[stream], r.Position.Commit-uint64(n-1-i))
	}
	return evs
}

// check reads stream from every revision (and one past the end), in both directions and with several
// counts, against the model, then verifies the store.
func (m *runModel) check(t *testing.T, s *Store, stream string) {
	t.Helper()
	ctx := context.Background()
	ids, pos := m.ids[stream], m.pos[stream]
	last := uint64(len(ids) - 1)
	for from := uint64(0); from <= last+2; from++ {
		for _, count := range []int{1, 2, maxRuns - 1, maxRuns + 1, 1000} {
			for _, dir := range []eventstore.Direction{eventstore.Forwards, eventstore.Backwards} {
				got, err := s.ReadStream(ctx, stream, dir, from, count)
				if err != nil {
					t.Fatalf("%s %v from %d count %d: %v", stream, dir, from, count, err)
				}
				var want []uint64
				if dir == eventstore.Forwards {
					for r := from; r <= last && len(want) < count; r++ {
						want = append(want, r)
					}
				} else {
					for r := int64(min(from, last)); r >= 0 && len(want) < count; r-- {
						want = append(want, uint64(r))
					}
				}
				if len(got) != len(want) {
					t.Fatalf("%s %v from %d count %d: %d events, want %d", stream, dir, from, count, len(got), len(want))
				}
				for i, r := range want {
					if got[i].Revision != r || got[i].ID != ids[r] || got[i].Position.Commit != pos[r] {
						t.Fatalf("%s %v from %d count %d: event %d is revision %d %s at %v, want revision %d %s at %d",
							stream, dir, from, count, i, got[i].Revision, got[i].ID, got[i].Position, r, ids[r], pos[r])
					}
				}
			}
		}
	}
	m.walk(t, s, stream)
	if err := s.Verify(ctx); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

// walk checks the revision and position the run index yields at every step of a walk from every
// revision, in both directions: reads check only positions, which a walker could reach with wrong revisions.
func (m *runModel) walk(t *testing.T, s *Store, stream string) {
	t.Helper()
	pos := m.pos[stream]
	err := s.db.View(func(tx *bbolt.Tx) error {
		st, err := decodeState(tx.Bucket(bucketStreams).Get([]byte(stream)))
		if err != nil {
			return err
		}
		for from := range uint64(len(pos)) {
			for _, dir := range []eventstore.Direction{eventstore.Forwards, eventstore.Backwards} {
				w := newRevWalker(tx.Bucket(bucketRevisions), &st, from, dir)
				want, steps := from, 0
				for {
					rev, p, ok := w.next()
					if !ok {
						break
					}
					if rev != want || p != pos[want] {
						return fmt.Errorf("walk %v from %d, step %d: revision %d at %d, want %d at %d", dir, from, steps, rev, p, want, pos[want])
					}
					if steps++; dir == eventstore.Forwards {
						want++
					} else {
						want--
					}
				}
				if err := w.Err(); err != nil {
					return err
				}
				if wantSteps := map[bool]int{true: len(pos) - int(from), false: int(from) + 1}[dir == eventstore.Forwards]; steps != wantSteps {
					return fmt.Errorf("walk %v from %d: %d steps, want %d", dir, from, steps, wantSteps)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s: %v", stream, err)
	}
}

// packedEntries counts the revisions-bucket entries of a stream, and returns its tail's run count.
func packedEntries(t *testing.T, s *Store, stream string) (entries, tailRuns int) {
	t.Helper()
	err := s.db.View(func(tx *bbolt.Tx) error {
		st, err := decodeState(tx.Bucket(bucketStreams).Get([]byte(stream)))
		if err != nil {
			return err
		}
		c := tx.Bucket(bucketRevisions).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if u64(k) == st.id {
				entries++
			}
		}
		tailRuns = numRuns(st.tail)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return entries, tailRuns
}

// TestRunIndexBoundaries appends single events to a stream, interleaved with another stream's so that no
// two of its runs meet in the log, up to just before, at and after the tail's capacity and over several
// packed entries, and reads every revision in both directions, across the boundary between packed entries
// and the tail, before and after a reopen.
func TestRunIndexBoundaries(t *testing.T) {
	for _, n := range []int{1, maxRuns - 1, maxRuns, maxRuns + 1, 2 * maxRuns, 3*maxRuns + 5} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "events.db")
			s, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { s.Close() }()
			m := newRunModel()
			for i := range n {
				m.add(t, s, "s", 1)
				m.add(t, s, "other", 1+i%3)
				if i == n/2 { // reopen in the middle
					if err := s.Close(); err != nil {
						t.Fatal(err)
					}
					if s, err = Open(path); err != nil {
						t.Fatalf("reopen after %d appends: %v", i+1, err)
					}
					m.check(t, s, "s")
				}
			}
			wantPacked := (n - 1) / maxRuns
			if entries, runs := packedEntries(t, s, "s"); entries != wantPacked || runs != n-wantPacked*maxRuns {
				t.Fatalf("%d appends: %d packed entries and %d tail runs, want %d and %d", n, entries, runs, wantPacked, n-wantPacked*maxRuns)
			}
			m.check(t, s, "s")
			m.check(t, s, "other")
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if s, err = Open(path); err != nil {
				t.Fatalf("reopen: %v", err)
			}
			m.check(t, s, "s")
			m.add(t, s, "s", 3)
			m.check(t, s, "s")
		})
	}
}

// TestRunIndexMixedAppends interleaves appends of different sizes over three streams, with some appends
// following their stream's previous one directly (so that runs are extended), and checks every read.
func TestRunIndexMixedAppends(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m := newRunModel()
	streams := []string{"a", "b", "c"}
	for i := range 6 * maxRuns {
		stream := streams[(i*7+i/5)%3]
		m.add(t, s, stream, 1+(i*13)%4)
	}
	for _, stream := range streams {
		m.check(t, s, stream)
	}
}

// TestRunsExtend checks that appends which follow each other in the log share one run: a stream with a
// single writer never fills its tail.
func TestRunsExtend(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m := newRunModel()
	for i := range 3 * maxRuns {
		m.add(t, s, "solo", 1+i%2)
	}
	if entries, runs := packedEntries(t, s, "solo"); entries != 0 || runs != 1 {
		t.Fatalf("a lone stream's appends: %d packed entries and %d tail runs, want 0 and 1", entries, runs)
	}
	m.check(t, s, "solo")
}

// TestRetryAcrossPackedEntries recognises retries whose events sit in packed entries, in the tail, and
// across the boundary between them.
func TestRetryAcrossPackedEntries(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	m := newRunModel()
	var appended [][]eventstore.EventData
	for range maxRuns + 3 {
		appended = append(appended, m.add(t, s, "r", 1))
		m.add(t, s, "noise", 1)
	}
	last := s.LastPosition()
	ids, pos := m.ids["r"], m.pos["r"]
	// An exact retry of an append now in a packed entry, and of one in the tail.
	for _, rev := range []int{0, 5, maxRuns - 1, maxRuns, maxRuns + 2} {
		var expected eventstore.ExpectedRevision = eventstore.NoStream{}
		if rev > 0 {
			expected = eventstore.Exact(rev - 1)
		}
		r, err := s.Append(ctx, "r", expected, appended[rev]...)
		if err != nil || r.NextExpectedRevision != uint64(rev) || r.Position.Commit != pos[rev] {
			t.Fatalf("retry of revision %d: %+v %v, want it at %d", rev, r, err, pos[rev])
		}
	}
	// The last four events again at the stream's end: they span the last packed entry and the tail.
	tail := []eventstore.EventData{}
	for _, a := range appended[maxRuns-1:] {
		tail = append(tail, a...)
	}
	r, err := s.Append(ctx, "r", eventstore.Any{}, tail...)
	if err != nil || r.NextExpectedRevision != uint64(len(ids)-1) || r.Position.Commit != pos[len(ids)-1] {
		t.Fatalf("retry at the end across the boundary: %+v %v", r, err)
	}
	// The last two events followed by three new ones: the end of the stream where they would go (from
	// revision maxRuns-2, in the packed entry) holds the first of them, so this is a conflict, not a retry.
	partial := []eventstore.EventData{appended[maxRuns+1][0], appended[maxRuns+2][0], testEvent(97), testEvent(98), testEvent(99)}
	if _, err := s.Append(ctx, "r", eventstore.Any{}, partial...); !errors.Is(err, eventstore.ErrWrongExpectedRevision) {
		t.Fatalf("a partial retry across the boundary should conflict, got %v", err)
	}
	if s.LastPosition() != last {
		t.Fatalf("retries wrote events: the log ends at %v, was %v", s.LastPosition(), last)
	}
	m.check(t, s, "r")
}

// packedStore makes a closed store whose stream "p" has two packed entries and a tail, interleaved with
// stream "q", and returns its path and the key of p's second packed entry.
func packedStore(t *testing.T) (path string, second []byte) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "events.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	m := newRunModel()
	for range 2*maxRuns + 3 {
		m.add(t, s, "p", 1)
		m.add(t, s, "q", 1)
	}
	m.check(t, s, "p")
	var id uint64
	s.db.View(func(tx *bbolt.Tx) error {
		st, err := decodeState(tx.Bucket(bucketStreams).Get([]byte("p")))
		id = st.id
		return err
	})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path, revKey(make([]byte, 16), id, maxRuns)
}

func TestVerifyFindsIndexTampering(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name   string
		change func(revs *bbolt.Bucket, second []byte) error
		want   string
	}{
		{"moved run", func(revs *bbolt.Bucket, k []byte) error {
			v := bytes.Clone(revs.Get(k))
			putU64(v[3*runBytes:], u64(v[3*runBytes:])+1) // now the position of stream q's event
			return revs.Put(k, v)
		}, "which holds"},
		{"cut entry", func(revs *bbolt.Bucket, k []byte) error {
			return revs.Put(k, bytes.Clone(revs.Get(k)[:runBytes*2+5]))
		}, "corrupt index entry"},
		{"empty run", func(revs *bbolt.Bucket, k []byte) error {
			v := bytes.Clone(revs.Get(k))
			putRun(v[runBytes:], u64(v[runBytes:]), 0)
			return revs.Put(k, v)
		}, "corrupt index entry"},
		{"removed entry", func(revs *bbolt.Bucket, k []byte) error { return revs.Delete(k) }, "missing"},
		{"shifted entry", func(revs *bbolt.Bucket, k []byte) error {
			v := bytes.Clone(revs.Get(k))
			if err := revs.Delete(k); err != nil {
				return err
			}
			k = bytes.Clone(k)
			putU64(k[8:], maxRuns+1)
			return revs.Put(k, v)
		}, "follows revision"},
		{"stray entry", func(revs *bbolt.Bucket, k []byte) error {
			k = bytes.Clone(k)
			putU64(k[8:], 10*maxRuns)
			return revs.Put(k, bytes.Clone(revs.Get(revKey(make([]byte, 16), u64(k), maxRuns))))
		}, "reach"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path, second := packedStore(t)
			tamper(t, path, func(tx *bbolt.Tx) error { return tc.change(tx.Bucket(bucketRevisions), second) })
			s, err := Open(path) // the tampered entry is not at the tail of the last event's stream
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Verify(ctx); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Verify: want an error about %q, got %v", tc.want, err)
			}
		})
	}
	t.Run("reads", func(t *testing.T) {
		path, second := packedStore(t)
		tamper(t, path, func(tx *bbolt.Tx) error { return tx.Bucket(bucketRevisions).Delete(second) })
		s, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		for _, dir := range []eventstore.Direction{eventstore.Forwards, eventstore.Backwards} {
			if _, err := s.ReadStream(ctx, "p", dir, maxRuns+1, 1); err == nil {
				t.Fatalf("a %v read of a revision whose entry is gone succeeded", dir)
			}
		}
		if _, err := s.ReadStream(ctx, "p", eventstore.Backwards, eventstore.StreamEnd, 1000); err == nil {
			t.Fatal("a backwards read across a missing entry succeeded")
		}
		// A retry check that starts where the entry is gone.
		if _, err := s.Append(ctx, "p", eventstore.Exact(maxRuns), testEvent(1)); err == nil || !strings.Contains(err.Error(), "no index entry") {
			t.Fatalf("an append whose retry check needs a missing entry: %v", err)
		}
	})
	t.Run("stream entry", func(t *testing.T) {
		path, _ := packedStore(t)
		tamper(t, path, func(tx *bbolt.Tx) error {
			streams := tx.Bucket(bucketStreams)
			v := bytes.Clone(streams.Get([]byte("p")))
			return streams.Put([]byte("p"), v[:len(v)-1])
		})
		s, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.Verify(ctx); err == nil || !strings.Contains(err.Error(), "corrupt stream entry") {
			t.Fatalf("Verify: want a corrupt stream entry, got %v", err)
		}
		if _, err := s.ReadStream(ctx, "p", eventstore.Forwards, 0, 1); err == nil {
			t.Fatal("read of a corrupt stream entry succeeded")
		}
	})
	t.Run("open checks the last stream's index", func(t *testing.T) {
		path, _ := packedStore(t)
		tamper(t, path, func(tx *bbolt.Tx) error {
			st, err := decodeState(tx.Bucket(bucketStreams).Get([]byte("q"))) // q holds the last event
			if err != nil {
				return err
			}
			return tx.Bucket(bucketRevisions).Delete(revKey(make([]byte, 16), st.id, maxRuns))
		})
		if s, err := Open(path); err == nil {
			s.Close()
			t.Fatal("Open accepted a store whose last stream lost its packed entry")
		}
	})
}

func TestDecodeStateNeverPanics(t *testing.T) {
	st := streamState{exists: true, id: 7, lastRev: 40, lastPos: 90}
	st.tail = make([]byte, 3*runBytes)
	putRun(st.tail, 50, 1)
	putRun(st.tail[runBytes:], 60, 2)
	putRun(st.tail[2*runBytes:], 88, 3)
	v := make([]byte, stateSize(st))
	encodeState(v, st)
	got, err := decodeState(v)
	if err != nil || got.tailFirst != 35 || !bytes.Equal(got.tail, st.tail) {
		t.Fatalf("decode: %+v %v", got, err)
	}
	for cut := range len(v) {
		if _, err := decodeState(v[:cut]); err == nil && cut > 0 {
			t.Fatalf("a stream entry cut to %d of %d bytes decoded", cut, len(v))
		}
	}
	for i := range v {
		b := bytes.Clone(v)
		b[i] ^= 0xff
		decodeState(b) // must not panic
	}
	long := make([]byte, stateBytes+(maxRuns+1)*runBytes)
	copy(long, v)
	for i := range maxRuns + 1 {
		putRun(long[stateBytes+i*runBytes:], uint64(10+i), 1)
	}
	if _, err := decodeState(long); err == nil {
		t.Fatal("a tail of more than maxRuns runs decoded")
	}
}

func TestRefusesFormat1(t *testing.T) {
	path := filledStore(t)
	tamper(t, path, func(tx *bbolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyFormat, []byte{1}) })
	s, err := Open(path)
	if err == nil {
		s.Close()
		t.Fatal("Open accepted a format 1 file")
	}
	if !strings.Contains(err.Error(), "older pre-release; recreate the data directory") {
		t.Fatalf("Open of a format 1 file: %v", err)
	}
}
