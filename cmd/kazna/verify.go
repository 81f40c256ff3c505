package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/kazna-ledger/kazna/audit"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/eventstore/bolt"
	"github.com/kazna-ledger/kazna/eventstore/esdb"
)

const verifyHelp = `Reads the whole log from its first event through the event store's API (the embedded store or KurrentDB
alike) and checks every event:
  - its log position follows the previous event's: on the embedded store positions run 1, 2, 3… so a deleted
    event shows as a gap; on KurrentDB they must only increase;
  - its stream revision follows the stream's previous event (none missing, none repeated);
  - its prev_hash is the hash of the stream's previous event, and its hash is the SHA-256 of its own contents
    (stream, revision, ID, type, data and metadata): an event changed after it was written no longer matches.
Then (unless --stream-tails=false) it reads each stream's last event through the stream index and checks it is
the last one the log holds for that stream. On the embedded store it finally checks the file's own indexes.

Exit status 0: the log is intact. Exit status 1: the first bad event is named on stderr — its stream, revision,
log position, event ID and type, and what is wrong — or the store could not be read. Progress goes to stderr
while it runs. The embedded store can be verified only while no kazna serve holds it; KurrentDB while serving.`

type verifyOptions struct {
	streamTails   bool
	progressEvery time.Duration
}

func verifyCommand() command {
	o := &verifyOptions{progressEvery: 2 * time.Second}
	return command{
		name:      "verify",
		summary:   "check every stream's hash chain and the continuity of the log",
		help:      verifyHelp,
		usesStore: true,
		flags: func(fs *flag.FlagSet, c *config) {
			boolFlag(fs, &o.streamTails, &c.badEnv, "stream-tails", "KAZNA_VERIFY_STREAM_TAILS", true,
				"also check each stream's index against the log (one read per stream)")
		},
		run: func(ctx context.Context, c *config, out io.Writer) error { return verifyLog(ctx, c, o, out) },
	}
}

func verifyLog(ctx context.Context, c *config, o *verifyOptions, out io.Writer) error {
	log := c.logger().With("component", "verify")
	store, name, embedded, err := openExistingStore(c, "verify")
	if err != nil {
		return err
	}
	defer store.Close()
	rep, err := audit.Verify(ctx, store, audit.VerifyOptions{DensePositions: embedded != nil, StreamTails: o.streamTails,
		ProgressEvery: o.progressEvery, Progress: func(p audit.VerifyProgress) {
			log.Info("verifying", "store", name, "events", p.Events, "streams", p.Streams, "position", p.Position.String(),
				"seconds", fmt.Sprintf("%.1f", p.Elapsed.Seconds()))
		}})
	if f := (*audit.Finding)(nil); errors.As(err, &f) {
		return fmt.Errorf("the log is NOT intact after %d good events: first bad event: %w", rep.Events, f)
	}
	if err != nil {
		return fmt.Errorf("verify %s: %w", name, err)
	}
	if embedded != nil {
		// The port-level check saw every event; this one sees the file's indexes, which the API reads through.
		if err := embedded.Verify(ctx); err != nil {
			return fmt.Errorf("the log's events are intact, but the embedded store's indexes are not: %w", err)
		}
	}
	rate := 0.0
	if s := rep.Duration.Seconds(); s > 0 {
		rate = float64(rep.Events) / s
	}
	fmt.Fprintf(out, "verified %s: %d events in %d streams, every hash chain intact, the log continuous up to position %s (%.1f s, %.0f events/s)\n",
		name, rep.Events, rep.Streams, rep.Last, rep.Duration.Seconds(), rate)
	return nil
}

// openExistingStore opens the event store for an audit command: never creating an embedded store (an empty
// one would hide a wrong --data), and with a prompt error when kazna serve holds it. embedded is the
// embedded store, nil for KurrentDB.
func openExistingStore(c *config, what string) (store eventstore.Store, name string, embedded *bolt.Store, err error) {
	if esdb.IsURL(c.EventStore) {
		s, err := esdb.Open(c.EventStore)
		if err != nil {
			return nil, "", nil, fmt.Errorf("open event store: %w", err)
		}
		return s, "kurrentdb", nil, nil
	}
	path := c.EventStore
	if path == "" {
		path = filepath.Join(c.Data, "events.db")
	}
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, "", nil, fmt.Errorf("no event store at %s: nothing to %s (is --data or KAZNA_DATA the directory kazna serve uses?)", path, what)
		}
		return nil, "", nil, fmt.Errorf("open embedded event store %s: %w", path, err)
	}
	s, err := bolt.Open(path, bolt.LockTimeout(storeLockTimeout))
	if errors.Is(err, bbolt.ErrTimeout) {
		return nil, "", nil, fmt.Errorf("the embedded event store %s is in use by another process, most likely kazna serve: the embedded store has one "+
			"process at a time; stop kazna serve (or copy events.db while it is stopped) and run kazna %s again", path, what)
	}
	if err != nil {
		// Open checks the end of the log; a store whose tail was cut or changed fails here.
		return nil, "", nil, fmt.Errorf("the embedded event store %s does not open: %w", path, err)
	}
	return s, "embedded:" + path, s, nil
}
