package reconcile

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/domain/money"
	"github.com/kazna-ledger/kazna/domain/payment"
	"github.com/kazna-ledger/kazna/domain/reconciliation"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/eventstore/bolt"
	"github.com/kazna-ledger/kazna/projections"
	"github.com/kazna-ledger/kazna/stellar"
	"github.com/kazna-ledger/kazna/stellar/localnet"
)

// chainEnv is the embedded Stellar network behind a real Horizon adapter, an eUAH issuer, and a book: the
// ledger side as Kazna would have booked what the helpers do on chain (a payment paid through pay() is
// booked; one paid straight on the chain is not). Reconciliation reads both as in production.
type chainEnv struct {
	t      testing.TB
	ln     *localnet.Network
	h      *stellar.Horizon
	issuer *stellar.KeySigner
	asset  stellar.Asset
	store  eventstore.Store
	book   *book
}

var testAsset = money.Asset{Code: "UAH", StellarCode: "eUAH", Decimals: 2}

func newChainEnv(t testing.TB) *chainEnv {
	t.Helper()
	ln, err := localnet.Open(localnet.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ln.Handler())
	t.Cleanup(func() { srv.Close(); _ = ln.Close() })
	h, err := stellar.NewHorizon(stellar.Config{HorizonURL: srv.URL, Passphrase: ln.Passphrase(), RootSecret: ln.Root().Seed(),
		RequestTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.OpenChannels(context.Background(), "100"); err != nil {
		t.Fatal(err)
	}
	store, err := bolt.Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	e := &chainEnv{t: t, ln: ln, h: h, store: store, book: newBook()}
	e.issuer = e.account("100")
	if _, err := h.SetUpIssuer(context.Background(), e.issuer.Signatory()); err != nil {
		t.Fatal(err)
	}
	e.asset = stellar.Asset{Code: testAsset.StellarCode, Issuer: e.issuer.Address(), Decimals: testAsset.Decimals}
	return e
}

func (e *chainEnv) account(xlm string) *stellar.KeySigner {
	e.t.Helper()
	s, err := stellar.RandomKeySigner()
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.h.CreateAccount(context.Background(), stellar.AccountOpening{Account: s.Address(), StartingBalance: xlm}); err != nil {
		e.t.Fatal(err)
	}
	return s
}

// holder opens a ledger account of bank cp: on chain with an authorized trustline, and in the book.
func (e *chainEnv) holder(cp string) *stellar.KeySigner {
	e.t.Helper()
	s := e.account("10")
	if _, err := e.h.OpenTrustline(context.Background(), stellar.Trustline{Holder: s.Signatory(), Asset: e.asset, Issuer: e.issuer.Signatory()}); err != nil {
		e.t.Fatal(err)
	}
	e.book.open(s.Address(), cp)
	return s
}

// pay pays on chain with the payment's GUID and books it, as the settlement worker does.
func (e *chainEnv) pay(from *stellar.KeySigner, to string, minor int64) projections.Payment {
	e.t.Helper()
	p := e.chainPay(from, to, minor, uuid.NewString())
	e.book.settle(p)
	return p
}

// issue pays from the issuer and books it as an issue.
func (e *chainEnv) issue(to string, minor int64) projections.Payment {
	e.t.Helper()
	return e.pay(e.issuer, to, minor)
}

// chainPay pays on chain only; the returned payment is what the ledger would have booked.
func (e *chainEnv) chainPay(from *stellar.KeySigner, to string, minor int64, guid string) projections.Payment {
	e.t.Helper()
	r, err := e.h.Pay(context.Background(), stellar.Payment{GUID: guid, From: from.Signatory(), To: to, Asset: e.asset, AmountMinor: minor})
	if err != nil {
		e.t.Fatalf("pay %d to %s: %v", minor, to, err)
	}
	return e.book.payment(guid, from.Address(), to, minor, r.Hash, e.issuer.Address())
}

func (e *chainEnv) reconciler(cfg Config) *Reconciler {
	e.t.Helper()
	cfg.Store, cfg.Chain, cfg.Ledger = e.store, e.h, e.book
	if cfg.Platform == nil {
		cfg.Platform = fixedPlatform{asset: testAsset, issuer: e.issuer.Address()}
	}
	if cfg.Recheck == 0 {
		cfg.Recheck = -1
	}
	r, err := NewReconciler(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(r.Close)
	return r
}

type fixedPlatform struct {
	asset  money.Asset
	issuer string
}

func (p fixedPlatform) Asset() money.Asset    { return p.asset }
func (p fixedPlatform) IssuerAddress() string { return p.issuer }

// book is a ledger in memory: accounts with balances, settled payments by day, and the supply.
type book struct {
	mu       sync.Mutex
	accounts map[string]*LedgerAccount // by address
	order    []string
	payments map[string]projections.Payment
	settled  map[string][]string
	issued   int64
	burned   int64
}

func newBook() *book {
	return &book{accounts: map[string]*LedgerAccount{}, payments: map[string]projections.Payment{}, settled: map[string][]string{}}
}

func (b *book) open(address, cp string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.accounts[address] = &LedgerAccount{GUID: uuid.NewString(), CounterpartyGUID: cp, Address: address}
	b.order = append(b.order, address)
}

func (b *book) payment(guid, from, to string, minor int64, hash, issuer string) projections.Payment {
	b.mu.Lock()
	defer b.mu.Unlock()
	side := func(addr string) payment.Party {
		if addr == issuer {
			return payment.Party{Kind: payment.KindRoot, Address: addr}
		}
		p := payment.Party{Kind: payment.KindProcessing, Address: addr}
		if a := b.accounts[addr]; a != nil {
			p.AccountGUID, p.CounterpartyGUID = a.GUID, a.CounterpartyGUID
		}
		return p
	}
	s, r := side(from), side(to)
	return projections.Payment{GUID: guid, CounterpartyGUID: s.CounterpartyGUID + r.CounterpartyGUID, Sender: s, Receiver: r, Amount: minor,
		Status: payment.StatusConfirmed, Hash: hash, UpdatedAt: time.Now().UTC()}
}

// settle books a payment: balances, the day's index and the supply.
func (b *book) settle(p projections.Payment) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if a := b.accounts[p.Sender.Address]; a != nil {
		a.Balance -= p.Amount
	}
	if a := b.accounts[p.Receiver.Address]; a != nil {
		a.Balance += p.Amount
	}
	switch {
	case p.Sender.Kind == payment.KindRoot:
		b.issued += p.Amount
	case p.Receiver.Kind == payment.KindRoot:
		b.burned += p.Amount
	}
	b.payments[p.GUID] = p
	day := reconciliation.Day(p.UpdatedAt)
	b.settled[day] = append(b.settled[day], p.GUID)
}

func (b *book) EachAccount(ctx context.Context, fn func(LedgerAccount) error) error {
	b.mu.Lock()
	accts := make([]LedgerAccount, 0, len(b.order))
	for _, addr := range b.order {
		accts = append(accts, *b.accounts[addr])
	}
	b.mu.Unlock()
	for _, a := range accts {
		if err := fn(a); err != nil {
			return err
		}
	}
	return nil
}

func (b *book) Account(_ context.Context, cp, guid string) (LedgerAccount, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, a := range b.accounts {
		if a.GUID == guid && strings.EqualFold(a.CounterpartyGUID, cp) {
			return *a, true
		}
	}
	return LedgerAccount{}, false
}

func (b *book) Payment(guid string) (projections.Payment, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, ok := b.payments[guid]
	return p, ok
}

func (b *book) SettledOn(day string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.settled[day]...)
}

func (b *book) Supply() (int64, int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.issued, b.burned
}

// run reconciles today and returns the report.
func (e *chainEnv) run(r *Reconciler) reconciliation.RunState {
	e.t.Helper()
	s, err := r.Run(context.Background(), StartInput{Trigger: reconciliation.TriggerCLI, Metadata: eventstore.Metadata{Actor: "test"}})
	if err != nil {
		e.t.Fatal(err)
	}
	if s.Status != reconciliation.RunCompleted {
		e.t.Fatalf("run %s is %s: %s", s.GUID, s.Status, s.Reason)
	}
	return s
}

// kinds counts a report's discrepancies by type.
func kinds(s reconciliation.RunState) map[reconciliation.Kind]int {
	out := map[reconciliation.Kind]int{}
	for _, d := range s.Discrepancies {
		out[d.Type]++
	}
	return out
}

// find returns the discrepancy of a type about an address or payment, or fails.
func find(t testing.TB, s reconciliation.RunState, k reconciliation.Kind, match func(reconciliation.Discrepancy) bool) reconciliation.Discrepancy {
	t.Helper()
	for _, d := range s.Discrepancies {
		if d.Type == k && match(d) {
			return d
		}
	}
	t.Fatalf("no %s discrepancy as expected among %+v", k, s.Discrepancies)
	return reconciliation.Discrepancy{}
}

func openBenchStore(b *testing.B) (eventstore.Store, error) {
	s, err := bolt.Open(filepath.Join(b.TempDir(), "events.db"))
	if err == nil {
		b.Cleanup(func() { _ = s.Close() })
	}
	return s, err
}
