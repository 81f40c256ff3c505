package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	bbolt "go.etcd.io/bbolt"

	"github.com/kazna-ledger/kazna/eventstore"
)

func testEvent(n int) eventstore.EventData {
	return eventstore.EventData{ID: uuid.New(), Type: "Tested", Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, n))}
}

type appendResult struct {
	res eventstore.AppendResult
	err error
}

// TestOneBatchDecidesInOrder holds the committer on its first request while more queue up, so that all of
// them are decided in one batch: each is decided in arrival order against the ones before it, a conflict
// or a retry answers only its own request, and the whole batch is one commit.
func TestOneBatchDecidesInOrder(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	if _, err := s.Append(ctx, "z", eventstore.NoStream{}, testEvent(0)); err != nil {
		t.Fatal(err)
	}
	entered, release := holdFirstBatch(t, s)
	commitsBefore := s.Stats().Commits

	launch := func(stream string, expected eventstore.ExpectedRevision, evs ...eventstore.EventData) chan appendResult {
		// Decide before starting the appender whether to wait for it: once started, the first one can be
		// taken by the committer and hold it (closing entered) before this goroutine looks, and a wait for
		// it to be queued would then never end. That race is what hung CI.
		queued, held := len(s.reqs), isClosed(entered)
		out := make(chan appendResult, 1)
		go func() {
			r, err := s.Append(ctx, stream, expected, evs...)
			out <- appendResult{r, err}
		}()
		if held { // wait until it is queued, so that arrival order is the order of the calls
			waitQueued(t, s, queued+1)
		}
		return out
	}
	r0 := launch("w", eventstore.NoStream{}, testEvent(1))
	<-entered
	e3 := testEvent(3)
	r1 := launch("x", eventstore.NoStream{}, testEvent(2))
	r2 := launch("x", eventstore.NoStream{}, testEvent(2)) // loses to r1
	r3 := launch("x", eventstore.Exact(0), e3)             // follows r1
	r4 := launch("z", eventstore.NoStream{}, testEvent(4)) // conflicts with the committed log
	r5 := launch("y", eventstore.Any{}, testEvent(5), testEvent(6))
	r6 := launch("x", eventstore.Exact(0), e3) // a retry of r3 in the same batch
	r7 := launch("x", eventstore.Exact(1))     // an empty append that sees r3
	release()

	got := func(c chan appendResult) appendResult {
		select {
		case r := <-c:
			return r
		case <-time.After(time.Minute):
			t.Fatal("no answer")
			return appendResult{}
		}
	}
	a0, a1, a2, a3, a4, a5, a6, a7 := got(r0), got(r1), got(r2), got(r3), got(r4), got(r5), got(r6), got(r7)
	for i, a := range []appendResult{a0, a1, a3, a5, a6, a7} {
		if a.err != nil {
			t.Fatalf("answer %d: %v", i, a.err)
		}
	}
	var conflict *eventstore.RevisionConflict
	if !errors.As(a2.err, &conflict) || conflict.Stream != "x" || !conflict.Actual.Exists || conflict.Actual.LastRevision != 0 {
		t.Fatalf("r2 should conflict with r1 (x at revision 0), got %v", a2.err)
	}
	if !errors.As(a4.err, &conflict) || conflict.Stream != "z" {
		t.Fatalf("r4 should conflict on z, got %v", a4.err)
	}
	if a3.res.NextExpectedRevision != 1 || a6.res != a3.res {
		t.Fatalf("r3 %+v and its retry r6 %+v should agree at revision 1", a3.res, a6.res)
	}
	if a7.res.NextExpectedRevision != 1 {
		t.Fatalf("empty append r7: %+v", a7.res)
	}
	// Positions follow arrival order: w, x, x, y, y.
	if a0.res.Position.Commit != 2 || a1.res.Position.Commit != 3 || a3.res.Position.Commit != 4 || a5.res.Position.Commit != 6 {
		t.Fatalf("positions %v %v %v %v, want 2 3 4 6", a0.res.Position, a1.res.Position, a3.res.Position, a5.res.Position)
	}
	if n := s.Stats().Commits - commitsBefore; n != 1 {
		t.Fatalf("the batch took %d commits, want 1", n)
	}
	if err := s.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}

