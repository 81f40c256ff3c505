package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/money"
	"github.com/kazna-ledger/kazna/domain/payment"
	"github.com/kazna-ledger/kazna/domain/reconciliation"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/projections"
	"github.com/kazna-ledger/kazna/stellar"
)

// Chain is what a reconciliation reads of the Stellar network (stellar.Horizon).
type Chain interface {
	AssetHolders(ctx context.Context, asset stellar.Asset, cursor string, limit int) (stellar.HolderPage, error)
	Account(ctx context.Context, address string) (stellar.AccountState, error)
	PaymentsBetween(ctx context.Context, asset stellar.Asset, from, to time.Time, fn func(stellar.PaymentRecord) error) error
	FindPayment(ctx context.Context, account, guid string) (stellar.PaymentRecord, error)
}

// Ledger is what a reconciliation reads of Kazna's books (ReadModels).
type Ledger interface {
	EachAccount(ctx context.Context, fn func(LedgerAccount) error) error
	Account(ctx context.Context, cp, guid string) (LedgerAccount, bool)
	Payment(guid string) (projections.Payment, bool)
	SettledOn(day string) []string
	Supply() (issued, burned int64)
}

// Platform names the asset reconciled (app.Platform).
type Platform interface {
	Asset() money.Asset
	IssuerAddress() string
}

// Progress is where a run stands, for a watcher (the CLI prints it on stderr).
type Progress struct {
	GUID    string
	Stage   string
	Checked int
	Total   int
}

// Config configures a Reconciler.
type Config struct {
	Store    command.Store
	Chain    Chain
	Ledger   Ledger
	Platform Platform
	// Sync waits until the read models show everything written so far (projections.Runner.WaitCaughtUp);
	// nil does not wait.
	Sync   func(ctx context.Context) error
	Logger *slog.Logger
	Now    func() time.Time
	// Recheck is the pause before differences are checked again: a payment in flight (reserved, paid on
	// chain, not yet booked) shows as a difference for a moment, and only what is still there after it is
	// recorded. Default 5 s; negative checks at once.
	Recheck time.Duration
	// Watch, if set, hears every progress step (in memory; the run's stream records every tenth).
	Watch func(Progress)
	// RunTimeout bounds one run. Default 30 minutes.
	RunTimeout time.Duration
}

// Errors of starting a run.
var (
	// ErrBusy is a start while this node runs another reconciliation.
	ErrBusy = errors.New("reconcile: a reconciliation is running on this node; retry when it is done")
	// ErrFutureDay is a run of a day that has not started.
	ErrFutureDay = errors.New("reconcile: the day has not started yet")
)

// Reconciler runs the daily ledger-vs-Stellar reconciliation: it compares every account's ledger balance
// with its balance on chain, the ledger's outstanding supply with the chain's, and the day's settled
// payments with the day's payments on chain, and records a run with its typed discrepancies.
type Reconciler struct {
	cfg Config

	mu      sync.Mutex
	running bool
	wg      sync.WaitGroup
	stop    context.CancelFunc
	base    context.Context
}

