package bolt

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/kazna-ledger/kazna/eventstore"
)

// appendReq is one Append waiting for the committer. done has room for the one answer, so the committer
// never blocks on an appender that stopped waiting.
type appendReq struct {
	stream   string
	expected eventstore.ExpectedRevision
	events   []eventstore.EventData
	enc      *encoded // the events as they will be stored if the appender guessed the stream's head right
	bytes    int
	done     chan appendResp
}

type appendResp struct {
	res eventstore.AppendResult
	err error
}

// Append writes events to stream; see eventstore.Store. It returns once the events are synced to disk,
// together with those of every other append that arrived while the previous commit was syncing.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if s.isClosed.Load() {
		return eventstore.AppendResult{}, eventstore.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return eventstore.AppendResult{}, err
	}
	if err := eventstore.ValidateAppend(stream, expected, events); err != nil {
		return eventstore.AppendResult{}, err
	}
	r := &appendReq{stream: stream, expected: expected, events: stamped(events), done: make(chan appendResp, 1)}
	if len(r.events) > 0 {
		r.enc = s.encodeAhead(stream, expected, r.events)
	}
	r.bytes = requestBytes(stream, r.events, r.enc)

	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return eventstore.AppendResult{}, eventstore.ErrClosed
	}
	select {
	case s.reqs <- r:
	case <-ctx.Done():
		s.mu.RUnlock()
		return eventstore.AppendResult{}, ctx.Err()
	}
	s.mu.RUnlock()

	select {
	case resp := <-r.done:
		return resp.res, resp.err
	case <-ctx.Done():
		return eventstore.AppendResult{}, fmt.Errorf("bolt: append to %q: %w; it may still be written, and a retry with the same event IDs is safe", stream, ctx.Err())
	}
}

// stamped fills zero times with the store's clock, copying the slice rather than changing the caller's.
func stamped(events []eventstore.EventData) []eventstore.EventData {
	var out []eventstore.EventData
	var now time.Time
	for i := range events {
		if events[i].Metadata.Time.IsZero() {
			if out == nil {
				out = slices.Clone(events)
				now = time.Now().UTC().Round(0)
			}
			out[i].Metadata.Time = now
		}
	}
	if out == nil {
		return events
	}
	return out
}

func requestBytes(stream string, events []eventstore.EventData, enc *encoded) int {
	if enc != nil {
		return len(enc.chunk)
	}
	n := 0
	for i := range events {
		n += recordSize(stream, 0, &events[i])
	}
	return n
}

// encodeAhead hashes and encodes the events in the appender's goroutine, on a guess of where they will land
// (revision 0 for NoStream, else the stream's head as the last commit left it). Hashing is most of the
// per-event work of an append; done here, appenders share it across cores instead of queueing it behind the
// single committer, which only checks the guess and recomputes on a miss.
func (s *Store) encodeAhead(stream string, expected eventstore.ExpectedRevision, events []eventstore.EventData) *encoded {
	if _, ok := expected.(eventstore.NoStream); ok {
		return encodeEvents(stream, 0, eventstore.Hash{}, events)
	}
	h, ok := s.heads.get(stream)
	if !ok {
		return nil
	}
	if e, exact := expected.(eventstore.Exact); exact && uint64(e) != h.rev {
		return nil // the append will conflict or be a retry
	}
	return encodeEvents(stream, h.rev+1, h.hash, events)
}

// encoded is an append's log chunk, on the assumption that its events follow revision start-1 whose hash is
// prev.
type encoded struct {
	start uint64
	prev  eventstore.Hash
	last  eventstore.Hash
	chunk []byte
}

