package stellar

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/kazna-ledger/kazna/stellar/localnet"
)

// failingHorizon sits in front of localnet and answers the first requests that match a rule with a canned
// failure (or loses the response of a request it did forward), then passes everything through. It counts
// every request, so tests can also assert that nothing reached the server.
type failingHorizon struct {
	next     http.Handler
	requests atomic.Int64
	posts    atomic.Int64
	mu       sync.Mutex
	rules    []*failRule
}

type failRule struct {
	method    string // "" matches any
	remaining int
	respond   func(w http.ResponseWriter, r *http.Request, next http.Handler)
}

func (f *failingHorizon) failNext(method string, n int, respond func(http.ResponseWriter, *http.Request, http.Handler)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = append(f.rules, &failRule{method: method, remaining: n, respond: respond})
}

func (f *failingHorizon) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	if r.Method == http.MethodPost {
		f.posts.Add(1)
	}
	f.mu.Lock()
	var hit *failRule
	for _, rule := range f.rules {
		if rule.remaining > 0 && (rule.method == "" || rule.method == r.Method) {
			rule.remaining--
			hit = rule
			break
		}
	}
	f.mu.Unlock()
	if hit != nil {
		hit.respond(w, r, f.next)
		return
	}
	f.next.ServeHTTP(w, r)
}

func writeProblem(w http.ResponseWriter, status int, title string, extras map[string]any) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	p := map[string]any{"type": "https://stellar.org/horizon-errors/" + strings.ToLower(strings.ReplaceAll(title, " ", "_")),
		"title": title, "status": status, "detail": "simulated by failingHorizon"}
	if extras != nil {
		p["extras"] = extras
	}
	_ = json.NewEncoder(w).Encode(p)
}

// Canned failures.
func answer429(w http.ResponseWriter, _ *http.Request, _ http.Handler) {
	writeProblem(w, http.StatusTooManyRequests, "Rate Limit Exceeded", nil)
}

func answer504(w http.ResponseWriter, _ *http.Request, _ http.Handler) {
	writeProblem(w, http.StatusGatewayTimeout, "Timeout", nil)
}

// applyThen504 forwards the request (the transaction is applied) and loses the answer.
func applyThen504(w http.ResponseWriter, r *http.Request, next http.Handler) {
	next.ServeHTTP(httptest.NewRecorder(), r)
	writeProblem(w, http.StatusGatewayTimeout, "Timeout", nil)
}

func answerInsufficientFee(w http.ResponseWriter, _ *http.Request, _ http.Handler) {
	writeProblem(w, http.StatusBadRequest, "Transaction Failed",
		map[string]any{"result_codes": map[string]any{"transaction": "tx_insufficient_fee"}})
}

// testNet is a localnet behind failingHorizon, with an adapter and an eUAH issuer.
type testNet struct {
	t      testing.TB
	ln     *localnet.Network
	srv    *httptest.Server
	gate   *failingHorizon
	h      *Horizon
	cfg    Config
	issuer *KeySigner
	asset  Asset
}

type netOptions struct {
	dir      string
	channels int
	tweak    func(*Config)
}

func newTestNet(t testing.TB, o netOptions) *testNet {
	t.Helper()
	if o.dir == "" {
		o.dir = t.TempDir()
	}
	ln, err := localnet.Open(localnet.Config{Dir: o.dir, Passphrase: localnet.DefaultPassphrase})
	if err != nil {
		t.Fatalf("open localnet: %v", err)
	}
	gate := &failingHorizon{next: ln.Handler()}
	srv := httptest.NewServer(gate)
	tn := &testNet{t: t, ln: ln, srv: srv, gate: gate}
	t.Cleanup(tn.close)

	var channels []Signer
	for range o.channels {
		s, err := RandomKeySigner()
		if err != nil {
			t.Fatal(err)
		}
		channels = append(channels, s)
	}
	tn.cfg = Config{
		HorizonURL: srv.URL, Passphrase: ln.Passphrase(), RootSecret: ln.Root().Seed(), Channels: channels,
		RetryBackoff: 2 * time.Millisecond, MaxRetryBackoff: 20 * time.Millisecond, RequestTimeout: 10 * time.Second,
	}
	if o.tweak != nil {
		o.tweak(&tn.cfg)
	}
	tn.h, err = NewHorizon(tn.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := tn.h.OpenChannels(context.Background(), "100"); err != nil {
		t.Fatalf("open channels: %v", err)
	}
	return tn
}

var closeOnce sync.Map

func (tn *testNet) close() {
	if _, done := closeOnce.LoadOrStore(tn, true); done {
		return
	}
	tn.srv.Close()
	_ = tn.ln.Close()
}

// account opens a funded account with a fresh key.
func (tn *testNet) account(xlm string) *KeySigner {
	tn.t.Helper()
	s, err := RandomKeySigner()
	if err != nil {
		tn.t.Fatal(err)
	}
	if _, err := tn.h.CreateAccount(context.Background(), AccountOpening{Account: s.Address(), StartingBalance: xlm}); err != nil {
		tn.t.Fatalf("create account: %v", err)
	}
	return s
}

// setUpAsset creates the eUAH issuer with its flags.
func (tn *testNet) setUpAsset() {
	tn.t.Helper()
	tn.issuer = tn.account("100")
	if _, err := tn.h.SetUpIssuer(context.Background(), tn.issuer.Signatory()); err != nil {
		tn.t.Fatalf("set up issuer: %v", err)
	}
	tn.asset = Asset{Code: "eUAH", Issuer: tn.issuer.Address(), Decimals: 2}
}

// holder opens an account with an authorized eUAH trustline, funded with minor units from the issuer.
func (tn *testNet) holder(minor int64) *KeySigner {
	tn.t.Helper()
	s := tn.account("10")
	if _, err := tn.h.OpenTrustline(context.Background(), Trustline{Holder: s.Signatory(), Asset: tn.asset,
		Issuer: tn.issuer.Signatory()}); err != nil {
		tn.t.Fatalf("open trustline: %v", err)
	}
	if minor > 0 {
		tn.issue(s.Address(), minor)
	}
	return s
}

func (tn *testNet) issue(to string, minor int64) Receipt {
	tn.t.Helper()
	r, err := tn.h.Pay(context.Background(), Payment{GUID: newGUID(), From: tn.issuer.Signatory(), To: to,
		Asset: tn.asset, AmountMinor: minor})
	if err != nil {
		tn.t.Fatalf("issue %d to %s: %v", minor, to, err)
	}
	return r
}

func (tn *testNet) balance(address string) int64 {
	tn.t.Helper()
	st, err := tn.h.Account(context.Background(), address)
	if err != nil {
		tn.t.Fatalf("read account: %v", err)
	}
	m, err := st.BalanceMinor(tn.asset)
	if err != nil {
		tn.t.Fatalf("balance of %s: %v", address, err)
	}
	return m
}

func newGUID() string { return uuid.NewString() }

// testLogger writes debug logs to the test log (shown with -v or on failure).
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