// NewReconciler checks cfg and fills defaults.
func NewReconciler(cfg Config) (*Reconciler, error) {
	if cfg.Store == nil || cfg.Chain == nil || cfg.Ledger == nil || cfg.Platform == nil {
		return nil, errors.New("reconcile: a reconciler needs a store, the chain, the ledger and the platform")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Recheck == 0 {
		cfg.Recheck = 5 * time.Second
	}
	if cfg.RunTimeout <= 0 {
		cfg.RunTimeout = 30 * time.Minute
	}
	base, stop := context.WithCancel(context.Background())
	return &Reconciler{cfg: cfg, base: base, stop: stop}, nil
}

// Close stops runs in progress (they are recorded as failed) and waits for them.
func (r *Reconciler) Close() {
	r.stop()
	r.wg.Wait()
}

// StartInput asks for a run.
type StartInput struct {
	Day            string // YYYY-MM-DD (UTC); "" = today
	Trigger        string // reconciliation.Trigger*
	IdempotencyKey string
	Metadata       eventstore.Metadata
}

// Started is a started run.
type Started struct {
	GUID     string
	Position eventstore.Position
	// New is false when the start was a retry (same idempotency key) or the run of a scheduled day another
	// node started: nothing runs here then.
	New bool
}

// Start records a run and runs it in the background; the report fills in as it goes.
func (r *Reconciler) Start(ctx context.Context, in StartInput) (Started, error) {
	st, day, err := r.begin(ctx, in)
	if err != nil || !st.New {
		return st, err
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer r.release()
		r.execute(r.base, st.GUID, day)
	}()
	return st, nil
}

// Run records a run and runs it to the end (the CLI); the returned state is the run's report.
func (r *Reconciler) Run(ctx context.Context, in StartInput) (reconciliation.RunState, error) {
	st, day, err := r.begin(ctx, in)
	if err != nil {
		return reconciliation.RunState{}, err
	}
	if st.New {
		defer r.release()
		r.execute(ctx, st.GUID, day)
	}
	return r.load(context.WithoutCancel(ctx), uuid.MustParse(st.GUID))
}

func (r *Reconciler) release() {
	r.mu.Lock()
	r.running = false
	r.mu.Unlock()
}

// begin claims this node's run slot and writes the run's start. A scheduled run's GUID is derived from its
// day, so that of several nodes only the one whose start is written runs it.
func (r *Reconciler) begin(ctx context.Context, in StartInput) (Started, time.Time, error) {
	now := r.cfg.Now().UTC()
	if in.Day == "" {
		in.Day = reconciliation.Day(now)
	}
	day, err := reconciliation.ParseDay(in.Day)
	if err != nil {
		return Started{}, day, err
	}
	if day.After(now) {
		return Started{}, day, ErrFutureDay
	}
	if in.Trigger == "" {
		in.Trigger = reconciliation.TriggerOperator
	}
	id := uuid.New()
	switch {
	case in.Trigger == reconciliation.TriggerSchedule:
		id = ScheduledRun(in.Day)
	case in.IdempotencyKey != "":
		id = uuid.NewSHA1(uuid.NameSpaceOID, []byte("reconciliation\x00"+in.IdempotencyKey))
	}
	r.mu.Lock()
	if r.running {
		r.mu.Unlock()
		return Started{}, day, ErrBusy
	}
	r.running = true
	r.mu.Unlock()
	env := command.Envelope{Metadata: in.Metadata}
	if in.IdempotencyKey != "" {
		env.IdempotencyKey, env.Fingerprint = in.IdempotencyKey+"/start", []byte(in.Day+"|"+in.Trigger)
	}
	res, err := command.Handle(ctx, r.cfg.Store, reconciliation.RunStream(id), reconciliation.RunDecider, reconciliation.RunEvents,
		any(reconciliation.Start{GUID: id, Day: in.Day, Trigger: in.Trigger, By: in.Metadata.Actor, At: now}), env)
	st := Started{GUID: id.String(), Position: res.Position, New: err == nil && len(res.Events) > 0 && !res.Replayed}
	if !st.New {
		r.release()
	}
	if err != nil {
		return Started{}, day, fmt.Errorf("reconcile: start the run of %s: %w", in.Day, err)
	}
	return st, day, nil
}

// ScheduledRun is the GUID of the scheduled run of a day.
func ScheduledRun(day string) uuid.UUID {
	return uuid.NewSHA1(uuid.NameSpaceOID, []byte("reconciliation-schedule\x00"+day))
}

func (r *Reconciler) load(ctx context.Context, id uuid.UUID) (reconciliation.RunState, error) {
	var s reconciliation.RunState
	probe := command.Decider[reconciliation.RunState, any, reconciliation.RunEvent]{Evolve: reconciliation.EvolveRun,
		Decide: func(st reconciliation.RunState, _ any) ([]reconciliation.RunEvent, error) { s = st; return nil, nil }}
	_, err := command.Handle(ctx, r.cfg.Store, reconciliation.RunStream(id), probe, reconciliation.RunEvents, any(nil), command.Envelope{})
	return s, err
}

// Resolve closes a discrepancy of a finished run with the operator's reason.
func (r *Reconciler) Resolve(ctx context.Context, run uuid.UUID, id int, reason string, key string, meta eventstore.Metadata) (eventstore.Position, error) {
	env := command.Envelope{Metadata: meta}
	if key != "" {
		env.IdempotencyKey, env.Fingerprint = key+"/resolve", []byte(fmt.Sprintf("%d|%s", id, reason))
	}
	res, err := command.Handle(ctx, r.cfg.Store, reconciliation.RunStream(run), reconciliation.RunDecider, reconciliation.RunEvents,
		any(reconciliation.Resolve{ID: id, Reason: reason, By: meta.Actor, At: r.cfg.Now().UTC()}), env)
	return res.Position, err
}

// job is one run in progress.
type job struct {
	r        *Reconciler
	id       uuid.UUID
	day      time.Time
	asset    stellar.Asset
	issuer   string
	scale    int64 // stroops per minor unit
	total    int
	lastStep int
	found    []candidate
	counts   reconciliation.Counts
}

// candidate is a difference found, with what re-checking it needs.
type candidate struct {
	d       reconciliation.Discrepancy
	account *LedgerAccount   // for account differences
	chain   *stellar.Balance // the account's balance on chain when found
	record  *stellar.PaymentRecord
	ledger  *projections.Payment
}

// execute runs a started run and records how it ended; it never returns an error: a run that cannot
// finish is recorded as failed with the reason.
func (r *Reconciler) execute(ctx context.Context, guid string, day time.Time) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.RunTimeout)
	defer cancel()
	a := r.cfg.Platform.Asset()
	j := &job{r: r, id: uuid.MustParse(guid), day: day, issuer: r.cfg.Platform.IssuerAddress(),
		asset: stellar.Asset{Code: a.StellarCode, Issuer: r.cfg.Platform.IssuerAddress(), Decimals: a.Decimals}}
	if j.asset.Code == "" {
		j.asset.Code = a.Code
	}
	scale, err := stellar.MinorToStroops(1, a.Decimals)
	if err == nil {
		j.scale = scale
		err = j.run(ctx)
	}
	w := context.WithoutCancel(ctx) // record the end even when the run was stopped
	if err != nil {
		r.cfg.Logger.Error("reconciliation failed", "run", guid, "err", err)
		if _, ferr := j.write(w, reconciliation.Fail{Reason: err.Error(), At: r.cfg.Now().UTC()}); ferr != nil {
			r.cfg.Logger.Error("reconciliation: could not record the failure", "run", guid, "err", ferr)
		}
		return
	}
	r.cfg.Logger.Info("reconciliation completed", "run", guid, "day", reconciliation.Day(day), "discrepancies", len(j.found),
		"accounts", j.counts.Accounts, "chain_payments", j.counts.ChainPayments)
}

