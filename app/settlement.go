package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/account"
	"github.com/kazna-ledger/kazna/domain/payment"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/stellar"
)

// The settlement worker is the process manager of the transfer saga (ARCHITECTURE, "Consistency of a
// transfer"). It follows the log for confirmed payments and open reservations and, for each payment:
//
//	PENDING   → pay on Stellar (payment + manageData payment_guid, batched with others) → debit the sender,
//	            credit the receiver, record the hash (CONFIRMED); or, on a definite refusal, release the
//	            reservation and record the reason (FAILED).
//	CREATED with a reservation (the process stopped between the two writes of a confirmation) → confirm it.
//	CANCELLED or FAILED with a reservation → release it.
//
// Every step is idempotent (the account remembers booked payments; the payment's transitions are checked), so
// running a step twice changes nothing. A payment is never paid twice on chain: the adapter resends only the
// identical envelope, and a payment whose outcome is unknown — or that a stopped process may have had in
// flight — is looked up on chain by its GUID, after the transaction time bound has passed, before anything
// is sent again.

// SettlementPayer settles one payment on chain, batched with others (stellar.Batcher).
type SettlementPayer interface {
	Pay(ctx context.Context, p stellar.Payment) (stellar.Receipt, error)
}

// SettlementChain finds a payment on chain by its GUID (stellar.Horizon).
type SettlementChain interface {
	FindPayment(ctx context.Context, account, guid string) (stellar.PaymentRecord, error)
}

// AccountSigners opens the key of an account for signing (Signers: the platform's key for a bank's entities,
// the bank's secret for the customer as well for a customer's account).
type AccountSigners interface {
	AccountSigner(ctx context.Context, s account.State) (stellar.Signer, error)
}

// EmissionOutcomes hears about the payments of issues and burns that the network refused, so the emission
// request is failed and its totals corrected.
type EmissionOutcomes interface {
	EmissionPaymentFailed(ctx context.Context, counterparty, emission uuid.UUID, reason string) error
}

// SettlementStore is what the worker needs of the event store.
type SettlementStore interface {
	command.Store
	SubscribeAll(ctx context.Context, from eventstore.Position, filter eventstore.Filter) (eventstore.Subscription, error)
}

// SettlementDeps configures the worker.
type SettlementDeps struct {
	Store    SettlementStore
	Accounts *AccountBook // the book the payment use cases write reservations through; default: its own
	Payments *PaymentBook // the payment use cases' book; default: its own
	Payer    SettlementPayer
	Chain    SettlementChain
	Signers  AccountSigners
	Platform *Platform
	Emission EmissionOutcomes // optional
	Logger   *slog.Logger
	Now      func() time.Time
	// Workers bounds the payments handled at once; most of them wait for their batch and the next ledger,
	// so settled payments per second ≈ Workers / (seconds per ledger + booking). Default 8192.
	Workers int
	// Bookings bounds the settled payments booked on the ledger at once. A ledger close settles a whole
	// batch together; booking all of it at once would put thousands of appends in front of the next
	// customer's confirmation, while a bounded number keeps each group commit small and lets interactive
	// writes in between. Default 128 (about 10,000 bookings a second on the embedded store).
	Bookings int
	// InFlightWindow is how long a transaction a stopped process sent may still be applied (the adapter's
	// TxTimeout plus a margin). A payment left PENDING by an earlier run is looked up on chain only after it,
	// so that the lookup is final. Default 35 s.
	InFlightWindow time.Duration
	// RetryDelay spaces attempts after an unknown outcome or an error of the ledger. Default 2 s.
	RetryDelay time.Duration
	// OrphanGrace is how long a reservation may wait for its confirmation before the worker finishes it (the
	// confirming request normally records it within milliseconds). Default 3 s.
	OrphanGrace time.Duration
	// Multisig and Cosigned pay from accounts that need their bank's signature as well (multisig.go); nil
	// Multisig pays every account with its own key.
	Multisig *Multisig
	Cosigned CosignedPayer
	// SignRetryDelay spaces the bank's /sign requests after a 404 or no answer. Default 30 s.
	SignRetryDelay time.Duration
}

