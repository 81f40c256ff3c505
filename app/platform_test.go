package app

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stellar/go-stellar-sdk/keypair"

	"github.com/kazna-ledger/kazna/auth"
	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/platform"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/stellar"
)

func TestBootstrapFirstStartThenRestartChangesNothing(t *testing.T) {
	e := newEnv(t)
	p := e.bootstrap()
	ctx := context.Background()

	want := []string{"AssetDefined", "IssuerKeyGenerated", "IssuerCreated", "SigningKeyAdded", "AdministratorCreated"}
	if got := e.events(); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	if a := p.Asset(); a.Code != "UAH" || a.StellarCode != "eUAH" || a.Decimals != 2 {
		t.Fatalf("asset %+v", a)
	}
	acct, err := e.horizon.Account(ctx, p.IssuerAddress())
	if err != nil {
		t.Fatalf("issuer on chain: %v", err)
	}
	if f := acct.Flags; !f.AuthRequired || !f.AuthRevocable || !f.AuthClawbackEnabled {
		t.Fatalf("issuer flags %+v", f)
	}
	// The generated password: in a 0600 file, shown in the log once.
	path := filepath.Join(e.dir, AdminPasswordFile)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin-password file: %v %v", fi, err)
	}
	b, _ := os.ReadFile(path)
	password := strings.TrimSpace(string(b))
	if auth.ValidatePassword(password) != nil {
		t.Fatalf("generated password fails the password rule")
	}
	logs := e.logs.Take()
	if strings.Count(logs, password) != 1 || !strings.Contains(logs, "shown this once") || !strings.Contains(logs, path) {
		t.Fatalf("first start should show the password once, naming the file; logs:\n%s", logs)
	}
	if _, err := p.Login(ctx, "admin", password); err != nil {
		t.Fatalf("admin login: %v", err)
	}
	kid := p.Keyring().JWKS().Keys[0].Kid

	// A restart a day later: no new event, same key, same issuer, the password never shown again.
	e.clock.Set(t0.Add(24 * time.Hour))
	p2 := e.bootstrap()
	if got := e.events(); !slices.Equal(got, want) {
		t.Fatalf("restart wrote events: %v", got)
	}
	jwks := p2.Keyring().JWKS()
	if len(jwks.Keys) != 1 || jwks.Keys[0].Kid != kid || p2.IssuerAddress() != p.IssuerAddress() {
		t.Fatalf("restart changed the keys %+v or the issuer %s", jwks, p2.IssuerAddress())
	}
	logs = e.logs.Take()
	if strings.Contains(logs, password) || !strings.Contains(logs, path) {
		t.Fatalf("a restart must not show the password but say where it is; logs:\n%s", logs)
	}
	if _, err := p2.Login(ctx, "admin", password); err != nil {
		t.Fatalf("admin login after restart: %v", err)
	}
}

func TestBootstrapRefusesAChangedAsset(t *testing.T) {
	e := newEnv(t)
	e.bootstrap()
	e.cfg.Asset.Decimals = 3
	_, err := Bootstrap(context.Background(), e.deps())
	if !errors.Is(err, platform.ErrAssetChanged) {
		t.Fatalf("got %v, want ErrAssetChanged", err)
	}
}

