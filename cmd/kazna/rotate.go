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
	"slices"
	"strings"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/kazna-ledger/kazna/app"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/eventstore/bolt"
	"github.com/kazna-ledger/kazna/eventstore/esdb"
	"github.com/kazna-ledger/kazna/stellar/custody"
)

const (
	// storeLockTimeout bounds the wait for the embedded store's file lock: serve holds it for as long as it
	// runs, so a longer wait would only delay the error.
	storeLockTimeout = 2 * time.Second
	// defaultSettle is how long a rotation waits, after adding a key to master.key, for running kazna serve
	// processes on a shared event store to take it in (they look every keyWatchInterval) before values are
	// re-sealed under it: a node that met a value under a key it lacks could not open it.
	defaultSettle = 2*keyWatchInterval + time.Second
)

const rotateHelp = `What is re-sealed: the issuer's seed, the token signing keys and every account's seed, each then checked
again value by value before an older version may be retired. Customer seeds stay sealed under their
customer's secret as well (re-sealing re-wraps them without it). A value opens under its old and its new key
alike until the old version is retired, so nodes keep serving during a rotation, and two rotations running at
once both finish.

With the key file (<data>/master.key, the embedded default):
  1. kazna rotate-master-key            adds a new key version to master.key (older versions kept) and makes
                                        it current, then re-seals everything and checks it. A running kazna
                                        serve on a shared event store takes the new key in within seconds
                                        (the command waits --settle for it before re-sealing).
  2. kazna rotate-master-key --new-key=false --retire
                                        re-seals anything still under an older version (a second pass), checks
                                        that no value needs an older version any more, and only then drops the
                                        older versions from master.key. Step 1 with --retire does both at once.
  The embedded event store has one writer: while kazna serve runs on it this command cannot open it. Stop
  kazna serve, run the command (old and new values open alike, so it can be stopped at any point and run
  again), start kazna serve. To rotate without stopping, run Kazna on KurrentDB (KAZNA_EVENTSTORE).

With KAZNA_MASTER_KEY (a cluster; the command never edits the environment):
  1. Roll the new key out as NOT current on every node, e.g. KAZNA_MASTER_KEY='current=1,2:<new>,1:<old>',
     and restart the nodes one by one: every node can then open values sealed under version 2, none seals
     under it yet.
  2. Make it current on every node: KAZNA_MASTER_KEY='2:<new>,1:<old>' (the highest version is current
     unless current=<version> names another), restarting the nodes one by one.
  3. Run KAZNA_MASTER_KEY='2:<new>,1:<old>' kazna rotate-master-key --eventstore <the cluster's store>: it
     re-seals to version 2, checks every value, and says which versions may now be removed.
  4. Remove them: KAZNA_MASTER_KEY='2:<new>' on every node, restarting the nodes one by one.
  No node ever meets a value sealed under a key it lacks. Make a key with: openssl rand -base64 32

A running kazna serve keeps retired versions in memory until it restarts: it may still hold values it read
before they were re-sealed. The command prints progress to stderr and a summary to stdout; it exits 1 and
retires nothing if any value is left under an older version or does not open.`

// rotateOptions are the flags of rotate-master-key.
type rotateOptions struct {
	newKey bool
	retire bool
	settle time.Duration
	// progressEvery is how many values pass between progress lines; tests lower it.
	progressEvery int
	// afterReseal, set by tests, runs between the re-sealing pass and the check: where a node still sealing
	// under an older key could write.
	afterReseal func(ctx context.Context, store eventstore.Store) error
}

// rotateCommand is the rotate-master-key subcommand, with its own flags (fresh for every run).
func rotateCommand() command {
	o := &rotateOptions{progressEvery: app.DefaultProgressEvery}
	return command{
		name:      "rotate-master-key",
		summary:   "re-seal every stored secret under a new master key version",
		help:      rotateHelp,
		usesStore: true,
		flags: func(fs *flag.FlagSet, c *config) {
			boolFlag(fs, &o.newKey, &c.badEnv, "new-key", "KAZNA_ROTATE_NEW_KEY", true,
				"with the key file: add a new key version to master.key and make it current before re-sealing; false re-seals to the current version (to finish a rotation). Ignored with "+custody.EnvMasterKey)
			boolFlag(fs, &o.retire, &c.badEnv, "retire", "KAZNA_ROTATE_RETIRE", false,
				"after a clean re-seal and a check that finds nothing under older versions, drop the older versions from master.key (with "+custody.EnvMasterKey+": only say which may go)")
			durationFlag(fs, &o.settle, "settle", "KAZNA_ROTATE_SETTLE", defaultSettle,
				"with a shared event store and the key file: how long to wait after adding the key for running kazna serve processes to take it in")
		},
		run: func(ctx context.Context, c *config, out io.Writer) error { return rotateMasterKey(ctx, c, o, out) },
	}
}