// encodeEvents encodes each event and hashes it from its own encoded data, so that the stored bytes and the
// hash cannot disagree even if the caller reuses its buffers after the append returns.
func encodeEvents(stream string, start uint64, prev eventstore.Hash, events []eventstore.EventData) *encoded {
	size := 0
	for i := range events {
		size += fieldLen(recordSize(stream, start+uint64(i), &events[i]))
	}
	enc := &encoded{start: start, prev: prev, chunk: make([]byte, size)}
	off := 0
	for i := range events {
		e := events[i]
		rev := start + uint64(i)
		n := recordSize(stream, rev, &e)
		off += binary.PutUvarint(enc.chunk[off:], uint64(n))
		rec := enc.chunk[off : off+n]
		encodeRecord(rec, stream, rev, &e, prev, eventstore.Hash{})
		e.Data = rec[n-len(e.Data):]
		prev = eventstore.ChainHash(prev, stream, rev, e)
		copy(rec[recOffHash:], prev[:])
		off += n
	}
	enc.last = prev
	return enc
}

// heads remembers the last revision and hash of recently written streams for encodeAhead. An entry is
// only ever a committed fact about a stream, so a stale one merely makes a guess miss.
type heads struct {
	mu sync.Mutex
	m  map[string]head
}

type head struct {
	rev  uint64
	hash eventstore.Hash
}

// maxHeads bounds the cache; beyond it an arbitrary entry makes room, costing only a missed guess.
const maxHeads = 1 << 16

func (h *heads) get(stream string) (head, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	v, ok := h.m[stream]
	return v, ok
}

func (h *heads) set(written []written) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = make(map[string]head)
	}
	for _, w := range written {
		if _, ok := h.m[w.stream]; !ok && len(h.m) >= maxHeads {
			for k := range h.m {
				delete(h.m, k)
				break
			}
		}
		h.m[w.stream] = w.head
	}
}

type written struct {
	stream string
	head   head
}

// commitLoop is the only writer. It waits for a request, gathers the writers it expects back (see gather),
// then keeps taking whatever requests are waiting while it decides them, and commits when none is left (or
// the batch is full): appenders that arrive during one commit's fsync, or while the next is being decided,
// share the next fsync.
func (s *Store) commitLoop() {
	defer close(s.committerDone)
	c := committer{s: s, batch: make([]*appendReq, 0, maxBatchRequests), timer: time.NewTimer(time.Hour)}
	c.timer.Stop()
	for open := true; open; {
		r, ok := <-s.reqs
		if !ok {
			return
		}
		c.batch = append(c.batch, r)
		// A queue closed while gathering still leaves the gathered requests to answer: Close lets the
		// committer finish those already handed to it, and their appenders are waiting.
		open = c.gather()
		if !c.run() {
			open = false
		}
		c.expected = len(c.batch) + len(s.reqs)
		clear(c.batch) // let answered requests go
		c.batch = c.batch[:0]
	}
}

// maxGatherWait bounds how long a commit waits for writers it expects back. A commit costs a fixed ~0.3 ms
// of fsync here whatever it holds, so folding two half-full commits into one nearly doubles throughput; the
// wait is a small fraction of a commit and ends as soon as the writers are back.
const maxGatherWait = 200 * time.Microsecond

// gather waits, at most maxGatherWait, until as many requests are in the batch as the last commit answered
// plus those that were already waiting for the next one. Without it, concurrent writers split into two
// groups that take turns: the writers answered by one commit come back while the next is already being
// decided, and each fsync carries only half of them. A lone writer is never delayed: it is the one expected
// back, and its return ends the wait. It reports false once the request queue is closed.
func (c *committer) gather() bool {
	if len(c.batch) >= c.expected {
		return true
	}
	c.timer.Reset(maxGatherWait)
	defer c.timer.Stop()
	for len(c.batch) < c.expected && len(c.batch) < maxBatchRequests {
		select {
		case r, ok := <-c.s.reqs:
			if !ok {
				return false
			}
			c.batch = append(c.batch, r)
		case <-c.timer.C:
			return true
		}
	}
	return true
}

