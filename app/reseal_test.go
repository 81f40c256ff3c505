package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stellar/go-stellar-sdk/keypair"

	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/account"
	"github.com/kazna-ledger/kazna/domain/callback"
	"github.com/kazna-ledger/kazna/domain/counterparty"
	"github.com/kazna-ledger/kazna/domain/platform"
	"github.com/kazna-ledger/kazna/domain/rbac"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/projections"
	"github.com/kazna-ledger/kazna/stellar/custody"
)

// sealedCustomer is a customer account recorded with its seed sealed under the customer's secret, as the
// customers service records it (without the bank and the chain, which a rotation never touches).
type sealedCustomer struct {
	stream  string
	secret  []byte
	seed    string
	address string
}

func recordCustomerAccounts(t *testing.T, e *cpEnv, bank uuid.UUID, n int) []sealedCustomer {
	t.Helper()
	out := make([]sealedCustomer, n)
	for i := range out {
		kp := keypair.MustRandom()
		id := uuid.New()
		c := sealedCustomer{stream: account.Stream(id), secret: []byte(fmt.Sprintf("customer-secret-%016d", i)), seed: kp.Seed(), address: kp.Address()}
		sealed, err := e.vault.SealCustomerSeed(c.stream, c.secret, []byte(c.seed))
		if err != nil {
			t.Fatal(err)
		}
		gen := account.GenerateKey{GUID: id, Kind: account.KindCustomer, CounterpartyGUID: bank, Address: kp.Address(), SealedSeed: sealed,
			Owner: account.Owner{CustomerGUID: uuid.NewString()}, At: e.clock.Now()}
		if _, err := command.Handle(testCtx(t), e.store, c.stream, account.Decider, account.Events, any(gen), command.Envelope{}); err != nil {
			t.Fatal(err)
		}
		out[i] = c
	}
	return out
}

// rotationFixture is a bootstrapped platform whose signing key was rotated once (a retired key and a current
// one), two banks (four entities sealed under the platform's key) and customer accounts sealed under their
// customers' secrets, all under master key version 1.
type rotationFixture struct {
	*cpEnv
	banks     []RegisteredCounterparty
	customers []sealedCustomer
	values    int // sealed values in the store
}

func newRotationFixture(t *testing.T, customers int) *rotationFixture {
	t.Helper()
	e := newCPEnv(t)
	ctx := testCtx(t)
	f := &rotationFixture{cpEnv: e}
	for _, name := range []string{"First Bank", "Second Bank"} {
		res, err := e.svc.RegisterCounterparty(ctx, Request{Actor: "admin"}, CounterpartyRegistration{Profile: counterparty.Profile{Name: name}})
		if err != nil {
			t.Fatal(err)
		}
		f.banks = append(f.banks, res)
	}
	// A second signing key; the first stays recorded, retired, and must be re-sealed as well.
	e.clock.Set(t0.Add(DefaultKeyMaxAge + time.Hour))
	if err := e.plat.RefreshSigningKeys(ctx); err != nil {
		t.Fatal(err)
	}
	f.customers = recordCustomerAccounts(t, e, uuid.MustParse(f.banks[0].GUID), customers)
	f.values = 1 + 2 + 2*len(f.banks) + customers
	return f
}