func TestBootstrapWithConfiguredAdministrator(t *testing.T) {
	e := newEnv(t)
	e.cfg.AdminLogin, e.cfg.AdminPassword = "root@bank.test", "Correct-Horse-9"
	p := e.bootstrap()
	if _, err := os.Stat(filepath.Join(e.dir, AdminPasswordFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("no password file should be written for a configured password: %v", err)
	}
	if strings.Contains(e.logs.String(), "Correct-Horse-9") {
		t.Fatal("the configured password reached the log")
	}
	if _, err := p.Login(context.Background(), "root@bank.test", "Correct-Horse-9"); err != nil {
		t.Fatal(err)
	}
	// A weak configured password is refused at start.
	e2 := newEnv(t)
	e2.cfg.AdminPassword = "weak"
	if _, err := Bootstrap(context.Background(), e2.deps()); err == nil || strings.Contains(err.Error(), "weak") {
		t.Fatalf("weak password: %v", err)
	}
}

// TestBootstrapResumesAfterACrash: the issuer's key was generated and recorded, then the process died. The
// restart must finish with that same issuer, whether or not the account had been created on chain.
func TestBootstrapResumesAfterACrash(t *testing.T) {
	for _, accountCreated := range []bool{false, true} {
		t.Run(map[bool]string{false: "before the account", true: "after the account"}[accountCreated], func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			kp, err := keypair.Random()
			if err != nil {
				t.Fatal(err)
			}
			sealed, err := e.vault.SealPlatformKey(issuerOwner(kp.Address()), []byte(kp.Seed()))
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range []platform.Event{
				platform.AssetDefined{Code: "UAH", StellarCode: "eUAH", Decimals: 2, At: t0},
				platform.IssuerKeyGenerated{Address: kp.Address(), SealedSeed: sealed, At: t0},
			} {
				appendEvent(t, e.store, ev)
			}
			if accountCreated {
				if _, err := e.horizon.CreateAccount(ctx, stellar.AccountOpening{Account: kp.Address(), StartingBalance: "10"}); err != nil {
					t.Fatal(err)
				}
			}
			p := e.bootstrap()
			if p.IssuerAddress() != kp.Address() {
				t.Fatalf("issuer %s, want the recorded %s", p.IssuerAddress(), kp.Address())
			}
			acct, err := e.horizon.Account(ctx, kp.Address())
			if err != nil || !acct.Flags.AuthRequired || !acct.Flags.AuthClawbackEnabled {
				t.Fatalf("issuer on chain: %+v %v", acct.Flags, err)
			}
			want := []string{"AssetDefined", "IssuerKeyGenerated", "IssuerCreated", "SigningKeyAdded", "AdministratorCreated"}
			if got := e.events(); !slices.Equal(got, want) {
				t.Fatalf("events %v", got)
			}
		})
	}
}

