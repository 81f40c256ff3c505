package app

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/stellar/go-stellar-sdk/keypair"

	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/callback"
	"github.com/kazna-ledger/kazna/domain/counterparty"
	"github.com/kazna-ledger/kazna/domain/payment"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/eventstore/bolt"
	"github.com/kazna-ledger/kazna/projections"
	"github.com/kazna-ledger/kazna/stellar/custody"
)

// cbEnv is an event store with the counterparties read model running, a vault, and banks as HTTP servers.
type cbEnv struct {
	t      *testing.T
	store  *bolt.Store
	vault  *custody.Vault
	dir    *projections.Counterparties
	runner *projections.Runner
	issuer string
}

func newCBEnv(t *testing.T) *cbEnv {
	t.Helper()
	store, err := bolt.Open(filepath.Join(t.TempDir(), "events.db"))
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
	e := &cbEnv{t: t, store: store, vault: vault, dir: projections.NewCounterparties(), issuer: keypair.MustRandom().Address()}
	e.runner, err = projections.NewRunner(store, projections.Options{Logger: slog.New(slog.DiscardHandler)}, e.dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = e.runner.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return e
}

// bank registers a counterparty with callbackURL ("" for none) and waits for the read model to show it.
func (e *cbEnv) bank(name, callbackURL string) string {
	e.t.Helper()
	id := uuid.New()
	res, err := command.Handle(context.Background(), e.store, counterparty.Stream(id), counterparty.Decider, counterparty.Events,
		any(counterparty.Register{GUID: id, Profile: counterparty.Profile{Name: name, CallbackURL: callbackURL}, AssetCode: "eUAH",
			AssetIssuer: e.issuer, EmissionAccountGUID: uuid.New(), ProcessingAccountGUID: uuid.New(), At: time.Now().UTC()}),
		command.Envelope{})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.runner.WaitFor(context.Background(), res.Position); err != nil {
		e.t.Fatal(err)
	}
	return id.String()
}

// pay writes a payment from bank from to bank to, confirmed and settled at settledAt, as the payment service
// and the settlement worker would. An emission payment goes from the issuer to the bank's emission account.
func (e *cbEnv) pay(from, to string, emission bool, settledAt time.Time) uuid.UUID {
	e.t.Helper()
	id := uuid.New()
	sender := payment.Party{AccountGUID: uuid.NewString(), Kind: payment.KindCustomer, CounterpartyGUID: from, Address: "G-SENDER-" + id.String()}
	receiver := payment.Party{AccountGUID: uuid.NewString(), Kind: payment.KindCustomer, CounterpartyGUID: to, Address: "G-RECEIVER-" + id.String()}
	create := payment.Create{GUID: id, CounterpartyGUID: uuid.MustParse(from), Amount: 100, AssetCode: "eUAH", AssetIssuer: e.issuer,
		At: settledAt.Add(-time.Second)}
	bankGUID := ""
	if emission {
		sender = payment.Party{Kind: payment.KindRoot, Address: e.issuer}
		receiver.Kind = payment.KindEmission
		create.Emission = uuid.NewString()
	} else if from != to {
		bankGUID = to
	}
	create.Sender, create.Receiver = sender, receiver
	for _, cmd := range []any{create, payment.Confirm{BankGUID: bankGUID, At: settledAt.Add(-time.Second)},
		payment.Settle{Hash: "hash-" + id.String(), Ledger: 7, At: settledAt}} {
		if _, err := command.Handle(context.Background(), e.store, payment.Stream(id), payment.Decider, payment.Events, cmd, command.Envelope{}); err != nil {
			e.t.Fatalf("%T: %v", cmd, err)
		}
	}
	return id
}

// start runs a dispatcher until the test ends or stop is called; stop waits for Run to return.
func (e *cbEnv) start(cfg CallbackConfig) (cb *Callbacks, stop func()) {
	e.t.Helper()
	cb = e.callbacks(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cb.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				e.t.Errorf("Run: %v", err)
			}
		})
	}
	e.t.Cleanup(stop)
	return cb, stop
}