// committer is the state of commitLoop, owned by its goroutine.
type committer struct {
	s        *Store
	batch    []*appendReq
	answers  []appendResp
	arena    arena
	timer    *time.Timer
	expected int // requests the next commit waits for: those the last one answered, plus those queued behind it
	// failed is set when a commit failed. After a failed fsync the kernel may have dropped the written
	// pages, so the store refuses further appends until it is reopened and its state read back from disk.
	failed error
}

// run decides, writes and answers the gathered batch, taking in requests that arrive meanwhile. It reports
// false once the request queue is closed.
func (c *committer) run() (open bool) {
	s := c.s
	if hook := s.testHookBatch.Load(); hook != nil {
		(*hook)()
	}
	c.answers = c.answers[:0]
	if c.failed != nil {
		c.answerAll(c.failed)
		return true
	}
	tx, err := s.db.Begin(true)
	if err != nil {
		c.answerAll(fmt.Errorf("bolt: begin a commit: %w", err))
		return true
	}
	c.arena.reset()
	w := batchWriter{
		log:     tx.Bucket(bucketLog),
		streams: tx.Bucket(bucketStreams),
		revs:    tx.Bucket(bucketRevisions),
		next:    s.last.Load() + 1,
		arena:   &c.arena,
	}
	// Chunks are appended in position order, so full pages are never split again: fill them completely.
	w.log.FillPercent = 1.0
	open = true
	size := 0
batch:
	for i := 0; ; i++ {
		r := c.batch[i]
		size += r.bytes
		res, err, fatal := w.apply(r)
		if fatal != nil {
			tx.Rollback()
			c.answerAll(fmt.Errorf("bolt: write append to %q: %w", r.stream, fatal))
			return open
		}
		c.answers = append(c.answers, appendResp{res: res, err: err})
		if i+1 < len(c.batch) {
			continue // gathered before the transaction began: every one of them is decided and answered
		}
		// The limits stop taking in more requests, never the deciding of those already taken: each request in
		// the batch gets its answer (answer pairs them by index).
		if len(c.batch) >= maxBatchRequests || size >= maxBatchBytes {
			break
		}
		select {
		case r, ok := <-s.reqs:
			if !ok {
				open = false
				break batch
			}
			c.batch = append(c.batch, r)
		default:
			break batch
		}
	}
	if w.events == 0 {
		tx.Rollback() // only conflicts, retries and empty appends: nothing to sync
		c.answer()
		return open
	}
	last := c.arena.alloc(8)
	putU64(last, w.next-1)
	if err := tx.Bucket(bucketMeta).Put(keyLast, last); err != nil {
		tx.Rollback()
		c.answerAll(fmt.Errorf("bolt: write the last position: %w", err))
		return open
	}
	if err := tx.Commit(); err != nil {
		c.failed = fmt.Errorf("bolt: an earlier commit failed, reopen the store: %w", err)
		c.answerAll(fmt.Errorf("bolt: commit (the appends may or may not be on disk; retry with the same event IDs after reopening): %w", err))
		return open
	}
	s.last.Store(w.next - 1)
	s.heads.set(w.written)
	s.commits.Add(1)
	s.appends.Add(uint64(w.appends))
	s.events.Add(uint64(w.events))
	s.notify.broadcast()
	c.answer()
	return open
}

func (c *committer) answer() {
	for i, r := range c.batch {
		r.done <- c.answers[i]
	}
}

func (c *committer) answerAll(err error) {
	for _, r := range c.batch {
		r.done <- appendResp{err: err}
	}
}

// batchWriter decides and writes the requests of one transaction in arrival order. It reads stream state
// from the transaction, which sees its own writes, so each request is decided against the earlier requests
// of the same batch as well as the committed log.
type batchWriter struct {
	log, streams, revs *bbolt.Bucket
	next               uint64 // position of the next event
	arena              *arena
	appends, events    int
	written            []written
}

