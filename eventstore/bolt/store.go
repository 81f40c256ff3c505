package bolt

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/kazna-ledger/kazna/eventstore"
)

// Store is an eventstore.Store in one bbolt file. It is safe for concurrent use.
type Store struct {
	db  *bbolt.DB
	cfg config

	// mu is held shared by an appender while it hands its request to the committer, and exclusively by Close
	// to stop new ones: once Close holds it, nothing more can enter reqs, so the committer can drain it.
	mu     sync.RWMutex
	closed bool
	reqs   chan *appendReq

	isClosed      atomic.Bool
	committerDone chan struct{}
	closing       chan struct{} // closed once the committer has stopped; ends subscriptions
	closeOnce     sync.Once
	closeErr      error

	last   atomic.Uint64 // position of the last committed event
	notify notifier
	heads  heads

	commits, appends, events atomic.Uint64

	// testHookBatch, when set, is called by the committer with each batch's size before deciding it.
	// testHookBatch, when set, runs in the committer when it starts a batch, before it takes more requests.
	testHookBatch atomic.Pointer[func()]
}

var _ eventstore.Store = (*Store)(nil)

// Option changes how Open sets up a store.
type Option func(*config)

type config struct {
	checkpointInterval int
	mmapBytes          int
	lockTimeout        time.Duration
}

// CheckpointInterval sets after how many events that a filter passed over a subscription reports a
// Checkpoint (default 1000).
func CheckpointInterval(events int) Option {
	return func(c *config) {
		if events > 0 {
			c.checkpointInterval = events
		}
	}
}

// InitialMmapSize sets the initial memory map (default 1 GiB). A map that already covers the file lets a
// commit that grows the file proceed without waiting for open reads; it costs address space, not memory.
func InitialMmapSize(bytes int) Option {
	return func(c *config) {
		if bytes > 0 {
			c.mmapBytes = bytes
		}
	}
}

// LockTimeout sets how long Open waits for another process to release the file (default 1s).
func LockTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.lockTimeout = d
		}
	}
}

const (
	// maxQueuedAppends bounds the requests waiting for the committer; appenders beyond it wait to enqueue.
	maxQueuedAppends = 4096
	// maxBatchRequests and maxBatchBytes bound one commit, so that one fsync never waits for an unbounded
	// amount of work and the committer's arena stays small.
	maxBatchRequests = 1000
	maxBatchBytes    = 4 << 20
	// subscriptionScan bounds the events one subscription read passes over (and so the length of its read
	// transaction); subscriptionPage bounds the events it returns.
	subscriptionScan = 4096
	subscriptionPage = 512
)

// Open opens or creates the event store at path (for example <data>/events.db) and checks that it is
// consistent. Only one process may hold it open.
func Open(path string, opts ...Option) (*Store, error) {
	cfg := config{checkpointInterval: 1000, mmapBytes: 1 << 30, lockTimeout: time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout: cfg.lockTimeout,
		// The freelist is rebuilt by scanning on open instead of written on every commit; for an append-only
		// log it is small, and this saves a page write per commit.
		NoFreelistSync:  true,
		FreelistType:    bbolt.FreelistMapType,
		InitialMmapSize: cfg.mmapBytes,
	})
	if err != nil {
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	last, err := prepare(db)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	s := &Store{
		db:            db,
		cfg:           cfg,
		reqs:          make(chan *appendReq, maxQueuedAppends),
		committerDone: make(chan struct{}),
		closing:       make(chan struct{}),
	}
	s.notify.ch = make(chan struct{})
	s.last.Store(last)
	go s.commitLoop()
	return s, nil
}

// prepare creates the buckets of a new file, or checks an existing one: its format, and that the meta, the
// log, the stream table and the revision index agree about the last event. It returns the last position.
func prepare(db *bbolt.DB) (last uint64, err error) {
	err = db.Update(func(tx *bbolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			empty := true
			tx.ForEach(func([]byte, *bbolt.Bucket) error { empty = false; return nil })
			if !empty {
				return errors.New("not a Kazna event store (no meta bucket)")
			}
			for _, name := range [][]byte{bucketMeta, bucketLog, bucketStreams, bucketRevisions} {
				if _, err := tx.CreateBucket(name); err != nil {
					return err
				}
			}
			meta = tx.Bucket(bucketMeta)
			var zero [8]byte
			if err := meta.Put(keyFormat, []byte{formatVersion}); err != nil {
				return err
			}
			return meta.Put(keyLast, zero[:])
		}
		if v := meta.Get(keyFormat); len(v) != 1 || v[0] != formatVersion {
			if len(v) == 1 && v[0] == 1 {
				return errors.New("format 1 was created by an older pre-release; recreate the data directory")
			}
			return fmt.Errorf("unknown format %v (want %d)", v, formatVersion)
		}
		v := meta.Get(keyLast)
		if len(v) != 8 {
			return errors.New("meta has no last position")
		}
		last = u64(v)
		log, streams, revs := tx.Bucket(bucketLog), tx.Bucket(bucketStreams), tx.Bucket(bucketRevisions)
		if log == nil || streams == nil || revs == nil {
			return errors.New("a bucket is missing")
		}
		return checkTail(log, streams, revs, last)
	})
	return last, err
}