// SettlementStats counts what the worker did since it started.
type SettlementStats struct {
	Settled, Failed, Released, Recovered, Retries int64
}

// Settlement is the settlement worker.
type Settlement struct {
	d SettlementDeps

	mu       sync.Mutex
	open     map[uuid.UUID]*openPayment // payments that may still need work, from the log
	inflight map[uuid.UUID]bool         // handled now; true = handle again when done
	queue    chan uuid.UUID
	booking  chan struct{} // a slot per booking under way (Bookings)
	live     bool
	started  time.Time

	settled, failed, released, recovered, retries atomic.Int64
}

// openPayment is what the log said about a payment that is not done.
type openPayment struct {
	status   payment.Status // "" until its payment events are seen (a reservation can come first)
	reserved bool           // a reservation for it is open on the sender's account
	earlier  bool           // confirmed before this worker started: may have been in flight
}

// NewSettlement checks deps and fills defaults.
func NewSettlement(d SettlementDeps) (*Settlement, error) {
	if d.Store == nil || d.Payer == nil || d.Chain == nil || d.Signers == nil || d.Platform == nil {
		return nil, errors.New("app: settlement needs a store, a payer, the chain, signers and the platform")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Workers <= 0 {
		d.Workers = 8192
	}
	if d.Accounts == nil {
		book, err := NewAccountBook(d.Store)
		if err != nil {
			return nil, err
		}
		d.Accounts = book
	}
	if d.Bookings <= 0 {
		d.Bookings = 128
	}
	if d.InFlightWindow <= 0 {
		d.InFlightWindow = 35 * time.Second
	}
	if d.RetryDelay <= 0 {
		d.RetryDelay = 2 * time.Second
	}
	if d.OrphanGrace <= 0 {
		d.OrphanGrace = 3 * time.Second
	}
	if d.SignRetryDelay <= 0 {
		d.SignRetryDelay = 30 * time.Second
	}
	return &Settlement{d: d, open: map[uuid.UUID]*openPayment{}, inflight: map[uuid.UUID]bool{},
		queue: make(chan uuid.UUID, 4*d.Workers), booking: make(chan struct{}, d.Bookings)}, nil
}

// Stats reports the worker's counters.
func (s *Settlement) Stats() SettlementStats {
	return SettlementStats{Settled: s.settled.Load(), Failed: s.failed.Load(), Released: s.released.Load(),
		Recovered: s.recovered.Load(), Retries: s.retries.Load()}
}

// settlementFilter selects the events that open or close a payment's work.
var settlementFilter = eventstore.Filter{EventTypePrefixes: []string{"Payment", "AccountFundsRe", "AccountDebited"}}

// Run follows the log until ctx ends. Payments already open when it starts are handled once it has caught up
// (those confirmed before it started only after InFlightWindow); new ones as they are confirmed.
func (s *Settlement) Run(ctx context.Context) error {
	s.started = s.d.Now()
	sub, err := s.d.Store.SubscribeAll(ctx, eventstore.StartPosition, settlementFilter)
	if err != nil {
		return fmt.Errorf("app: settlement: subscribe: %w", err)
	}
	defer sub.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for range s.d.Workers {
		wg.Go(func() { s.work(ctx) })
	}
	defer wg.Wait()
	for {
		m, err := sub.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("app: settlement: follow the log: %w", err)
		}
		switch m.Kind {
		case eventstore.CaughtUp:
			s.caughtUp(ctx)
		case eventstore.EventAppeared:
			s.observe(ctx, m.Event)
		}
	}
}

