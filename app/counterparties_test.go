package app

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/account"
	"github.com/kazna-ledger/kazna/domain/counterparty"
	"github.com/kazna-ledger/kazna/domain/rbac"
	"github.com/kazna-ledger/kazna/projections"
	"github.com/kazna-ledger/kazna/stellar"
)

// cpEnv is a bootstrapped platform with the counterparty services and their read models running.
type cpEnv struct {
	*env
	plat   *Platform
	svc    *Counterparties
	dir    *projections.Counterparties
	runner *projections.Runner
}

func newCPEnv(t *testing.T) *cpEnv {
	e := newEnv(t)
	plat := e.bootstrap()
	dir := projections.NewCounterparties()
	// The runner follows every event a registration's position can name (the roles seed is its last write).
	runner, err := projections.NewRunner(e.store, projections.Options{}, dir, projections.NewRoles())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = runner.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	svc, err := NewCounterparties(CounterpartyDeps{Store: e.store, Vault: e.vault, Network: e.horizon, Platform: plat, Directory: dir,
		Roles: []rbac.RoleSpec{{Name: rbac.Administrator, Permissions: []string{"jwk.read"}}}, Known: func(string) bool { return true },
		Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return &cpEnv{env: e, plat: plat, svc: svc, dir: dir, runner: runner}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func (e *cpEnv) accountState(t *testing.T, guid string) account.State {
	t.Helper()
	s, err := loadState(testCtx(t), e.store, account.Stream(uuid.MustParse(guid)), account.Decider, account.Events)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (e *cpEnv) checkOnChain(t *testing.T, guid string) string {
	t.Helper()
	s := e.accountState(t, guid)
	if !s.Opened {
		t.Fatalf("account %s not opened: %+v", guid, s)
	}
	acct, err := e.horizon.Account(testCtx(t), s.Address)
	if err != nil {
		t.Fatal(err)
	}
	asset := stellar.Asset{Code: "eUAH", Issuer: e.plat.IssuerAddress(), Decimals: 2}
	line, ok := acct.Trustline(asset)
	if !ok || !line.Authorized || line.Stroops != 0 {
		t.Fatalf("trustline of %s: %+v %v", s.Address, line, ok)
	}
	return s.Address
}

func keyed(key, body string) Request {
	return Request{Actor: "admin", IdempotencyKey: key, Fingerprint: []byte(body)}
}

func TestRegisterCounterpartyOpensEntitiesAndIsIdempotent(t *testing.T) {
	e := newCPEnv(t)
	ctx := testCtx(t)
	reg := CounterpartyRegistration{Profile: counterparty.Profile{Name: "Acme Bank", AutoIssue: true}, AssetCode: "UAH"}
	res, err := e.svc.RegisterCounterparty(ctx, keyed("k1", "body1"), reg)
	if err != nil {
		t.Fatal(err)
	}
	em, pr := e.checkOnChain(t, res.EmissionAccountGUID), e.checkOnChain(t, res.ProcessingAccountGUID)
	if em == pr {
		t.Fatal("one address for both entities")
	}
	if err := e.runner.WaitFor(ctx, res.Position); err != nil {
		t.Fatal(err)
	}
	c, ok := e.dir.Counterparty(ctx, res.GUID)
	if !ok || c.AssetCode != "eUAH" || c.AssetIssuer != e.plat.IssuerAddress() || c.EmissionAccountGUID != res.EmissionAccountGUID || !c.AutoIssue {
		t.Fatalf("read model: %+v %v", c, ok)
	}
	roles, err := loadState(ctx, e.store, rbac.Stream(uuid.MustParse(res.GUID)), rbac.Decider, rbac.Events)
	if err != nil || !roles.Seeded {
		t.Fatalf("roles not seeded: %+v %v", roles, err)
	}

	// The same key and body answer the same, with no new account on chain.
	again, err := e.svc.RegisterCounterparty(ctx, keyed("k1", "body1"), reg)
	if err != nil || again.GUID != res.GUID || again.EmissionAccountGUID != res.EmissionAccountGUID || again.ProcessingAccountGUID != res.ProcessingAccountGUID {
		t.Fatalf("retry: %+v %v", again, err)
	}
	if e.checkOnChain(t, again.EmissionAccountGUID) != em {
		t.Fatal("retry opened another emission account")
	}
	// The same key with another body is refused.
	other := reg
	other.Profile.Name = "Other Bank"
	if _, err := e.svc.RegisterCounterparty(ctx, keyed("k1", "body2"), other); !errors.Is(err, command.ErrIdempotencyConflict) {
		t.Fatalf("key reuse: %v", err)
	}
	// Another request for the name is refused, and writes nothing.
	if _, err := e.svc.RegisterCounterparty(ctx, Request{Actor: "admin"}, CounterpartyRegistration{Profile: counterparty.Profile{Name: "ACME  bank"}}); !errors.Is(err, counterparty.ErrNameTaken) {
		t.Fatalf("duplicate name: %v", err)
	}
	// Another asset is refused.
	if _, err := e.svc.RegisterCounterparty(ctx, Request{Actor: "admin"}, CounterpartyRegistration{Profile: counterparty.Profile{Name: "B"}, AssetCode: "USD"}); !errors.Is(err, ErrUnknownAsset) {
		t.Fatalf("unknown asset: %v", err)
	}

	// PUT merges: the fields given change, the others stay.
	name := "Acme Bank Plc"
	pos, err := e.svc.UpdateCounterparty(ctx, Request{Actor: "admin"}, uuid.MustParse(res.GUID), ProfilePatch{Name: &name})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.runner.WaitFor(ctx, pos); err != nil {
		t.Fatal(err)
	}
	if c, _ := e.dir.Counterparty(ctx, res.GUID); c.Name != name || !c.AutoIssue {
		t.Fatalf("after update: %+v", c)
	}
	// The old name is free again.
	if _, err := e.svc.RegisterCounterparty(ctx, Request{Actor: "admin"}, CounterpartyRegistration{Profile: counterparty.Profile{Name: "Acme Bank"}}); err != nil {
		t.Fatalf("old name not released: %v", err)
	}
	items, total, err := e.svc.ListCounterparties(ctx, projections.CounterpartyQuery{Names: []string{"acme bank plc"}})
	if err != nil || total != 1 || items[0].GUID != res.GUID {
		t.Fatalf("list by name: %v %d %v", items, total, err)
	}
}

func TestRegisterCounterpartyResumesAfterCrash(t *testing.T) {
	e := newCPEnv(t)
	ctx := testCtx(t)
	key := "crash-key"
	cpID := derivedGUID(key, "counterparty")
	emID := derivedGUID(key, cpID.String(), "emission")
	// A crash right after the emission key was recorded: the key is in the log, nothing is on chain.
	env := e.svc.env(Request{Actor: "admin"}, cpID.String())
	seed := "SBGWSG6BTNCKCOB3DIFBGCVMUPQFYPA2G4O34RMTB343OYPXU5DJDVMN"
	signer, err := stellar.NewKeySigner(seed)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := e.vault.SealPlatformKey(account.Stream(emID), []byte(seed))
	if err != nil {
		t.Fatal(err)
	}
	gen := account.GenerateKey{GUID: emID, Kind: account.KindEmission, CounterpartyGUID: cpID, Address: signer.Address(), SealedSeed: sealed, At: t0}
	if _, err := command.Handle(ctx, e.store, account.Stream(emID), account.Decider, account.Events, any(gen), env); err != nil {
		t.Fatal(err)
	}
	res, err := e.svc.RegisterCounterparty(ctx, keyed(key, "b"), CounterpartyRegistration{Profile: counterparty.Profile{Name: "Resumed"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.EmissionAccountGUID != emID.String() || e.checkOnChain(t, res.EmissionAccountGUID) != signer.Address() {
		t.Fatal("the retry did not continue with the recorded key")
	}
}

// bankKey is an RSA key and its public JWK.
func bankKey(t *testing.T, kid string) (*rsa.PrivateKey, json.RawMessage) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	jwk, _ := json.Marshal(map[string]string{"kty": "RSA", "alg": "RS256", "kid": kid, "n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())})
	return k, json.RawMessage(`{"data":` + string(jwk) + `}`)
}

func bankToken(t *testing.T, k *rsa.PrivateKey, kid string, exp time.Time, method jwt.SigningMethod) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, jwt.MapClaims{"sub": "system", "iat": t0.Add(-time.Minute).Unix(), "exp": exp.Unix()})
	tok.Header["kid"] = kid
	var key any = k
	if method == jwt.SigningMethodHS256 {
		key = []byte("secret")
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestBankKeysAndBankJWT(t *testing.T) {
	e := newCPEnv(t)
	ctx := testCtx(t)
	a, err := e.svc.RegisterCounterparty(ctx, Request{Actor: "admin"}, CounterpartyRegistration{Profile: counterparty.Profile{Name: "A"}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.svc.RegisterCounterparty(ctx, Request{Actor: "admin"}, CounterpartyRegistration{Profile: counterparty.Profile{Name: "B"}})
	if err != nil {
		t.Fatal(err)
	}
	ka, jwkA := bankKey(t, "ka")
	kb, jwkB := bankKey(t, "kb")
	keyGUID, _, err := e.svc.RegisterBankKey(ctx, Request{Actor: "admin"}, uuid.MustParse(a.GUID), jwkA)
	if err != nil {
		t.Fatal(err)
	}
	_, pos, err := e.svc.RegisterBankKey(ctx, Request{Actor: "admin"}, uuid.MustParse(b.GUID), jwkB)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.runner.WaitFor(ctx, pos); err != nil {
		t.Fatal(err)
	}
	keys, err := e.svc.ListBankKeys(ctx, a.GUID)
	if err != nil || len(keys) != 1 || keys[0].GUID != keyGUID || keys[0].KID != "ka" {
		t.Fatalf("keys: %+v %v", keys, err)
	}
	if _, err := e.svc.ListBankKeys(ctx, uuid.NewString()); !errors.Is(err, counterparty.ErrNotFound) {
		t.Fatalf("keys of an unknown bank: %v", err)
	}
	if _, _, err := e.svc.RegisterBankKey(ctx, Request{Actor: "admin"}, uuid.MustParse(a.GUID), jwkA); !errors.Is(err, counterparty.ErrKeyExists) {
		t.Fatalf("kid twice: %v", err)
	}

	exp := t0.Add(time.Hour)
	session, err := e.svc.AuthenticateBankJWT(ctx, a.GUID, bankToken(t, ka, "ka", exp, jwt.SigningMethodRS256))
	if err != nil || session == "" {
		t.Fatalf("own key: %q %v", session, err)
	}
	for name, tok := range map[string]string{
		"another bank's kid": bankToken(t, kb, "kb", exp, jwt.SigningMethodRS256),
		"expired":            bankToken(t, ka, "ka", t0.Add(-time.Hour), jwt.SigningMethodRS256),
		"alg confusion":      bankToken(t, ka, "ka", exp, jwt.SigningMethodHS256),
	} {
		if _, err := e.svc.AuthenticateBankJWT(ctx, a.GUID, tok); !errors.Is(err, ErrBankTokenRefused) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Rotation: the key's material changes under the same GUID.
	ka2, jwkA2 := bankKey(t, "ka2")
	pos, err = e.svc.UpdateBankKey(ctx, Request{Actor: "admin"}, uuid.MustParse(a.GUID), uuid.MustParse(keyGUID), jwkA2)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.runner.WaitFor(ctx, pos); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.AuthenticateBankJWT(ctx, a.GUID, bankToken(t, ka2, "ka2", exp, jwt.SigningMethodRS256)); err != nil {
		t.Fatalf("rotated key: %v", err)
	}
}
