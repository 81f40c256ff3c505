package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/kazna-ledger/kazna/app"
	"github.com/kazna-ledger/kazna/domain/money"
	"github.com/kazna-ledger/kazna/domain/platform"
	"github.com/kazna-ledger/kazna/domain/reconciliation"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/projections"
	"github.com/kazna-ledger/kazna/reconcile"
)

// reconcileServeOptions are serve's reconciliation flags.
type reconcileServeOptions struct {
	at          string        // UTC time of day of the daily run, or "off"
	paymentTerm time.Duration // how long a debtor has to pay an awaiting inter-bank recon
	recheck     time.Duration
}

// reconcileOptionsOf is the config's reconciliation flags, or their defaults for a config built without
// flags (tests).
func reconcileOptionsOf(c *config) *reconcileServeOptions {
	if c.Reconcile != nil {
		return c.Reconcile
	}
	return &reconcileServeOptions{at: defaultReconcileAt, paymentTerm: reconcile.DefaultPaymentTerm}
}

// defaultReconcileAt is when the daily reconciliation of the day before runs: early, once the day's last
// payments have settled.
const defaultReconcileAt = "00:30"

// reconcileServeFlags registers serve's reconciliation flags.
func reconcileServeFlags(fs *flag.FlagSet, c *config) {
	o := &reconcileServeOptions{}
	c.Reconcile = o
	stringFlag(fs, &o.at, "reconcile-at", "KAZNA_RECONCILE_AT", defaultReconcileAt,
		"UTC time of day (HH:MM) when the node reconciles the day before against Stellar; off to schedule nothing (one node of a cluster is enough, several do not run it twice)")
	durationFlag(fs, &o.paymentTerm, "recon-payment-term", "KAZNA_RECON_PAYMENT_TERM", reconcile.DefaultPaymentTerm,
		"how long after its day a debtor has to pay an inter-bank recon before it shows as overdue")
	durationFlag(fs, &o.recheck, "reconcile-recheck", "KAZNA_RECONCILE_RECHECK", 5*time.Second,
		"pause before differences that payments in flight may explain are checked again")
}

// reconciliationServices are the running reconciliations of a node.
type reconciliationServices struct {
	service   reconcile.Service
	interbank *reconcile.Interbank
	stop      func()
}

// startReconciliation builds the daily reconciliation and the inter-bank recons over the node's read
// models, and starts the schedule. stop ends runs in progress (recorded as failed) and the schedule.
func startReconciliation(ctx context.Context, c *config, store eventstore.Store, n *network, plat *app.Platform, m *readModels, log *slog.Logger) (*reconciliationServices, error) {
	o := reconcileOptionsOf(c)
	if o.paymentTerm <= 0 {
		return nil, errors.New("--recon-payment-term (KAZNA_RECON_PAYMENT_TERM) must be a positive duration such as 24h")
	}
	schedule := strings.ToLower(strings.TrimSpace(o.at)) != "off"
	var at time.Duration
	if schedule {
		var err error
		if at, err = reconcile.ParseTimeOfDay(o.at); err != nil {
			return nil, fmt.Errorf("--reconcile-at (KAZNA_RECONCILE_AT): %w", err)
		}
	}
	rec, err := reconcile.NewReconciler(reconcile.Config{Store: store, Chain: n.horizon, Platform: plat,
		Ledger: reconcile.ReadModels{Counterparties: m.counterparties, Customers: m.customers, Payments: m.payments, Recons: m.recons},
		Sync:   m.runner.WaitCaughtUp, Recheck: o.recheck, Logger: log.With("component", "reconciliation")})
	if err != nil {
		return nil, err
	}
	interbank, err := reconcile.NewInterbank(reconcile.InterbankDeps{Store: store, Recons: m.recons, Counterparties: m.counterparties,
		Reserves: m.emission, Asset: plat.Asset(), PaymentTerm: o.paymentTerm, Logger: log.With("component", "recons")})
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	if schedule {
		wg.Go(func() { rec.Schedule(runCtx, at, m.reports) })
		log.Info("daily reconciliation scheduled", "at_utc", o.at)
	}
	var once sync.Once
	return &reconciliationServices{service: reconcile.Service{Reconciler: rec, Reports: m.reports}, interbank: interbank,
		stop: func() { once.Do(func() { cancel(); wg.Wait(); rec.Close() }) }}, nil
}