// observe folds one event into the open set and, once live, schedules the work it calls for.
func (s *Settlement) observe(ctx context.Context, ev *eventstore.RecordedEvent) {
	id, ok := s.eventPayment(ev)
	if !ok {
		return
	}
	s.mu.Lock()
	o := s.open[id]
	if o == nil {
		o = &openPayment{}
		s.open[id] = o
	}
	var now, later bool
	switch ev.Type {
	case "PaymentCreated":
		if o.status == "" {
			o.status = payment.StatusCreated
		}
	case "PaymentConfirmed":
		o.status = payment.StatusPending
		o.earlier = !s.live
		now = true
	case "PaymentSettled":
		o.status = payment.StatusConfirmed
	case "PaymentFailed":
		o.status = payment.StatusFailed
	case "PaymentCancelled":
		o.status = payment.StatusCancelled
		now = o.reserved
	case "AccountFundsReserved":
		o.reserved = true
		later = o.status == payment.StatusCreated || o.status == ""
		now = o.status.Final()
	case "AccountFundsReleased", "AccountDebited":
		o.reserved = false
	}
	if (o.status.Final() || o.status == payment.StatusCreated) && !o.reserved {
		delete(s.open, id) // nothing left to do (a draft waits for its confirmation)
		now, later = false, false
	}
	live := s.live
	s.mu.Unlock()
	if !live {
		return
	}
	switch {
	case now:
		s.schedule(ctx, id, 0)
	case later:
		s.schedule(ctx, id, s.d.OrphanGrace)
	}
}

func (s *Settlement) eventPayment(ev *eventstore.RecordedEvent) (uuid.UUID, bool) {
	var ref string
	switch ev.Type {
	case "PaymentCreated", "PaymentConfirmed", "PaymentSettled", "PaymentFailed", "PaymentCancelled":
		e, err := payment.Events.Decode(ev.Type, ev.Data)
		if err != nil {
			s.d.Logger.Error("settlement: undecodable payment event", "stream", ev.Stream, "type", ev.Type, "err", err)
			return uuid.Nil, false
		}
		switch e := e.(type) {
		case payment.PaymentCreated:
			ref = e.GUID
		case payment.PaymentConfirmed:
			ref = e.GUID
		case payment.PaymentSettled:
			ref = e.GUID
		case payment.PaymentFailed:
			ref = e.GUID
		case payment.PaymentCancelled:
			ref = e.GUID
		}
	case "AccountFundsReserved", "AccountFundsReleased", "AccountDebited":
		e, err := account.Events.Decode(ev.Type, ev.Data)
		if err != nil {
			s.d.Logger.Error("settlement: undecodable account event", "stream", ev.Stream, "type", ev.Type, "err", err)
			return uuid.Nil, false
		}
		switch e := e.(type) {
		case account.AccountFundsReserved:
			ref = e.Payment
		case account.AccountFundsReleased:
			ref = e.Payment
		case account.AccountDebited:
			ref = e.Payment
		}
	default:
		return uuid.Nil, false
	}
	id, err := uuid.Parse(ref)
	return id, err == nil
}

// caughtUp schedules every payment the log left open: those that may have been in flight in an earlier run
// after InFlightWindow, the rest at once.
func (s *Settlement) caughtUp(ctx context.Context) {
	s.mu.Lock()
	if s.live {
		s.mu.Unlock()
		return
	}
	s.live = true
	var soon, late []uuid.UUID
	for id, o := range s.open {
		if o.status == payment.StatusPending || o.status == payment.StatusCreated || o.status == "" {
			late = append(late, id)
		} else {
			soon = append(soon, id)
		}
	}
	s.mu.Unlock()
	if len(soon)+len(late) > 0 {
		s.d.Logger.Info("settlement: resuming payments left open", "payments", len(soon)+len(late),
			"pending_after", s.d.InFlightWindow.String())
	}
	for _, id := range soon {
		s.schedule(ctx, id, 0)
	}
	for _, id := range late {
		s.schedule(ctx, id, s.d.InFlightWindow)
	}
}

// schedule queues id for a worker after delay.
func (s *Settlement) schedule(ctx context.Context, id uuid.UUID, delay time.Duration) {
	if delay <= 0 {
		select {
		case s.queue <- id:
		case <-ctx.Done():
		}
		return
	}
	time.AfterFunc(delay, func() {
		select {
		case s.queue <- id:
		case <-ctx.Done():
		}
	})
}