func (j *job) write(ctx context.Context, cmd any) (command.Result[reconciliation.RunEvent], error) {
	return command.Handle(ctx, j.r.cfg.Store, reconciliation.RunStream(j.id), reconciliation.RunDecider, reconciliation.RunEvents,
		cmd, command.Envelope{Metadata: eventstore.Metadata{Actor: "kazna reconciliation"}})
}

// progress tells the watcher, and records every tenth of the accounts (and each new stage) in the stream.
func (j *job) progress(ctx context.Context, stage string, checked int) error {
	checked = min(checked, j.total)
	if w := j.r.cfg.Watch; w != nil {
		w(Progress{GUID: j.id.String(), Stage: stage, Checked: checked, Total: j.total})
	}
	step := 0
	if j.total > 0 {
		step = checked * 10 / j.total
	}
	if checked != 0 && checked != j.total && step == j.lastStep {
		return nil
	}
	j.lastStep = step
	_, err := j.write(ctx, reconciliation.Progress{Stage: stage, Checked: checked, Total: j.total, At: j.r.cfg.Now().UTC()})
	return err
}

func (j *job) run(ctx context.Context) error {
	if j.r.cfg.Sync != nil {
		if err := j.r.cfg.Sync(ctx); err != nil {
			return fmt.Errorf("wait for the read models: %w", err)
		}
	}
	// The ledger's side first, then the chain's: a payment settling in between shows as a difference that
	// the re-check clears.
	byAddress := map[string]*LedgerAccount{}
	err := j.r.cfg.Ledger.EachAccount(ctx, func(a LedgerAccount) error {
		if a.Address != "" {
			acct := a
			byAddress[a.Address] = &acct
		}
		return nil
	})
	if err != nil {
		return err
	}
	issued, burned := j.r.cfg.Ledger.Supply()
	j.total, j.counts.Accounts, j.counts.LedgerSupply = len(byAddress), len(byAddress), issued-burned
	if err := j.progress(ctx, "accounts", 0); err != nil {
		return err
	}
	if err := j.compareAccounts(ctx, byAddress); err != nil {
		return err
	}
	if err := j.comparePayments(ctx); err != nil {
		return err
	}
	if len(j.found) > 0 && j.r.cfg.Recheck > 0 {
		if err := j.progress(ctx, "recheck", j.total); err != nil {
			return err
		}
		if err := j.recheck(ctx); err != nil {
			return err
		}
	}
	return j.record(ctx)
}