func (e *cbEnv) callbacks(cfg CallbackConfig) *Callbacks {
	e.t.Helper()
	cb, err := NewCallbacks(CallbackDeps{Store: e.store, Vault: e.vault, Directory: e.dir, Config: cfg, Ready: e.runner.WaitCaughtUp,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		e.t.Fatal(err)
	}
	return cb
}

// fast is a policy for tests: retries after 20 ms, 40 ms, …
func fast(attempts int) CallbackConfig {
	return CallbackConfig{Policy: callback.Policy{FirstRetry: 20 * time.Millisecond, MaxRetry: time.Second, MaxAttempts: attempts, MaxAge: time.Hour},
		Timeout: 5 * time.Second}
}

// bankServer is a bank's callback endpoint: it records each notice and answers what status says.
type bankServer struct {
	*httptest.Server
	mu     sync.Mutex
	got    []notice
	status func(n int) int // the answer to the n-th notice (1-based)
	body   string          // the answer's body
}

type notice struct {
	Path, Signature, ContentType string
	Body                         []byte
	At                           time.Time
}

func newBank(t *testing.T, status func(n int) int) *bankServer { return newBankWith(t, status, nil) }

// newBankWith is newBank with wrap in front of the recording handler.
func newBankWith(t *testing.T, status func(n int) int, wrap func(record http.Handler) http.Handler) *bankServer {
	b := &bankServer{status: status}
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		b.mu.Lock()
		b.got = append(b.got, notice{Path: r.URL.Path, Signature: r.Header.Get(callback.SignatureHeader),
			ContentType: r.Header.Get("Content-Type"), Body: body, At: time.Now()})
		code, answer := b.status(len(b.got)), b.body
		b.mu.Unlock()
		w.WriteHeader(code)
		_, _ = io.WriteString(w, answer)
	})
	if wrap != nil {
		h = wrap(h)
	}
	b.Server = httptest.NewServer(h)
	t.Cleanup(b.Close)
	return b
}

func always(code int) func(int) int { return func(int) int { return code } }

func (b *bankServer) notices() []notice {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]notice(nil), b.got...)
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func txBody(id uuid.UUID) string { return `{"transaction_id":"` + id.String() + `"}` }