func (s *Settlement) work(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-s.queue:
			s.handle(ctx, id)
		}
	}
}

// handle runs one payment's next steps; a payment already being handled is handled again afterwards.
func (s *Settlement) handle(ctx context.Context, id uuid.UUID) {
	s.mu.Lock()
	if _, busy := s.inflight[id]; busy {
		s.inflight[id] = true
		s.mu.Unlock()
		return
	}
	s.inflight[id] = false
	o := s.open[id]
	earlier := o != nil && o.earlier
	s.mu.Unlock()

	next, err := s.step(ctx, id, earlier)
	if err != nil && ctx.Err() == nil {
		s.d.Logger.Warn("settlement: payment step failed; will retry", "payment", id.String(), "err", err)
		if next == done {
			next = retrySoon
		}
	}

	s.mu.Lock()
	again := s.inflight[id]
	delete(s.inflight, id)
	if o := s.open[id]; o != nil && next != done {
		// Whatever went wrong, a transaction may have been sent: look the payment up (once any envelope in
		// flight is final, for retryAfterWindow) before anything is sent again.
		o.earlier = true
	}
	s.mu.Unlock()
	switch {
	case ctx.Err() != nil:
	case next == retrySoon:
		s.retries.Add(1)
		s.schedule(ctx, id, s.d.RetryDelay)
	case next == retryAfterWindow:
		s.retries.Add(1)
		s.schedule(ctx, id, s.d.InFlightWindow)
	case next == retrySigning:
		s.retries.Add(1)
		s.schedule(ctx, id, s.d.SignRetryDelay)
	case again:
		s.schedule(ctx, id, 0)
	}
}

// next is what a step leaves to do.
type next int

const (
	done             next = iota
	retrySoon             // the ledger, a key or the network was not available; no envelope is in flight
	retryAfterWindow      // a transaction may be in flight: look it up once its time bound has passed
	retrySigning          // the bank did not sign yet (404, no answer): ask it again after SignRetryDelay
)

// step does what the payment's recorded state calls for, and says what is left.
func (s *Settlement) step(ctx context.Context, id uuid.UUID, lookFirst bool) (next, error) {
	var p payment.State
	err := s.d.Payments.View(ctx, payment.Stream(id), func(st payment.State) { p = st })
	if err != nil {
		return retrySoon, err
	}
	if !p.Exists() {
		return done, nil // a reservation whose payment is not recorded: nothing Kazna wrote does that
	}
	c := p.Created
	switch p.Status {
	case payment.StatusCreated:
		reserved, err := s.reservation(ctx, c)
		if err != nil || !reserved {
			return done, err
		}
		bank := ""
		if c.Sender.CounterpartyGUID != c.Receiver.CounterpartyGUID {
			bank = c.Receiver.CounterpartyGUID
		}
		_, err = s.d.Payments.Handle(ctx, payment.Stream(id),
			any(payment.Confirm{BankGUID: bank, By: "kazna settlement", At: s.d.Now().UTC()}), s.env())
		if err == nil {
			s.recovered.Add(1)
			s.d.Logger.Info("settlement: confirmation finished after its reservation", "payment", id.String())
		}
		return done, err
	case payment.StatusCancelled, payment.StatusFailed:
		return done, s.release(ctx, c, string(p.Status))
	case payment.StatusConfirmed:
		return done, nil
	}
	// PENDING.
	if lookFirst {
		rec, found, err := s.lookup(ctx, c)
		if err != nil {
			return retrySoon, err
		}
		if found {
			s.recovered.Add(1)
			return done, s.complete(ctx, c, rec.TxHash, 0)
		}
	}
	if c.Sender.Kind == payment.KindCustomer && s.d.Multisig != nil {
		rec, err := s.d.Multisig.Cosigning(ctx, c.Sender.AccountGUID)
		if err != nil {
			return retrySoon, err
		}
		if rec.Exists {
			return s.payCosigned(ctx, p, rec) // its own transaction, never batched: the bank signs only its payment
		}
	}
	from, err := s.signatory(ctx, c.Sender)
	if err != nil {
		return retrySoon, err
	}
	asset := s.d.Platform.Asset()
	r, err := s.d.Payer.Pay(ctx, stellar.Payment{GUID: c.GUID, From: from, To: c.Receiver.Address,
		Asset: stellar.Asset{Code: c.AssetCode, Issuer: c.AssetIssuer, Decimals: asset.Decimals}, AmountMinor: c.Amount})
	switch {
	case err == nil:
		if err := s.complete(ctx, c, r.Hash, r.Ledger); err != nil {
			return retrySoon, err // on chain already: the retry's lookup finds it and books it
		}
		return done, nil
	case stellar.OutcomeUnknown(err):
		return retryAfterWindow, nil
	case errors.Is(err, stellar.ErrClosed) || errors.Is(err, stellar.ErrRateLimited) || ctx.Err() != nil:
		return retrySoon, nil // not sent
	}
	var txErr *stellar.TxError
	var bad *stellar.InvalidInputError
	if !errors.As(err, &txErr) && !errors.As(err, &bad) {
		return retryAfterWindow, err // not a refusal by the network: look it up before trying again
	}
	return done, s.fail(ctx, c, failureReason(err))
}