func (f *rotationFixture) seals(t *testing.T, opts StoredSealsOptions) *StoredSeals {
	t.Helper()
	if opts.Now == nil {
		opts.Now = f.clock.Now
	}
	s, err := NewStoredSeals(f.store, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// census counts the stored values by master key version, checking that each opens under its version.
func (f *rotationFixture) census(t *testing.T) custody.Census {
	t.Helper()
	c, err := f.vault.Census(testCtx(t), f.seals(t, StoredSealsOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (f *rotationFixture) promote(t *testing.T, v custody.Version) {
	t.Helper()
	k, err := custody.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := f.vault.Keyring().Promote(v, k); err != nil {
		t.Fatal(err)
	}
}

// checkSeedsOpen opens every account seed the way its owner's service does and checks it is the key of the
// account's address.
func (f *rotationFixture) checkSeedsOpen(t *testing.T) {
	t.Helper()
	for _, c := range f.customers {
		s, err := loadState(testCtx(t), f.store, c.stream, account.Decider, account.Events)
		if err != nil {
			t.Fatal(err)
		}
		seed, err := f.vault.OpenCustomerSeed(c.stream, c.secret, s.SealedSeed)
		if err != nil || string(seed) != c.seed {
			t.Fatalf("customer seed of %s: %v", c.stream, err)
		}
	}
	for _, b := range f.banks {
		for _, guid := range []string{b.EmissionAccountGUID, b.ProcessingAccountGUID} {
			s := f.accountState(t, guid)
			seed, err := f.vault.OpenPlatformKey(account.Stream(uuid.MustParse(guid)), s.SealedSeed)
			if err != nil {
				t.Fatalf("entity seed of %s: %v", guid, err)
			}
			if kp, err := keypair.ParseFull(string(seed)); err != nil || kp.Address() != s.Address {
				t.Fatalf("entity seed of %s is not the key of %s: %v", guid, s.Address, err)
			}
		}
	}
}

func TestRotationResealsEveryStoredValue(t *testing.T) {
	f := newRotationFixture(t, 3)
	ctx := testCtx(t)
	if c := f.census(t); c.Scanned != f.values || c.ByVersion[1] != f.values {
		t.Fatalf("before the rotation: %+v, want %d values under version 1", c, f.values)
	}

	f.promote(t, 2)
	var progress []SealStats
	seals := f.seals(t, StoredSealsOptions{ProgressEvery: 3, Progress: func(s SealStats) { progress = append(progress, s) }})
	rep, err := f.vault.Rotate(ctx, seals)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Scanned != f.values || rep.Resealed != f.values || seals.Stats() != (SealStats{Scanned: f.values, Resealed: f.values}) {
		t.Fatalf("rotation %+v, stats %+v, want %d of each", rep, seals.Stats(), f.values)
	}
	if len(progress) != f.values/3+1 || progress[0].Scanned != 3 || progress[len(progress)-1] != seals.Stats() {
		t.Fatalf("progress reports %+v", progress)
	}
	if c := f.census(t); c.ByVersion[2] != f.values || c.Outside(2) != 0 {
		t.Fatalf("after the rotation: %+v", c)
	}
	// The reseal is recorded on the value's own stream, by the rotation.
	recs, err := f.store.ReadStream(ctx, f.customers[0].stream, eventstore.Backwards, eventstore.StreamEnd, 1)
	if err != nil || recs[0].Type != "AccountKeyResealed" || recs[0].Metadata.Actor != RotationActor {
		t.Fatalf("last event of %s: %+v %v", f.customers[0].stream, recs, err)
	}
	if got := f.events(); got[len(got)-1] != "SigningKeyResealed" || !strings.Contains(strings.Join(got, ","), "IssuerKeyResealed") {
		t.Fatalf("platform stream %v", got)
	}
	// The running platform reads its resealed stream (a refresh reloads it).
	if err := f.plat.RefreshSigningKeys(ctx); err != nil {
		t.Fatalf("refresh after the rotation: %v", err)
	}

	// Version 1 goes: every value still opens, and a restarted platform opens its issuer and signing keys.
	if err := f.vault.Keyring().Retire(1); err != nil {
		t.Fatal(err)
	}
	f.checkSeedsOpen(t)
	if c := f.census(t); c.ByVersion[2] != f.values {
		t.Fatalf("census with version 2 only: %+v", c)
	}
	restarted := f.bootstrap()
	pw, err := os.ReadFile(filepath.Join(f.env.dir, AdminPasswordFile))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := restarted.Login(ctx, DefaultAdminLogin, strings.TrimSpace(string(pw)))
	if err != nil {
		t.Fatalf("login after the rotation: %v", err)
	}
	if _, err := restarted.Keyring().Verify(tok.AccessToken, f.clock.Now()); err != nil {
		t.Fatalf("token signed after the rotation: %v", err)
	}
	// A new bank's entities are opened on chain: the issuer authorizes their trustlines with its re-sealed seed.
	svc, err := NewCounterparties(CounterpartyDeps{Store: f.store, Vault: f.vault, Network: f.horizon, Platform: restarted, Directory: f.dir,
		Roles: []rbac.RoleSpec{{Name: rbac.Administrator, Permissions: []string{"jwk.read"}}}, Known: func(string) bool { return true }, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	third, err := svc.RegisterCounterparty(ctx, Request{Actor: "admin"}, CounterpartyRegistration{Profile: counterparty.Profile{Name: "Third Bank"}})
	if err != nil {
		t.Fatalf("open a bank after the rotation: %v", err)
	}
	f.checkOnChain(t, third.EmissionAccountGUID)

	// A second rotation finds everything under the current key and writes nothing.
	again := f.seals(t, StoredSealsOptions{})
	rep, err = f.vault.Rotate(ctx, again)
	if err != nil || rep.Scanned != f.values+2 || rep.Resealed != 0 || again.Stats().Resealed != 0 {
		t.Fatalf("second rotation %+v %+v %v", rep, again.Stats(), err)
	}
}

// TestConcurrentRotationsBothFinish runs two rotations at once over the same store: both succeed, every value
// is re-sealed exactly once, and neither overwrites the other.
func TestConcurrentRotationsBothFinish(t *testing.T) {
	f := newRotationFixture(t, 20)
	ctx := testCtx(t)
	f.promote(t, 2)
	var wg sync.WaitGroup
	seals := []*StoredSeals{f.seals(t, StoredSealsOptions{}), f.seals(t, StoredSealsOptions{})}
	errs := make([]error, len(seals))
	for i, s := range seals {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = f.vault.Rotate(ctx, s)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("rotation %d: %v", i, err)
		}
	}
	a, b := seals[0].Stats(), seals[1].Stats()
	if a.Resealed+b.Resealed != f.values {
		t.Fatalf("re-sealed %d + %d values, want %d in all", a.Resealed, b.Resealed, f.values)
	}
	if c := f.census(t); c.ByVersion[2] != f.values {
		t.Fatalf("after two rotations: %+v", c)
	}
	for _, c := range f.customers {
		recs, err := f.store.ReadStream(ctx, c.stream, eventstore.Forwards, 0, eventstore.MaxReadCount)
		if err != nil || len(recs) != 2 || recs[1].Type != "AccountKeyResealed" {
			t.Fatalf("%s: %d events, want one reseal: %v", c.stream, len(recs), err)
		}
	}
	if n := strings.Count(strings.Join(f.events(), ","), "Resealed"); n != 3 {
		t.Fatalf("%d reseals on the platform stream, want 3 (issuer and two signing keys)", n)
	}
	if err := f.vault.Keyring().Retire(1); err != nil {
		t.Fatal(err)
	}
	f.checkSeedsOpen(t)
}

func TestReplaceIsCompareAndSwap(t *testing.T) {
	f := newRotationFixture(t, 1)
	ctx := testCtx(t)
	c := f.customers[0]
	st, err := loadState(ctx, f.store, c.stream, account.Decider, account.Events)
	if err != nil {
		t.Fatal(err)
	}
	v1 := st.SealedSeed
	f.promote(t, 2)
	v2, _, err := f.vault.Reseal(c.stream, v1)
	if err != nil {
		t.Fatal(err)
	}
	seals := f.seals(t, StoredSealsOptions{})
	if err := seals.Replace(ctx, c.stream, v1, v2); err != nil {
		t.Fatal(err)
	}
	// The same reseal again (a retry after a lost answer) writes nothing.
	if err := seals.Replace(ctx, c.stream, v1, v2); err != nil {
		t.Fatal(err)
	}
	// Another rotation that read v1 too, with its own value under version 2: the value is where it wanted it.
	other, _, _ := f.vault.Reseal(c.stream, v1)
	if err := seals.Replace(ctx, c.stream, v1, other); err != nil {
		t.Fatalf("a value re-sealed under the same version by someone else: %v", err)
	}
	if got := seals.Stats(); got != (SealStats{Resealed: 1, AlreadyResealed: 2}) {
		t.Fatalf("stats %+v", got)
	}
	// A value changed to another version meanwhile is an error, and is left alone.
	f.promote(t, 3)
	v3, _, _ := f.vault.Reseal(c.stream, v2)
	if err := seals.Replace(ctx, c.stream, v1, v3); !errors.Is(err, account.ErrSealChanged) {
		t.Fatalf("a value changed otherwise: %v", err)
	}
	if st, _ := loadState(ctx, f.store, c.stream, account.Decider, account.Events); !bytes.Equal(st.SealedSeed, v2) {
		t.Fatal("a refused reseal changed the value")
	}
	// The same on the platform stream, and owners that hold no value.
	ps, err := loadState(ctx, f.store, platform.Stream, platformDecider, platformEvents)
	if err != nil {
		t.Fatal(err)
	}
	owner := issuerOwner(ps.IssuerAddress)
	if err := seals.Replace(ctx, owner, []byte("not the stored value"), v3); !errors.Is(err, platform.ErrSealChanged) {
		t.Fatalf("issuer with a stale prev: %v", err)
	}
	for _, o := range []string{"customer-1", "account-not-a-guid", "platform/issuer/", "platform/other/x", ""} {
		if err := seals.Replace(ctx, o, v1, v3); err == nil {
			t.Fatalf("replace for owner %q accepted", o)
		}
	}
	if err := seals.Replace(ctx, signingKeyOwner("no-such-kid"), v1, v3); !errors.Is(err, platform.ErrUnknownSigningKey) {
		t.Fatalf("unknown signing key: %v", err)
	}
	if err := seals.Replace(ctx, issuerOwner("GOTHER"), ps.IssuerSealedSeed, v3); !errors.Is(err, platform.ErrIssuerMismatch) {
		t.Fatalf("another issuer: %v", err)
	}
}

// TestOwnersMapBack: every owner the app seals under maps back to where the value is kept.
func TestOwnersMapBack(t *testing.T) {
	id := uuid.New()
	for owner, want := range map[string]struct {
		kind ownerKind
		id   string
	}{
		account.Stream(id):       {ownerAccount, account.Stream(id)},
		issuerOwner("GABC"):      {ownerIssuer, "GABC"},
		signingKeyOwner("kid-1"): {ownerSigningKey, "kid-1"},
	} {
		kind, got, err := parseOwner(owner)
		if err != nil || kind != want.kind || got != want.id {
			t.Fatalf("parseOwner(%q) = %v %q %v", owner, kind, got, err)
		}
	}
	if _, _, err := parseOwner("account-" + strings.ToUpper(id.String())); err == nil {
		t.Fatal("a stream name that no account has was accepted")
	}
}

func TestPlatformEventsRoundTrip(t *testing.T) {
	all := []platform.Event{
		platform.AssetDefined{Code: "UAH", StellarCode: "eUAH", Decimals: 2, At: t0},
		platform.IssuerKeyGenerated{Address: "G1", SealedSeed: []byte{1}, At: t0},
		platform.IssuerCreated{Address: "G1", At: t0},
		platform.SigningKeyAdded{KID: "k1", SealedKey: []byte{2}, ActiveFrom: t0, At: t0},
		platform.SigningKeyRetired{KID: "k1", RetiredAt: t0, At: t0},
		platform.AdministratorCreated{Login: "admin", PasswordHash: "$2a$", At: t0},
		platform.AdministratorPasswordChanged{PasswordHash: "$2a$", At: t0},
		platform.IssuerKeyResealed{Address: "G1", SealedSeed: []byte{3}, At: t0},
		platform.SigningKeyResealed{KID: "k1", SealedKey: []byte{4}, At: t0},
	}
	if errPlatformEvents != nil {
		t.Fatal(errPlatformEvents)
	}
	for _, e := range all {
		typ, data, err := PlatformEvents().Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		back, err := PlatformEvents().Decode(typ, data)
		if err != nil || !reflect.DeepEqual(back, e) || typ != reflect.TypeOf(e).Name() {
			t.Fatalf("%s: %#v %v", typ, back, err)
		}
	}
}

// TestReadModelsFollowARotation: the read models a server runs keep working across a rotation (they pass over
// reseal events), and a customer registered afterwards is served as usual.
func TestReadModelsFollowARotation(t *testing.T) {
	e := newCustEnv(t)
	ctx := testCtx(t)
	in := e.input("before-rotation")
	in.IBAN = e.newIBAN(t)
	first := e.register(t, e.a, in, Write{})

	k, _ := custody.GenerateKey()
	if err := e.vault.Keyring().Promote(2, k); err != nil {
		t.Fatal(err)
	}
	seals, err := NewStoredSeals(e.store, StoredSealsOptions{Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.vault.Rotate(ctx, seals); err != nil {
		t.Fatal(err)
	}
	// Every projection a server runs, rebuilt from the log with the reseals in it.
	views := projections.NewCustomers()
	all := []projections.Projection{projections.NewCounterparties(), projections.NewEmployees(), projections.NewBranches(), projections.NewRoles(), views}
	runner, err := projections.NewRunner(e.store, projections.Options{Logger: slog.New(slog.DiscardHandler)}, all...)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- runner.Run(runCtx) }()
	defer func() { cancel(); <-done }()
	waitCtx, stop := context.WithTimeout(ctx, 20*time.Second)
	defer stop()
	if err := runner.WaitCaughtUp(waitCtx); err != nil {
		t.Fatalf("read models rebuilt after a rotation: %v (stopped: %v)", err, runner.Stopped())
	}
	if _, ok := views.Customer(ctx, e.a.String(), first.CustomerGUID); !ok {
		t.Fatal("the rebuilt customers read model lost a customer")
	}

	// The running server's read models, and a registration after the rotation (it waits for them).
	in = e.input("after-rotation")
	in.IBAN = e.newIBAN(t)
	second := e.register(t, e.a, in, Write{})
	if _, ok := e.views.Customer(ctx, e.a.String(), second.CustomerGUID); !ok {
		t.Fatal("a customer registered after the rotation is not in the read model")
	}
	st, err := loadState(ctx, e.store, account.Stream(uuid.MustParse(first.Account.GUID)), account.Decider, account.Events)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := custody.SealedVersion(st.SealedSeed); v != 2 {
		t.Fatalf("the first customer's seed is under version %d", v)
	}
	e.checkCustomerSeed(t, e.a, st, e.customerState(t, first.CustomerGUID).ExternalID)
}

// A bank's callback secret is sealed under the master key too: a rotation re-seals it, and after the old
// version is retired the same secret still opens (the dispatcher keeps signing with it).
func TestRotationResealsCallbackSecrets(t *testing.T) {
	f := newRotationFixture(t, 0)
	ctx := testCtx(t)
	cp := uuid.MustParse(f.banks[1].GUID)
	cb, err := NewCallbacks(CallbackDeps{Store: f.store, Vault: f.vault, Directory: f.dir, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	secret, _, err := cb.RotateCallbackSecret(ctx, Request{Actor: "bank"}, cp)
	if err != nil {
		t.Fatal(err)
	}
	// Set twice: the stream holds two settings, and is still one value to re-seal.
	if secret, _, err = cb.RotateCallbackSecret(ctx, Request{Actor: "bank"}, cp); err != nil {
		t.Fatal(err)
	}
	f.promote(t, 2)
	rep, err := f.vault.Rotate(ctx, f.seals(t, StoredSealsOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Resealed != f.values+1 {
		t.Fatalf("resealed %d values, want %d (the platform's, the banks' and one callback secret)", rep.Resealed, f.values+1)
	}
	if err := f.vault.Keyring().Retire(1); err != nil {
		t.Fatal(err)
	}
	st, err := loadState(ctx, f.store, callback.SecretStream(cp), callback.SecretDecider, callback.SecretEvents)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := custody.SealedVersion(st.Sealed); v != 2 {
		t.Fatalf("callback secret sealed under version %d", v)
	}
	got, err := f.vault.OpenPlatformKey(callback.SecretOwner(cp.String()), st.Sealed)
	if err != nil || string(got) != string(secret) {
		t.Fatalf("the re-sealed secret does not open to the bank's secret: %v", err)
	}
}