// compareAccounts pages through every holder of the asset on chain and compares it with the ledger.
func (j *job) compareAccounts(ctx context.Context, byAddress map[string]*LedgerAccount) error {
	seen := make(map[string]bool, len(byAddress))
	var chainSupply int64
	cursor := ""
	for {
		page, err := j.r.cfg.Chain.AssetHolders(ctx, j.asset, cursor, 200)
		if err != nil {
			return err
		}
		for _, h := range page.Holders {
			j.counts.ChainHolders++
			chainSupply += h.Balance.Stroops
			b := h.Balance
			if a := byAddress[h.Address]; a != nil {
				seen[h.Address] = true
				j.compareAccount(a, &b)
			} else if h.Address != j.issuer && b.Stroops != 0 {
				j.add(candidate{d: reconciliation.Discrepancy{Type: reconciliation.MissingInLedger, Subject: reconciliation.SubjectAccount,
					Address: h.Address, ChainAmount: j.minor(b.Stroops),
					Detail: "an account holds the asset on chain but is no account of the ledger"}, chain: &b})
			}
		}
		if err := j.progress(ctx, "accounts", len(seen)); err != nil {
			return err
		}
		if len(page.Holders) == 0 || page.Next == cursor {
			break
		}
		cursor = page.Next
	}
	for addr, a := range byAddress {
		if !seen[addr] {
			j.compareAccount(a, nil)
		}
	}
	j.counts.ChainSupply = *j.minor(chainSupply)
	j.compareSupply(chainSupply)
	return nil
}

// compareAccount checks one account; chain is nil when the account holds no trustline on chain.
func (j *job) compareAccount(a *LedgerAccount, chain *stellar.Balance) {
	d := reconciliation.Discrepancy{Subject: reconciliation.SubjectAccount, AccountGUID: a.GUID, CounterpartyGUID: a.CounterpartyGUID,
		Address: a.Address, LedgerAmount: ptr(a.Balance)}
	if chain == nil {
		d.Type, d.Detail = reconciliation.MissingOnChain, "the ledger's account has no trustline to the asset on chain"
		j.add(candidate{d: d, account: a})
		return
	}
	if chain.Stroops == a.Balance*j.scale {
		return
	}
	d.Type, d.ChainAmount = reconciliation.BalanceMismatch, j.minor(chain.Stroops)
	d.Detail = fmt.Sprintf("ledger balance %s, on chain %s", j.text(a.Balance*j.scale), j.text(chain.Stroops))
	if a.Reserved != 0 {
		d.Detail += fmt.Sprintf(" (%s reserved by payments in flight)", j.text(a.Reserved*j.scale))
	}
	j.add(candidate{d: d, account: a, chain: chain})
}

