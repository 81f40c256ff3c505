package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/kazna-ledger/kazna/audit"
)

const replayHelp = `Rebuilds every read model that kazna serve keeps (banks, employees, roles, customers and their accounts,
payments, emission, …) from the event log as it stood at --until, and writes the balance of every opened
account then: balance (credits − debits), reserved (held by confirmed payments not yet settled) and available
(balance − reserved), in the asset's units.

--until is either an RFC 3339 time — every event recorded at or before it (its metadata time) is replayed —
or a log position — every event at or before it (a number on the embedded store, commit/prepare on
KurrentDB; kazna verify and the audit API show positions). Without --until the whole log is replayed.
The balances a node's API showed at time T are those of kazna replay --until T; so is
GET …/accounts/{account_guid}/balance?at=T.

Examples:
  kazna replay --until 2026-05-01T00:00:00Z                      # a text table on stdout
  kazna replay --until 2026-05-01T00:00:00+03:00 --format csv --out balances.csv
  kazna replay --until 15320 --format json

Progress goes to stderr. The embedded store can be replayed only while no kazna serve holds it (stop it, or
replay a copy of events.db with --eventstore); KurrentDB while serving.`

// maxReplayRunners bounds --runners: each Runner is two goroutines and a read of the whole log.
const maxReplayRunners = 16

type replayOptions struct {
	until, format, out string
	runners            int
	progressEvery      time.Duration
}

func replayCommand() command {
	o := &replayOptions{progressEvery: 2 * time.Second}
	return command{
		name:      "replay",
		summary:   "rebuild the read models as of a time or log position and export the balances",
		help:      replayHelp,
		usesStore: true,
		flags: func(fs *flag.FlagSet, c *config) {
			stringFlag(fs, &o.until, "until", "KAZNA_REPLAY_UNTIL", "", "RFC 3339 time or log position to replay up to (inclusive); empty replays the whole log")
			stringFlag(fs, &o.format, "format", "KAZNA_REPLAY_FORMAT", audit.FormatText, "output format: text, json or csv")
			stringFlag(fs, &o.out, "out", "KAZNA_REPLAY_OUT", "", "file to write the balances to; empty writes them to stdout")
			intFlag(fs, &o.runners, "runners", "KAZNA_REPLAY_RUNNERS", 1, "how many Runners rebuild the read models side by side, each reading the log (1 to 16; more helps only on an idle machine with cores to spare)")
		},
		run: func(ctx context.Context, c *config, out io.Writer) error { return replayLog(ctx, c, o, out) },
	}
}

func replayLog(ctx context.Context, c *config, o *replayOptions, out io.Writer) error {
	switch o.format {
	case audit.FormatText, audit.FormatJSON, audit.FormatCSV:
	default:
		return fmt.Errorf("--format (KAZNA_REPLAY_FORMAT) must be text, json or csv, not %q", o.format)
	}
	if o.runners < 1 || o.runners > maxReplayRunners {
		return fmt.Errorf("--runners (KAZNA_REPLAY_RUNNERS) must be a number from 1 to %d", maxReplayRunners)
	}
	cut := audit.Cut{}
	if o.until != "" {
		var err error
		if cut, err = audit.ParseCut(o.until); err != nil {
			return fmt.Errorf("--until (KAZNA_REPLAY_UNTIL): %w", err)
		}
	}
	log := c.logger().With("component", "replay")
	store, name, _, err := openExistingStore(c, "replay")
	if err != nil {
		return err
	}
	defer store.Close()
	asset, err := audit.PlatformAsset(ctx, store)
	if err != nil {
		return err
	}

	// The read models serve keeps (their own Runner is never run): Replay feeds them a cut of the log.
	models, err := newReadModels(store, log)
	if err != nil {
		return err
	}
	rep, err := audit.Replay(ctx, store, audit.ReplayOptions{Cut: cut, Runners: o.runners, Logger: log, ProgressEvery: o.progressEvery,
		Progress: func(p audit.ReplayProgress) {
			log.Info("replaying", "store", name, "until", cut.String(), "read", p.Read, "kept", p.Kept, "position", p.Position.String(),
				"seconds", fmt.Sprintf("%.1f", p.Elapsed.Seconds()))
		}}, models.all()...)
	if err != nil {
		return err
	}
	rows, err := audit.Balances(ctx, models.counterparties, models.customers)
	if err != nil {
		return err
	}
	sheet := audit.Sheet{Cut: cut, Last: rep.Last, LastTime: rep.LastTime, Events: rep.Kept, Asset: asset, Accounts: rows}
	if err := writeSheet(sheet, o, out); err != nil {
		return err
	}
	rate := 0.0
	if s := rep.Duration.Seconds(); s > 0 {
		rate = float64(rep.Read) / s
	}
	log.Info("replayed", "until", cut.String(), "events", rep.Kept, "last_position", rep.Last.String(), "accounts", len(rows),
		"seconds", fmt.Sprintf("%.2f", rep.Duration.Seconds()), "events_per_second", fmt.Sprintf("%.0f", rate))
	return nil
}

// writeSheet writes to --out through a temporary file renamed into place, so that a failed replay never
// leaves half a file that looks like an answer.
func writeSheet(sheet audit.Sheet, o *replayOptions, out io.Writer) error {
	if o.out == "" {
		return sheet.Write(out, o.format)
	}
	tmp, err := os.CreateTemp(filepath.Dir(o.out), ".kazna-replay-*")
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	werr := sheet.Write(tmp, o.format)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("--out %s: %w", o.out, err)
	}
	if err := os.Rename(tmp.Name(), o.out); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("--out %s: %w", o.out, err)
	}
	fmt.Fprintf(out, "wrote the balances of %d accounts as of %s to %s\n", len(sheet.Accounts), sheet.Cut, o.out)
	return nil
}
