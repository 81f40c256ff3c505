package api

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// Test-only routes guarded by platform permissions, standing in for the counterparty and emission endpoints
// that come with the application layer.
var platformTestRoutes = []Route{
	{"POST", "/api/v1/counterparties", PermCounterpartiesCreate, okHandler},
	{"POST", cp + "/emission/{emission_guid}/confirm", PermEmissionConfirm, okHandler},
	{"GET", "/api/v1/counterparties/{counterparty_guid}", PermCounterpartiesRead, okHandler},
}

func okHandler(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

func titlesPath(bank string) string { return "/api/v1/counterparty/" + bank + "/rbac/permission" }

func TestAuthentication(t *testing.T) {
	h := testRouter()
	errorOf(t, do(t, h, "GET", titlesPath(bankA), "", nil), 401, CodeUnauthenticated)
	errorOf(t, do(t, h, "GET", titlesPath(bankA), "forged", nil), 401, CodeUnauthenticated)
	errorOf(t, do(t, h, "GET", titlesPath(bankA), "cx:forged", nil), 401, CodeUnauthenticated)
	// Authentication comes before path checks: a stranger learns nothing from a malformed path.
	errorOf(t, do(t, h, "GET", titlesPath("nope"), "", nil), 401, CodeUnauthenticated)

	// Without an authenticator nobody gets in.
	d := testDeps()
	d.Authenticator = nil
	errorOf(t, do(t, NewRouter(d), "GET", titlesPath(bankA), "platform-admin", nil), 401, CodeUnauthenticated)

	// An authenticator that returns an unusable caller fails closed.
	d.Authenticator = tokens{"broken": {Subject: "x", Kind: CallerEmployee, Permissions: map[string]bool{PermRBACRead: true}}}
	errorOf(t, do(t, NewRouter(d), "GET", titlesPath(bankA), "broken", nil), 401, CodeUnauthenticated)

	// An authenticator's own *Error (keys unavailable) passes through.
	d.Authenticator = authFunc(func(*http.Request) (Caller, error) {
		return Caller{}, &Error{Status: 503, Code: CodeUnavailable, Message: "keys unavailable", Retryable: true}
	})
	errorOf(t, do(t, NewRouter(d), "GET", titlesPath(bankA), "x", nil), 503, CodeUnavailable)
}

type authFunc func(*http.Request) (Caller, error)

func (f authFunc) Authenticate(r *http.Request) (Caller, error) { return f(r) }

func TestPermissionDenialNamesPermission(t *testing.T) {
	body := errorOf(t, do(t, testRouter(), "GET", titlesPath(bankA), "bank-a-"+RoleObserver, nil), 403, CodeForbidden)
	if body.Permission != PermRBACRead || !strings.Contains(body.Error, PermRBACRead) {
		t.Fatalf("denial %+v does not name %s", body, PermRBACRead)
	}
	if w := do(t, testRouter(), "GET", titlesPath(bankA), "bank-a-"+RoleAuditor, nil); w.Code != 200 {
		t.Fatalf("auditor: %d %s", w.Code, w.Body)
	}
}

func TestCounterpartyIsolation(t *testing.T) {
	h := testRouter()
	errorOf(t, do(t, h, "GET", titlesPath(bankA), "bank-b-admin", nil), 403, CodeForbidden)
	errorOf(t, do(t, h, "GET", titlesPath(bankB), "cx:bank-a-system", nil), 403, CodeForbidden)
	errorOf(t, do(t, h, "GET", titlesPath(bankA), "platform-clerk", nil), 403, CodeForbidden)
	body := errorOf(t, do(t, h, "GET", titlesPath(bankA), "platform-reader", nil), 403, CodeForbidden)
	if body.Permission != "" {
		t.Fatalf("platform staff refused for the wrong reason: %+v", body)
	}
	// The same caller on its own bank, any spelling of the GUID.
	for path, token := range map[string]string{
		titlesPath(bankB):                  "bank-b-admin",
		titlesPath(strings.ToUpper(bankA)): "cx:bank-a-system",
		titlesPath(bankA) + "/table":       "platform-admin",
		titlesPath(bankB) + "/table":       "platform-admin",
	} {
		if w := do(t, h, "GET", path, token, nil); w.Code != 200 {
			t.Errorf("%s as %s: %d %s", path, token, w.Code, w.Body)
		}
	}
	// A malformed bank GUID is bad input, not a denial.
	body = errorOf(t, do(t, h, "GET", titlesPath("12345"), "bank-b-admin", nil), 400, CodeInvalidField)
	if body.Field != "counterparty_guid" {
		t.Fatalf("field %q", body.Field)
	}
}

func TestBankSystemCaller(t *testing.T) {
	h := testRouter(platformTestRoutes...)
	if w := do(t, h, "GET", titlesPath(bankA)+"/table", "cx:bank-a-system", nil); w.Code != 200 {
		t.Fatalf("own bank: %d %s", w.Code, w.Body)
	}
	body := errorOf(t, do(t, h, "POST", "/api/v1/counterparties", "cx:bank-a-system", nil), 403, CodeForbidden)
	if body.Permission != PermCounterpartiesCreate {
		t.Fatalf("denial %+v", body)
	}
	body = errorOf(t, do(t, h, "POST", cp2(bankA)+"/emission/"+bankB+"/confirm", "cx:bank-a-system", nil), 403, CodeForbidden)
	if body.Permission != PermEmissionConfirm {
		t.Fatalf("denial %+v", body)
	}
	if w := do(t, h, "POST", cp2(bankA)+"/emission/"+bankB+"/confirm", "platform-admin", nil); w.Code != 200 {
		t.Fatalf("platform admin: %d %s", w.Code, w.Body)
	}
}

func TestBankRoleNeverHoldsPlatformPermission(t *testing.T) {
	// Even if an authenticator (or a bad role set) hands a bank employee a platform permission, it is refused.
	leaky := employee(bankA, RoleAdministrator)
	leaky.Permissions[PermCounterpartiesCreate] = true
	d := testDeps()
	d.Authenticator = tokens{"leaky": leaky}
	h := newRouter(d, append(Routes(d), platformTestRoutes...))
	errorOf(t, do(t, h, "POST", "/api/v1/counterparties", "leaky", nil), 403, CodeForbidden)
	if got := ResolvePermissions(CallerEmployee, []Role{{"Custom", []string{PermCounterpartiesCreate, PermRBACRead, "no.such"}}}, []string{"Custom"}); len(got) != 1 || !got[PermRBACRead] {
		t.Fatalf("ResolvePermissions = %v", got)
	}
}

func cp2(bank string) string { return "/api/v1/counterparty/" + bank }

func TestRequestID(t *testing.T) {
	h := testRouter()
	w := do(t, h, "GET", "/healthz", "", nil, "X-Request-ID", "abc-123_X.y:z")
	if got := w.Header().Get("X-Request-ID"); got != "abc-123_X.y:z" {
		t.Fatalf("sane ID echoed as %q", got)
	}
	uuidRE := regexp.MustCompile(`^[0-9a-f-]{36}$`)
	for _, bad := range []string{"", "has space", "new\nline", strings.Repeat("a", 65), "ünïcode"} {
		w := do(t, h, "GET", "/healthz", "", nil, "X-Request-ID", bad)
		if got := w.Header().Get("X-Request-ID"); !uuidRE.MatchString(got) {
			t.Errorf("for %q got %q, want a generated ID", bad, got)
		}
	}
	w = do(t, h, "GET", "/nowhere", "", nil, "X-Request-ID", "trace-1")
	if w.Header().Get("X-Request-ID") != "trace-1" {
		t.Fatalf("404 lost the request ID")
	}
}

func TestNotFoundAndMethodNotAllowed(t *testing.T) {
	h := testRouter()
	errorOf(t, do(t, h, "GET", "/api/v1/nowhere", "", nil), 404, CodeNotFound)
	errorOf(t, do(t, h, "GET", "/api/v1/counterparty/"+bankA+"/nowhere", "platform-admin", nil), 404, CodeNotFound)
	w := do(t, h, "DELETE", "/healthz", "", nil)
	errorOf(t, w, 405, CodeMethodNotAllowed)
	if w.Header().Get("Allow") != "GET" {
		t.Fatalf("Allow = %q", w.Header().Get("Allow"))
	}
	w = do(t, h, "POST", titlesPath(bankA)+"/table", "platform-admin", nil)
	errorOf(t, w, 405, CodeMethodNotAllowed)
}

func TestAccessLog(t *testing.T) {
	var buf bytes.Buffer
	d := testDeps()
	d.Logger = slog.New(slog.NewJSONHandler(&buf, nil))
	do(t, NewRouter(d), "GET", titlesPath(bankA), "bank-a-"+RoleAdministrator, nil, "X-Request-ID", "log-1")
	var line map[string]any
	for l := range strings.SplitSeq(strings.TrimSpace(buf.String()), "\n") {
		if err := json.Unmarshal([]byte(l), &line); err == nil && line["msg"] == "http request" {
			break
		}
	}
	want := map[string]any{"method": "GET", "route": cp + "/rbac/permission", "status": float64(200),
		"caller": "emp@0b0c", "request_id": "log-1"}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("log %s = %v, want %v (line %v)", k, line[k], v, line)
		}
	}
	if _, ok := line["duration"]; !ok {
		t.Errorf("no duration in %v", line)
	}
}