const reconcileHelp = `Compares Kazna's ledger with the Stellar network, as the daily run of kazna serve does: every account's
ledger balance with its balance on chain, the outstanding supply (issued − burned) with what the issuer has
outstanding on chain, and the day's settled payments with the day's payments on chain (matched by the
payment_guid of manageData, then by transaction hash). The run and its discrepancies are recorded as events
(GET /api/v1/reconciliations/{guid} shows them). Progress goes to stderr, the report to stdout. Exit status:
0 when the books agree, 1 when discrepancies were found or the run failed.

The embedded event store and network have one owner: stop kazna serve first (or point --eventstore and
--horizon-url at shared ones; then the run happens beside the running nodes).`

// reconcileCLIOptions are the flags of kazna reconcile.
type reconcileCLIOptions struct {
	day     string
	format  string
	recheck time.Duration
}

func reconcileCommand() command {
	o := &reconcileCLIOptions{}
	return command{
		name: "reconcile", summary: "reconcile the ledger against the Stellar network now and print the report", help: reconcileHelp, usesStore: true,
		flags: func(fs *flag.FlagSet, c *config) {
			serveFlags(fs, c)
			stringFlag(fs, &o.day, "day", "KAZNA_RECONCILE_DAY", "", "UTC day (YYYY-MM-DD) whose payments to match; empty for today")
			stringFlag(fs, &o.format, "format", "KAZNA_RECONCILE_FORMAT", "text", "report format on stdout: text or json")
			durationFlag(fs, &o.recheck, "recheck", "KAZNA_RECONCILE_RECHECK", 5*time.Second,
				"pause before differences that payments in flight may explain are checked again")
		},
		run: func(ctx context.Context, c *config, out io.Writer) error { return reconcileNow(ctx, c, o, out) },
	}
}

// errDiscrepancies makes the command exit 1 after printing a report that found differences.
var errDiscrepancies = errors.New("the books do not agree")

func reconcileNow(ctx context.Context, c *config, o *reconcileCLIOptions, out io.Writer) error {
	if o.format != "text" && o.format != "json" {
		return errors.New("--format must be text or json")
	}
	if o.day != "" {
		if _, err := reconciliation.ParseDay(o.day); err != nil {
			return fmt.Errorf("--day: %w", err)
		}
	}
	log := c.logger().With("component", "reconcile")
	if c.EventStore == "" {
		path := filepath.Join(c.Data, "events.db")
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("no event store at %s: nothing to reconcile (is --data the directory kazna serve uses?)", path)
		}
	}
	store, _, _, err := openRotationStore(c)
	if err != nil {
		return err
	}
	defer func() {
		if err := store.Close(); err != nil {
			log.Error("close event store", "err", err)
		}
	}()
	plat, err := platformOf(ctx, store)
	if err != nil {
		return err
	}
	c.Channels = 0 // the command only reads the chain: no channel accounts to open
	n, err := openNetwork(c, log)
	if err != nil {
		return err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := n.close(closeCtx); err != nil {
			log.Error("close the Stellar network", "err", err)
		}
	}()
	m, err := newReadModels(store, log)
	if err != nil {
		return err
	}
	runCtx, stopRunner := context.WithCancel(ctx)
	runDone := make(chan error, 1)
	go func() { runDone <- m.runner.Run(runCtx) }()
	defer func() {
		stopRunner()
		<-runDone
	}()
	waitCtx, cancelWait := context.WithTimeout(ctx, catchUpTimeout)
	err = m.runner.WaitCaughtUp(waitCtx)
	cancelWait()
	if err != nil {
		return fmt.Errorf("read models did not catch up with the log: %w", err)
	}
	stderr := c.logOut
	if stderr == nil {
		stderr = os.Stderr
	}
	rec, err := reconcile.NewReconciler(reconcile.Config{Store: store, Chain: n.horizon, Platform: plat,
		Ledger: reconcile.ReadModels{Counterparties: m.counterparties, Customers: m.customers, Payments: m.payments, Recons: m.recons},
		Sync:   m.runner.WaitCaughtUp, Recheck: o.recheck, Logger: log, Watch: progressPrinter(stderr)})
	if err != nil {
		return err
	}
	defer rec.Close()
	report, err := rec.Run(ctx, reconcile.StartInput{Day: o.day, Trigger: reconciliation.TriggerCLI,
		Metadata: eventstore.Metadata{Actor: "kazna reconcile"}})
	if err != nil {
		return err
	}
	if err := printReport(out, report, plat.Asset(), o.format); err != nil {
		return err
	}
	switch {
	case report.Status == reconciliation.RunFailed:
		return fmt.Errorf("the reconciliation failed: %s", report.Reason)
	case len(report.Discrepancies) > 0:
		return fmt.Errorf("%w: %d discrepancies (run %s)", errDiscrepancies, len(report.Discrepancies), report.GUID)
	}
	return nil
}

