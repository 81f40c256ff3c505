package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stellar/go-stellar-sdk/keypair"

	"github.com/kazna-ledger/kazna/auth"
	"github.com/kazna-ledger/kazna/bankauth"
	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/account"
	"github.com/kazna-ledger/kazna/domain/branch"
	"github.com/kazna-ledger/kazna/domain/counterparty"
	"github.com/kazna-ledger/kazna/domain/customer"
	"github.com/kazna-ledger/kazna/domain/iban"
	"github.com/kazna-ledger/kazna/domain/money"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/projections"
	"github.com/kazna-ledger/kazna/stellar"
)

// bankMode is how a test bank's authorization service behaves: the reference service, or one way of failing.
type bankMode int32

const (
	bankServes   bankMode = iota // the reference service answers
	bankRefuses                  // 401 to everything
	bankSlow                     // answers after the client's 1 s limit
	bankGarbage                  // 200 with a body that is not JSON
	bankBadExtID                 // 200 with an external_id no customer may have
)

// testBank is a bank's authorization service: bankauth's reference service behind a switch that makes it fail.
type testBank struct {
	ref  *bankauth.ReferenceService
	srv  *httptest.Server
	mode atomic.Int32
}

func (b *testBank) set(m bankMode) { b.mode.Store(int32(m)) }

