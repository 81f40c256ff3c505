package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
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

// testClock is a settable clock shared by the services of an application stack.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// appStack is the router over the real applications stack: a bolt store, the applications read model behind a
// runner, app.Applications, real platform and application tokens, the limiter and the call recorder.
type appStack struct {
	t        *testing.T
	h        http.Handler
	store    *bolt.Store
	model    *projections.Applications
	runner   *projections.Runner
	recorder *app.CallRecorder
	clock    *testClock
	// Platform tokens of bank A's roles, bank B's administrator and the platform administrator.
	admin, operator, observer, otherBank, platform string
}

func newAppStack(t *testing.T) *appStack {
	t.Helper()
	store, err := bolt.Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return openAppStack(t, store)
}

// openAppStack builds the stack over store, as a node starting over an existing log would.
func openAppStack(t *testing.T, store *bolt.Store) *appStack {
	t.Helper()
	s := &appStack{t: t, store: store, clock: &testClock{now: authNow.Add(time.Minute).Truncate(time.Minute)}}
	s.model = projections.NewApplications(0)
	runner, err := projections.NewRunner(store, projections.Options{Logger: quietLogger()}, s.model)
	if err != nil {
		t.Fatal(err)
	}
	s.runner = runner
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = runner.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	if err := runner.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	kr := testKeyring(t, 0)
	tokens := auth.NewApplicationTokens(kr)
	svc, err := app.NewApplications(app.ApplicationDeps{Store: store, Applications: s.model, Tokens: tokens, WaitFor: runner.WaitFor,
		Now: s.clock.Now, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	s.recorder, err = app.NewCallRecorder(app.CallRecorderConfig{Store: store, Interval: time.Minute, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	d := testDeps()
	d.Authenticator = &ApplicationAuthenticator{
		Next:   &TokenAuthenticator{Tokens: kr, Roles: DefaultRoleDirectory{}, Now: s.clock.Now},
		Tokens: tokens, Directory: s.model, Now: s.clock.Now}
	d.Applications, d.ApplicationDirectory = svc, s.model
	d.Limits = NewLimiter(s.model, s.clock.Now)
	d.Calls = s.recorder
	s.h = NewRouter(d)
	role := func(bank, name string) string {
		return issue(t, kr, auth.Claims{Subject: name + "@" + bank[:4], Counterparty: bank, Roles: []string{name}}, authNow)
	}
	s.admin, s.operator, s.observer = role(bankA, RoleAdministrator), role(bankA, RoleOperator), role(bankA, RoleObserver)
	s.otherBank = role(bankB, RoleAdministrator)
	s.platform = issue(t, kr, auth.Claims{Subject: "admin", Roles: []string{RolePlatformAdministrator}}, authNow)
	return s
}

// call sends a request and decodes a JSON object answer.
func (s *appStack) call(method, path, token, body string, hdr ...string) (*httptest.ResponseRecorder, map[string]any) {
	s.t.Helper()
	if body != "" {
		hdr = append(hdr, "Content-Type", "application/json")
	}
	w := do(s.t, s.h, method, path, token, strings.NewReader(body), hdr...)
	var out map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &out)
	return w, out
}

func (s *appStack) must(status int, method, path, token, body string) map[string]any {
	s.t.Helper()
	w, out := s.call(method, path, token, body)
	if w.Code != status {
		s.t.Fatalf("%s %s: %d %s, want %d", method, path, w.Code, w.Body, status)
	}
	return out
}

const appsPath = "/api/v1/counterparty/" + bankA + "/applications"

// create registers an application of bank A and returns its client_id and secret.
func (s *appStack) create(name string) (id, secret string) {
	s.t.Helper()
	out := s.must(201, "POST", appsPath, s.operator, `{"name":"`+name+`","description":"core banking"}`)
	return out["client_id"].(string), out["client_secret"].(string)
}

func (s *appStack) subscribe(id, product, plan string, want int) map[string]any {
	s.t.Helper()
	return s.must(want, "POST", appsPath+"/"+id+"/subscriptions", s.admin, `{"product":"`+product+`","plan":"`+plan+`"}`)
}

// tokenRequest posts a form to the token endpoint, with HTTP Basic when basicID is set.
func (s *appStack) tokenRequest(form url.Values, basicID, basicSecret string) *httptest.ResponseRecorder {
	s.t.Helper()
	r := httptest.NewRequest("POST", "/api/v1/oauth/token", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicID != "" {
		r.SetBasicAuth(url.QueryEscape(basicID), url.QueryEscape(basicSecret))
	}
	w := httptest.NewRecorder()
	s.h.ServeHTTP(w, r)
	return w
}

// token gets an access token with form credentials.
func (s *appStack) token(id, secret string) string {
	s.t.Helper()
	w := s.tokenRequest(url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}, "", "")
	if w.Code != 200 {
		s.t.Fatalf("token: %d %s", w.Code, w.Body)
	}
	var tr tokenResponse
	if err := json.Unmarshal(w.Body.Bytes(), &tr); err != nil {
		s.t.Fatal(err)
	}
	return tr.AccessToken
}

// oauthRefusal checks an RFC 6749 §5.2 answer.
func oauthRefusal(t *testing.T, w *httptest.ResponseRecorder, status int, code string) {
	t.Helper()
	var e oauthError
	if w.Code != status || json.Unmarshal(w.Body.Bytes(), &e) != nil || e.Error != code || e.Description == "" {
		t.Fatalf("%d %s, want %d %s", w.Code, w.Body, status, code)
	}
	if w.Header().Get("Cache-Control") != "no-store" {
		t.Fatal("token endpoint answer without Cache-Control: no-store")
	}
	if status == 401 && !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Basic ") {
		t.Fatalf("401 without a Basic challenge: %q", w.Header().Get("WWW-Authenticate"))
	}
}

const customersPath = "/api/v1/counterparty/" + bankA + "/customers"

func TestClientCredentialsHappyPath(t *testing.T) {
	s := newAppStack(t)
	id, secret := s.create("Core banking")
	if !strings.HasPrefix(secret, "kzs_") {
		t.Fatalf("secret %q", secret)
	}
	s.subscribe(id, "read-only", "basic", 200)

	// HTTP Basic, as RFC 6749 §2.3.1 asks servers to support.
	w := s.tokenRequest(url.Values{"grant_type": {"client_credentials"}}, id, secret)
	var tr tokenResponse
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &tr) != nil || tr.TokenType != "Bearer" || tr.ExpiresIn != 900 || tr.Scope != "read-only" {
		t.Fatalf("Basic: %d %s", w.Code, w.Body)
	}
	if w.Header().Get("Cache-Control") != "no-store" {
		t.Fatal("no Cache-Control: no-store")
	}
	// The token is a platform-keyring RS256 JWT for the application's bank.
	parts := strings.Split(tr.AccessToken, ".")
	head, _ := base64.RawURLEncoding.DecodeString(parts[0])
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if !strings.Contains(string(head), `"alg":"RS256"`) || !strings.Contains(string(payload), `"cpty":"`+bankA+`"`) {
		t.Fatalf("token header %s payload %s", head, payload)
	}

	// Form parameters work too, and the token reads the bank's customers.
	tok := s.token(id, secret)
	if w, _ := s.call("GET", customersPath, tok, ""); w.Code != 200 {
		t.Fatalf("read with the application token: %d %s", w.Code, w.Body)
	}
	// Within its own bank only.
	if w, _ := s.call("GET", "/api/v1/counterparty/"+bankB+"/customers", tok, ""); w.Code != 403 {
		t.Fatalf("another bank: %d %s", w.Code, w.Body)
	}
	// Not a write of a product it lacks, not a route of no product; the refusal names the products.
	w, out := s.call("POST", customersPath, tok, `{}`)
	if w.Code != 403 || !strings.Contains(out["error"].(string), "customers") || out["permission"] != PermCustomersCreate {
		t.Fatalf("write without the product: %d %s", w.Code, w.Body)
	}
	if w, _ := s.call("GET", "/api/v1/counterparty/"+bankA+"/employees", tok, ""); w.Code != 403 {
		t.Fatalf("employees: %d %s", w.Code, w.Body)
	}
	if w, _ := s.call("GET", appsPath, tok, ""); w.Code != 403 {
		t.Fatalf("an application managing applications: %d %s", w.Code, w.Body)
	}
	// A narrower scope is granted; a wider one is not.
	w = s.tokenRequest(url.Values{"grant_type": {"client_credentials"}, "scope": {"payments"}}, id, secret)
	oauthRefusal(t, w, 400, "invalid_scope")
}

func TestClientCredentialsRefusals(t *testing.T) {
	s := newAppStack(t)
	id, secret := s.create("Core banking")
	s.subscribe(id, "read-only", "basic", 200)
	form := func(kv ...string) url.Values {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v
	}
	cc := "client_credentials"

	oauthRefusal(t, s.tokenRequest(form("grant_type", cc), id, secret+"x"), 401, "invalid_client")                                                      // wrong secret
	oauthRefusal(t, s.tokenRequest(form("grant_type", cc, "client_id", id, "client_secret", "kzs_nope"), "", ""), 401, "invalid_client")                // wrong secret, form
	oauthRefusal(t, s.tokenRequest(form("grant_type", cc), "9d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6", secret), 401, "invalid_client")                      // unknown client
	oauthRefusal(t, s.tokenRequest(form("grant_type", cc), "not-a-guid", secret), 401, "invalid_client")                                                // not even a client id
	oauthRefusal(t, s.tokenRequest(form("grant_type", cc), "", ""), 401, "invalid_client")                                                              // missing credentials
	oauthRefusal(t, s.tokenRequest(form("grant_type", cc, "client_id", id), "", ""), 401, "invalid_client")                                             // no secret
	oauthRefusal(t, s.tokenRequest(form("grant_type", "password"), id, secret), 400, "unsupported_grant_type")                                          // bad grant type
	oauthRefusal(t, s.tokenRequest(form("client_id", id, "client_secret", secret), "", ""), 400, "invalid_request")                                     // no grant type
	oauthRefusal(t, s.tokenRequest(form("grant_type", cc, "client_secret", secret), id, secret), 400, "invalid_request")                                // two methods
	oauthRefusal(t, s.tokenRequest(form("grant_type", cc, "grant_type", cc, "client_id", id, "client_secret", secret), "", ""), 400, "invalid_request") // repeated
	// Not a form, or parameters in the URL.
	r := httptest.NewRequest("POST", "/api/v1/oauth/token", strings.NewReader(`{"grant_type":"client_credentials"}`))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	s.h.ServeHTTP(w, r)
	oauthRefusal(t, w, 400, "invalid_request")
	r = httptest.NewRequest("POST", "/api/v1/oauth/token?client_secret="+secret, strings.NewReader("grant_type=client_credentials"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w = httptest.NewRecorder()
	s.h.ServeHTTP(w, r)
	oauthRefusal(t, w, 400, "invalid_request")

	// A token obtained before the application is disabled stops working with it; so do new tokens.
	tok := s.token(id, secret)
	s.must(200, "POST", appsPath+"/"+id+"/disable", s.admin, "")
	oauthRefusal(t, s.tokenRequest(form("grant_type", cc), id, secret), 401, "invalid_client")
	errorOf(t, do(t, s.h, "GET", customersPath, tok, nil), 401, CodeUnauthenticated)
	s.must(200, "POST", appsPath+"/"+id+"/enable", s.admin, "")
	if w, _ := s.call("GET", customersPath, tok, ""); w.Code != 200 {
		t.Fatalf("enabled again: %d %s", w.Code, w.Body)
	}
	// Deleted: gone for good.
	s.must(200, "DELETE", appsPath+"/"+id, s.admin, "")
	oauthRefusal(t, s.tokenRequest(form("grant_type", cc), id, secret), 401, "invalid_client")
	errorOf(t, do(t, s.h, "GET", customersPath, tok, nil), 401, CodeUnauthenticated)
	if _, out := s.call("GET", appsPath+"/"+id, s.observer, ""); out["status"] != "deleted" {
		t.Fatalf("deleted application reads %v", out)
	}
}

func TestSecretReissue(t *testing.T) {
	s := newAppStack(t)
	id, first := s.create("Core banking")
	s.subscribe(id, "read-only", "basic", 200)
	cc := url.Values{"grant_type": {"client_credentials"}}

	// Without grace the old secret, and its tokens, stop at once.
	oldTok := s.token(id, first)
	out := s.must(200, "POST", appsPath+"/"+id+"/secret", s.admin, "")
	second := out["client_secret"].(string)
	if second == first || out["secret_version"] != 2.0 || out["previous_secret_valid_until"] != nil {
		t.Fatalf("re-issue: %v", out)
	}
	oauthRefusal(t, s.tokenRequest(cc, id, first), 401, "invalid_client")
	errorOf(t, do(t, s.h, "GET", customersPath, oldTok, nil), 401, CodeUnauthenticated)
	if w := s.tokenRequest(cc, id, second); w.Code != 200 {
		t.Fatalf("new secret: %d %s", w.Code, w.Body)
	}

	// With grace both work until the grace ends; then only the new one.
	midTok := s.token(id, second)
	out = s.must(200, "POST", appsPath+"/"+id+"/secret", s.admin, `{"grace_seconds":120}`)
	third := out["client_secret"].(string)
	if out["previous_secret_valid_until"] == nil {
		t.Fatalf("grace not reported: %v", out)
	}
	for _, sec := range []string{second, third} {
		if w := s.tokenRequest(cc, id, sec); w.Code != 200 {
			t.Fatalf("within grace: %d %s", w.Code, w.Body)
		}
	}
	if w, _ := s.call("GET", customersPath, midTok, ""); w.Code != 200 {
		t.Fatalf("token of the replaced secret within grace: %d %s", w.Code, w.Body)
	}
	_, app := s.call("GET", appsPath+"/"+id, s.observer, "")
	if secrets := app["secrets"].([]any); len(secrets) != 2 {
		t.Fatalf("secrets listed %v", secrets)
	}
	s.clock.Add(121 * time.Second)
	oauthRefusal(t, s.tokenRequest(cc, id, second), 401, "invalid_client")
	errorOf(t, do(t, s.h, "GET", customersPath, midTok, nil), 401, CodeUnauthenticated)
	if w := s.tokenRequest(cc, id, third); w.Code != 200 {
		t.Fatalf("new secret after grace: %d %s", w.Code, w.Body)
	}
	// A grace beyond 7 days is refused.
	if w, _ := s.call("POST", appsPath+"/"+id+"/secret", s.admin, `{"grace_seconds":604801}`); w.Code != 400 {
		t.Fatalf("grace too long: %d %s", w.Code, w.Body)
	}
	// The secret is never shown again, not even to a retry of the same request.
	w, _ := s.call("POST", appsPath+"/"+id+"/secret", s.admin, `{}`, "Idempotency-Key", "k1")
	if w.Code != 200 {
		t.Fatalf("keyed re-issue: %d", w.Code)
	}
	if w, _ := s.call("POST", appsPath+"/"+id+"/secret", s.admin, `{}`, "Idempotency-Key", "k1"); w.Code != 409 || strings.Contains(w.Body.String(), "kzs_") {
		t.Fatalf("replayed re-issue: %d %s", w.Code, w.Body)
	}
}

func TestApplicationRoles(t *testing.T) {
	s := newAppStack(t)
	// Observer reads; it cannot create. Another bank sees nothing of bank A's.
	if w, _ := s.call("POST", appsPath, s.observer, `{"name":"x"}`); w.Code != 403 {
		t.Fatalf("observer creates: %d", w.Code)
	}
	id, _ := s.create("Core banking")
	if _, out := s.call("GET", appsPath, s.observer, ""); out["total"] != 1.0 {
		t.Fatalf("observer list: %v", out)
	}
	if w, _ := s.call("GET", appsPath+"/"+id, s.otherBank, ""); w.Code != 403 {
		t.Fatalf("other bank: %d", w.Code)
	}
	if w, _ := s.call("GET", appsPath+"/"+id+"/analytics", s.observer, ""); w.Code != 200 {
		t.Fatalf("observer analytics: %d %s", w.Code, w.Body)
	}
	// Bad input.
	if w, _ := s.call("POST", appsPath+"/"+id+"/subscriptions", s.admin, `{"product":"gold","plan":"basic"}`); w.Code != 400 {
		t.Fatalf("unknown product: %d", w.Code)
	}
	if w, _ := s.call("DELETE", appsPath+"/"+id+"/subscriptions/customers", s.admin, ""); w.Code != 404 {
		t.Fatalf("unsubscribe what is not subscribed: %d %s", w.Code, w.Body)
	}
	if w, _ := s.call("GET", appsPath+"/9d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6", s.admin, ""); w.Code != 404 {
		t.Fatalf("unknown application: %d", w.Code)
	}
	if w, _ := s.call("POST", appsPath, s.admin, `{"name":"   "}`); w.Code != 400 {
		t.Fatalf("blank name: %d", w.Code)
	}
}

func TestSubscriptionApproval(t *testing.T) {
	s := newAppStack(t)
	id, secret := s.create("Payments gateway")
	s.subscribe(id, "read-only", "basic", 200)
	// Payments is sensitive: a request, not a grant.
	sub := s.subscribe(id, "payments", "standard", 202)
	if sub["status"] != "pending" || sub["requested_plan"] != "standard" {
		t.Fatalf("subscription %v", sub)
	}
	tok := s.token(id, secret)
	paymentsPath := "/api/v1/counterparty/" + bankA + "/payments/confirm"
	if w, _ := s.call("POST", paymentsPath, tok, `{}`); w.Code != 403 {
		t.Fatalf("payments before approval: %d %s", w.Code, w.Body)
	}
	// The bank cannot approve itself; the platform administrator can.
	approve := "/api/v1/applications/" + id + "/subscriptions/payments/approve"
	if w, _ := s.call("POST", approve, s.admin, ""); w.Code != 403 {
		t.Fatalf("bank approves: %d", w.Code)
	}
	queue := s.must(200, "GET", "/api/v1/applications/subscription-requests", s.platform, "")
	if queue["total"] != 1.0 {
		t.Fatalf("queue %v", queue)
	}
	s.must(200, "POST", approve, s.platform, "")
	if w, _ := s.call("POST", approve, s.platform, ""); w.Code != 409 {
		t.Fatalf("approve twice: %d", w.Code)
	}
	// The old token's scope did not include payments; a new token does.
	if w, _ := s.call("POST", paymentsPath, tok, `{}`); w.Code != 403 {
		t.Fatalf("old token after approval: %d", w.Code)
	}
	tok = s.token(id, secret)
	if w, _ := s.call("POST", paymentsPath, tok, `{}`); w.Code == 401 || w.Code == 403 {
		t.Fatalf("payments after approval: %d %s", w.Code, w.Body)
	}
	_, app := s.call("GET", appsPath+"/"+id, s.observer, "")
	var granted bool
	for _, v := range app["subscriptions"].([]any) {
		m := v.(map[string]any)
		granted = granted || (m["product"] == "payments" && m["status"] == "active" && m["decided_by"] == "admin")
	}
	if !granted {
		t.Fatalf("subscriptions %v", app["subscriptions"])
	}

	// Emission: rejected with a reason the bank reads; nothing granted.
	s.subscribe(id, "emission", "basic", 202)
	reject := "/api/v1/applications/" + id + "/subscriptions/emission/reject"
	if w, _ := s.call("POST", reject, s.platform, `{}`); w.Code != 400 {
		t.Fatalf("reject without reason: %d", w.Code)
	}
	s.must(200, "POST", reject, s.platform, `{"reason":"no emission agreement signed"}`)
	_, app = s.call("GET", appsPath+"/"+id, s.observer, "")
	for _, v := range app["subscriptions"].([]any) {
		if m := v.(map[string]any); m["product"] == "emission" && (m["status"] != "rejected" || m["rejection_reason"] != "no emission agreement signed") {
			t.Fatalf("emission subscription %v", m)
		}
	}
	w := s.tokenRequest(url.Values{"grant_type": {"client_credentials"}, "scope": {"emission"}}, id, secret)
	oauthRefusal(t, w, 400, "invalid_scope")
	if q := s.must(200, "GET", "/api/v1/applications/subscription-requests", s.platform, ""); q["total"] != 0.0 {
		t.Fatalf("queue after decisions %v", q)
	}
	// Unsubscribing takes the product away from live tokens at once.
	s.must(200, "DELETE", appsPath+"/"+id+"/subscriptions/payments", s.admin, "")
	if w, _ := s.call("POST", paymentsPath, tok, `{}`); w.Code != 403 {
		t.Fatalf("payments after unsubscribing: %d", w.Code)
	}
}

// TestRateLimitUnderConcurrentCalls: 150 calls at once on a plan of 60 a minute: exactly 60 pass, the rest are
// 429 with Retry-After; the next minute lets calls through again.
func TestRateLimitUnderConcurrentCalls(t *testing.T) {
	s := newAppStack(t)
	id, secret := s.create("Core banking")
	s.subscribe(id, "read-only", "basic", 200)
	tok := s.token(id, secret)
	const calls = 150
	codes := make([]int, calls)
	retry := make([]string, calls)
	var wg sync.WaitGroup
	for i := range calls {
		wg.Go(func() {
			r := httptest.NewRequest("GET", customersPath, nil)
			r.Header.Set("Authorization", "Bearer "+tok)
			w := httptest.NewRecorder()
			s.h.ServeHTTP(w, r)
			codes[i], retry[i] = w.Code, w.Header().Get("Retry-After")
		})
	}
	wg.Wait()
	passed, limited := 0, 0
	for i, c := range codes {
		switch c {
		case 200:
			passed++
		case 429:
			limited++
			if n, err := strconv.Atoi(retry[i]); err != nil || n < 1 || n > 60 {
				t.Fatalf("Retry-After %q", retry[i])
			}
		default:
			t.Fatalf("status %d", c)
		}
	}
	if passed != 60 || limited != calls-60 {
		t.Fatalf("%d passed, %d limited; want 60 and %d", passed, limited, calls-60)
	}
	w, out := s.call("GET", customersPath, tok, "")
	if w.Code != 429 || out["code"] != CodeRateLimited || !strings.Contains(out["error"].(string), "60 calls a minute") {
		t.Fatalf("limited answer %d %s", w.Code, w.Body)
	}
	s.clock.Add(time.Minute)
	if w, _ := s.call("GET", customersPath, tok, ""); w.Code != 200 {
		t.Fatalf("next minute: %d %s", w.Code, w.Body)
	}
}

// TestQuotaUnderConcurrentCallsAndRestart: the month's count starts from the log (as after a restart), and of
// many calls at once only what remains of the quota passes; the refusal names the quota.
func TestQuotaUnderConcurrentCallsAndRestart(t *testing.T) {
	s := newAppStack(t)
	id, secret := s.create("Core banking")
	s.subscribe(id, "read-only", "basic", 200)
	// 9,990 calls of this month recorded in the log by an earlier run of the node.
	row := application.CallRow{Application: id, Counterparty: bankA, Product: application.ProductReadOnly, Route: "GET " + cp + "/customers",
		Status: 200, Calls: 9_990, Latency: make([]int64, application.LatencyBuckets)}
	row.Latency[0] = row.Calls
	hour := s.clock.Now().Truncate(time.Hour) // the same month: the quota counts the month
	rec := application.CallsRecorded{Hour: hour, Node: "earlier", Rows: []application.CallRow{row}, At: hour}
	typ, data, _ := application.CallEvents.Encode(rec)
	res, err := s.store.Append(context.Background(), application.CallsStream(hour), eventstore.Any{},
		eventstore.EventData{ID: uuid.New(), Type: typ, Data: data})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.runner.WaitFor(context.Background(), res.Position); err != nil {
		t.Fatal(err)
	}
	tok := s.token(id, secret)
	const calls = 40 // within the minute's 60: only the quota's 10 remaining can limit them
	var wg sync.WaitGroup
	var mu sync.Mutex
	count := map[int]int{}
	for range calls {
		wg.Go(func() {
			r := httptest.NewRequest("GET", customersPath, nil)
			r.Header.Set("Authorization", "Bearer "+tok)
			w := httptest.NewRecorder()
			s.h.ServeHTTP(w, r)
			mu.Lock()
			count[w.Code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if count[200] != 10 || count[429] != calls-10 {
		t.Fatalf("answers %v; want 10 passed", count)
	}
	w, out := s.call("GET", customersPath, tok, "")
	if w.Code != 429 || out["code"] != CodeQuotaExceeded || !strings.Contains(out["error"].(string), "monthly quota of 10,000 calls") {
		t.Fatalf("quota answer %d %s", w.Code, w.Body)
	}
	if n, _ := strconv.Atoi(w.Header().Get("Retry-After")); n < 60 {
		t.Fatalf("quota Retry-After %q: the quota renews next month", w.Header().Get("Retry-After"))
	}
}

// TestAnalyticsCountTheCalls: the analytics show exactly the calls made, by route and status, per application
// and per bank, and show them again after a restart over the same store.
func TestAnalyticsCountTheCalls(t *testing.T) {
	s := newAppStack(t)
	id, secret := s.create("Core banking")
	other, otherSecret := s.create("Reporting")
	s.subscribe(id, "read-only", "basic", 200)
	s.subscribe(other, "customers", "basic", 200)
	tok, otherTok := s.token(id, secret), s.token(other, otherSecret)
	for range 7 {
		s.call("GET", customersPath, tok, "")
	}
	for range 3 {
		s.call("GET", customersPath+"?limit=abc", tok, "") // 400 from the endpoint
	}
	for range 2 {
		s.call("POST", customersPath, otherTok, `{`) // 400, product customers
	}
	// Refused before the gate (no product, a malformed path): charged to no product, so not counted.
	s.call("GET", "/api/v1/counterparty/"+bankA+"/employees", tok, "")
	s.call("GET", customersPath+"/not-a-guid", tok, "")
	pos, err := s.recorder.Flush(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.runner.WaitFor(context.Background(), pos); err != nil {
		t.Fatal(err)
	}
	if s.recorder.Flushed() != 12 {
		t.Fatalf("flushed %d calls, want 12", s.recorder.Flushed())
	}
	check := func(s *appStack) {
		t.Helper()
		// Calls are stamped with the gate's clock: ask about the hour before, the hour of and the hour after the calls.
		hour := s.clock.Now().Truncate(time.Hour)
		q := "?from=" + url.QueryEscape(hour.Add(-time.Hour).Format(time.RFC3339)) + "&to=" + url.QueryEscape(hour.Add(2*time.Hour).Format(time.RFC3339))
		var one analyticsView
		w := do(t, s.h, "GET", appsPath+"/"+id+"/analytics"+q, s.observer, nil)
		if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &one) != nil {
			t.Fatalf("analytics: %d %s", w.Code, w.Body)
		}
		if one.Totals.Calls != 10 || one.Totals.Errors != 3 || one.ByStatus["200"] != 7 || one.ByStatus["400"] != 3 || len(one.Series) != 3 || one.Series[1].Calls != 10 {
			t.Fatalf("application analytics %+v", one)
		}
		if got := one.Totals.ErrorRate; got < 0.299 || got > 0.301 {
			t.Fatalf("error rate %v", got)
		}
		if one.Totals.LatencyMs.P99 <= 0 || one.Totals.LatencyMs.P50 > one.Totals.LatencyMs.P99 {
			t.Fatalf("latency %+v", one.Totals.LatencyMs)
		}
		var routes int64
		for _, r := range one.ByRoute {
			routes += r.Calls
			if r.Product != "read-only" {
				t.Fatalf("route %+v counted against %s", r, r.Product)
			}
		}
		if routes != 10 {
			t.Fatalf("by route adds to %d", routes)
		}
		var bank analyticsView
		w = do(t, s.h, "GET", "/api/v1/counterparty/"+bankA+"/analytics/applications"+q+"&granularity=day", s.observer, nil)
		if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &bank) != nil {
			t.Fatalf("bank analytics: %d %s", w.Code, w.Body)
		}
		if bank.Totals.Calls != 12 || len(bank.ByApplication) != 2 || bank.ByApplication[0].Calls != 10 || bank.ByApplication[1].Calls != 2 {
			t.Fatalf("bank analytics %+v", bank)
		}
	}
	check(s)
	// A restart: a new node over the same store rebuilds the analytics from the log.
	check(openAppStack(t, s.store))
}