// progressPrinter writes a line per stage and per tenth of the accounts.
func progressPrinter(w io.Writer) func(reconcile.Progress) {
	var mu sync.Mutex
	last := ""
	return func(p reconcile.Progress) {
		pct := 100
		if p.Total > 0 {
			pct = p.Checked * 100 / p.Total
		}
		line := fmt.Sprintf("reconcile: %s %d/%d accounts (%d%%)", p.Stage, p.Checked, p.Total, pct)
		key := fmt.Sprintf("%s %d", p.Stage, pct/10)
		mu.Lock()
		defer mu.Unlock()
		if key != last {
			last = key
			fmt.Fprintln(w, line)
		}
	}
}

func printReport(out io.Writer, s reconciliation.RunState, asset money.Asset, format string) error {
	if format == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			GUID          string                       `json:"guid"`
			Day           string                       `json:"day"`
			Status        reconciliation.RunStatus     `json:"status"`
			Reason        string                       `json:"reason,omitempty"`
			Counts        reconciliation.Counts        `json:"counts"`
			Discrepancies []reconciliation.Discrepancy `json:"discrepancies"`
		}{s.GUID, s.Day, s.Status, s.Reason, s.Counts, append([]reconciliation.Discrepancy{}, s.Discrepancies...)})
	}
	amount := func(v *int64) string {
		if v == nil {
			return "-"
		}
		return money.Amount(*v).Format(asset)
	}
	fmt.Fprintf(out, "reconciliation %s of %s: %s\n", s.GUID, s.Day, s.Status)
	if s.Reason != "" {
		fmt.Fprintf(out, "  reason: %s\n", s.Reason)
	}
	c := s.Counts
	fmt.Fprintf(out, "  accounts %d (on chain %d), payments %d (on chain %d), supply %s (on chain %s) %s\n", c.Accounts, c.ChainHolders,
		c.Payments, c.ChainPayments, money.Amount(c.LedgerSupply).Format(asset), money.Amount(c.ChainSupply).Format(asset), asset.Code)
	if len(s.Discrepancies) == 0 {
		fmt.Fprintln(out, "  the books agree: no discrepancies")
		return nil
	}
	fmt.Fprintf(out, "  %d discrepancies:\n", len(s.Discrepancies))
	for _, d := range s.Discrepancies {
		subject := d.AccountGUID
		if subject == "" {
			subject = d.PaymentGUID
		}
		if subject == "" {
			subject = d.Address
		}
		fmt.Fprintf(out, "  %4d %-25s %-8s %s ledger %s chain %s: %s\n", d.ID, d.Type, d.Subject, subject, amount(d.LedgerAmount), amount(d.ChainAmount), d.Detail)
	}
	return nil
}

// storedPlatform is the platform's asset and issuer as its stream records them: the command reconciles
// what serve set up and never bootstraps anything itself.
type storedPlatform struct{ s platform.State }

func (p storedPlatform) Asset() money.Asset    { return p.s.Asset }
func (p storedPlatform) IssuerAddress() string { return p.s.IssuerAddress }

func platformOf(ctx context.Context, store eventstore.Store) (storedPlatform, error) {
	var s platform.State
	codec := app.PlatformEvents()
	for next := uint64(0); ; {
		page, err := store.ReadStream(ctx, platform.Stream, eventstore.Forwards, next, eventstore.MaxReadCount)
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			break
		}
		if err != nil {
			return storedPlatform{}, fmt.Errorf("read the platform stream: %w", err)
		}
		for _, ev := range page {
			e, err := codec.Decode(ev.Type, ev.Data)
			if err != nil {
				return storedPlatform{}, fmt.Errorf("platform stream at %d: %w", ev.Revision, err)
			}
			s = platform.Evolve(s, e)
			next++
		}
		if len(page) < eventstore.MaxReadCount {
			break
		}
	}
	if s.IssuerAddress == "" {
		return storedPlatform{}, errors.New("the platform has no issuer yet: run kazna serve once to set it up")
	}
	return storedPlatform{s}, nil
}

var _ projections.Projection = (*reconcile.Reports)(nil)