func (j *job) compareSupply(chainStroops int64) {
	if j.counts.LedgerSupply*j.scale == chainStroops {
		return
	}
	j.add(candidate{d: reconciliation.Discrepancy{Type: reconciliation.SupplyMismatch, Subject: reconciliation.SubjectSupply,
		Address: j.issuer, LedgerAmount: ptr(j.counts.LedgerSupply), ChainAmount: j.minor(chainStroops),
		Detail: fmt.Sprintf("issued − burned in the ledger %s, outstanding on chain %s", j.text(j.counts.LedgerSupply*j.scale), j.text(chainStroops))}})
}

// comparePayments matches the day's settled payments with the day's payments on chain, by payment_guid
// first and by transaction hash for what carries none.
func (j *job) comparePayments(ctx context.Context) error {
	day := reconciliation.Day(j.day)
	from, to := j.day, j.day.Add(24*time.Hour)
	if now := j.r.cfg.Now().UTC(); now.Before(to) {
		to = now.Add(time.Second) // the ledger closing now belongs to the window
	}
	var chain []stellar.PaymentRecord
	err := j.r.cfg.Chain.PaymentsBetween(ctx, j.asset, from, to, func(rec stellar.PaymentRecord) error {
		chain = append(chain, rec)
		return nil
	})
	if err != nil {
		return err
	}
	j.counts.ChainPayments = len(chain)
	if err := j.progress(ctx, "payments", j.total); err != nil {
		return err
	}
	byGUID, byHash := map[string][]int{}, map[string][]int{}
	for i, rec := range chain {
		if rec.GUID != "" {
			byGUID[strings.ToLower(rec.GUID)] = append(byGUID[strings.ToLower(rec.GUID)], i)
		}
		byHash[rec.TxHash] = append(byHash[rec.TxHash], i)
	}
	used := make([]bool, len(chain))
	ledgerByHash := map[string][]*projections.Payment{}
	for _, guid := range j.r.cfg.Ledger.SettledOn(day) {
		p, ok := j.r.cfg.Ledger.Payment(guid)
		if !ok || p.Status != payment.StatusConfirmed {
			continue // the settled index names it: the payments model lags a moment
		}
		j.counts.Payments++
		lp := p
		ledgerByHash[p.Hash] = append(ledgerByHash[p.Hash], &lp)
		match := -1
		for _, i := range byGUID[strings.ToLower(p.GUID)] {
			if !used[i] && (match < 0 || chain[i].TxHash == p.Hash) {
				match = i
			}
		}
		if match < 0 { // no GUID on chain: the same transfer in the recorded transaction
			for _, i := range byHash[p.Hash] {
				if !used[i] && chain[i].GUID == "" && j.sameTransfer(&lp, chain[i]) {
					match = i
					break
				}
			}
		}
		if match < 0 {
			j.missingOnChain(ctx, &lp)
			continue
		}
		used[match] = true
		j.comparePayment(&lp, chain[match])
	}
	for i, rec := range chain {
		if used[i] {
			continue
		}
		j.unmatched(rec, ledgerByHash)
	}
	return nil
}

// sameTransfer reports whether a chain record moves the payment's amount between its accounts.
func (j *job) sameTransfer(p *projections.Payment, rec stellar.PaymentRecord) bool {
	return rec.From == p.Sender.Address && rec.To == p.Receiver.Address && rec.Stroops == p.Amount*j.scale
}

func (j *job) comparePayment(p *projections.Payment, rec stellar.PaymentRecord) {
	var why []string
	if rec.Stroops != p.Amount*j.scale {
		why = append(why, fmt.Sprintf("amount %s in the ledger, %s on chain", j.text(p.Amount*j.scale), j.text(rec.Stroops)))
	}
	if rec.From != p.Sender.Address || rec.To != p.Receiver.Address {
		why = append(why, fmt.Sprintf("%s → %s in the ledger, %s → %s on chain", p.Sender.Address, p.Receiver.Address, rec.From, rec.To))
	}
	if rec.TxHash != p.Hash {
		why = append(why, "the ledger recorded transaction "+p.Hash+", the chain carries it in "+rec.TxHash)
	}
	if len(why) == 0 {
		return
	}
	j.add(candidate{d: reconciliation.Discrepancy{Type: reconciliation.AmountMismatch, Subject: reconciliation.SubjectPayment,
		PaymentGUID: p.GUID, Hash: rec.TxHash, CounterpartyGUID: p.CounterpartyGUID, LedgerAmount: ptr(p.Amount),
		ChainAmount: j.minor(rec.Stroops), Detail: strings.Join(why, "; ")}, ledger: p, record: &rec})
}