// A crash after the password file was written but before the administrator was recorded: the restart uses
// the password in the file.
func TestBootstrapReusesAnUnrecordedPasswordFile(t *testing.T) {
	e := newEnv(t)
	path := filepath.Join(e.dir, AdminPasswordFile)
	if err := os.WriteFile(path, []byte("Left-Over-Pass-42\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := e.bootstrap()
	if _, err := p.Login(context.Background(), "admin", "Left-Over-Pass-42"); err != nil {
		t.Fatalf("login with the password from the file: %v", err)
	}
}

func appendEvent(t *testing.T, s command.Store, ev platform.Event) {
	t.Helper()
	typ, data, err := PlatformEvents().Encode(ev)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(context.Background(), platform.Stream, eventstore.Any{}, eventstore.EventData{ID: uuid.New(), Type: typ, Data: data}); err != nil {
		t.Fatal(err)
	}
}

// TestRotationByAgeKeepsOldTokensValid: a start after KeyMaxAge rotates the key with a publish lead; tokens
// of the old key stay valid, the old key keeps signing until the new one activates, and both are published.
func TestRotationByAgeKeepsOldTokensValid(t *testing.T) {
	e := newEnv(t)
	e.cfg.AdminPassword = "Correct-Horse-9"
	p1 := e.bootstrap()
	ctx := context.Background()
	oldKID := p1.Keyring().JWKS().Keys[0].Kid

	t1 := t0.Add(DefaultKeyMaxAge + time.Minute)
	e.clock.Set(t1)
	old, err := p1.Login(ctx, "admin", "Correct-Horse-9") // issued by the node still running the old key
	if err != nil {
		t.Fatal(err)
	}
	p2 := e.bootstrap()
	if got := e.events(); got[len(got)-2] != "SigningKeyRetired" || got[len(got)-1] != "SigningKeyAdded" {
		t.Fatalf("no rotation recorded: %v", got)
	}
	kr := p2.Keyring()
	jwks := kr.JWKS()
	if len(jwks.Keys) != 2 || jwks.Keys[1].Kid != oldKID {
		t.Fatalf("JWKS after rotation %+v", jwks)
	}
	newKID := jwks.Keys[0].Kid
	if _, err := kr.Verify(old.AccessToken, t1); err != nil {
		t.Fatalf("old token after rotation: %v", err)
	}
	// Within the publish lead the old key still signs.
	if kid := tokenKID(t, mustLogin(t, p2)); kid != oldKID {
		t.Fatalf("within the publish lead the token is signed by %s, want %s", kid, oldKID)
	}
	e.clock.Set(t1.Add(DefaultPublishLead + time.Second))
	if kid := tokenKID(t, mustLogin(t, p2)); kid != newKID {
		t.Fatalf("after the lead the token is signed by %s, want %s", kid, newKID)
	}
	if _, err := kr.Verify(old.AccessToken, t1.Add(30*time.Minute)); err != nil {
		t.Fatalf("old token half an hour later: %v", err)
	}
	// A restart rebuilds the same keyring from the log, whatever the clock.
	e.clock.Set(t1.Add(20 * time.Minute))
	p3 := e.bootstrap()
	if got := p3.Keyring().JWKS(); len(got.Keys) != 2 || got.Keys[0].Kid != newKID {
		t.Fatalf("rebuilt JWKS %+v", got)
	}
	if _, err := p3.Keyring().Verify(old.AccessToken, t1.Add(20*time.Minute)); err != nil {
		t.Fatalf("old token after a restart: %v", err)
	}
	// Once every token of the old key has expired, the old key is gone.
	e.clock.Set(t1.Add(3 * time.Hour))
	if got := e.bootstrap().Keyring().JWKS(); len(got.Keys) != 1 || got.Keys[0].Kid != newKID {
		t.Fatalf("JWKS long after %+v", got)
	}
}

func mustLogin(t *testing.T, p *Platform) string {
	t.Helper()
	tok, err := p.Login(context.Background(), "admin", "Correct-Horse-9")
	if err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken
}

func tokenKID(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT")
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	var h struct{ Kid string }
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h.Kid
}

// TestRefreshRotatesARunningNode rotates the key of a node that keeps running past KeyMaxAge, and lets a
// second node that was started before the rotation take the new key in without a restart.
func TestRefreshRotatesARunningNode(t *testing.T) {
	e := newEnv(t)
	e.cfg.AdminPassword = "Correct-Horse-9"
	p1 := e.bootstrap()
	p2 := e.bootstrap() // another node of the cluster
	ctx := context.Background()
	oldKID := p1.Keyring().JWKS().Keys[0].Kid
	if err := p1.RefreshSigningKeys(ctx); err != nil {
		t.Fatal(err)
	}
	if got := p1.Keyring().JWKS(); len(got.Keys) != 1 {
		t.Fatalf("a refresh before KeyMaxAge rotated: %+v", got)
	}

	t1 := t0.Add(DefaultKeyMaxAge + time.Minute)
	e.clock.Set(t1)
	old := mustLogin(t, p1)
	if err := p1.RefreshSigningKeys(ctx); err != nil {
		t.Fatal(err)
	}
	jwks := p1.Keyring().JWKS()
	if len(jwks.Keys) != 2 || jwks.Keys[1].Kid != oldKID {
		t.Fatalf("JWKS after a refresh past KeyMaxAge: %+v", jwks)
	}
	newKID := jwks.Keys[0].Kid
	if err := p2.RefreshSigningKeys(ctx); err != nil {
		t.Fatal(err)
	}
	if got := p2.Keyring().JWKS(); len(got.Keys) != 2 || got.Keys[0].Kid != newKID {
		t.Fatalf("the other node did not take the new key in: %+v", got)
	}
	if n := strings.Count(strings.Join(e.events(), ","), "SigningKeyAdded"); n != 2 {
		t.Fatalf("two nodes refreshing recorded %d keys in all, want 2 (the first and one rotation)", n)
	}
	// Nobody is logged out early, and both nodes switch signing at the same moment.
	for _, p := range []*Platform{p1, p2} {
		if _, err := p.Keyring().Verify(old, t1); err != nil {
			t.Fatalf("a token of the old key after the refresh: %v", err)
		}
		if kid := tokenKID(t, mustLogin(t, p)); kid != oldKID {
			t.Fatalf("within the publish lead a token is signed by %s, want %s", kid, oldKID)
		}
	}
	e.clock.Set(t1.Add(DefaultPublishLead + time.Second))
	for _, p := range []*Platform{p1, p2} {
		if kid := tokenKID(t, mustLogin(t, p)); kid != newKID {
			t.Fatalf("after the lead a token is signed by %s, want %s", kid, newKID)
		}
		if _, err := p.Keyring().Verify(old, t1.Add(DefaultPublishLead+time.Second)); err != nil {
			t.Fatalf("a token of the old key after the switch: %v", err)
		}
	}
}