func (b *testBank) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch bankMode(b.mode.Load()) {
	case bankRefuses:
		http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
		return
	case bankSlow:
		select {
		case <-time.After(1500 * time.Millisecond):
		case <-r.Context().Done():
			return
		}
	case bankGarbage:
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html>maintenance</html>"))
		return
	case bankBadExtID:
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"external_id":"a\u0007b","key":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}`))
		return
	}
	b.ref.ServeHTTP(w, r)
}

// custEnv is a bootstrapped platform with two banks, each with its own reference authorization service, and
// the customer services on the embedded store and network.
type custEnv struct {
	*cpEnv
	svc     *Customers
	views   *projections.Customers
	client  *bankauth.Client
	a, b    uuid.UUID // two banks
	bankA   *testBank
	bankB   *testBank
	ibanSeq atomic.Int64
}

func newCustEnv(t *testing.T) *custEnv {
	t.Helper()
	e := &custEnv{cpEnv: newCPEnv(t)}
	ctx := testCtx(t)
	e.client = bankauth.NewClient(e.plat.Keyring(), bankauth.ClientOptions{Now: e.clock.Now})
	e.a, e.bankA = e.newBank(t, ctx, "Bank A")
	e.b, e.bankB = e.newBank(t, ctx, "Bank B")
	// The customers read model on its own runner, as the server runs it.
	e.views = projections.NewCustomers()
	runner, err := projections.NewRunner(e.store, projections.Options{Logger: slog.New(slog.DiscardHandler)}, e.views)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = runner.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })
	svc, err := NewCustomers(CustomerDeps{Store: e.store, Vault: e.vault, Network: e.horizon, Platform: e.plat,
		Counterparties: e.dir, BankAuth: e.client, Views: e.views, WaitFor: runner.WaitFor, Now: e.clock.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	return e
}

func (e *custEnv) newBank(t *testing.T, ctx context.Context, name string) (uuid.UUID, *testBank) {
	t.Helper()
	ref, err := bankauth.NewReferenceService(bankauth.ReferenceOptions{
		JWKS: func() (auth.JWKSet, error) { return e.plat.Keyring().JWKS(), nil }, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	b := &testBank{ref: ref}
	b.srv = httptest.NewServer(b)
	t.Cleanup(b.srv.Close)
	res, err := e.cpEnv.svc.RegisterCounterparty(ctx, Request{Actor: "admin"},
		CounterpartyRegistration{Profile: counterparty.Profile{Name: name, AuthURL: b.srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.runner.WaitFor(ctx, res.Position); err != nil {
		t.Fatal(err)
	}
	return uuid.MustParse(res.GUID), b
}

func (e *custEnv) bankOf(cp uuid.UUID) *testBank {
	if cp == e.a {
		return e.bankA
	}
	return e.bankB
}

// newIBAN is a valid Ukrainian IBAN no other test account has.
func (e *custEnv) newIBAN(t *testing.T) string {
	t.Helper()
	v, err := iban.Generate("UA", fmt.Sprintf("322313%019d", e.ibanSeq.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	return v.String()
}

func (e *custEnv) input(login string) CustomerInput {
	return CustomerInput{AssetCode: "UAH", AssetIssuer: e.plat.IssuerAddress(),
		Profile: customer.Profile{Login: login, Name: "Olena", Surname: "Kovalenko", Phone: "+380501234567", KYCLevel: 1}}
}

func (e *custEnv) register(t *testing.T, cp uuid.UUID, in CustomerInput, w Write) OpenedCustomer {
	t.Helper()
	got, err := e.svc.RegisterCustomer(testCtx(t), cp, in, w)
	if err != nil {
		t.Fatalf("register %s: %v", in.Profile.Login, err)
	}
	return got
}

// stream is a stream's events, oldest first.
func (e *custEnv) stream(t *testing.T, name string) []eventstore.RecordedEvent {
	t.Helper()
	recs, err := e.store.ReadStream(testCtx(t), name, eventstore.Forwards, 0, eventstore.MaxReadCount)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func types(recs []eventstore.RecordedEvent) []string {
	out := make([]string, 0, len(recs))
	for _, r := range recs {
		out = append(out, r.Type)
	}
	return out
}

func (e *custEnv) customerState(t *testing.T, guid string) customer.State {
	t.Helper()
	s, err := loadState(testCtx(t), e.store, customer.Stream(uuid.MustParse(guid)), customer.Decider, customer.Events)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (e *custEnv) asset() stellar.Asset {
	return stellar.Asset{Code: "eUAH", Issuer: e.plat.IssuerAddress(), Decimals: 2}
}

// trustline is the account's trustline to the platform's asset, as the network shows it now.
func (e *custEnv) trustline(t *testing.T, address string) stellar.Balance {
	t.Helper()
	acct, err := e.horizon.Account(testCtx(t), address)
	if err != nil {
		t.Fatalf("account %s on chain: %v", address, err)
	}
	line, ok := acct.Trustline(e.asset())
	if !ok {
		t.Fatalf("account %s has no trustline to %v", address, e.asset())
	}
	return line
}

// bankKey is the customer's secret as the bank's authorization service keeps it.
func (e *custEnv) bankKey(t *testing.T, cp uuid.UUID, externalID string) string {
	t.Helper()
	key, err := e.client.Key(testCtx(t), e.bankOf(cp).srv.URL, "test", externalID, auth.FlowSignIn)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// checkCustomerSeed asserts that the account's sealed seed opens with the customer's key from the bank, and
// only with it.
func (e *custEnv) checkCustomerSeed(t *testing.T, cp uuid.UUID, s account.State, externalID string) {
	t.Helper()
	owner := account.Stream(uuid.MustParse(s.GUID))
	seed, err := e.vault.OpenCustomerSeed(owner, []byte(e.bankKey(t, cp, externalID)), s.SealedSeed)
	if err != nil {
		t.Fatalf("the bank's key does not open the seed: %v", err)
	}
	kp, err := keypair.ParseFull(string(seed))
	if err != nil || kp.Address() != s.Address {
		t.Fatalf("the sealed seed is not the key of %s: %v", s.Address, err)
	}
	if _, err := e.vault.OpenCustomerSeed(owner, []byte("another customer's 32-byte secret key!!"), s.SealedSeed); err == nil {
		t.Fatal("the seed opens with another key")
	}
	if _, err := e.vault.OpenPlatformKey(owner, s.SealedSeed); err == nil {
		t.Fatal("the seed opens with the platform's key alone")
	}
}

func TestRegisterCustomerOpensAnAuthorizedAccount(t *testing.T) {
	e := newCustEnv(t)
	ctx := testCtx(t)
	in := e.input("olena")
	in.IBAN = e.newIBAN(t)
	got := e.register(t, e.a, in, Write{})

	c := e.customerState(t, got.CustomerGUID)
	if !c.Exists || c.CounterpartyGUID != e.a.String() || len(c.Accounts) != 1 || c.Profile.Login != "olena" || c.Disabled {
		t.Fatalf("customer %+v", c)
	}
	// The external_id is the one the bank gave at sign-up.
	user, err := e.client.UserAuth(ctx, e.bankA.srv.URL, "test", "olena", auth.FlowSignIn)
	if err != nil || user.ExternalID == "" || c.ExternalID != user.ExternalID {
		t.Fatalf("external_id %q, the bank's %q (%v)", c.ExternalID, user.ExternalID, err)
	}
	if recs := e.stream(t, customer.Stream(uuid.MustParse(got.CustomerGUID))); !slices.Equal(types(recs), []string{"CustomerRegistered"}) {
		t.Fatalf("customer stream %v", types(recs))
	}
	// The balance asset defaults to the platform's.
	if c.Profile.BalanceAssetCode != "UAH" || c.Profile.BalanceAssetIssuer != e.plat.IssuerAddress() {
		t.Fatalf("balance asset %q %q", c.Profile.BalanceAssetCode, c.Profile.BalanceAssetIssuer)
	}

	accID := c.Accounts[0]
	if got.Account.GUID != accID {
		t.Fatalf("answered account %q, the customer's is %s", got.Account.GUID, accID)
	}
	s := e.accountState(t, accID)
	if s.Kind != account.KindCustomer || !s.Opened || s.Owner.CustomerGUID != got.CustomerGUID || s.Owner.IBAN != in.IBAN || s.CounterpartyGUID != e.a.String() {
		t.Fatalf("account %+v", s)
	}
	if line := e.trustline(t, s.Address); !line.Authorized {
		t.Fatalf("trustline not authorized: %+v", line)
	}
	e.checkCustomerSeed(t, e.a, s, c.ExternalID)
	if types := types(e.stream(t, account.Stream(uuid.MustParse(accID)))); !slices.Equal(types, []string{"AccountKeyGenerated", "AccountOpened"}) {
		t.Fatalf("account stream %v", types)
	}
	// The answer's position is where the read models show the registration.
	if got.Position == (eventstore.Position{}) || e.store.LastPosition().Less(got.Position) {
		t.Fatalf("position %v, log at %v", got.Position, e.store.LastPosition())
	}
	// The read model shows both as soon as the call returns, and only to their bank.
	if a := got.Account; !a.Opened || a.Kind != account.KindCustomer || a.Address != s.Address || a.Owner.IBAN != in.IBAN ||
		a.CustomerLogin != "olena" || a.CustomerExternalID != c.ExternalID || a.AssetCode != "eUAH" {
		t.Fatalf("answered account %+v", a)
	}
	view, ok := e.svc.Customer(ctx, e.a.String(), got.CustomerGUID)
	if !ok || view.ExternalID != c.ExternalID || view.Profile != c.Profile || !slices.Equal(view.Accounts, c.Accounts) {
		t.Fatalf("customer view %+v %v", view, ok)
	}
	if _, ok := e.svc.Customer(ctx, e.b.String(), got.CustomerGUID); ok {
		t.Fatal("another bank sees the customer")
	}
	if _, ok := e.svc.Account(ctx, e.b.String(), accID); ok {
		t.Fatal("another bank sees the account")
	}
}

func TestRegisterCustomerWritesNothingWhenTheBankFails(t *testing.T) {
	e := newCustEnv(t)
	for name, tc := range map[string]struct {
		mode bankMode
		want error
	}{
		"refused":         {bankRefuses, bankauth.ErrRefused},
		"slow":            {bankSlow, bankauth.ErrTimeout},
		"garbage":         {bankGarbage, bankauth.ErrBadAnswer},
		"bad external_id": {bankBadExtID, bankauth.ErrBadAnswer},
	} {
		t.Run(name, func(t *testing.T) {
			e.bankA.set(tc.mode)
			defer e.bankA.set(bankServes)
			before := e.store.LastPosition()
			_, err := e.svc.RegisterCustomer(testCtx(t), e.a, e.input("login-"+name[:3]), Write{})
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if after := e.store.LastPosition(); after != before {
				t.Fatalf("a refused registration wrote: log moved from %v to %v", before, after)
			}
		})
	}
	// The bank answering again, the same logins register.
	e.register(t, e.a, e.input("login-ref"), Write{})
}

func TestRegisterCustomerRefusals(t *testing.T) {
	e := newCustEnv(t)
	ctx := testCtx(t)
	first := e.input("olena")
	first.IBAN = e.newIBAN(t)
	e.register(t, e.a, first, Write{})

	// A branch of bank A, and one of bank B.
	branchA, branchB := uuid.New(), uuid.New()
	for cp, g := range map[uuid.UUID]uuid.UUID{e.a: branchA, e.b: branchB} {
		if _, err := command.Handle(ctx, e.store, branch.Stream(g), branch.Decider, branch.Events,
			any(branch.Create{GUID: g, CounterpartyGUID: cp, Name: "Main office", At: t0}), command.Envelope{}); err != nil {
			t.Fatal(err)
		}
	}

	refusals := map[string]struct {
		edit  func(*CustomerInput)
		check func(error) bool
	}{
		"login taken": {func(in *CustomerInput) {}, func(err error) bool { return errors.Is(err, customer.ErrLoginTaken) }},
		"login taken in another case": {func(in *CustomerInput) { in.Profile.Login = "OLENA" },
			func(err error) bool { return errors.Is(err, customer.ErrLoginTaken) }},
		"IBAN taken": {func(in *CustomerInput) { in.Profile.Login, in.IBAN = "taras", first.IBAN },
			func(err error) bool { return errors.Is(err, ErrIBANTaken) }},
		"invalid IBAN": {func(in *CustomerInput) { in.Profile.Login, in.IBAN = "taras", "UA213223130000026007233566002" },
			func(err error) bool { var inv *customer.ErrInvalid; return errors.As(err, &inv) && inv.Field == "iban" }},
		"unknown asset": {func(in *CustomerInput) { in.Profile.Login, in.AssetCode = "taras", "USD" },
			func(err error) bool { return errors.Is(err, ErrUnknownAsset) }},
		"another issuer": {func(in *CustomerInput) { in.Profile.Login, in.AssetIssuer = "taras", keypair.MustRandom().Address() },
			func(err error) bool { return errors.Is(err, ErrUnknownAsset) }},
		"unknown balance asset": {func(in *CustomerInput) { in.Profile.Login, in.Profile.BalanceAssetCode = "taras", "USD" },
			func(err error) bool { return errors.Is(err, ErrUnknownAsset) }},
		"no asset": {func(in *CustomerInput) { in.Profile.Login, in.AssetCode = "taras", "" },
			func(err error) bool {
				var inv *customer.ErrInvalid
				return errors.As(err, &inv) && inv.Field == "asset_code"
			}},
		"unknown branch": {func(in *CustomerInput) { in.Profile.Login, in.Profile.BranchGUID = "taras", uuid.NewString() },
			func(err error) bool { return errors.Is(err, ErrUnknownBranch) }},
		"another bank's branch": {func(in *CustomerInput) { in.Profile.Login, in.Profile.BranchGUID = "taras", branchB.String() },
			func(err error) bool { return errors.Is(err, ErrUnknownBranch) }},
		"bad phone": {func(in *CustomerInput) { in.Profile.Login, in.Profile.Phone = "taras", "call me" },
			func(err error) bool {
				var inv *customer.ErrInvalid
				return errors.As(err, &inv) && inv.Field == "phone_number"
			}},
	}
	for name, tc := range refusals {
		t.Run(name, func(t *testing.T) {
			in := e.input("olena")
			tc.edit(&in)
			// A refused registration opens no account: the log holds no new account key.
			before := e.store.LastPosition()
			_, err := e.svc.RegisterCustomer(ctx, e.a, in, Write{})
			if !tc.check(err) {
				t.Fatalf("got %v", err)
			}
			recs, rerr := e.store.ReadAll(ctx, eventstore.Forwards, before, eventstore.MaxReadCount)
			if rerr != nil {
				t.Fatal(rerr)
			}
			for _, r := range recs {
				if r.Type != "UniqueValueClaimed" && r.Type != "UniqueValueReleased" {
					t.Fatalf("a refused registration wrote %s to %s", r.Type, r.Stream)
				}
			}
		})
	}
	// A bank without an authorization service cannot have customers; an unknown bank has none either.
	noAuth, err := e.cpEnv.svc.RegisterCounterparty(ctx, Request{Actor: "admin"}, CounterpartyRegistration{Profile: counterparty.Profile{Name: "No Auth Bank"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.runner.WaitFor(ctx, noAuth.Position); err != nil {
		t.Fatal(err)
	}
	pos := e.store.LastPosition()
	if _, err := e.svc.RegisterCustomer(ctx, uuid.MustParse(noAuth.GUID), e.input("taras"), Write{}); !errors.Is(err, ErrNoBankAuthorization) {
		t.Fatalf("bank without auth_url: %v", err)
	}
	if _, err := e.svc.RegisterCustomer(ctx, uuid.New(), e.input("taras"), Write{}); !errors.Is(err, counterparty.ErrNotFound) {
		t.Fatalf("unknown bank: %v", err)
	}
	if e.store.LastPosition() != pos {
		t.Fatal("a registration with no bank to ask wrote")
	}

	// The login of the refused IBAN request was released: taras registers with a fresh IBAN.
	in := e.input("taras")
	in.IBAN = e.newIBAN(t)
	in.Profile.BranchGUID = branchA.String()
	got := e.register(t, e.a, in, Write{})
	if s := e.customerState(t, got.CustomerGUID); s.Profile.BranchGUID != branchA.String() {
		t.Fatalf("branch %q", s.Profile.BranchGUID)
	}
	// The same login in another bank is another customer.
	other := e.register(t, e.b, e.input("olena"), Write{})
	if s := e.customerState(t, other.CustomerGUID); s.CounterpartyGUID != e.b.String() {
		t.Fatalf("customer of bank B: %+v", s)
	}
}

func TestRegisterCustomerRetryWithTheSameKey(t *testing.T) {
	e := newCustEnv(t)
	in := e.input("olena")
	in.IBAN = e.newIBAN(t)
	w := Write{IdempotencyKey: "reg-1"}
	first := e.register(t, e.a, in, w)
	before := e.store.LastPosition()
	again := e.register(t, e.a, in, w)
	if again.CustomerGUID != first.CustomerGUID || again.Account.GUID != first.Account.GUID || again.Account.GUID == "" {
		t.Fatalf("retry answered %+v, first %+v", again, first)
	}
	if after := e.store.LastPosition(); after != before {
		t.Fatalf("the retry wrote: log moved from %v to %v", before, after)
	}
	if s := e.customerState(t, first.CustomerGUID); len(s.Accounts) != 1 || s.Accounts[0] != first.Account.GUID {
		t.Fatalf("accounts after retry: %v", s.Accounts)
	}
	// Under a key the account is recorded open too, not only its key: both steps write one stream.
	acc := uuid.MustParse(first.Account.GUID)
	if got := types(e.stream(t, account.Stream(acc))); !slices.Equal(got, []string{"AccountKeyGenerated", "AccountOpened"}) {
		t.Fatalf("account stream %v", got)
	}
	e.checkOnChain(t, first.Account.GUID)
	// Another key is another registration, refused for the login.
	if _, err := e.svc.RegisterCustomer(testCtx(t), e.a, in, Write{IdempotencyKey: "reg-2"}); !errors.Is(err, customer.ErrLoginTaken) {
		t.Fatalf("another key: %v", err)
	}
}

func TestRegisterCustomerRecordsTheActor(t *testing.T) {
	e := newCustEnv(t)
	got := e.register(t, e.a, e.input("olena"), Write{Metadata: eventstore.Metadata{Actor: "emp-1"}})
	cust := uuid.MustParse(got.CustomerGUID)
	for _, stream := range []string{customer.Stream(cust), account.Stream(uuid.MustParse(got.Account.GUID))} {
		recs := e.stream(t, stream)
		if len(recs) == 0 {
			t.Fatalf("%s is empty", stream)
		}
		for _, r := range recs {
			if r.Metadata.Actor != "emp-1" {
				t.Fatalf("%s %s: actor %q", stream, r.Type, r.Metadata.Actor)
			}
		}
	}
	// An update records its actor too.
	name := "Olenka"
	if _, err := e.svc.UpdateCustomer(testCtx(t), e.a, cust, CustomerPatch{Name: &name}, Write{Metadata: eventstore.Metadata{Actor: "emp-2"}}); err != nil {
		t.Fatal(err)
	}
	recs := e.stream(t, customer.Stream(cust))
	if last := recs[len(recs)-1]; last.Type != "CustomerUpdated" || last.Metadata.Actor != "emp-2" {
		t.Fatalf("update: %s by %q", last.Type, last.Metadata.Actor)
	}
}

func TestUpdateCustomer(t *testing.T) {
	e := newCustEnv(t)
	ctx := testCtx(t)
	got := e.register(t, e.a, e.input("olena"), Write{})
	cust := uuid.MustParse(got.CustomerGUID)
	before := e.customerState(t, got.CustomerGUID)

	surname, kyc, allowed, status := "Shevchenko", 3, money.Amount(500_00), "vip"
	w, err := e.svc.UpdateCustomer(ctx, e.a, cust, CustomerPatch{Surname: &surname, KYCLevel: &kyc, BalanceAllowed: &allowed, Status: &status}, Write{})
	if err != nil || w.GUID != got.CustomerGUID || w.Position == (eventstore.Position{}) {
		t.Fatalf("update: %+v %v", w, err)
	}
	s := e.customerState(t, got.CustomerGUID)
	want := before.Profile
	want.Surname, want.KYCLevel, want.BalanceAllowed, want.Status = surname, kyc, allowed, status
	if s.Profile != want {
		t.Fatalf("profile\n got  %+v\n want %+v", s.Profile, want)
	}
	// The same patch again changes nothing and writes nothing.
	pos := e.store.LastPosition()
	if w, err := e.svc.UpdateCustomer(ctx, e.a, cust, CustomerPatch{Surname: &surname}, Write{}); err != nil || w.Position != (eventstore.Position{}) {
		t.Fatalf("no-op update: %+v %v", w, err)
	}
	if e.store.LastPosition() != pos {
		t.Fatal("a no-op update wrote")
	}
	// Invalid values are refused.
	badKYC := -1
	var inv *customer.ErrInvalid
	if _, err := e.svc.UpdateCustomer(ctx, e.a, cust, CustomerPatch{KYCLevel: &badKYC}, Write{}); !errors.As(err, &inv) || inv.Field != "kyc_level" {
		t.Fatalf("bad kyc: %v", err)
	}
	unknown := uuid.NewString()
	if _, err := e.svc.UpdateCustomer(ctx, e.a, cust, CustomerPatch{Branch: &unknown}, Write{}); !errors.Is(err, ErrUnknownBranch) {
		t.Fatalf("unknown branch: %v", err)
	}
	usd := "USD"
	if _, err := e.svc.UpdateCustomer(ctx, e.a, cust, CustomerPatch{BalanceAssetCode: &usd}, Write{}); !errors.Is(err, ErrUnknownAsset) {
		t.Fatalf("unknown balance asset: %v", err)
	}

	// Disable and enable, each once.
	yes, no := true, false
	for _, step := range []struct {
		disabled *bool
		want     string
	}{{&yes, "CustomerDisabled"}, {&yes, ""}, {&no, "CustomerEnabled"}, {&no, ""}} {
		n := len(e.stream(t, customer.Stream(cust)))
		if _, err := e.svc.UpdateCustomer(ctx, e.a, cust, CustomerPatch{Disabled: step.disabled}, Write{}); err != nil {
			t.Fatal(err)
		}
		recs := e.stream(t, customer.Stream(cust))
		switch {
		case step.want == "" && len(recs) != n:
			t.Fatalf("disabled=%v again wrote %s", *step.disabled, recs[len(recs)-1].Type)
		case step.want != "" && (len(recs) != n+1 || recs[n].Type != step.want):
			t.Fatalf("disabled=%v: %v", *step.disabled, types(recs[n:]))
		}
		if s := e.customerState(t, got.CustomerGUID); s.Disabled != *step.disabled {
			t.Fatalf("disabled %v after %v", s.Disabled, *step.disabled)
		}
	}
	if s := e.customerState(t, got.CustomerGUID); s.Profile.Login != "olena" || s.ExternalID != before.ExternalID {
		t.Fatalf("login or external_id changed: %+v", s)
	}
	if view, ok := e.svc.Customer(ctx, e.a.String(), got.CustomerGUID); !ok || view.Profile != e.customerState(t, got.CustomerGUID).Profile || view.Disabled {
		t.Fatalf("read model after the updates: %+v %v", view, ok)
	}

	// Another bank cannot see it, nor change it.
	name := "Mallory"
	pos = e.store.LastPosition()
	if _, err := e.svc.UpdateCustomer(ctx, e.b, cust, CustomerPatch{Name: &name}, Write{}); !errors.Is(err, customer.ErrNotFound) {
		t.Fatalf("another bank: %v", err)
	}
	if _, err := e.svc.UpdateCustomer(ctx, e.a, uuid.New(), CustomerPatch{Name: &name}, Write{}); !errors.Is(err, customer.ErrNotFound) {
		t.Fatalf("unknown customer: %v", err)
	}
	if e.store.LastPosition() != pos {
		t.Fatal("a refused update wrote")
	}
}

func TestOpenCustomerAccount(t *testing.T) {
	e := newCustEnv(t)
	ctx := testCtx(t)
	got := e.register(t, e.a, e.input("olena"), Write{})
	cust := uuid.MustParse(got.CustomerGUID)
	ib := e.newIBAN(t)
	w, err := e.svc.OpenCustomerAccount(ctx, e.a, cust, ib, Write{})
	if err != nil {
		t.Fatal(err)
	}
	c := e.customerState(t, got.CustomerGUID)
	if want := []string{got.Account.GUID, w.GUID}; !slices.Equal(c.Accounts, want) {
		t.Fatalf("accounts %v, want %v", c.Accounts, want)
	}
	s := e.accountState(t, w.GUID)
	first := e.accountState(t, got.Account.GUID)
	if !s.Opened || s.Kind != account.KindCustomer || s.Owner.CustomerGUID != got.CustomerGUID || s.Owner.IBAN != ib || s.Address == first.Address {
		t.Fatalf("second account %+v", s)
	}
	if line := e.trustline(t, s.Address); !line.Authorized {
		t.Fatalf("trustline %+v", line)
	}
	e.checkCustomerSeed(t, e.a, s, c.ExternalID)
	if accts, ok := e.svc.CustomerAccounts(ctx, e.a.String(), got.CustomerGUID); !ok || len(accts) != 2 || accts[1].GUID != w.GUID || accts[1].Owner.IBAN != ib {
		t.Fatalf("read model accounts: %+v %v", accts, ok)
	}

	// A keyed request opens one account, recorded open, and its retry answers the same and writes nothing.
	kw := Write{IdempotencyKey: "acc-1"}
	k1, err := e.svc.OpenCustomerAccount(ctx, e.a, cust, "", kw)
	if err != nil {
		t.Fatal(err)
	}
	pos := e.store.LastPosition()
	k2, err := e.svc.OpenCustomerAccount(ctx, e.a, cust, "", kw)
	if err != nil || k2.GUID != k1.GUID || e.store.LastPosition() != pos {
		t.Fatalf("keyed retry: %+v %v (first %+v)", k2, err, k1)
	}
	e.checkOnChain(t, k1.GUID)
	if c := e.customerState(t, got.CustomerGUID); !slices.Equal(c.Accounts, []string{got.Account.GUID, w.GUID, k1.GUID}) {
		t.Fatalf("accounts %v", c.Accounts)
	}

	// The IBAN is taken now; another bank's customer is not found.
	if _, err := e.svc.OpenCustomerAccount(ctx, e.a, cust, ib, Write{}); !errors.Is(err, ErrIBANTaken) {
		t.Fatalf("IBAN twice: %v", err)
	}
	if _, err := e.svc.OpenCustomerAccount(ctx, e.b, cust, "", Write{}); !errors.Is(err, customer.ErrNotFound) {
		t.Fatalf("another bank: %v", err)
	}
	// The bank refusing the key opens nothing.
	e.bankA.set(bankRefuses)
	pos = e.store.LastPosition()
	if _, err := e.svc.OpenCustomerAccount(ctx, e.a, cust, "", Write{}); !errors.Is(err, bankauth.ErrRefused) {
		t.Fatalf("bank refuses the key: %v", err)
	}
	if e.store.LastPosition() != pos {
		t.Fatal("a refused account wrote")
	}
	e.bankA.set(bankServes)

	// A disabled customer gets no account, and nothing is written.
	yes := true
	if _, err := e.svc.UpdateCustomer(ctx, e.a, cust, CustomerPatch{Disabled: &yes}, Write{}); err != nil {
		t.Fatal(err)
	}
	pos = e.store.LastPosition()
	if _, err := e.svc.OpenCustomerAccount(ctx, e.a, cust, e.newIBAN(t), Write{}); !errors.Is(err, customer.ErrDisabled) {
		t.Fatalf("disabled: %v", err)
	}
	if e.store.LastPosition() != pos {
		t.Fatal("a disabled customer's account wrote")
	}
}

// TestOpenCustomerAccountBeyondTheLimit: a customer with MaxAccounts accounts gets no other one, and no
// account is opened on chain (or its key recorded) for the refused request.
func TestOpenCustomerAccountBeyondTheLimit(t *testing.T) {
	e := newCustEnv(t)
	ctx := testCtx(t)
	got := e.register(t, e.a, e.input("olena"), Write{})
	cust := uuid.MustParse(got.CustomerGUID)
	for range customer.MaxAccounts - 1 {
		if _, err := command.Handle(ctx, e.store, customer.Stream(cust), customer.Decider, customer.Events,
			any(customer.AddAccount{AccountGUID: uuid.New(), At: t0}), command.Envelope{}); err != nil {
			t.Fatal(err)
		}
	}
	pos := e.store.LastPosition()
	if _, err := e.svc.OpenCustomerAccount(ctx, e.a, cust, e.newIBAN(t), Write{}); !errors.Is(err, customer.ErrTooManyAccounts) {
		t.Fatalf("beyond the limit: %v", err)
	}
	if after := e.store.LastPosition(); after != pos {
		recs, _ := e.store.ReadAll(ctx, eventstore.Forwards, pos, eventstore.MaxReadCount)
		t.Fatalf("a refused account wrote %v", types(recs))
	}
}

func TestOpenEntity(t *testing.T) {
	e := newCustEnv(t)
	ctx := testCtx(t)
	br := uuid.New()
	if _, err := command.Handle(ctx, e.store, branch.Stream(br), branch.Decider, branch.Events,
		any(branch.Create{GUID: br, CounterpartyGUID: e.a, Name: "Lviv", At: t0}), command.Envelope{}); err != nil {
		t.Fatal(err)
	}
	ib := e.newIBAN(t)
	w, err := e.svc.OpenEntity(ctx, e.a, EntityInput{Kind: account.KindProcessing, IBAN: ib, KeyKeeperLogin: "keeper", BranchGUID: br.String()}, Write{})
	if err != nil {
		t.Fatal(err)
	}
	s := e.accountState(t, w.GUID)
	if want := (account.Owner{BranchGUID: br.String(), IBAN: ib, KeyKeeperLogin: "keeper"}); s.Kind != account.KindProcessing || s.Owner != want || s.CounterpartyGUID != e.a.String() {
		t.Fatalf("entity %+v", s)
	}
	e.checkOnChain(t, w.GUID)
	// A bank's entity is sealed by the platform alone.
	if seed, err := e.vault.OpenPlatformKey(account.Stream(uuid.MustParse(w.GUID)), s.SealedSeed); err != nil || keypair.MustParseFull(string(seed)).Address() != s.Address {
		t.Fatalf("entity seed: %v", err)
	}
	// An emission entity of the whole bank, under a key: recorded open, and a retry answers the same.
	kw := Write{IdempotencyKey: "entity-1"}
	em, err := e.svc.OpenEntity(ctx, e.a, EntityInput{Kind: account.KindEmission}, kw)
	if err != nil {
		t.Fatal(err)
	}
	e.checkOnChain(t, em.GUID)
	pos := e.store.LastPosition()
	if again, err := e.svc.OpenEntity(ctx, e.a, EntityInput{Kind: account.KindEmission}, kw); err != nil || again.GUID != em.GUID || e.store.LastPosition() != pos {
		t.Fatalf("keyed retry: %+v %v", again, err)
	}

	for name, tc := range map[string]struct {
		in    EntityInput
		check func(error) bool
	}{
		"emission of a branch": {EntityInput{Kind: account.KindEmission, BranchGUID: br.String()}, func(err error) bool { return errors.Is(err, ErrBranchEmission) }},
		"unknown branch":       {EntityInput{Kind: account.KindProcessing, BranchGUID: uuid.NewString()}, func(err error) bool { return errors.Is(err, ErrUnknownBranch) }},
		"customer kind": {EntityInput{Kind: account.KindCustomer}, func(err error) bool {
			var inv *customer.ErrInvalid
			return errors.As(err, &inv) && inv.Field == "account_kind"
		}},
		"IBAN taken": {EntityInput{Kind: account.KindProcessing, IBAN: ib}, func(err error) bool { return errors.Is(err, ErrIBANTaken) }},
	} {
		t.Run(name, func(t *testing.T) {
			before := e.store.LastPosition()
			if _, err := e.svc.OpenEntity(ctx, e.a, tc.in, Write{}); !tc.check(err) {
				t.Fatalf("got %v", err)
			}
			if e.store.LastPosition() != before {
				t.Fatal("a refused entity wrote")
			}
		})
	}
	if _, err := e.svc.OpenEntity(ctx, uuid.New(), EntityInput{Kind: account.KindProcessing}, Write{}); !errors.Is(err, counterparty.ErrNotFound) {
		t.Fatalf("unknown bank: %v", err)
	}

	// The bank refusing the key keeper writes nothing.
	e.bankA.set(bankRefuses)
	before := e.store.LastPosition()
	if _, err := e.svc.OpenEntity(ctx, e.a, EntityInput{Kind: account.KindProcessing, KeyKeeperLogin: "stranger", IBAN: e.newIBAN(t)}, Write{}); !errors.Is(err, bankauth.ErrRefused) {
		t.Fatalf("keeper refused: %v", err)
	}
	if e.store.LastPosition() != before {
		t.Fatal("a refused key keeper wrote")
	}
}

func TestBlockAndUnblockAccount(t *testing.T) {
	e := newCustEnv(t)
	ctx := testCtx(t)
	got := e.register(t, e.a, e.input("olena"), Write{})
	acc := uuid.MustParse(got.Account.GUID)
	addr := e.accountState(t, acc.String()).Address
	stream := account.Stream(acc)

	w, err := e.svc.BlockAccount(ctx, e.a, acc, "court order", Write{Metadata: eventstore.Metadata{Actor: "emp-1"}})
	if err != nil || w.Position == (eventstore.Position{}) {
		t.Fatalf("block: %+v %v", w, err)
	}
	if line := e.trustline(t, addr); line.Authorized {
		t.Fatalf("blocked, but the trustline is authorized: %+v", line)
	}
	recs := e.stream(t, stream)
	last := recs[len(recs)-1]
	if last.Type != "AccountBlocked" || last.Metadata.Actor != "emp-1" {
		t.Fatalf("block recorded as %s by %q", last.Type, last.Metadata.Actor)
	}
	if s := e.accountState(t, acc.String()); !s.Blocked {
		t.Fatalf("state %+v", s)
	}
	if v, ok := e.svc.Account(ctx, e.a.String(), acc.String()); !ok || !v.Blocked {
		t.Fatalf("read model after block: %+v %v", v, ok)
	}
	// Twice is once.
	pos := e.store.LastPosition()
	if _, err := e.svc.BlockAccount(ctx, e.a, acc, "again", Write{}); err != nil {
		t.Fatal(err)
	}
	if e.store.LastPosition() != pos || e.trustline(t, addr).Authorized {
		t.Fatal("a second block changed something")
	}
	// Another bank cannot block it.
	if _, err := e.svc.BlockAccount(ctx, e.b, acc, "", Write{}); !errors.Is(err, account.ErrNotFound) {
		t.Fatalf("another bank: %v", err)
	}

	if _, err := e.svc.UnblockAccount(ctx, e.a, acc, Write{}); err != nil {
		t.Fatal(err)
	}
	if line := e.trustline(t, addr); !line.Authorized {
		t.Fatalf("unblocked, but the trustline is not authorized: %+v", line)
	}
	recs = e.stream(t, stream)
	if last := recs[len(recs)-1]; last.Type != "AccountUnblocked" {
		t.Fatalf("unblock recorded as %s", last.Type)
	}
	pos = e.store.LastPosition()
	if _, err := e.svc.UnblockAccount(ctx, e.a, acc, Write{}); err != nil || e.store.LastPosition() != pos || !e.trustline(t, addr).Authorized {
		t.Fatalf("a second unblock: %v", err)
	}
	if s := e.accountState(t, acc.String()); s.Blocked {
		t.Fatalf("state %+v", s)
	}
	if v, ok := e.svc.Account(ctx, e.a.String(), acc.String()); !ok || v.Blocked {
		t.Fatalf("read model after unblock: %+v %v", v, ok)
	}
	// Segments: set once, the same again writes nothing.
	if _, err := e.svc.SetSegment(ctx, e.a, acc, " vip ", Write{}); err != nil {
		t.Fatal(err)
	}
	if s := e.accountState(t, acc.String()); s.Segment != "vip" {
		t.Fatalf("segment %q", s.Segment)
	}
	if segs := e.svc.Segments(ctx, e.a.String(), []string{"vip"}); len(segs["vip"]) != 1 || segs["vip"][0].GUID != acc.String() {
		t.Fatalf("segments %+v", segs)
	}
	pos = e.store.LastPosition()
	if _, err := e.svc.SetSegment(ctx, e.a, acc, "vip", Write{}); err != nil || e.store.LastPosition() != pos {
		t.Fatalf("same segment: %v", err)
	}
	// An account whose opening has not finished (its key recorded, nothing on chain) cannot change.
	half := uuid.New()
	gen := account.GenerateKey{GUID: half, Kind: account.KindProcessing, CounterpartyGUID: e.a, Address: keypair.MustRandom().Address(), SealedSeed: []byte("sealed"), At: t0}
	if _, err := command.Handle(ctx, e.store, account.Stream(half), account.Decider, account.Events, any(gen), command.Envelope{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.BlockAccount(ctx, e.a, half, "", Write{}); !errors.Is(err, ErrAccountNotOpened) {
		t.Fatalf("block a half-open account: %v", err)
	}
	if _, err := e.svc.SetSegment(ctx, e.a, half, "vip", Write{}); !errors.Is(err, ErrAccountNotOpened) {
		t.Fatalf("segment of a half-open account: %v", err)
	}
	if _, err := e.svc.UnblockAccount(ctx, e.a, uuid.New(), Write{}); !errors.Is(err, account.ErrNotFound) {
		t.Fatalf("unknown account: %v", err)
	}

	// A reason the ledger refuses leaves the chain alone.
	long := string(make([]byte, account.MaxReasonRunes+1))
	if _, err := e.svc.BlockAccount(ctx, e.a, acc, long, Write{}); !errors.Is(err, account.ErrInvalid) {
		t.Fatalf("bad reason: %v", err)
	}
	if !e.trustline(t, addr).Authorized {
		t.Fatal("a refused block deauthorized the trustline")
	}
}