// checkTail is the cheap part of Verify that runs on every open: the log ends exactly at the meta's last
// position, and the last event is its stream's last event in both the stream table and the revision index.
func checkTail(log, streams, revs *bbolt.Bucket, last uint64) error {
	if last == 0 {
		if k, _ := log.Cursor().First(); k != nil {
			return errors.New("meta says the log is empty but it is not")
		}
		return nil
	}
	if k, _ := log.Cursor().First(); len(k) != 8 || u64(k) != 1 {
		return fmt.Errorf("the log starts at key %x, not at position 1", k)
	}
	lc := newLogCursor(log)
	if !lc.seek(last, false) {
		return fmt.Errorf("meta says the log ends at %d but it holds no event there (%v)", last, lc.Err())
	}
	rec := lc.rec()
	if lc.next() {
		return fmt.Errorf("meta says the log ends at %d but it goes on", last)
	}
	e, err := decodeCopy(rec, last)
	if err != nil {
		return err
	}
	st, err := decodeState(streams.Get([]byte(e.Stream)))
	if err != nil {
		return err
	}
	if !st.exists || st.lastRev != e.Revision || st.lastPos != last || st.last != e.Hash {
		return fmt.Errorf("the last event (%s revision %d at %d) is not its stream's last event", e.Stream, e.Revision, last)
	}
	w := newRevWalker(revs, &st, e.Revision, eventstore.Forwards)
	if _, pos, ok := w.next(); !ok || pos != last {
		return fmt.Errorf("the revision index does not place %s revision %d at %d (%v)", e.Stream, e.Revision, last, w.Err())
	}
	// Where the stream's packed entries meet its tail: the last entry must end where the tail begins.
	if st.tailFirst > 0 {
		w := newRevWalker(revs, &st, st.tailFirst-1, eventstore.Forwards)
		w.next()
		if rev, _, ok := w.next(); !ok || rev != st.tailFirst {
			return fmt.Errorf("the revision index of %s does not reach its tail at revision %d (%v)", e.Stream, st.tailFirst, w.Err())
		}
	}
	return nil
}

// Close stops taking appends, lets the committer finish those already handed to it, ends subscriptions and
// closes the file. Calling it again does nothing and returns nil.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.isClosed.Store(true)
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.reqs)
		<-s.committerDone
		close(s.closing)
		err = s.db.Close()
	})
	return err
}

// LastPosition is the position of the last acknowledged event (the zero Position on an empty log).
func (s *Store) LastPosition() eventstore.Position {
	p := s.last.Load()
	return eventstore.Position{Commit: p, Prepare: p}
}

// Stats counts the work of the committer since Open.
type Stats struct {
	Commits uint64 // bbolt transactions committed (each one fsync of data and one of meta)
	Appends uint64 // append requests that wrote events
	Events  uint64 // events written
}

func (s *Store) Stats() Stats {
	return Stats{Commits: s.commits.Load(), Appends: s.appends.Load(), Events: s.events.Load()}
}

func (s *Store) view(fn func(tx *bbolt.Tx) error) error {
	if s.isClosed.Load() {
		return eventstore.ErrClosed
	}
	err := s.db.View(fn)
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return eventstore.ErrClosed
	}
	return err
}