// missingOnChain looks a settled payment up by its GUID outside the day's window (it may have closed on
// chain just before midnight) before calling it missing.
func (j *job) missingOnChain(ctx context.Context, p *projections.Payment) {
	side := p.Sender.Address
	if p.Sender.Kind == payment.KindRoot {
		side = p.Receiver.Address
	}
	if rec, err := j.r.cfg.Chain.FindPayment(ctx, side, p.GUID); err == nil {
		j.comparePayment(p, rec)
		return
	}
	j.add(candidate{d: reconciliation.Discrepancy{Type: reconciliation.MissingOnChain, Subject: reconciliation.SubjectPayment,
		PaymentGUID: p.GUID, Hash: p.Hash, CounterpartyGUID: p.CounterpartyGUID, LedgerAmount: ptr(p.Amount),
		Detail: "the ledger settled the payment in transaction " + p.Hash + "; the chain shows no payment with its GUID"}, ledger: p})
}

// unmatched classifies a chain record no settled payment of the day claimed.
func (j *job) unmatched(rec stellar.PaymentRecord, ledgerByHash map[string][]*projections.Payment) {
	d := reconciliation.Discrepancy{Subject: reconciliation.SubjectPayment, PaymentGUID: rec.GUID, Hash: rec.TxHash,
		Address: rec.From, ChainAmount: j.minor(rec.Stroops)}
	if rec.GUID != "" {
		p, ok := j.r.cfg.Ledger.Payment(rec.GUID)
		if ok && p.Status == payment.StatusConfirmed && p.Hash == rec.TxHash {
			j.comparePayment(&p, rec) // booked on another day than it closed on chain
			return
		}
		d.Type = reconciliation.MissingInLedger
		d.Detail = fmt.Sprintf("%s %s → %s of %s carries payment_guid %s, which the ledger has not settled", rec.Kind, rec.From, rec.To, j.text(rec.Stroops), rec.GUID)
		if ok {
			d.CounterpartyGUID, d.LedgerAmount = p.CounterpartyGUID, ptr(p.Amount)
			d.Detail += " (it is " + string(p.Status) + " there)"
			if p.Status == payment.StatusConfirmed {
				d.Detail += "; it was paid on chain twice"
			}
		}
		j.add(candidate{d: d, record: &rec})
		return
	}
	for _, p := range ledgerByHash[rec.TxHash] {
		if j.sameTransfer(p, rec) {
			return // a second identical transfer of a settled payment's transaction: claimed by hash
		}
	}
	d.Type = reconciliation.UnknownOnChainPayment
	d.Detail = fmt.Sprintf("%s %s → %s of %s on chain names no payment of the ledger (no payment_guid, unknown transaction)",
		rec.Kind, rec.From, rec.To, j.text(rec.Stroops))
	j.add(candidate{d: d, record: &rec})
}

func (j *job) add(c candidate) { j.found = append(j.found, c) }

