package app

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/account"
	"github.com/kazna-ledger/kazna/domain/counterparty"
	"github.com/kazna-ledger/kazna/domain/emission"
	"github.com/kazna-ledger/kazna/domain/money"
	"github.com/kazna-ledger/kazna/domain/payment"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/eventstore/bolt"
	"github.com/kazna-ledger/kazna/projections"
)

const emIssuer = "GDQQY7WXGK5JZJQHLY7GMNZOCJ2QVG3ZNHDT4WYCNJU6ZG53RVXZPN2E"

var emAsset = money.Asset{Code: "UAH", StellarCode: "eUAH", Decimals: 2}

// emPlatform is the platform's asset and issuer without a bootstrap.
type emPlatform struct{}

func (emPlatform) Asset() money.Asset    { return emAsset }
func (emPlatform) IssuerAddress() string { return emIssuer }

// fakeEmissionPayments records the payments started and answers err (per direction) instead, when set.
type fakeEmissionPayments struct {
	mu      sync.Mutex
	started []EmissionPayment
	writes  []Write
	err     map[bool]error // by Burn
}

func (f *fakeEmissionPayments) StartEmissionPayment(_ context.Context, p EmissionPayment, w Write) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.err[p.Burn]; err != nil {
		return err
	}
	f.started = append(f.started, p)
	f.writes = append(f.writes, w)
	return nil
}

func (f *fakeEmissionPayments) setErr(burn bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		f.err = map[bool]error{}
	}
	f.err[burn] = err
}

func (f *fakeEmissionPayments) calls() []EmissionPayment {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]EmissionPayment(nil), f.started...)
}

// fakePaymentStates is the payments read model's answer about emission payments: GUID → hash, status.
type fakePaymentStates map[string][2]string

func (f fakePaymentStates) Payment(guid string) (projections.Payment, bool) {
	v, ok := f[guid]
	return projections.Payment{GUID: guid, Hash: v[0], Status: payment.Status(v[1])}, ok
}

// emEnv is the emission service on the embedded store, with the counterparties and emission read models
// running and the payments faked.
type emEnv struct {
	store  *bolt.Store
	runner *projections.Runner
	banks  *projections.Counterparties
	views  *projections.Emission
	pay    *fakeEmissionPayments
	states fakePaymentStates
	svc    *Emission
	clock  *clock
}