// apply decides one request and writes it if it may go ahead. err is the request's own answer (a conflict,
// a corrupt stream entry); fatal is a failed write, after which the transaction is unusable.
func (w *batchWriter) apply(r *appendReq) (res eventstore.AppendResult, err, fatal error) {
	st, err := decodeState(w.streams.Get([]byte(r.stream)))
	if err != nil {
		return res, fmt.Errorf("%w (stream %q)", err, r.stream), nil
	}
	if len(r.events) > 0 {
		res, done, err := w.retry(st, r)
		if err != nil || done {
			return res, err, nil
		}
	}
	if err := eventstore.CheckExpected(r.stream, r.expected, st.public()); err != nil {
		return res, err, nil
	}
	if len(r.events) == 0 {
		return eventstore.AppendResult{NextExpectedRevision: st.lastRev}, nil, nil
	}
	res, fatal = w.write(st, r)
	return res, nil, fatal
}

// retry recognises a repeated append: the stream already holds events with exactly these IDs where the
// writer expected to put them (for Any and StreamExists, at its end). done reports a recognised retry, whose
// original result is res. For Any and StreamExists, a stream end that holds the first of the events but not
// all of them in order is a conflict; for the other forms CheckExpected reports the mismatch.
func (w *batchWriter) retry(st streamState, r *appendReq) (res eventstore.AppendResult, done bool, err error) {
	if !st.exists {
		return res, false, nil
	}
	n := uint64(len(r.events))
	var at uint64
	tail := false
	switch e := r.expected.(type) {
	case eventstore.NoStream:
		at = 0
	case eventstore.Exact:
		at = uint64(e) + 1 // e is never StreamEnd (ValidateAppend), so this does not wrap
	default:
		tail = true
		if n <= st.lastRev {
			at = st.lastRev + 1 - n
		}
	}
	if at > st.lastRev {
		return res, false, nil // nothing written yet where the events were expected
	}
	lc := newLogCursor(w.log)
	matched, lastPos := uint64(0), uint64(0)
	walk := newRevWalker(w.revs, &st, at, eventstore.Forwards)
	for matched < n {
		_, pos, ok := walk.next()
		if !ok {
			break
		}
		id, err := idAt(lc, pos)
		if err != nil {
			return res, false, fmt.Errorf("%w (stream %q)", err, r.stream)
		}
		if id != r.events[matched].ID {
			break
		}
		matched, lastPos = matched+1, pos
	}
	if err := walk.Err(); err != nil {
		return res, false, fmt.Errorf("%w (stream %q)", err, r.stream)
	}
	if matched == n {
		return eventstore.AppendResult{NextExpectedRevision: at + n - 1, Position: position(lastPos)}, true, nil
	}
	if tail {
		walk := newRevWalker(w.revs, &st, at, eventstore.Forwards)
		for {
			_, pos, ok := walk.next()
			if !ok {
				break
			}
			id, err := idAt(lc, pos)
			if err != nil {
				return res, false, fmt.Errorf("%w (stream %q)", err, r.stream)
			}
			if id == r.events[0].ID {
				return res, false, &eventstore.RevisionConflict{Stream: r.stream, Expected: r.expected, Actual: st.public()}
			}
		}
		if err := walk.Err(); err != nil {
			return res, false, fmt.Errorf("%w (stream %q)", err, r.stream)
		}
	}
	return res, false, nil
}

// idAt returns the event ID of the record at a position.
func idAt(lc *logCursor, pos uint64) ([16]byte, error) {
	if !lc.at(pos) {
		if err := lc.Err(); err != nil {
			return [16]byte{}, err
		}
		return [16]byte{}, fmt.Errorf("%w: the index points at position %d, which is not in the log", errCorrupt, pos)
	}
	id, err := recordID(lc.rec())
	if err != nil {
		return id, fmt.Errorf("%w at position %d", err, pos)
	}
	return id, nil
}