// recheck waits for payments in flight to be booked, then keeps only the differences that are still there.
func (j *job) recheck(ctx context.Context) error {
	t := time.NewTimer(j.r.cfg.Recheck)
	select {
	case <-ctx.Done():
		t.Stop()
		return ctx.Err()
	case <-t.C:
	}
	if j.r.cfg.Sync != nil {
		if err := j.r.cfg.Sync(ctx); err != nil {
			return fmt.Errorf("wait for the read models: %w", err)
		}
	}
	before := j.found
	j.found = nil
	supplyAgain := false
	for _, c := range before {
		switch {
		case c.d.Type == reconciliation.SupplyMismatch:
			supplyAgain = true
		case c.d.Subject == reconciliation.SubjectAccount && c.account != nil:
			if err := j.recheckAccount(ctx, c.account); err != nil {
				return err
			}
		case c.d.Type == reconciliation.MissingInLedger && c.record != nil && c.record.GUID != "":
			if p, ok := j.r.cfg.Ledger.Payment(c.record.GUID); ok && p.Status == payment.StatusConfirmed && p.Hash == c.record.TxHash {
				j.comparePayment(&p, *c.record)
				continue
			}
			j.add(c)
		default:
			j.add(c)
		}
	}
	if supplyAgain {
		issued, burned := j.r.cfg.Ledger.Supply()
		j.counts.LedgerSupply = issued - burned
		var chain int64
		for cursor := ""; ; {
			page, err := j.r.cfg.Chain.AssetHolders(ctx, j.asset, cursor, 200)
			if err != nil {
				return err
			}
			for _, h := range page.Holders {
				chain += h.Balance.Stroops
			}
			if len(page.Holders) == 0 || page.Next == cursor {
				break
			}
			cursor = page.Next
		}
		j.counts.ChainSupply = *j.minor(chain)
		j.compareSupply(chain)
	}
	return nil
}

func (j *job) recheckAccount(ctx context.Context, a *LedgerAccount) error {
	now, ok := j.r.cfg.Ledger.Account(ctx, a.CounterpartyGUID, a.GUID)
	if !ok {
		now = *a
	}
	st, err := j.r.cfg.Chain.Account(ctx, now.Address)
	if errors.Is(err, stellar.ErrNotFound) {
		j.compareAccount(&now, nil)
		return nil
	}
	if err != nil {
		return err
	}
	b, has := st.Trustline(j.asset)
	if !has {
		j.compareAccount(&now, nil)
		return nil
	}
	j.compareAccount(&now, &b)
	return nil
}

// record writes the findings, MaxFindingsPerEvent per event, and completes the run.
func (j *job) record(ctx context.Context) error {
	if err := j.progress(ctx, "recording", j.total); err != nil {
		return err
	}
	found := make([]reconciliation.Discrepancy, 0, len(j.found))
	for _, c := range j.found {
		found = append(found, c.d)
	}
	if len(found) > reconciliation.MaxDiscrepancies {
		j.counts.Truncated = len(found) - reconciliation.MaxDiscrepancies
		found = found[:reconciliation.MaxDiscrepancies]
	}
	for len(found) > 0 {
		n := min(len(found), reconciliation.MaxFindingsPerEvent)
		if _, err := j.write(ctx, reconciliation.Record{Discrepancies: found[:n], At: j.r.cfg.Now().UTC()}); err != nil {
			return fmt.Errorf("record the discrepancies: %w", err)
		}
		found = found[n:]
	}
	if _, err := j.write(ctx, reconciliation.Complete{Counts: j.counts, At: j.r.cfg.Now().UTC()}); err != nil {
		return fmt.Errorf("complete the run: %w", err)
	}
	return nil
}

// minor converts stroops to minor units, truncating a fraction below the minor unit (which only a
// payment made outside Kazna can leave; the detail text shows the exact amount).
func (j *job) minor(stroops int64) *int64 { v := stroops / j.scale; return &v }

// text writes stroops as an amount of the asset with its decimals, or all seven when it has more.
func (j *job) text(stroops int64) string {
	if stroops%j.scale == 0 {
		return money.Amount(stroops/j.scale).Format(j.r.cfg.Platform.Asset()) + " " + j.r.cfg.Platform.Asset().Code
	}
	return stellar.FormatStroops(stroops) + " " + j.r.cfg.Platform.Asset().Code
}

func ptr(v int64) *int64 { return &v }

// Asset is the asset reconciled, to show amounts.
func (r *Reconciler) Asset() money.Asset { return r.cfg.Platform.Asset() }

// Service is what the HTTP API serves of the daily reconciliation: the reconciler's writes and the reports'
// reads.
type Service struct {
	*Reconciler
	*Reports
}