// complete books a payment that is on chain: debit, credit, then CONFIRMED with its hash.
func (s *Settlement) complete(ctx context.Context, c payment.PaymentCreated, hash string, ledger int32) error {
	select {
	case s.booking <- struct{}{}:
		defer func() { <-s.booking }()
	case <-ctx.Done():
		return ctx.Err()
	}
	id := uuid.MustParse(c.GUID)
	now := s.d.Now().UTC()
	if c.Sender.Kind != payment.KindRoot {
		if err := s.account(ctx, c.Sender.AccountGUID, account.Debit{Payment: id, At: now}); err != nil {
			return fmt.Errorf("debit the sender: %w", err)
		}
	}
	if c.Receiver.Kind != payment.KindRoot {
		if err := s.account(ctx, c.Receiver.AccountGUID, account.Credit{Payment: id, Amount: c.Amount, At: now}); err != nil {
			return fmt.Errorf("credit the receiver: %w", err)
		}
	}
	if _, err := s.d.Payments.Handle(ctx, payment.Stream(id),
		any(payment.Settle{Hash: hash, Ledger: ledger, At: now}), s.env()); err != nil {
		return fmt.Errorf("record the settlement: %w", err)
	}
	s.settled.Add(1)
	s.d.Logger.Debug("payment settled", "payment", c.GUID, "hash", hash)
	return nil
}

// fail releases the reservation and records why the network refused the payment.
func (s *Settlement) fail(ctx context.Context, c payment.PaymentCreated, reason string) error {
	if err := s.release(ctx, c, reason); err != nil {
		return err
	}
	id := uuid.MustParse(c.GUID)
	if _, err := s.d.Payments.Handle(ctx, payment.Stream(id),
		any(payment.Fail{Reason: reason, At: s.d.Now().UTC()}), s.env()); err != nil {
		return fmt.Errorf("record the failure: %w", err)
	}
	s.failed.Add(1)
	s.d.Logger.Warn("payment failed", "payment", c.GUID, "reason", reason)
	if c.Emission != "" && s.d.Emission != nil {
		em, err1 := uuid.Parse(c.Emission)
		cp, err2 := uuid.Parse(c.CounterpartyGUID)
		if err1 == nil && err2 == nil {
			if err := s.d.Emission.EmissionPaymentFailed(ctx, cp, em, reason); err != nil {
				s.d.Logger.Error("settlement: could not fail the emission request", "emission", c.Emission, "err", err)
			}
		}
	}
	return nil
}

func (s *Settlement) release(ctx context.Context, c payment.PaymentCreated, reason string) error {
	if c.Sender.Kind == payment.KindRoot {
		return nil
	}
	id := uuid.MustParse(c.GUID)
	res, err := s.accountResult(ctx, c.Sender.AccountGUID, account.Release{Payment: id, Reason: reason, At: s.d.Now().UTC()})
	if err != nil {
		return fmt.Errorf("release the reservation: %w", err)
	}
	if len(res.Events) > 0 {
		s.released.Add(1)
	}
	return nil
}