// tamper changes the closed store at path through bbolt directly.
func tamper(t *testing.T, path string, fn func(tx *bbolt.Tx) error) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func filledStore(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 4 { // a: 0-1 at 1-2, b: 0 at 3, a: 2-3 at 4-5, b: 1 at 6 ...
		if _, err := s.Append(ctx, "a", eventstore.Any{}, testEvent(10*i), testEvent(10*i+1)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Append(ctx, "b", eventstore.Any{}, testEvent(10*i+5)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Verify(ctx); err != nil {
		t.Fatalf("untouched store: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func key(p uint64) []byte {
	var k [8]byte
	putU64(k[:], p)
	return k[:]
}

func TestVerifyFindsTampering(t *testing.T) {
	ctx := context.Background()
	t.Run("changed data", func(t *testing.T) {
		path := filledStore(t)
		tamper(t, path, func(tx *bbolt.Tx) error {
			log := tx.Bucket(bucketLog)
			chunk := bytes.Clone(log.Get(key(4))) // a, revisions 2 and 3
			i := bytes.LastIndex(chunk, []byte(`{"n":11}`))
			if i < 0 {
				return errors.New("event data not found")
			}
			chunk[i+6] = '9'
			return log.Put(key(4), chunk)
		})
		s, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var chainErr *eventstore.ChainError
		if err := s.Verify(ctx); !errors.As(err, &chainErr) || chainErr.Stream != "a" || chainErr.Revision != 3 {
			t.Fatalf("Verify: want a chain error at a revision 3, got %v", err)
		}
	})
	t.Run("removed append", func(t *testing.T) {
		path := filledStore(t)
		tamper(t, path, func(tx *bbolt.Tx) error { return tx.Bucket(bucketLog).Delete(key(3)) })
		s, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.Verify(ctx); err == nil || !bytes.Contains([]byte(err.Error()), []byte("jumps from position 2 to 4")) {
			t.Fatalf("Verify: want the gap after position 2, got %v", err)
		}
		if _, err := s.ReadAll(ctx, eventstore.Forwards, eventstore.StartPosition, 10); !errors.Is(err, errCorrupt) {
			t.Fatalf("ReadAll across the gap: want a corruption error, got %v", err)
		}
	})
	t.Run("meta out of step", func(t *testing.T) {
		path := filledStore(t)
		tamper(t, path, func(tx *bbolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyLast, key(11)) })
		if s, err := Open(path); err == nil {
			s.Close()
			t.Fatal("Open accepted a meta that does not match the log")
		}
	})
	t.Run("not an event store", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "other.db")
		tamper(t, path, func(tx *bbolt.Tx) error { _, err := tx.CreateBucket([]byte("x")); return err })
		if s, err := Open(path); err == nil {
			s.Close()
			t.Fatal("Open accepted a bbolt file of something else")
		}
	})
}

func TestDecodeNeverPanics(t *testing.T) {
	e := testEvent(1)
	e.Metadata.Actor = "someone"
	e.Metadata.Time = time.Now()
	enc := encodeEvents("stream", 0, eventstore.Hash{}, []eventstore.EventData{e})
	_, n := uvarintAt(enc.chunk, 0)
	rec := enc.chunk[n:]
	if _, err := decodeCopy(rec, 1); err != nil {
		t.Fatalf("whole record: %v", err)
	}
	for cut := range len(rec) {
		if _, err := decodeCopy(rec[:cut], 1); err == nil {
			t.Fatalf("a record cut to %d of %d bytes decoded", cut, len(rec))
		}
		peekStreamType(rec[:cut])
		recordID(rec[:cut])
	}
	for i := range rec {
		b := bytes.Clone(rec)
		b[i] ^= 0xff
		decodeCopy(b, 1) // must not panic; the hash chain catches what decodes
		peekStreamType(b)
	}
}

// TestCloseDuringGather closes the store while the committer waits for the writers it expects back (see
// gather): the request it has already taken must still be answered, not dropped with its appender waiting
// forever. The window is maxGatherWait long, so the test tries Close at several delays into it.
func TestCloseDuringGather(t *testing.T) {
	ctx := context.Background()
	for i := range 60 {
		s, err := Open(filepath.Join(t.TempDir(), "events.db"))
		if err != nil {
			t.Fatal(err)
		}
		// Two appends in one commit, so that the committer expects two requests for the next one.
		entered, release := holdFirstBatch(t, s)
		first := make(chan error, 2)
		go func() { _, err := s.Append(ctx, "a", eventstore.Any{}, testEvent(0)); first <- err }()
		<-entered
		go func() { _, err := s.Append(ctx, "b", eventstore.Any{}, testEvent(1)); first <- err }()
		waitQueued(t, s, 1)
		release()
		for range 2 {
			if err := <-first; err != nil {
				t.Fatal(err)
			}
		}
		// A lone append: the committer takes it and waits for a second that never comes.
		done := make(chan error, 1)
		go func() { _, err := s.Append(ctx, "c", eventstore.Any{}, testEvent(2)); done <- err }()
		for deadline := time.Now().Add(time.Minute); len(s.reqs) > 0 || s.Stats().Appends < 2; time.Sleep(10 * time.Microsecond) {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the committer never took the lone append", i)
			}
		}
		time.Sleep(time.Duration(i%20) * 10 * time.Microsecond)
		s.Close()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, eventstore.ErrClosed) {
				t.Fatalf("append during Close: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("round %d: an append taken by the committer before Close was never answered", i)
		}
	}
}

// holdFirstBatch makes the committer stop at the start of its next batch until release is called. The
// returned channel closes once it is held. A failing test must not leave it held: Close waits for the
// committer, so a test that stopped with it held would hang until the test binary's timeout instead of
// reporting its failure. Cleanups run last-in first-out, so the release registered here runs before a
// Close registered earlier with t.Cleanup.
func holdFirstBatch(t *testing.T, s *Store) (entered <-chan struct{}, release func()) {
	t.Helper()
	in, out := make(chan struct{}), make(chan struct{})
	var held atomic.Bool
	hook := func() {
		if held.CompareAndSwap(false, true) {
			close(in)
			<-out
		}
	}
	s.testHookBatch.Store(&hook)
	var once sync.Once
	release = func() { once.Do(func() { close(out) }) }
	t.Cleanup(release)
	return in, release
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// waitQueued waits until at least n requests wait in the committer's queue. The bound is generous because
// under -race on a loaded machine a new goroutine can take a while to run; reaching it is a failure, not
// a hang.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); len(s.reqs) < n; time.Sleep(100 * time.Microsecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests queued after a minute, want %d", len(s.reqs), n)
		}
	}
}

// TestAFullBatchAnswersEveryRequest: when the committer gathers a full batch (maxBatchRequests requests queued
// behind a commit), it decides and answers every one of them. It used to stop deciding after the first, once
// the batch was full, and answer by index past its answers: a panic under heavy load.
func TestAFullBatchAnswersEveryRequest(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	entered, release := holdFirstBatch(t, s)
	first := make(chan error, 1)
	go func() {
		_, err := s.Append(ctx, "first", eventstore.NoStream{}, testEvent(0))
		first <- err
	}()
	<-entered
	const n = 2*maxBatchRequests + 200 // the first commit takes a full batch; the next gathers a full one
	results := make(chan error, n)
	for i := range n {
		go func() {
			_, err := s.Append(ctx, fmt.Sprintf("s-%d", i), eventstore.NoStream{}, testEvent(i))
			results <- err
		}()
	}
	waitQueued(t, s, n)
	release()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for range n {
		select {
		case err := <-results:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(time.Minute):
			t.Fatal("an append got no answer")
		}
	}
	if got := s.Stats().Events; got != n+1 {
		t.Fatalf("%d events written, want %d", got, n+1)
	}
}