func newEmEnv(t *testing.T) *emEnv {
	t.Helper()
	store, err := bolt.Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	e := &emEnv{store: store, banks: projections.NewCounterparties(), views: projections.NewEmission(), pay: &fakeEmissionPayments{},
		states: fakePaymentStates{}, clock: &clock{now: t0}}
	e.runner, err = projections.NewRunner(store, projections.Options{Logger: slog.New(slog.DiscardHandler)}, e.banks, e.views)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = e.runner.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	e.svc, err = NewEmission(EmissionDeps{Store: store, Platform: emPlatform{}, Counterparties: e.banks, Views: e.views,
		Payments: e.pay, PaymentViews: e.states, Now: e.clock.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// bank registers a counterparty with the flags given; it returns its GUID and its emission entity's.
func (e *emEnv) bank(t *testing.T, name string, autoIssue, autoBurn bool) (uuid.UUID, uuid.UUID) {
	t.Helper()
	cp, em := uuid.New(), uuid.New()
	res, err := command.Handle(testCtx(t), e.store, counterparty.Stream(cp), counterparty.Decider, counterparty.Events,
		any(counterparty.Register{GUID: cp, Profile: counterparty.Profile{Name: name, AutoIssue: autoIssue, AutoBurn: autoBurn},
			AssetCode: "eUAH", AssetIssuer: emIssuer, EmissionAccountGUID: em, ProcessingAccountGUID: uuid.New(), At: t0}), command.Envelope{})
	if err != nil {
		t.Fatal(err)
	}
	e.sync(t, res.Position)
	return cp, em
}

func (e *emEnv) sync(t *testing.T, pos eventstore.Position) {
	t.Helper()
	if err := e.runner.WaitFor(testCtx(t), pos); err != nil {
		t.Fatal(err)
	}
}

func (e *emEnv) state(t *testing.T, cp uuid.UUID) emission.State {
	t.Helper()
	s, err := peek(testCtx(t), e.store, emission.Stream(cp), emission.Decider, emission.Events)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (e *emEnv) events(t *testing.T, cp uuid.UUID) []eventstore.RecordedEvent {
	t.Helper()
	recs, err := e.store.ReadStream(testCtx(t), emission.Stream(cp), eventstore.Forwards, 0, eventstore.MaxReadCount)
	if err != nil && !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Fatal(err)
	}
	return recs
}

func minor(v int64) *money.Amount { a := money.Amount(v); return &a }

func issue(amount int64, reserve *money.Amount) EmissionInput {
	return EmissionInput{Direction: emission.Issue, Amount: money.Amount(amount), Reserve: reserve, AssetCode: "UAH", AssetIssuer: emIssuer}
}

func burn(amount int64, reserve *money.Amount) EmissionInput {
	in := issue(amount, reserve)
	in.Direction = emission.Burn
	return in
}

func as(actor, key string) Write {
	return Write{IdempotencyKey: key, Metadata: eventstore.Metadata{Actor: actor, RequestID: "req-" + actor}}
}

func TestEmissionWaitsForThePlatform(t *testing.T) {
	e := newEmEnv(t)
	ctx := testCtx(t)
	cp, em := e.bank(t, "Bank A", false, false)

	res, err := e.svc.Request(ctx, cp, issue(100000, minor(100000)), as("operator@a", ""))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != emission.StatusCreated || res.PaymentGUID != "" || len(e.pay.calls()) != 0 {
		t.Fatalf("request: %+v, payments %v", res, e.pay.calls())
	}
	e.sync(t, res.Position)
	row, ok := e.views.Request(ctx, res.GUID)
	if !ok || row.CounterpartyGUID != cp.String() || row.EmissionAccountGUID != em.String() || row.AssetCode != "eUAH" ||
		row.AssetIssuer != emIssuer || row.Amount != 100000 || row.CreatedBy != "operator@a" {
		t.Fatalf("read model: %+v", row)
	}

	// One open request at a time.
	_, err = e.svc.Request(ctx, cp, burn(1, nil), as("operator@a", ""))
	var open *emission.OpenRequestError
	if !errors.As(err, &open) || open.GUID != res.GUID {
		t.Fatalf("second request: %v", err)
	}

	e.clock.Set(t0.Add(time.Hour))
	conf, err := e.svc.Confirm(ctx, uuid.MustParse(res.GUID), as("admin", ""))
	if err != nil {
		t.Fatal(err)
	}
	wantPay := EmissionPayment{Payment: emission.PaymentGUID(uuid.MustParse(res.GUID)), Emission: uuid.MustParse(res.GUID),
		CounterpartyGUID: cp, EmissionAccount: em, Amount: 100000}
	if conf.Status != emission.StatusConfirmed || conf.PaymentGUID != wantPay.Payment.String() {
		t.Fatalf("confirm: %+v", conf)
	}
	if calls := e.pay.calls(); len(calls) != 1 || calls[0] != wantPay || e.pay.writes[0].Metadata.Counterparty != cp.String() {
		t.Fatalf("payments %+v %+v", calls, e.pay.writes)
	}
	// The confirmation is recorded for the bank (its audit trail) with the administrator as the actor.
	recs := e.events(t, cp)
	last := recs[len(recs)-1]
	if last.Type != "EmissionConfirmed" || last.Metadata.Actor != "admin" || last.Metadata.Counterparty != cp.String() || !last.Metadata.Time.Equal(t0.Add(time.Hour)) {
		t.Fatalf("confirmation event %s %+v", last.Type, last.Metadata)
	}
	// Confirming again writes nothing and starts the same payment again (the payment is idempotent).
	again, err := e.svc.Confirm(ctx, uuid.MustParse(res.GUID), as("admin", ""))
	if err != nil || again.Status != emission.StatusConfirmed || len(e.events(t, cp)) != len(recs) {
		t.Fatalf("confirm again: %+v %v", again, err)
	}
	if calls := e.pay.calls(); len(calls) != 2 || calls[1] != wantPay {
		t.Fatalf("payments %+v", calls)
	}
	if _, err := e.svc.Cancel(ctx, uuid.MustParse(res.GUID), as("admin", "")); !errors.Is(err, emission.ErrNotOpen) {
		t.Fatalf("cancel a confirmed request: %v", err)
	}
	if s := e.state(t, cp); s.Issued != 100000 || s.Open != "" {
		t.Fatalf("state %+v", s)
	}

	// A burn, cancelled by the platform: nothing counts, nothing is paid.
	b, err := e.svc.Request(ctx, cp, burn(5000, nil), as("operator@a", ""))
	if err != nil || b.Status != emission.StatusCreated {
		t.Fatalf("burn: %+v %v", b, err)
	}
	e.sync(t, b.Position)
	c, err := e.svc.Cancel(ctx, uuid.MustParse(b.GUID), as("admin", ""))
	if err != nil || c.Status != emission.StatusCancelled {
		t.Fatalf("cancel: %+v %v", c, err)
	}
	if c2, err := e.svc.Cancel(ctx, uuid.MustParse(b.GUID), as("admin", "")); err != nil || c2.Status != emission.StatusCancelled {
		t.Fatalf("cancel again: %+v %v", c2, err)
	}
	if s := e.state(t, cp); s.Burned != 0 || s.Open != "" || len(e.pay.calls()) != 2 {
		t.Fatalf("after the cancellation: %+v", s)
	}
	if _, err := e.svc.Confirm(ctx, uuid.New(), as("admin", "")); !errors.Is(err, emission.ErrNotFound) {
		t.Fatalf("confirm an unknown request: %v", err)
	}
}

func TestEmissionAutoFlagsConfirmAtOnce(t *testing.T) {
	e := newEmEnv(t)
	ctx := testCtx(t)
	cp, em := e.bank(t, "Auto Bank", true, false)
	res, err := e.svc.Request(ctx, cp, issue(2500, minor(2500)), as("system@auto", ""))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != emission.StatusConfirmed || len(e.pay.calls()) != 1 || e.pay.calls()[0].EmissionAccount != em || e.pay.calls()[0].Burn {
		t.Fatalf("auto issue: %+v %+v", res, e.pay.calls())
	}
	// The request and its confirmation are one decision (and one append): the request is never open.
	recs := e.events(t, cp)
	if len(recs) != 2 || recs[0].Type != "EmissionRequested" || recs[1].Type != "EmissionConfirmed" {
		t.Fatalf("events %v", types(recs))
	}
	// auto_burn is off: a burn waits.
	b, err := e.svc.Request(ctx, cp, burn(500, nil), as("system@auto", ""))
	if err != nil || b.Status != emission.StatusCreated || len(e.pay.calls()) != 1 {
		t.Fatalf("burn: %+v %v", b, err)
	}
}

func TestEmissionReserveRuleWritesNothing(t *testing.T) {
	e := newEmEnv(t)
	ctx := testCtx(t)
	cp, _ := e.bank(t, "Bank R", true, true)
	var re *emission.ReserveError
	if _, err := e.svc.Request(ctx, cp, issue(100, nil), as("op", "")); !errors.As(err, &re) || re.ReserveKnown || re.Needed() != 100 {
		t.Fatalf("issue without a reserve: %v", err)
	}
	if _, err := e.svc.Request(ctx, cp, issue(100001, minor(100000)), as("op", "")); !errors.As(err, &re) || re.Needed() != 100001 || re.Reserve != 100000 {
		t.Fatalf("issue over the reserve: %v", err)
	}
	if _, err := e.svc.Request(ctx, cp, burn(1, minor(100)), as("op", "")); !errors.Is(err, emission.ErrBurnExceeds) {
		t.Fatalf("burn of nothing: %v", err)
	}
	if recs := e.events(t, cp); len(recs) != 0 {
		t.Fatalf("refusals wrote %v", types(recs))
	}
	if _, err := e.svc.Request(ctx, cp, issue(100000, minor(100000)), as("op", "")); err != nil {
		t.Fatal(err)
	}
	// The reserve reported stands for the next requests: 100000 covers nothing more.
	if _, err := e.svc.Request(ctx, cp, issue(1, nil), as("op", "")); !errors.As(err, &re) || re.Needed() != 100001 {
		t.Fatalf("issue past the reported reserve: %v", err)
	}
	// The bank reports a smaller reserve: it may burn only down to it.
	if _, err := e.svc.Request(ctx, cp, burn(30000, minor(60000)), as("op", "")); !errors.As(err, &re) || re.Needed() != 70000 {
		t.Fatalf("burn that leaves too little covered: %v", err)
	}
	if res, err := e.svc.Request(ctx, cp, burn(40000, minor(60000)), as("op", "")); err != nil || res.Status != emission.StatusConfirmed {
		t.Fatalf("burn to the reserve: %+v %v", res, err)
	}
	if s := e.state(t, cp); s.Outstanding() != 60000 || s.Reserve != 60000 {
		t.Fatalf("state %+v", s)
	}
}

func TestEmissionPaymentRefusals(t *testing.T) {
	e := newEmEnv(t)
	ctx := testCtx(t)
	cp, _ := e.bank(t, "Bank F", true, true)
	if _, err := e.svc.Request(ctx, cp, issue(10000, minor(10000)), as("op", "")); err != nil {
		t.Fatal(err)
	}
	// The emission entity has handed the money on: the burn's reservation is refused, for good.
	e.pay.setErr(true, account.ErrInsufficientFunds)
	res, err := e.svc.Request(ctx, cp, burn(4000, nil), as("op", ""))
	var refused *EmissionRefusedError
	if !errors.As(err, &refused) || !errors.Is(err, ErrEmissionPaymentRefused) || !errors.Is(err, account.ErrInsufficientFunds) ||
		refused.Reason != "insufficient funds on the emission entity" || res.Status != emission.StatusFailed {
		t.Fatalf("refused burn: %+v %v", res, err)
	}
	s := e.state(t, cp)
	if r := s.Requests[res.GUID]; r.Status != emission.StatusFailed || r.Reason != refused.Reason || s.Burned != 0 || s.Outstanding() != 10000 || s.Open != "" {
		t.Fatalf("state %+v", s)
	}

	// A passing failure leaves the request confirmed; the platform's confirmation resumes the payment.
	e.pay.setErr(true, errors.New("ledger busy"))
	res, err = e.svc.Request(ctx, cp, burn(3000, nil), as("op", ""))
	if !errors.Is(err, ErrEmissionPaymentNotStarted) || errors.Is(err, ErrEmissionPaymentRefused) || res.Status != emission.StatusConfirmed {
		t.Fatalf("busy: %+v %v", res, err)
	}
	e.sync(t, res.Position)
	e.pay.setErr(true, nil)
	again, err := e.svc.Confirm(ctx, uuid.MustParse(res.GUID), as("admin", ""))
	if err != nil || again.Status != emission.StatusConfirmed {
		t.Fatalf("resume: %+v %v", again, err)
	}
	if calls := e.pay.calls(); len(calls) != 2 || !calls[1].Burn || calls[1].Amount != 3000 || calls[1].Payment != emission.PaymentGUID(uuid.MustParse(res.GUID)) {
		t.Fatalf("payments %+v", calls)
	}

	// The network refuses the issue's payment later: the settlement worker fails the request.
	first := e.state(t, cp)
	var issued string
	for g, r := range first.Requests {
		if r.Requested.Direction == emission.Issue {
			issued = g
		}
	}
	long := "op_no_trust\x00" + strings.Repeat("é", emission.MaxReasonRunes)
	if err := e.svc.EmissionPaymentFailed(ctx, cp, uuid.MustParse(issued), long); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.EmissionPaymentFailed(ctx, cp, uuid.MustParse(issued), "again"); err != nil {
		t.Fatalf("a second report: %v", err)
	}
	s = e.state(t, cp)
	r := s.Requests[issued]
	if r.Status != emission.StatusFailed || !strings.HasPrefix(r.Reason, "op_no_trust ") || len([]rune(r.Reason)) != emission.MaxReasonRunes ||
		s.Issued != 0 || s.Burned != 3000 {
		t.Fatalf("after the network's refusal: %+v %+v", r, s)
	}
	if err := e.svc.EmissionPaymentFailed(ctx, cp, uuid.New(), "x"); !errors.Is(err, emission.ErrNotFound) {
		t.Fatalf("unknown request: %v", err)
	}
}

func TestEmissionIdempotencyKey(t *testing.T) {
	e := newEmEnv(t)
	ctx := testCtx(t)
	cp, _ := e.bank(t, "Bank K", true, false)
	first, err := e.svc.Request(ctx, cp, issue(700, minor(1000)), as("sys", "key-1"))
	if err != nil {
		t.Fatal(err)
	}
	n := len(e.events(t, cp))
	again, err := e.svc.Request(ctx, cp, issue(700, minor(1000)), as("sys", "key-1"))
	if err != nil || again.GUID != first.GUID || again.Status != emission.StatusConfirmed || len(e.events(t, cp)) != n {
		t.Fatalf("retry: %+v %v (%d events)", again, err, len(e.events(t, cp)))
	}
	// The retry starts the same payment again, so a payment that did not start is resumed.
	if calls := e.pay.calls(); len(calls) != 2 || calls[0] != calls[1] {
		t.Fatalf("payments %+v", calls)
	}
	if _, err := e.svc.Request(ctx, cp, issue(701, minor(1000)), as("sys", "key-1")); !errors.Is(err, command.ErrIdempotencyConflict) {
		t.Fatalf("same key, other amount: %v", err)
	}
	// Another key is another request.
	other, err := e.svc.Request(ctx, cp, issue(300, nil), as("sys", "key-2"))
	if err != nil || other.GUID == first.GUID {
		t.Fatalf("another key: %+v %v", other, err)
	}
	// A refused payment answers the same on a retry of its key.
	e.pay.setErr(false, account.ErrBlocked)
	if _, err := e.svc.Request(ctx, cp, issue(1, minor(1001)), as("sys", "key-3")); !errors.Is(err, ErrEmissionPaymentRefused) {
		t.Fatalf("blocked: %v", err)
	}
	res, err := e.svc.Request(ctx, cp, issue(1, minor(1001)), as("sys", "key-3"))
	var refused *EmissionRefusedError
	if !errors.As(err, &refused) || refused.Reason != "the emission entity is blocked" || res.Status != emission.StatusFailed {
		t.Fatalf("retry of a refused request: %+v %v", res, err)
	}
}

// TestEmissionConcurrentRequests: requests of one bank race for its stream; exactly one opens, the others
// see it open.
func TestEmissionConcurrentRequests(t *testing.T) {
	e := newEmEnv(t)
	ctx := testCtx(t)
	cp, _ := e.bank(t, "Bank C", false, false)
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	results := make([]EmissionResult, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			in := issue(int64(100+i), minor(100000))
			if i%2 == 1 {
				in = burn(1, minor(100000))
			}
			results[i], errs[i] = e.svc.Request(ctx, cp, in, as("op", ""))
		}()
	}
	close(start)
	wg.Wait()
	opened := 0
	for i, err := range errs {
		switch {
		case err == nil:
			opened++
			if results[i].Status != emission.StatusCreated {
				t.Errorf("winner %+v", results[i])
			}
		case errors.Is(err, emission.ErrOpenRequest), errors.Is(err, emission.ErrBurnExceeds):
		default:
			t.Errorf("request %d: %v", i, err)
		}
	}
	recs := e.events(t, cp)
	if opened != 1 || len(recs) != 1 || recs[0].Type != "EmissionRequested" {
		t.Fatalf("%d opened, events %v", opened, types(recs))
	}
	if s := e.state(t, cp); s.Open == "" || len(s.Requests) != 1 {
		t.Fatalf("state %+v", s)
	}
}

func TestEmissionRequestRefusals(t *testing.T) {
	e := newEmEnv(t)
	ctx := testCtx(t)
	cp, _ := e.bank(t, "Bank X", true, true)
	off, _ := e.bank(t, "Bank Off", true, true)
	res, err := command.Handle(ctx, e.store, counterparty.Stream(off), counterparty.Decider, counterparty.Events, any(counterparty.Disable{At: t0}), command.Envelope{})
	if err != nil {
		t.Fatal(err)
	}
	e.sync(t, res.Position)
	mod := func(f func(*EmissionInput)) EmissionInput {
		in := issue(100, minor(100))
		f(&in)
		return in
	}
	var inv *emission.ErrInvalid
	cases := []struct {
		name string
		cp   uuid.UUID
		in   EmissionInput
		ok   func(error) bool
	}{
		{"unknown bank", uuid.New(), issue(100, minor(100)), func(err error) bool { return errors.Is(err, counterparty.ErrNotFound) }},
		{"disabled bank", off, issue(100, minor(100)), func(err error) bool { return errors.Is(err, ErrCounterpartyDisabled) }},
		{"other asset", cp, mod(func(in *EmissionInput) { in.AssetCode = "USD" }), func(err error) bool { return errors.Is(err, ErrUnknownAsset) }},
		{"other issuer", cp, mod(func(in *EmissionInput) { in.AssetIssuer = "GOTHER" }), func(err error) bool { return errors.Is(err, ErrUnknownAsset) }},
		{"no asset code", cp, mod(func(in *EmissionInput) { in.AssetCode = "" }), func(err error) bool { return errors.As(err, &inv) && inv.Field == "asset_code" }},
		{"no issuer", cp, mod(func(in *EmissionInput) { in.AssetIssuer = " " }), func(err error) bool { return errors.As(err, &inv) && inv.Field == "asset_issuer" }},
		{"direction", cp, mod(func(in *EmissionInput) { in.Direction = "mint" }), func(err error) bool { return errors.As(err, &inv) && inv.Field == "direction" }},
		{"zero amount", cp, mod(func(in *EmissionInput) { in.Amount = 0 }), func(err error) bool { return errors.As(err, &inv) && inv.Field == "amount" }},
		{"negative reserve", cp, mod(func(in *EmissionInput) { in.Reserve = minor(-1) }), func(err error) bool {
			return errors.As(err, &inv) && inv.Field == "reserve_balance"
		}},
	}
	for _, c := range cases {
		if _, err := e.svc.Request(ctx, c.cp, c.in, as("op", "")); !c.ok(err) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	// The Stellar code names the asset as well as the API code.
	if _, err := e.svc.Request(ctx, cp, mod(func(in *EmissionInput) { in.AssetCode = "euah" }), as("op", "")); err != nil {
		t.Fatal(err)
	}
	if len(e.events(t, off)) != 0 {
		t.Fatal("a disabled bank's request was written")
	}
	if _, err := NewEmission(EmissionDeps{Store: e.store}); !errors.Is(err, ErrNotReady) {
		t.Fatalf("NewEmission without deps: %v", err)
	}
}

func TestEmissionList(t *testing.T) {
	e := newEmEnv(t)
	ctx := testCtx(t)
	a, _ := e.bank(t, "Bank LA", true, true)
	b, _ := e.bank(t, "Bank LB", false, false)
	ra, err := e.svc.Request(ctx, a, issue(1000, minor(5000)), as("sys-a", ""))
	if err != nil {
		t.Fatal(err)
	}
	rb, err := e.svc.Request(ctx, b, issue(200, minor(200)), as("sys-b", ""))
	if err != nil {
		t.Fatal(err)
	}
	e.sync(t, later(ra.Position, rb.Position))
	e.states[ra.PaymentGUID] = [2]string{"c0ffee", "CONFIRMED"}

	list, total, err := e.svc.List(ctx, projections.EmissionQuery{CounterpartyGUIDs: []string{a.String()}, AssetCodes: []string{"UAH"}})
	if err != nil || total != 1 || len(list) != 1 {
		t.Fatalf("bank A: %+v %d %v", list, total, err)
	}
	got := list[0]
	if got.GUID != ra.GUID || got.PaymentGUID != ra.PaymentGUID || got.PaymentHash != "c0ffee" || got.PaymentStatus != "CONFIRMED" ||
		got.Balance.GUID != emission.BalanceGUID(a.String()) || got.Balance.Reserve != 5000 {
		t.Fatalf("row %+v", got)
	}
	// The platform's list: every bank, filtered by status; the hash filter asks the payments read model.
	all, total, err := e.svc.List(ctx, projections.EmissionQuery{Statuses: []string{"CREATED"}})
	if err != nil || total != 1 || all[0].GUID != rb.GUID || all[0].PaymentHash != "" || all[0].Balance.Reserve != 200 {
		t.Fatalf("open requests: %+v %d %v", all, total, err)
	}
	byHash, total, err := e.svc.List(ctx, projections.EmissionQuery{EmissionPaymentHashes: []string{"C0FFEE"}})
	if err != nil || total != 1 || byHash[0].GUID != ra.GUID {
		t.Fatalf("by hash: %+v %d %v", byHash, total, err)
	}
	if _, total, _ := e.svc.List(ctx, projections.EmissionQuery{AssetCodes: []string{"USD"}}); total != 0 {
		t.Fatalf("other asset: %d", total)
	}
}

// TestEmissionOnTheLocalNetwork runs the emission service on the real payments service and settlement worker
// over the embedded Stellar network: an issue and a burn reach the chain and the emission entity's books, and a
// burn the entity cannot cover (it handed the money on) fails the request.
func TestEmissionOnTheLocalNetwork(t *testing.T) {
	e := newPayEnv(t)
	ctx := testCtx(t)
	emA, prA := e.entities(t, e.a)
	views := projections.NewEmission()
	runner, err := projections.NewRunner(e.store, projections.Options{Logger: slog.New(slog.DiscardHandler)}, views)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = runner.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })
	svc, err := NewEmission(EmissionDeps{Store: e.store, Platform: e.plat, Counterparties: e.dir, Views: views, Payments: e.pay,
		Now: e.clock.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	in := func(d emission.Direction, amount int64, reserve *money.Amount) EmissionInput {
		return EmissionInput{Direction: d, Amount: money.Amount(amount), Reserve: reserve, AssetCode: "UAH", AssetIssuer: e.plat.IssuerAddress()}
	}
	// request asks and the platform confirms; it returns the request and the payment's final state.
	request := func(d emission.Direction, amount int64, reserve *money.Amount) (EmissionResult, error) {
		t.Helper()
		res, err := svc.Request(ctx, e.a, in(d, amount, reserve), as("operator@a", ""))
		if err != nil {
			t.Fatalf("%s %d: %v", d, amount, err)
		}
		if err := runner.WaitFor(ctx, res.Position); err != nil {
			t.Fatal(err)
		}
		return svc.Confirm(ctx, uuid.MustParse(res.GUID), as("admin", ""))
	}

	res, err := request(emission.Issue, 1000_00, minor(1000_00))
	if err != nil || res.Status != emission.StatusConfirmed {
		t.Fatalf("issue: %+v %v", res, err)
	}
	if s := e.await(t, uuid.MustParse(res.PaymentGUID)); s.Status != "CONFIRMED" || s.Hash == "" || s.Created.Emission != res.GUID {
		t.Fatalf("issue payment: %+v", s)
	}
	if f, _ := e.funds(t, emA); f.Balance != 1000_00 {
		t.Fatalf("emission entity after the issue: %+v", f)
	}
	res, err = request(emission.Burn, 400_00, nil)
	if err != nil || res.Status != emission.StatusConfirmed {
		t.Fatalf("burn: %+v %v", res, err)
	}
	if s := e.await(t, uuid.MustParse(res.PaymentGUID)); s.Status != "CONFIRMED" {
		t.Fatalf("burn payment: %+v", s)
	}
	if f, _ := e.funds(t, emA); f.Balance != 600_00 {
		t.Fatalf("emission entity after the burn: %+v", f)
	}
	// The entity hands its money on; a burn it cannot cover is refused for good and the request fails.
	if s := e.transfer(t, e.a, emA, prA, 600_00, ""); s.Status != "CONFIRMED" {
		t.Fatalf("transfer: %+v", s)
	}
	res, err = request(emission.Burn, 100_00, nil)
	if !errors.Is(err, ErrEmissionPaymentRefused) || !errors.Is(err, account.ErrInsufficientFunds) || res.Status != emission.StatusFailed {
		t.Fatalf("burn of money the entity no longer holds: %+v %v", res, err)
	}
	if s := e.state(t, e.a); s.Issued != 1000_00 || s.Burned != 400_00 || s.Open != "" {
		t.Fatalf("totals %+v", s)
	}
}

// state is the bank's emission state from its stream.
func (e *payEnv) state(t *testing.T, cp uuid.UUID) emission.State {
	t.Helper()
	s, err := peek(testCtx(t), e.store, emission.Stream(cp), emission.Decider, emission.Events)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