// reservation reports whether the payment holds a reservation on its sender's account.
func (s *Settlement) reservation(ctx context.Context, c payment.PaymentCreated) (bool, error) {
	if c.Sender.Kind == payment.KindRoot {
		return false, nil
	}
	var ok bool
	id := uuid.MustParse(c.GUID)
	err := s.d.Accounts.View(ctx, account.Stream(uuid.MustParse(c.Sender.AccountGUID)), func(st account.State) {
		_, ok = st.Funds.Reservations[id]
	})
	return ok, err
}

// lookup finds the payment on chain, from the side with the shorter history (never the issuer's).
func (s *Settlement) lookup(ctx context.Context, c payment.PaymentCreated) (stellar.PaymentRecord, bool, error) {
	side := c.Sender.Address
	if c.Sender.Kind == payment.KindRoot {
		side = c.Receiver.Address
	}
	rec, err := s.d.Chain.FindPayment(ctx, side, c.GUID)
	if errors.Is(err, stellar.ErrNotFound) {
		return rec, false, nil
	}
	if err != nil {
		return rec, false, err
	}
	return rec, true, nil
}

// signatory is the sender's account and its signer.
func (s *Settlement) signatory(ctx context.Context, from payment.Party) (stellar.Signatory, error) {
	if from.Kind == payment.KindRoot {
		st, err := s.d.Platform.load(ctx)
		if err != nil {
			return stellar.Signatory{}, err
		}
		k, err := s.d.Platform.issuerSigner(st)
		if err != nil {
			return stellar.Signatory{}, err
		}
		return k.Signatory(), nil
	}
	st, err := accountView(ctx, s.d.Accounts, uuid.MustParse(from.AccountGUID))
	if err != nil {
		return stellar.Signatory{}, err
	}
	signer, err := s.d.Signers.AccountSigner(ctx, st)
	if err != nil {
		return stellar.Signatory{}, fmt.Errorf("the key of account %s: %w", from.AccountGUID, err)
	}
	return stellar.Signatory{Account: st.Address, Signers: []stellar.Signer{signer}}, nil
}

func (s *Settlement) account(ctx context.Context, guid string, cmd any) error {
	_, err := s.accountResult(ctx, guid, cmd)
	return err
}

func (s *Settlement) accountResult(ctx context.Context, guid string, cmd any) (command.Result[account.Event], error) {
	id, err := uuid.Parse(guid)
	if err != nil {
		return command.Result[account.Event]{}, fmt.Errorf("account %q: %w", guid, err)
	}
	env := s.env()
	env.MaxAttempts = command.MaxAttemptsLimit // a hot account: every lost race is progress by another payment
	return s.d.Accounts.Handle(ctx, account.Stream(id), cmd, env)
}

func (s *Settlement) env() command.Envelope {
	return command.Envelope{Metadata: eventstore.Metadata{Actor: "kazna settlement"}}
}

// failureReason is what a bank reads in a FAILED payment: the network's result codes.
func failureReason(err error) string {
	var txErr *stellar.TxError
	if errors.As(err, &txErr) {
		for _, code := range txErr.OpCodes {
			if r, ok := opReasons[code]; ok {
				return r + " (" + code + ")"
			}
		}
		return "the Stellar network refused the transaction: " + txErr.Error()
	}
	return "the payment could not be sent to the Stellar network: " + err.Error()
}

var opReasons = map[string]string{
	"op_underfunded":        "the sender's account on Stellar holds too little",
	"op_not_authorized":     "a trustline is not authorized (blocked account)",
	"op_no_trust":           "the receiver has no trustline to the asset",
	"op_line_full":          "the receiver's trustline limit would be exceeded",
	"op_no_destination":     "the receiver's account does not exist on Stellar",
	"op_src_not_authorized": "the sender's trustline is not authorized (blocked account)",
}