// ReadStream reads a stream; see eventstore.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, dir eventstore.Direction, from uint64, count int) ([]eventstore.RecordedEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := eventstore.ValidateStream(stream); err != nil {
		return nil, err
	}
	if err := eventstore.ValidateRead(dir, count); err != nil {
		return nil, err
	}
	var col collector
	err := s.view(func(tx *bbolt.Tx) error {
		st, err := decodeState(tx.Bucket(bucketStreams).Get([]byte(stream)))
		if err != nil {
			return err
		}
		if !st.exists {
			return eventstore.ErrStreamNotFound
		}
		if dir == eventstore.Backwards && from > st.lastRev {
			from = st.lastRev // StreamEnd, or beyond the end: start at the last event
		}
		if from > st.lastRev {
			return nil
		}
		col.grow(min(count, initialCollect))
		lc := newLogCursor(tx.Bucket(bucketLog))
		w := newRevWalker(tx.Bucket(bucketRevisions), &st, from, dir)
		for col.len() < count {
			rev, pos, ok := w.next()
			if !ok {
				break
			}
			if !lc.at(pos) {
				if err := lc.Err(); err != nil {
					return err
				}
				return fmt.Errorf("bolt: %s revision %d points at position %d, which is not in the log", stream, rev, pos)
			}
			col.add(pos, lc.rec())
		}
		if err := w.Err(); err != nil {
			return fmt.Errorf("%w (stream %q)", err, stream)
		}
		col.seal()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return col.events()
}

// ReadAll reads the global log; see eventstore.Store. Positions are 1, 2, 3… with Commit == Prepare; a
// position from elsewhere is read by its Commit.
func (s *Store) ReadAll(ctx context.Context, dir eventstore.Direction, from eventstore.Position, count int) ([]eventstore.RecordedEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := eventstore.ValidateRead(dir, count); err != nil {
		return nil, err
	}
	var col collector
	err := s.view(func(tx *bbolt.Tx) error {
		lc := newLogCursor(tx.Bucket(bucketLog))
		var ok bool
		if dir == eventstore.Forwards {
			ok = from.Commit != ^uint64(0) && lc.seek(from.Commit+1, false)
		} else {
			ok = from.Commit > 1 && lc.seek(from.Commit-1, true)
		}
		if ok {
			col.grow(min(count, initialCollect))
		}
		for ok {
			col.add(lc.pos(), lc.rec())
			if col.len() == count {
				break
			}
			ok = lc.step(dir)
		}
		col.seal()
		return lc.Err()
	})
	if err != nil {
		return nil, err
	}
	return col.events()
}

// collector gathers records inside a read transaction and copies them out once, so that a read of n events
// costs a handful of allocations rather than several per event. Strings are cut from one string holding
// all the records; data goes to one byte slice, so that a caller changing an event's Data cannot change any
// string.
type collector struct {
	recs [][]byte // valid only inside the transaction; cleared by seal
	pos  []uint64
	ends []int
	size int
	str  string
}

// initialCollect bounds the room a stream read reserves before it knows how many records it finds: most streams
// are short (a payment has 2 to 4 events), and reserving count (up to MaxReadCount) each time made zeroing
// memory one tenth of the CPU of a loaded node. append grows the rest.
const initialCollect = 64

func (c *collector) grow(n int) {
	n = min(n, subscriptionScan)
	c.recs = make([][]byte, 0, n)
	c.pos = make([]uint64, 0, n)
}

func (c *collector) add(pos uint64, rec []byte) {
	c.recs = append(c.recs, rec)
	c.pos = append(c.pos, pos)
	c.size += len(rec)
}

func (c *collector) len() int { return len(c.pos) }

// seal copies the records out of the transaction; it must run before the transaction ends.
func (c *collector) seal() {
	var b strings.Builder
	b.Grow(c.size)
	c.ends = make([]int, len(c.recs))
	for i, r := range c.recs {
		b.Write(r)
		c.ends[i] = b.Len()
	}
	clear(c.recs)
	c.str = b.String()
}

// events decodes what seal copied out.
func (c *collector) events() ([]eventstore.RecordedEvent, error) {
	out := make([]eventstore.RecordedEvent, len(c.ends))
	if len(out) == 0 {
		return out, nil
	}
	spans := make([][2]int, len(out))
	start, dataBytes := 0, 0
	for i, end := range c.ends {
		a, b, err := decodeRecord(c.str[start:end], c.pos[i], &out[i])
		if err != nil {
			return nil, err
		}
		spans[i] = [2]int{start + a, start + b}
		dataBytes += b - a
		start = end
	}
	data := make([]byte, dataBytes)
	off := 0
	for i, sp := range spans {
		n := copy(data[off:], c.str[sp[0]:sp[1]])
		out[i].Data = data[off : off+n : off+n]
		off += n
	}
	return out, nil
}

// notifier wakes every waiter once per commit: a waiter takes the channel before it reads, so a commit that
// lands after its read closes the channel it holds.
type notifier struct {
	mu sync.Mutex
	ch chan struct{}
}

func (n *notifier) wait() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ch
}

func (n *notifier) broadcast() {
	n.mu.Lock()
	close(n.ch)
	n.ch = make(chan struct{})
	n.mu.Unlock()
}
