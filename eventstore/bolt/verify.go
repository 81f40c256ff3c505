package bolt

import (
	"context"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/kazna-ledger/kazna/eventstore"
)

// verifyCtxEvery is how many events Verify checks between looks at its context.
const verifyCtxEvery = 4096

// Verify reads the whole store and reports the first inconsistency: a gap in the log's positions, a record
// that does not decode, an index entry that does not lead to its event, or a broken hash chain
// (*eventstore.ChainError, which errors.As finds). It runs in one read transaction, so it sees one
// consistent state while appends go on.
func (s *Store) Verify(ctx context.Context) error {
	return s.view(func(tx *bbolt.Tx) error {
		last := uint64(0)
		if v := tx.Bucket(bucketMeta).Get(keyLast); len(v) == 8 {
			last = u64(v)
		}
		// The log: positions 1…last without a gap, every record whole.
		lc := newLogCursor(tx.Bucket(bucketLog))
		n := uint64(0)
		for ok := lc.seek(1, false); ok; ok = lc.next() {
			if n++; lc.pos() != n {
				return fmt.Errorf("bolt: verify: the log starts at position %d, not 1", lc.pos())
			}
			if n%verifyCtxEvery == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			if _, err := decodeCopy(lc.rec(), n); err != nil {
				return fmt.Errorf("bolt: verify: %w", err)
			}
		}
		if err := lc.Err(); err != nil {
			return fmt.Errorf("bolt: verify: after position %d: %w", n, err)
		}
		if n != last {
			return fmt.Errorf("bolt: verify: the log holds positions 1 to %d, but the meta says it ends at %d", n, last)
		}
		// Each stream: its revisions lead to records of that stream and revision, in an unbroken chain that
		// ends where its entry says. Distinct (stream, revision) pairs reach distinct records, so if the
		// streams' events add up to the log's length, every event of the log belongs to exactly one stream.
		total, packed := uint64(0), 0
		revs := tx.Bucket(bucketRevisions)
		err := tx.Bucket(bucketStreams).ForEach(func(name, v []byte) error {
			stream := string(name)
			st, err := decodeState(v)
			if err != nil {
				return fmt.Errorf("bolt: verify: stream %q: %w", stream, err)
			}
			chain := eventstore.NewChainVerifier(stream)
			w := newRevWalker(revs, &st, 0, eventstore.Forwards)
			count, lastPos := uint64(0), uint64(0)
			var lastHash eventstore.Hash
			for {
				rev, pos, ok := w.next()
				if !ok {
					break
				}
				if total++; total%verifyCtxEvery == 0 {
					if err := ctx.Err(); err != nil {
						return err
					}
				}
				if !lc.at(pos) {
					return fmt.Errorf("bolt: verify: stream %q revision %d points at position %d, which is not in the log (%v)", stream, rev, pos, lc.Err())
				}
				e, err := decodeCopy(lc.rec(), pos)
				if err != nil {
					return fmt.Errorf("bolt: verify: stream %q revision %d: %w", stream, rev, err)
				}
				if e.Stream != stream || e.Revision != rev {
					return fmt.Errorf("bolt: verify: stream %q revision %d points at position %d, which holds %q revision %d", stream, rev, pos, e.Stream, e.Revision)
				}
				if err := chain.Next(e); err != nil {
					return fmt.Errorf("bolt: verify: at position %d: %w", pos, err)
				}
				count, lastPos, lastHash = count+1, pos, e.Hash
			}
			if err := w.Err(); err != nil {
				return fmt.Errorf("bolt: verify: stream %q: %w", stream, err)
			}
			packed += w.packed
			if count == 0 || count != st.lastRev+1 || lastPos != st.lastPos || lastHash != st.last {
				return fmt.Errorf("bolt: verify: stream %q holds revisions 0 to %d ending at position %d, but its entry says %d at %d (or another last hash)",
					stream, int64(count)-1, lastPos, st.lastRev, st.lastPos)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if total != last {
			return fmt.Errorf("bolt: verify: the streams hold %d events but the log %d", total, last)
		}
		// The walks reached each stream's packed entries in turn; an entry they did not reach belongs to no
		// stream's run list.
		entries := 0
		c := revs.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if entries++; entries%verifyCtxEvery == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
		}
		if entries != packed {
			return fmt.Errorf("bolt: verify: the revision index holds %d entries, but the streams' runs reach %d of them", entries, packed)
		}
		return nil
	})
}
