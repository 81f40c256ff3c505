package api

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/app"
	"github.com/kazna-ledger/kazna/auth"
	"github.com/kazna-ledger/kazna/domain/application"
	"github.com/kazna-ledger/kazna/eventstore"
	"github.com/kazna-ledger/kazna/eventstore/bolt"
	"github.com/kazna-ledger/kazna/projections"
)

// benchClock advances by step on every reading: a simulated request rate for the limiter's minutes.
type benchClock struct {
	mu   sync.Mutex
	now  time.Time
	step time.Duration
}

func (c *benchClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(c.step)
	return c.now
}

// benchStack is the full router with both kinds of caller: a bank employee with a platform token, and an
// application on the enterprise plan (1,000 calls a second) with an application token. The read route is the
// customers list over the fake service, the cheapest read there is, so the overhead is the largest share of it.
func benchStack(b *testing.B) (h, ungated http.Handler, platformToken, appToken string) {
	b.Helper()
	store, err := bolt.Open(filepath.Join(b.TempDir(), "events.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	model := projections.NewApplications(0)
	runner, err := projections.NewRunner(store, projections.Options{Logger: quietLogger()}, model)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = runner.Run(ctx) }()
	b.Cleanup(func() { cancel(); <-done })
	kr, err := auth.NewKeyring(auth.KeyringConfig{MaxTTL: time.Hour}, mustSigningKey(b))
	if err != nil {
		b.Fatal(err)
	}
	tokens := auth.NewApplicationTokens(kr)
	svc, err := app.NewApplications(app.ApplicationDeps{Store: store, Applications: model, Tokens: tokens, WaitFor: runner.WaitFor, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	recorder, err := app.NewCallRecorder(app.CallRecorderConfig{Store: store, Interval: time.Second, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	rctx, rcancel := context.WithCancel(context.Background())
	rdone := make(chan struct{})
	go func() { defer close(rdone); _ = recorder.Run(rctx) }()
	b.Cleanup(func() { rcancel(); <-rdone })

	clock := &benchClock{now: time.Now(), step: time.Millisecond} // 1,000 calls a second, as the limiter sees them
	d := testDeps()
	d.Authenticator = &ApplicationAuthenticator{Next: &TokenAuthenticator{Tokens: kr, Roles: DefaultRoleDirectory{}}, Tokens: tokens, Directory: model}
	d.Applications, d.ApplicationDirectory, d.Limits, d.Calls = svc, model, NewLimiter(model, clock.Now), recorder
	h = NewRouter(d)
	d.Limits, d.Calls = nil, nil
	ungated = NewRouter(d)

	created, err := svc.CreateApplication(ctx, mustUUID(bankA), "Core banking", "", app.Write{})
	if err != nil {
		b.Fatal(err)
	}
	id := mustUUID(created.GUID)
	if _, err := svc.Subscribe(ctx, mustUUID(bankA), id, "read-only", "enterprise", app.Write{}); err != nil {
		b.Fatal(err)
	}
	tok, err := svc.IssueToken(ctx, created.ClientID, created.ClientSecret, "")
	if err != nil {
		b.Fatal(err)
	}
	platformToken, _, err = kr.Issue(auth.Claims{Subject: "observer@a", Counterparty: bankA, Roles: []string{RoleObserver}}, time.Hour, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	return h, ungated, platformToken, tok.AccessToken
}

func mustSigningKey(b *testing.B) auth.SigningKey {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	k, err := auth.NewSigningKey(priv, time.Now().Add(-time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	return k
}

func serveRead(b *testing.B, h http.Handler, token string) {
	r := httptest.NewRequest("GET", customersPath, nil)
	r.Header.Set("Authorization", "Bearer "+token)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 200 {
		b.Fatalf("%d %s", w.Code, w.Body)
	}
}

// BenchmarkReadCall is a read through the full router, as a bank employee (platform token) and as an
// application (application token and product scope, then the rate limit and quota and the call analytics). The
// differences are what applications add to a read: application/platform for the whole, and
// application/application-ungated for the limiter and the analytics alone.
func BenchmarkReadCall(b *testing.B) {
	h, ungated, platformToken, appToken := benchStack(b)
	for _, c := range []struct {
		name  string
		h     http.Handler
		token string
	}{{"platform", h, platformToken}, {"application-ungated", ungated, appToken}, {"application", h, appToken}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				serveRead(b, c.h, c.token)
			}
		})
	}
}

// BenchmarkReadCallAt1000PerSecond sends reads at 1,000 a second over HTTP for a few seconds (KAZNA_BENCH_SECONDS,
// default 2) per kind of caller, alternating platform and application calls so that both see the same machine,
// and reports each kind's latency percentiles.
func BenchmarkReadCallAt1000PerSecond(b *testing.B) {
	h, _, platformToken, appToken := benchStack(b)
	srv := httptest.NewServer(h)
	defer srv.Close()
	seconds := 2
	if s, err := strconv.Atoi(os.Getenv("KAZNA_BENCH_SECONDS")); err == nil && s > 0 {
		seconds = s
	}
	client := srv.Client()
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
	call := func(token string) time.Duration {
		req, _ := http.NewRequest("GET", srv.URL+customersPath, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
		return time.Since(start)
	}
	for range 200 { // warm the connections and the token caches
		call(platformToken)
		call(appToken)
	}
	b.ResetTimer()
	for b.Loop() {
		var mu sync.Mutex
		lat := map[string][]time.Duration{}
		var wg sync.WaitGroup
		tick := time.NewTicker(time.Millisecond)
		for i := range 1000 * seconds {
			<-tick.C
			kind, token := "platform", platformToken
			if i%2 == 1 {
				kind, token = "application", appToken
			}
			wg.Go(func() {
				d := call(token)
				mu.Lock()
				lat[kind] = append(lat[kind], d)
				mu.Unlock()
			})
		}
		tick.Stop()
		wg.Wait()
		for _, kind := range []string{"platform", "application"} {
			l := lat[kind]
			slices.Sort(l)
			b.ReportMetric(float64(l[len(l)/2].Microseconds()), kind+"-p50-µs")
			b.ReportMetric(float64(l[len(l)*99/100].Microseconds()), kind+"-p99-µs")
			var sum time.Duration
			for _, d := range l {
				sum += d
			}
			b.ReportMetric(float64(sum.Microseconds())/float64(len(l)), kind+"-mean-µs")
		}
	}
}

func mustUUID(s string) uuid.UUID { return uuid.MustParse(s) }

// BenchmarkApplicationGate is the rate limit, quota and call record of one application call alone: the gate in
// front of an endpoint that does nothing.
func BenchmarkApplicationGate(b *testing.B) {
	model := projections.NewApplications(0)
	guid := "6b0c5e1e-4d7a-4f39-9a55-5b8e7d2f4a01"
	applyBench(b, model, guid)
	recorder, err := app.NewCallRecorder(app.CallRecorderConfig{Store: nopAppender{}, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	clock := &benchClock{now: time.Now(), step: time.Millisecond}
	g := &applicationGate{dir: model, limits: NewLimiter(model, clock.Now), calls: recorder, now: clock.Now}
	noop := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(200) })
	for _, c := range []struct {
		name string
		h    http.Handler
	}{{"none", noop}, {"gate", g.wrap(Route{Method: "GET", Path: cp + "/customers", Permission: PermCustomersRead}, noop)}} {
		b.Run(c.name, func(b *testing.B) {
			caller := Caller{Subject: "application:" + guid, Kind: CallerApplication, CounterpartyGUID: bankA, Application: guid,
				Products: scopeProducts("read-only")}
			r := httptest.NewRequest("GET", customersPath, nil)
			r = r.WithContext(withCaller(r.Context(), caller))
			w := &statusRecorder{ResponseWriter: httptest.NewRecorder()}
			b.ReportAllocs()
			for b.Loop() {
				w.status = 0
				c.h.ServeHTTP(w, r)
			}
			if recorder.Pending() == 0 && c.name == "gate" {
				b.Fatal("no call recorded")
			}
		})
	}
}

// BenchmarkAuthenticate is the authentication of a platform token and of an application token (signature
// checks cached, as on every call after a client's first).
func BenchmarkAuthenticate(b *testing.B) {
	model := projections.NewApplications(0)
	guid := "6b0c5e1e-4d7a-4f39-9a55-5b8e7d2f4a01"
	applyBench(b, model, guid)
	kr, err := auth.NewKeyring(auth.KeyringConfig{MaxTTL: time.Hour}, mustSigningKey(b))
	if err != nil {
		b.Fatal(err)
	}
	tokens := auth.NewApplicationTokens(kr)
	appTok, _, err := tokens.Issue(auth.ApplicationClaims{Application: guid, Counterparty: bankA, Scope: "read-only", SecretVersion: 1}, time.Hour, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	platTok, _, err := kr.Issue(auth.Claims{Subject: "observer@a", Counterparty: bankA, Roles: []string{RoleObserver}}, time.Hour, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	authn := &ApplicationAuthenticator{Next: &TokenAuthenticator{Tokens: kr, Roles: DefaultRoleDirectory{}}, Tokens: tokens, Directory: model}
	for _, c := range []struct{ name, token string }{{"platform", platTok}, {"application", appTok}} {
		b.Run(c.name, func(b *testing.B) {
			r := httptest.NewRequest("GET", customersPath, nil)
			r.Header.Set("Authorization", "Bearer "+c.token)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := authn.Authenticate(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// applyBench registers application guid of bank A in model, subscribed to read-only on the enterprise plan.
func applyBench(b *testing.B, model *projections.Applications, guid string) {
	b.Helper()
	at := time.Now()
	for i, e := range []application.Event{
		application.ApplicationRegistered{GUID: guid, Counterparty: bankA, Name: "Core banking", SecretHash: strings.Repeat("aa", 32), SecretVersion: 1, At: at},
		application.ApplicationSubscribed{GUID: guid, Counterparty: bankA, Product: application.ProductReadOnly, Plan: "enterprise", At: at},
	} {
		typ, data, err := application.Events.Encode(e)
		if err != nil {
			b.Fatal(err)
		}
		if err := model.Apply(eventstore.RecordedEvent{Type: typ, Data: data, Revision: uint64(i)}); err != nil {
			b.Fatal(err)
		}
	}
}

// nopAppender takes appends and keeps nothing.
type nopAppender struct{}

func (nopAppender) Append(context.Context, string, eventstore.ExpectedRevision, ...eventstore.EventData) (eventstore.AppendResult, error) {
	return eventstore.AppendResult{}, nil
}
