package api

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kazna-ledger/kazna/app"
)

// fakeLogins accepts one login and password.
type fakeLogins struct{}

func (fakeLogins) Login(_ context.Context, login, password string) (app.Token, error) {
	if login == "admin" && password == "Correct-Horse-9" {
		return app.Token{AccessToken: "tok-admin", TokenType: "Bearer", ExpiresIn: time.Hour}, nil
	}
	return app.Token{}, app.ErrInvalidCredentials
}

func TestLoginEndpoint(t *testing.T) {
	d := testDeps()
	d.Login = fakeLogins{}
	h := NewRouter(d)
	post := func(body string) (int, string, map[string][]string) {
		w := do(t, h, "POST", "/api/v1/auth/login", "", strings.NewReader(body), "Content-Type", "application/json")
		return w.Code, w.Body.String(), w.Header()
	}

	code, body, hdr := post(`{"login":"admin","password":"Correct-Horse-9"}`)
	var ok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := json.Unmarshal([]byte(body), &ok); code != 200 || err != nil || ok.AccessToken != "tok-admin" || ok.TokenType != "Bearer" || ok.ExpiresIn != 3600 {
		t.Fatalf("login: %d %s", code, body)
	}
	if hdr["Cache-Control"][0] != "no-store" {
		t.Fatalf("a token answer must not be cached: %v", hdr["Cache-Control"])
	}

	// A wrong password and an unknown login get the very same answer.
	wrong := do(t, h, "POST", "/api/v1/auth/login", "", strings.NewReader(`{"login":"admin","password":"nope"}`), "Content-Type", "application/json")
	errorOf(t, wrong, 401, CodeInvalidCredentials)
	unknown := do(t, h, "POST", "/api/v1/auth/login", "", strings.NewReader(`{"login":"ghost","password":"nope"}`), "Content-Type", "application/json")
	errorOf(t, unknown, 401, CodeInvalidCredentials)
	if wrong.Body.String() != unknown.Body.String() {
		t.Fatalf("answers differ: %s vs %s", wrong.Body, unknown.Body)
	}

	// Strict decoding.
	for body, want := range map[string]string{
		`{"login":"admin","password":"x","remember":true}`: CodeUnknownField,
		`{"login":"admin"}`: CodeMissingField,
		`{"login":"` + strings.Repeat("a", 400) + `","password":"x"}`: CodeInvalidField,
		`{"login":"admin","password":"x"} {}`:                         CodeInvalidRequest,
	} {
		w := do(t, h, "POST", "/api/v1/auth/login", "", strings.NewReader(body), "Content-Type", "application/json")
		errorOf(t, w, 400, want)
	}
}

func TestLoginRateLimit(t *testing.T) {
	d := testDeps()
	d.Login = fakeLogins{}
	h := NewRouter(d)
	login := func(name, pw string) (int, string) {
		w := do(t, h, "POST", "/api/v1/auth/login", "", strings.NewReader(`{"login":"`+name+`","password":"`+pw+`"}`), "Content-Type", "application/json")
		if w.Code == 429 {
			errorOf(t, w, 429, CodeRateLimited)
			return w.Code, w.Header().Get("Retry-After")
		}
		return w.Code, ""
	}
	for i := range loginFailuresAllowed {
		if code, _ := login("admin", "guess-"+strconv.Itoa(i)); code != 401 {
			t.Fatalf("failure %d: %d", i+1, code)
		}
	}
	code, retry := login("admin", "Correct-Horse-9")
	secs, _ := strconv.Atoi(retry)
	if code != 429 || secs < 1 || secs > 60 {
		t.Fatalf("after %d failures even the right password must wait: %d Retry-After %q", loginFailuresAllowed, code, retry)
	}
	// Case and spaces do not make a new login; another login is not affected.
	if code, _ := login("ADMIN ", "x"); code != 429 {
		t.Fatalf("the same login in capitals: %d", code)
	}
	if code, _ := login("other", "x"); code != 401 {
		t.Fatalf("another login: %d", code)
	}
}

func TestLoginLimiterWindow(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	l := newLoginLimiter(3, time.Minute, func() time.Time { return now })
	for range 3 {
		l.fail("a")
	}
	if wait, blocked := l.blocked("a"); !blocked || wait != time.Minute {
		t.Fatalf("blocked %v wait %v", blocked, wait)
	}
	now = now.Add(time.Minute)
	if _, blocked := l.blocked("a"); blocked {
		t.Fatal("still blocked after the window")
	}
	l.fail("a")
	if _, blocked := l.blocked("a"); blocked {
		t.Fatal("a new window starts from zero")
	}
	l.reset("a")
	if len(l.entries) != 0 {
		t.Fatal("reset keeps the entry")
	}
}

func TestLoginWithoutService(t *testing.T) {
	w := do(t, testRouter(), "POST", "/api/v1/auth/login", "", strings.NewReader(`{"login":"a","password":"b"}`), "Content-Type", "application/json")
	errorOf(t, w, 503, CodeUnavailable)
}

// The role app puts in the administrator's tokens is the one this package gives every permission.
func TestAdministratorRoleAgrees(t *testing.T) {
	if app.AdministratorRole != RolePlatformAdministrator {
		t.Fatalf("app.AdministratorRole %q, api.RolePlatformAdministrator %q", app.AdministratorRole, RolePlatformAdministrator)
	}
}
