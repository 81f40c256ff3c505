package app

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/kazna-ledger/kazna/auth"
	"github.com/kazna-ledger/kazna/domain/money"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/eventstore/bolt"
	"github.com/kazna-ledger/kazna/stellar"
	"github.com/kazna-ledger/kazna/stellar/custody"
	"github.com/kazna-ledger/kazna/stellar/localnet"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// cheapHash is auth.HashPassword at bcrypt's lowest cost, so that tests stay quick under -race.
func cheapHash(pw string) (string, error) {
	if err := auth.ValidatePassword(pw); err != nil {
		return "", err
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	return string(h), err
}

// env is one platform's surroundings: a bolt store, a vault and a localnet behind Horizon, and a clock. They
// outlive a Bootstrap, so that a second Bootstrap is a restart.
type env struct {
	t       *testing.T
	dir     string
	store   *bolt.Store
	vault   *custody.Vault
	horizon *stellar.Horizon
	clock   *clock
	cfg     PlatformConfig
	logs    *logBuffer
}

// logBuffer collects log output safely across goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b = append(l.b, p...)
	return len(p), nil
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.b)
}

// Take returns what was logged and forgets it.
func (l *logBuffer) Take() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := string(l.b)
	l.b = nil
	return s
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	store, err := bolt.Open(filepath.Join(dir, "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	mk, err := custody.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	ring, err := custody.NewKeyring(1, map[custody.Version][]byte{1: mk})
	if err != nil {
		t.Fatal(err)
	}
	vault, err := custody.NewVault(ring)
	if err != nil {
		t.Fatal(err)
	}
	n, err := localnet.Open(localnet.Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(n.Handler())
	t.Cleanup(func() { srv.Close(); n.Close() })
	h, err := stellar.NewHorizon(stellar.Config{HorizonURL: srv.URL, Passphrase: n.Passphrase(), RootSecret: n.Root().Seed()})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, dir: dir, store: store, vault: vault, horizon: h, clock: &clock{now: t0},
		logs: &logBuffer{}, cfg: PlatformConfig{Asset: money.Asset{Code: "UAH", StellarCode: "eUAH", Decimals: 2}, DataDir: dir}}
}

func (e *env) deps() PlatformDeps {
	return PlatformDeps{Store: e.store, Vault: e.vault, Network: e.horizon, Config: e.cfg,
		Logger: slog.New(slog.NewTextHandler(e.logs, nil)), Now: e.clock.Now, HashPassword: cheapHash}
}

func (e *env) bootstrap() *Platform {
	e.t.Helper()
	p, err := Bootstrap(context.Background(), e.deps())
	if err != nil {
		e.t.Fatalf("bootstrap: %v", err)
	}
	return p
}

// events returns the platform stream's event types.
func (e *env) events() []string {
	e.t.Helper()
	recs, err := e.store.ReadStream(context.Background(), "platform", eventstore.Forwards, 0, eventstore.MaxReadCount)
	if err != nil {
		e.t.Fatal(err)
	}
	var types []string
	for _, r := range recs {
		types = append(types, r.Type)
	}
	return types
}