// write appends the request's events after st, using the appender's encoding when its guess of the stream's
// head was right. bbolt keeps references to values until the commit: records live in the request, which
// outlives the commit, and the small values in the arena.
func (w *batchWriter) write(st streamState, r *appendReq) (eventstore.AppendResult, error) {
	start := uint64(0)
	if st.exists {
		start = st.lastRev + 1
	} else {
		id, err := w.streams.NextSequence()
		if err != nil {
			return eventstore.AppendResult{}, err
		}
		st = streamState{exists: true, id: id}
	}
	enc := r.enc
	if enc == nil || enc.start != start || enc.prev != st.last {
		enc = encodeEvents(r.stream, start, st.last, r.events)
		r.enc = enc // keep it referenced until the commit
	}
	first := w.next
	var key [8]byte
	putU64(key[:], first)
	if err := w.log.Put(key[:], enc.chunk); err != nil {
		return eventstore.AppendResult{}, err
	}
	w.next += uint64(len(r.events))
	tail, err := w.addRun(&st, first, uint64(len(r.events)))
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	st.tail = tail
	st.lastRev, st.lastPos, st.last = start+uint64(len(r.events))-1, w.next-1, enc.last
	sv := w.arena.alloc(stateSize(st))
	encodeState(sv, st)
	if err := w.streams.Put([]byte(r.stream), sv); err != nil {
		return eventstore.AppendResult{}, err
	}
	w.appends++
	w.events += len(r.events)
	w.written = append(w.written, written{stream: r.stream, head: head{rev: st.lastRev, hash: st.last}})
	return eventstore.AppendResult{NextExpectedRevision: st.lastRev, Position: position(st.lastPos)}, nil
}

// addRun returns the stream's tail with the run of an append of count events at position pos added. The run extends the tail's last run when the append follows it in the log (the
// stream's only writer, or two appends in one batch). When the tail is full, it moves to the revisions
// bucket as one packed entry and the new run starts the next tail: so a stream's appends write that bucket
// once per maxRuns appends, not each time. The result lives in the arena; st.tail may point into the
// transaction's pages, which the write to the streams bucket is about to replace.
func (w *batchWriter) addRun(st *streamState, pos, count uint64) ([]byte, error) {
	old := st.tail
	if n := numRuns(old); n > 0 {
		last := runAt(old, n-1, 0)
		if last.pos+last.count == pos && last.count+count <= maxRunEvents {
			tail := w.arena.alloc(len(old))
			copy(tail, old)
			putRun(tail[len(old)-runBytes:], last.pos, last.count+count)
			return tail, nil
		}
		if n < maxRuns {
			tail := w.arena.alloc(len(old) + runBytes)
			copy(tail, old)
			putRun(tail[len(old):], pos, count)
			return tail, nil
		}
		packed := w.arena.alloc(len(old))
		copy(packed, old)
		var k [16]byte
		if err := w.revs.Put(revKey(k[:], st.id, st.tailFirst), packed); err != nil {
			return nil, err
		}
	}
	tail := w.arena.alloc(runBytes)
	putRun(tail, pos, count)
	return tail, nil
}

// arena hands out slices of large chunks that are reused from one commit to the next: bbolt holds on to the
// values until the transaction ends, and one allocation per value would dominate the committer's time.
type arena struct {
	chunks [][]byte
	next   int
	cur    []byte
}

const (
	arenaChunkBytes = 1 << 20
	arenaKeepChunks = 16 // chunks kept between commits; a larger batch's extra chunks go to the GC
)

func (a *arena) reset() {
	if len(a.chunks) > arenaKeepChunks {
		clear(a.chunks[arenaKeepChunks:])
		a.chunks = a.chunks[:arenaKeepChunks]
	}
	a.next, a.cur = 0, nil
}

func (a *arena) alloc(n int) []byte {
	if n > arenaChunkBytes/4 {
		return make([]byte, n)
	}
	if cap(a.cur)-len(a.cur) < n {
		if a.next == len(a.chunks) {
			a.chunks = append(a.chunks, make([]byte, 0, arenaChunkBytes))
		}
		a.cur = a.chunks[a.next][:0]
		a.next++
	}
	start := len(a.cur)
	a.cur = a.cur[:start+n]
	return a.cur[start : start+n : start+n]
}