func rotateMasterKey(ctx context.Context, c *config, o *rotateOptions, out io.Writer) error {
	if o.settle < 0 {
		return errors.New("--settle (KAZNA_ROTATE_SETTLE) must be a duration such as 5s")
	}
	log := c.logger().With("component", "rotate-master-key")
	// The store first: if it cannot be opened (serve holds it), nothing else has been touched.
	store, storeName, embedded, err := openRotationStore(c)
	if err != nil {
		return err
	}
	defer func() {
		if err := store.Close(); err != nil {
			log.Error("close event store", "err", err)
		}
	}()

	envKeys := os.Getenv(custody.EnvMasterKey)
	keyPath := filepath.Join(c.Data, custody.KeyFileName)
	var ring *custody.Keyring
	switch {
	case envKeys != "":
		if ring, err = custody.ParseKeyring(envKeys); err != nil {
			return fmt.Errorf("%s: %w", custody.EnvMasterKey, err)
		}
		fmt.Fprintf(out, "master keyring from %s: versions %s, current %d (the environment is never edited)\n",
			custody.EnvMasterKey, versionList(ring.Versions()), ring.Current())
	case o.newKey:
		if ring, err = custody.RotateKeyFile(c.Data); err != nil {
			return keyFileError(keyPath, err)
		}
		fmt.Fprintf(out, "added master key version %d to %s and made it current; versions kept: %s\n",
			ring.Current(), keyPath, versionList(ring.Versions()))
		if !embedded && o.settle > 0 {
			// Another node may be serving on this store; it must hold the key before any value needs it.
			log.Info("waiting for running kazna serve processes to take the new key in", "settle", o.settle)
			if err := sleep(ctx, o.settle); err != nil {
				return err
			}
		}
	default:
		if ring, err = custody.LoadKeyFile(c.Data); err != nil {
			return keyFileError(keyPath, err)
		}
		fmt.Fprintf(out, "master keyring from %s: versions %s, current %d\n", keyPath, versionList(ring.Versions()), ring.Current())
	}
	vault, err := custody.NewVault(ring)
	if err != nil {
		return err
	}
	current := ring.Current()

	start := time.Now()
	seals, err := app.NewStoredSeals(store, app.StoredSealsOptions{ProgressEvery: o.progressEvery, Progress: func(s app.SealStats) {
		log.Info("re-sealing", "store", storeName, "version", current, "scanned", s.Scanned, "resealed", s.Resealed,
			"already_resealed", s.AlreadyResealed, "seconds", seconds(start))
	}})
	if err != nil {
		return err
	}
	if _, err := vault.Rotate(ctx, seals); err != nil {
		s := seals.Stats()
		return fmt.Errorf("re-sealing stopped after %d values (%d re-sealed); every value still opens under its own version, so nothing is lost: "+
			"fix the cause and run kazna rotate-master-key --new-key=false to finish: %w", s.Scanned, s.Resealed, err)
	}
	s := seals.Stats()
	fmt.Fprintf(out, "re-sealed %d of %d stored values under master key version %d in %s s", s.Resealed, s.Scanned, current, seconds(start))
	if s.AlreadyResealed > 0 {
		fmt.Fprintf(out, " (%d found re-sealed by another rotation)", s.AlreadyResealed)
	}
	fmt.Fprintln(out)

	if o.afterReseal != nil {
		if err := o.afterReseal(ctx, store); err != nil {
			return err
		}
	}
	// The second pass: proof, value by value, that nothing needs an older key and the current one opens all.
	checkStart := time.Now()
	check, err := app.NewStoredSeals(store, app.StoredSealsOptions{ProgressEvery: o.progressEvery, Progress: func(s app.SealStats) {
		log.Info("checking", "store", storeName, "scanned", s.Scanned, "seconds", seconds(checkStart))
	}})
	if err != nil {
		return err
	}
	census, err := vault.Census(ctx, check)
	if err != nil {
		return fmt.Errorf("check after re-sealing: %w; nothing was retired", err)
	}
	if stale := census.Outside(current); stale > 0 {
		return fmt.Errorf("check after re-sealing: %d of %d values are under other versions than %d (%s): a node may still be sealing under an older key; "+
			"make sure every node has version %d current, then run kazna rotate-master-key --new-key=false again; nothing was retired",
			stale, census.Scanned, current, censusList(census, current), current)
	}
	fmt.Fprintf(out, "checked: all %d stored values open under master key version %d\n", census.Scanned, current)

	older := slices.DeleteFunc(ring.Versions(), func(v custody.Version) bool { return v >= current })
	switch {
	case len(older) == 0:
		fmt.Fprintf(out, "no older master key version to retire\n")
	case envKeys != "":
		fmt.Fprintf(out, "versions %s may now be removed from %s on every node (keep version %d)\n", versionList(older), custody.EnvMasterKey, current)
	case !o.retire:
		fmt.Fprintf(out, "versions %s stay in %s; to drop them run: kazna rotate-master-key --new-key=false --retire\n", versionList(older), keyPath)
	default:
		kept, err := custody.UpdateKeyFile(c.Data, func(r *custody.Keyring) error {
			if r.Current() != current {
				return fmt.Errorf("the current version in %s is now %d, not %d (another rotation?): nothing retired; run the command again", keyPath, r.Current(), current)
			}
			for _, v := range r.Versions() {
				if v < current {
					if err := r.Retire(v); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return keyFileError(keyPath, err)
		}
		fmt.Fprintf(out, "retired versions %s from %s; it holds %s. A running kazna serve keeps them in memory until it restarts\n",
			versionList(older), keyPath, versionList(kept.Versions()))
	}
	return nil
}

// openRotationStore opens the event store like serve does, except that it never creates an embedded store
// (an empty one has nothing to re-seal and would hide a wrong --data), and that a store held by a running
// serve is a prompt error, not a wait.
func openRotationStore(c *config) (store eventstore.Store, name string, embedded bool, err error) {
	if esdb.IsURL(c.EventStore) {
		s, err := esdb.Open(c.EventStore)
		if err != nil {
			return nil, "", false, fmt.Errorf("open event store: %w", err)
		}
		return s, "kurrentdb", false, nil
	}
	path := c.EventStore
	if path == "" {
		path = filepath.Join(c.Data, "events.db")
	}
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, "", true, fmt.Errorf("no event store at %s: nothing to re-seal (is --data or KAZNA_DATA the directory kazna serve uses?)", path)
		}
		return nil, "", true, fmt.Errorf("open embedded event store %s: %w", path, err)
	}
	s, err := bolt.Open(path, bolt.LockTimeout(storeLockTimeout))
	if errors.Is(err, bbolt.ErrTimeout) {
		return nil, "", true, fmt.Errorf("the embedded event store %s is in use by another process, most likely kazna serve: the embedded store has one "+
			"writer at a time. Stop kazna serve, run kazna rotate-master-key, then start kazna serve again (values open under the old and the new key "+
			"alike, so the stop lasts only as long as the re-sealing). To rotate without stopping, run Kazna on KurrentDB (KAZNA_EVENTSTORE)", path)
	}
	if err != nil {
		return nil, "", true, fmt.Errorf("open embedded event store %s: %w", path, err)
	}
	return s, "embedded:" + path, true, nil
}

func keyFileError(path string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no master key file at %s and %s is not set: the first kazna serve creates it; a rotation never makes a key that nothing was sealed under: %w",
			path, custody.EnvMasterKey, err)
	}
	return fmt.Errorf("master key file %s: %w", path, err)
}

func versionList(vs []custody.Version) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = fmt.Sprint(v)
	}
	return strings.Join(parts, ", ")
}

// censusList writes how many values each version other than current holds, oldest first.
func censusList(c custody.Census, current custody.Version) string {
	var vs []custody.Version
	for v := range c.ByVersion {
		if v != current {
			vs = append(vs, v)
		}
	}
	slices.Sort(vs)
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = fmt.Sprintf("%d under version %d", c.ByVersion[v], v)
	}
	return strings.Join(parts, ", ")
}

func seconds(since time.Time) string { return fmt.Sprintf("%.1f", time.Since(since).Seconds()) }

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