func TestCallbacksKindsURLsAndSignatures(t *testing.T) {
	e := newCBEnv(t)
	srvA, srvB := newBank(t, always(200)), newBank(t, always(204))
	a := e.bank("Bank A", srvA.URL+"/kazna/") // a base URL with a path: the guide's path goes under it
	b := e.bank("Bank B", srvB.URL)
	cb, _ := e.start(fast(3))
	ctx := testCtx(t)
	secretA, _, err := cb.RotateCallbackSecret(ctx, Request{Actor: "admin@a"}, uuid.MustParse(a))
	if err != nil || len(secretA) != callback.SecretBytes {
		t.Fatalf("secret of A: %d bytes, %v", len(secretA), err)
	}
	secretB, _, err := cb.RotateCallbackSecret(ctx, Request{Actor: "admin@b"}, uuid.MustParse(b))
	if err != nil {
		t.Fatal(err)
	}

	external := e.pay(a, b, false, time.Now())
	internal := e.pay(b, b, false, time.Now())
	eventually(t, "three notices", func() bool { return cb.Stats().Delivered == 3 })

	gotA, gotB := srvA.notices(), srvB.notices()
	if len(gotA) != 1 || len(gotB) != 2 {
		t.Fatalf("bank A got %d notices, bank B %d; want 1 and 2", len(gotA), len(gotB))
	}
	want := map[string]string{ // path → body
		"A /kazna/api/dcm/notify/pay-out": txBody(external),
		"B /api/dcm/notify/pay-in":        txBody(external),
		"B /api/dcm/notify/transfer":      txBody(internal),
	}
	check := func(bank string, n notice, secret, other []byte) {
		t.Helper()
		body, ok := want[bank+" "+n.Path]
		if !ok || string(n.Body) != body || n.ContentType != "application/json" {
			t.Errorf("bank %s got %s %s (%s)", bank, n.Path, n.Body, n.ContentType)
		}
		if err := callback.Verify(secret, n.Signature, n.Body, time.Now(), time.Minute); err != nil {
			t.Errorf("bank %s: signature %q: %v", bank, n.Signature, err)
		}
		if err := callback.Verify(other, n.Signature, n.Body, time.Now(), time.Minute); !errors.Is(err, callback.ErrBadSignature) {
			t.Errorf("bank %s: another bank's secret verifies its notice: %v", bank, err)
		}
	}
	check("A", gotA[0], secretA, secretB)
	for _, n := range gotB {
		check("B", n, secretB, secretA)
	}

	// Each bank sees its own notices of the payment, and a third bank none.
	logA, err := cb.PaymentCallbacks(ctx, uuid.MustParse(a), external)
	if err != nil || len(logA) != 1 || logA[0].Kind != callback.KindPayOut || !logA[0].Delivered || logA[0].Status != 200 ||
		logA[0].Attempt != 1 || logA[0].URL != srvA.URL+"/kazna/api/dcm/notify/pay-out" || logA[0].Counterparty != a {
		t.Fatalf("A's log: %+v %v", logA, err)
	}
	logB, err := cb.PaymentCallbacks(ctx, uuid.MustParse(b), external)
	if err != nil || len(logB) != 1 || logB[0].Kind != callback.KindPayIn || !logB[0].Delivered || logB[0].Status != 204 {
		t.Fatalf("B's log: %+v %v", logB, err)
	}
	c := e.bank("Bank C", "")
	if _, err := cb.PaymentCallbacks(ctx, uuid.MustParse(c), external); !errors.Is(err, payment.ErrNotFound) {
		t.Fatalf("a third bank reads the log: %v", err)
	}
	if _, err := cb.PaymentCallbacks(ctx, uuid.MustParse(a), uuid.New()); !errors.Is(err, payment.ErrNotFound) {
		t.Fatalf("an unknown payment: %v", err)
	}
	eventually(t, "nothing pending", func() bool { return cb.Stats().Pending == 0 })
	if s := cb.Stats(); s.FailedAttempts != 0 || s.Abandoned != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestCallbacksRetryAfterServerError(t *testing.T) {
	e := newCBEnv(t)
	srv := newBank(t, func(n int) int {
		if n <= 2 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	srv.mu.Lock()
	srv.body = "database\x00 down\n" + strings.Repeat("x", 10_000) // only the start of the answer, cleaned, is kept
	srv.mu.Unlock()
	bank := e.bank("Bank", srv.URL)
	cb, _ := e.start(fast(5))
	id := e.pay(bank, bank, false, time.Now())
	eventually(t, "delivery", func() bool { return cb.Stats().Delivered == 1 })

	got := srv.notices()
	if len(got) != 3 {
		t.Fatalf("%d requests, want 3", len(got))
	}
	// The backoff: at least 20 ms, then 40 ms between attempts.
	if d1, d2 := got[1].At.Sub(got[0].At), got[2].At.Sub(got[1].At); d1 < 20*time.Millisecond || d2 < 40*time.Millisecond {
		t.Fatalf("pauses %v and %v, want at least 20 ms and 40 ms", d1, d2)
	}
	log, err := cb.PaymentCallbacks(testCtx(t), uuid.MustParse(bank), id)
	if err != nil || len(log) != 3 {
		t.Fatalf("log %+v %v", log, err)
	}
	for i, want := range []struct {
		status    int
		delivered bool
	}{{500, false}, {500, false}, {200, true}} {
		l := log[i]
		if l.Attempt != i+1 || l.Status != want.status || l.Delivered != want.delivered || l.Kind != callback.KindTransfer || l.Abandoned {
			t.Errorf("entry %d: %+v", i, l)
		}
	}
	if !strings.HasPrefix(log[0].Error, "HTTP 500: database down xxx") || utf8.RuneCountInString(log[0].Error) > callback.MaxErrorRunes {
		t.Errorf("error text %q", log[0].Error)
	}
	eventually(t, "nothing pending", func() bool { return cb.Stats().Pending == 0 })
	if s := cb.Stats(); s.FailedAttempts != 2 || s.Abandoned != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestCallbacksPermanentRefusalAbandonsAtOnce(t *testing.T) {
	e := newCBEnv(t)
	srv := newBank(t, always(http.StatusBadRequest))
	bank := e.bank("Bank", srv.URL)
	cb, _ := e.start(fast(5))
	id := e.pay(bank, bank, false, time.Now())
	eventually(t, "abandonment", func() bool { return cb.Stats().Abandoned == 1 })
	time.Sleep(100 * time.Millisecond) // well past the first retry pause: nothing more is sent
	if n := len(srv.notices()); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
	log, err := cb.PaymentCallbacks(testCtx(t), uuid.MustParse(bank), id)
	if err != nil || len(log) != 2 || log[0].Status != 400 || log[0].Delivered || !log[1].Abandoned || log[1].Attempt != 1 ||
		!strings.Contains(log[1].Error, "HTTP 400") {
		t.Fatalf("log %+v %v", log, err)
	}
	eventually(t, "nothing pending", func() bool { return cb.Stats().Pending == 0 })
	if s := cb.Stats(); s.FailedAttempts != 1 || s.Delivered != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestCallbacksGiveUpAfterMaxAttempts(t *testing.T) {
	e := newCBEnv(t)
	srv := newBank(t, always(http.StatusServiceUnavailable))
	bank := e.bank("Bank", srv.URL)
	cb, _ := e.start(fast(3))
	id := e.pay(bank, bank, false, time.Now())
	eventually(t, "abandonment", func() bool { return cb.Stats().Abandoned == 1 })
	if n := len(srv.notices()); n != 3 {
		t.Fatalf("%d requests, want 3", n)
	}
	log, _ := cb.PaymentCallbacks(testCtx(t), uuid.MustParse(bank), id)
	if len(log) != 4 || !log[3].Abandoned || log[3].Error != "no success in 3 attempts" {
		t.Fatalf("log %+v", log)
	}
}

// TestCallbacksResumeAfterRestart stops the dispatcher after a failed attempt: the next one resumes the notice on
// its schedule and delivers it once, and a third sends nothing.
func TestCallbacksResumeAfterRestart(t *testing.T) {
	e := newCBEnv(t)
	srv := newBank(t, func(n int) int {
		if n == 1 {
			return http.StatusBadGateway
		}
		return http.StatusOK
	})
	bank := e.bank("Bank", srv.URL)
	cfg := fast(5)
	cfg.Policy.FirstRetry = 300 * time.Millisecond
	first, stop := e.start(cfg)
	id := e.pay(bank, bank, false, time.Now())
	eventually(t, "the first attempt", func() bool { return first.Stats().FailedAttempts == 1 })
	stop()
	if n := len(srv.notices()); n != 1 {
		t.Fatalf("%d requests before the restart", n)
	}

	second, stop := e.start(cfg)
	eventually(t, "delivery after the restart", func() bool { return second.Stats().Delivered == 1 })
	stop()
	got := srv.notices()
	if len(got) != 2 {
		t.Fatalf("%d requests, want 2", len(got))
	}
	if d := got[1].At.Sub(got[0].At); d < cfg.Policy.FirstRetry {
		t.Fatalf("the restarted dispatcher retried after %v, before the %v pause", d, cfg.Policy.FirstRetry)
	}

	third, _ := e.start(cfg)
	time.Sleep(200 * time.Millisecond)
	if n := len(srv.notices()); n != 2 || third.Stats().Pending != 0 {
		t.Fatalf("after a third start: %d requests, stats %+v", n, third.Stats())
	}
	log, _ := third.PaymentCallbacks(testCtx(t), uuid.MustParse(bank), id)
	if len(log) != 2 || log[0].Status != 502 || !log[1].Delivered {
		t.Fatalf("log %+v", log)
	}
}

// TestCallbacksAbandonWhenTheWindowPassedWhileStopped: a notice left open by a dispatcher that stopped is
// given up, not sent, by one that starts after the payment's window closed.
func TestCallbacksAbandonWhenTheWindowPassedWhileStopped(t *testing.T) {
	e := newCBEnv(t)
	srv := newBank(t, always(http.StatusInternalServerError))
	bank := e.bank("Bank", srv.URL)
	clk := &clock{now: time.Now().UTC()}
	start := func() (*Callbacks, func()) {
		cb, err := NewCallbacks(CallbackDeps{Store: e.store, Vault: e.vault, Directory: e.dir, Config: fast(5), Ready: e.runner.WaitCaughtUp,
			Logger: slog.New(slog.DiscardHandler), Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- cb.Run(ctx) }()
		return cb, func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}
	}
	first, stop := start()
	id := e.pay(bank, bank, false, clk.Now())
	eventually(t, "the first attempt", func() bool { return first.Stats().FailedAttempts >= 1 })
	stop()
	attempts := len(srv.notices())

	clk.Set(clk.Now().Add(2 * time.Hour)) // the window is 1 h
	second, stop := start()
	defer stop()
	eventually(t, "the abandonment", func() bool { return second.Stats().Abandoned == 1 })
	if n := len(srv.notices()); n != attempts {
		t.Fatalf("%d requests after the window, want none", n-attempts)
	}
	log, _ := second.PaymentCallbacks(testCtx(t), uuid.MustParse(bank), id)
	if last := log[len(log)-1]; !last.Abandoned || last.Attempt != attempts || last.Error != "not delivered within 1h0m0s of the settlement" {
		t.Fatalf("log %+v", log)
	}
}

func TestCallbacksBankWithoutCallbackURLGetsNothing(t *testing.T) {
	e := newCBEnv(t)
	bank := e.bank("Quiet bank", "")
	cb, _ := e.start(fast(3))
	id := e.pay(bank, bank, false, time.Now())
	eventually(t, "the skip", func() bool { return cb.Stats().Skipped == 1 })
	if _, err := e.store.ReadStream(testCtx(t), callback.LogStream(id), eventstore.Forwards, 0, 10); !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Fatalf("a delivery log was written: %v", err)
	}
	log, err := cb.PaymentCallbacks(testCtx(t), uuid.MustParse(bank), id)
	if err != nil || len(log) != 0 {
		t.Fatalf("log %+v %v", log, err)
	}
	eventually(t, "nothing pending", func() bool { return cb.Stats().Pending == 0 })
	if s := cb.Stats(); s.Delivered+s.FailedAttempts+s.Abandoned != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestCallbacksEmissionAndOldPaymentsOweNothing(t *testing.T) {
	e := newCBEnv(t)
	srv := newBank(t, always(200))
	bank := e.bank("Bank", srv.URL)
	e.pay(bank, bank, false, time.Now().Add(-2*time.Hour)) // settled before the 1 h window
	cb, _ := e.start(fast(3))
	e.pay(bank, bank, true, time.Now()) // an issue
	last := e.pay(bank, bank, false, time.Now())
	eventually(t, "the transfer's notice", func() bool { return cb.Stats().Delivered == 1 })
	time.Sleep(50 * time.Millisecond)
	got := srv.notices()
	if len(got) != 1 || string(got[0].Body) != txBody(last) {
		t.Fatalf("notices %+v, want only the transfer's", got)
	}
	if got[0].Signature != "" {
		t.Fatalf("signed without a secret: %q", got[0].Signature)
	}
}

func TestCallbacksRedirects(t *testing.T) {
	e := newCBEnv(t)
	elsewhere := newBank(t, always(200))
	elsewhereURL := elsewhere.URL
	bank := newBankWith(t, always(200), func(record http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/moved" + callback.KindTransfer.Path():
				http.Redirect(w, r, "/here"+callback.KindTransfer.Path(), http.StatusTemporaryRedirect)
			case "/away" + callback.KindTransfer.Path():
				http.Redirect(w, r, elsewhereURL+callback.KindTransfer.Path(), http.StatusTemporaryRedirect)
			case "/lossy" + callback.KindTransfer.Path():
				http.Redirect(w, r, "/here"+callback.KindTransfer.Path(), http.StatusFound)
			default:
				record.ServeHTTP(w, r)
			}
		})
	})
	moved, away, lossy := e.bank("Moved", bank.URL+"/moved"), e.bank("Away", bank.URL+"/away"), e.bank("Lossy", bank.URL+"/lossy")
	cb, _ := e.start(fast(1))
	e.pay(moved, moved, false, time.Now())
	awayPay, lossyPay := e.pay(away, away, false, time.Now()), e.pay(lossy, lossy, false, time.Now())
	eventually(t, "the three outcomes", func() bool { s := cb.Stats(); return s.Delivered == 1 && s.Abandoned == 2 })
	if got := bank.notices(); len(got) != 1 || got[0].Path != "/here/api/dcm/notify/transfer" {
		t.Fatalf("same-host 307: %+v", got)
	}
	if n := len(elsewhere.notices()); n != 0 {
		t.Fatalf("a redirect to another host was followed %d times", n)
	}
	for _, c := range []struct {
		bank string
		id   uuid.UUID
		want string
	}{{away, awayPay, "another host"}, {lossy, lossyPay, "drops the body"}} {
		log, _ := cb.PaymentCallbacks(testCtx(t), uuid.MustParse(c.bank), c.id)
		if len(log) != 2 || log[0].Status != 0 || !strings.Contains(log[0].Error, c.want) {
			t.Errorf("log %+v, want an error mentioning %q", log, c.want)
		}
	}
}

func TestCallbackSecretRotation(t *testing.T) {
	e := newCBEnv(t)
	bank := uuid.MustParse(e.bank("Bank", ""))
	cb := e.callbacks(CallbackConfig{})
	ctx := testCtx(t)
	r := Request{Actor: "admin", IdempotencyKey: "k1", Fingerprint: []byte("POST /secret")}
	s1, pos, err := cb.RotateCallbackSecret(ctx, r, bank)
	if err != nil || pos == (eventstore.Position{}) {
		t.Fatal(err)
	}
	// A retry of the same request answers the same secret; a new request rotates it.
	again, _, err := cb.RotateCallbackSecret(ctx, r, bank)
	if err != nil || string(again) != string(s1) {
		t.Fatalf("retry: %v", err)
	}
	s2, _, err := cb.RotateCallbackSecret(ctx, Request{Actor: "admin"}, bank)
	if err != nil || string(s2) == string(s1) {
		t.Fatalf("rotation: %v", err)
	}
	if _, _, err := cb.RotateCallbackSecret(ctx, Request{Actor: "admin", IdempotencyKey: "k1", Fingerprint: []byte("other")}, bank); !errors.Is(err, command.ErrIdempotencyConflict) {
		t.Fatalf("key reused with another body: %v", err)
	}
	// The stream keeps the secret sealed, never in clear; the dispatcher opens the current one.
	recs, err := e.store.ReadStream(ctx, callback.SecretStream(bank), eventstore.Forwards, 0, 10)
	if err != nil || len(recs) != 2 {
		t.Fatalf("secret stream: %d events, %v", len(recs), err)
	}
	for _, rec := range recs {
		var raw map[string]any
		_ = json.Unmarshal(rec.Data, &raw)
		if strings.Contains(string(rec.Data), string(s1)) || raw["sealed_secret"] == nil {
			t.Fatalf("stored %s", rec.Data)
		}
	}
	current, err := cb.secret(ctx, bank.String())
	if err != nil || string(current) != string(s2) {
		t.Fatalf("current secret: %v", err)
	}
	if _, _, err := cb.RotateCallbackSecret(ctx, Request{Actor: "admin"}, uuid.New()); !errors.Is(err, counterparty.ErrNotFound) {
		t.Fatalf("unknown bank: %v", err)
	}
}

func TestNewCallbacksRefusesBadConfig(t *testing.T) {
	e := newCBEnv(t)
	for name, cfg := range map[string]CallbackConfig{
		"workers":  {Workers: maxCallbackWorkers + 1},
		"per bank": {Workers: 2, PerBank: 3},
		"timeout":  {Timeout: 2 * time.Minute},
		"policy":   {Policy: callback.Policy{MaxAttempts: callback.MaxAttemptsLimit + 1}},
	} {
		if _, err := NewCallbacks(CallbackDeps{Store: e.store, Vault: e.vault, Directory: e.dir, Config: cfg}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := NewCallbacks(CallbackDeps{Store: e.store}); err == nil {
		t.Error("no vault nor directory: accepted")
	}
	cb := e.callbacks(CallbackConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := cb.Run(ctx); err != nil {
		t.Fatalf("Run on a done context: %v", err)
	}
	if err := cb.Run(context.Background()); err == nil {
		t.Fatal("a second Run was accepted")
	}
}
