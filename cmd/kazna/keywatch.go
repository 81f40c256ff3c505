package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/kazna-ledger/kazna/stellar/custody"
)

// keyWatchInterval is how often a running kazna serve looks at master.key for a key a rotation added: short
// against a rotation's --settle wait, and a stat every few seconds costs nothing.
const keyWatchInterval = 2 * time.Second

// watchKeyFile keeps the running keyring in step with <data>/master.key until ctx ends, so that a rotation
// (kazna rotate-master-key on a shared event store, or a key added by hand) needs no restart: versions added
// to the file are taken in, and the file's current version becomes current. Versions the file retires stay
// in memory until the next start (see custody.Keyring.Merge for why). With KAZNA_MASTER_KEY set there is no
// file to follow: the environment of a running process cannot change.
func watchKeyFile(ctx context.Context, c *config, ring *custody.Keyring, every time.Duration, log *slog.Logger) {
	if os.Getenv(custody.EnvMasterKey) != "" {
		return
	}
	w := &keyWatcher{dir: c.Data, path: filepath.Join(c.Data, custody.KeyFileName), ring: ring, log: log.With("component", "master-key")}
	// Take the file in once at the start: it may have changed between the keyring's load and this watcher's
	// first look (a rotation racing a start), and a stat taken now would hide that change for good.
	w.check()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.check()
		}
	}
}

type keyWatcher struct {
	dir, path string
	ring      *custody.Keyring
	log       *slog.Logger
	last      os.FileInfo // the file as last read; nil when it could not be stat'ed
	retired   []custody.Version
}

// check re-reads the file when it changed (a rotation replaces it by rename, so the inode changes too) and
// merges it. A file that cannot be read or does not fit is logged once per change and leaves the keyring as
// it is: the running process keeps serving with the keys it has.
func (w *keyWatcher) check() {
	fi, err := os.Stat(w.path)
	if err != nil {
		if w.last != nil {
			w.log.Error("master key file unreadable; keeping the keys in memory", "file", w.path, "err", err)
		}
		w.last = nil
		return
	}
	if w.last != nil && os.SameFile(w.last, fi) && fi.ModTime().Equal(w.last.ModTime()) && fi.Size() == w.last.Size() && fi.Mode() == w.last.Mode() {
		return
	}
	w.last = fi
	fresh, err := custody.LoadKeyFile(w.dir)
	if err != nil {
		w.log.Error("master key file changed but cannot be read; keeping the keys in memory", "file", w.path, "err", err)
		return
	}
	change, err := w.ring.Merge(fresh)
	if err != nil {
		w.log.Error("master key file changed but cannot be taken in; keeping the keys in memory", "file", w.path, "err", err)
		return
	}
	if change.Changed() {
		w.log.Info("master key file taken in", "file", w.path, "added_versions", change.Added, "current", change.Current, "previous_current", change.Previous)
	}
	retired := slices.DeleteFunc(w.ring.Versions(), func(v custody.Version) bool { return slices.Contains(fresh.Versions(), v) })
	if len(retired) > 0 && !slices.Equal(retired, w.retired) {
		w.log.Info("master key versions retired in the file stay in memory until the next start", "versions", retired)
	}
	w.retired = retired
}