func TestPublicEndpoints(t *testing.T) {
	h := testRouter()
	w := do(t, h, "GET", "/api/v1/.well-known/jwks.json", "", nil)
	var jwks jwksResponse
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &jwks) != nil || len(jwks.Keys) != 1 || jwks.Keys[0].Kid != "k1" {
		t.Fatalf("jwks: %d %s", w.Code, w.Body)
	}
	d := testDeps()
	d.JWKS = nil
	errorOf(t, do(t, NewRouter(d), "GET", "/api/v1/.well-known/jwks.json", "", nil), 503, CodeUnavailable)
	d.JWKS = JWKSFunc(func(ctx context.Context) ([]PublicKey, error) { return nil, context.DeadlineExceeded })
	errorOf(t, do(t, NewRouter(d), "GET", "/api/v1/.well-known/jwks.json", "", nil), 503, CodeUnavailable)

	for path, ct := range map[string]string{"/api/v1/openapi.json": "application/json", "/api/v1/openapi.yaml": "application/yaml"} {
		w := do(t, h, "GET", path, "", nil)
		if w.Code != 200 || w.Header().Get("Content-Type") != ct || !json.Valid(w.Body.Bytes()) {
			t.Errorf("%s: %d %s", path, w.Code, w.Header().Get("Content-Type"))
		}
	}
	if w := do(t, h, "GET", "/readyz", "", nil); w.Code != 200 {
		t.Errorf("readyz %d", w.Code)
	}
}
