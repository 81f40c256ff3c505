package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/money"
	"github.com/kazna-ledger/kazna/eventstore"
)

func TestErrorMapping(t *testing.T) {
	secret := "stream customer-42 at revision 7"
	cases := []struct {
		name      string
		err       error
		status    int
		code      string
		field     string
		retryable bool
	}{
		{"api error as is", InvalidField("amount", "must be positive"), 400, CodeInvalidField, "amount", false},
		{"missing field", MissingField("name"), 400, CodeMissingField, "name", false},
		{"wrapped api error", fmt.Errorf("create: %w", NotFound("customer")), 404, CodeNotFound, "", false},
		{"conflict", Conflict("name taken"), 409, CodeConflict, "", false},
		{"unprocessable", Unprocessable("limit exceeded"), 422, CodeUnprocessable, "", false},
		{"forbidden", Forbidden("no"), 403, CodeForbidden, "", false},
		{"revision conflict", &eventstore.RevisionConflict{Stream: secret}, 409, CodeConflict, "", true},
		{"wrong expected revision", fmt.Errorf("%s: %w", secret, eventstore.ErrWrongExpectedRevision), 409, CodeConflict, "", true},
		// ErrTooManyConflicts also matches ErrWrongExpectedRevision; it must still be told apart.
		{"too many conflicts", fmt.Errorf("%w: %w", command.ErrTooManyConflicts, eventstore.ErrWrongExpectedRevision), 409, CodeConflict, "", true},
		{"idempotency conflict", fmt.Errorf("%s: %w", secret, command.ErrIdempotencyConflict), 409, CodeIdempotencyConflict, "", false},
		{"stream not found", fmt.Errorf("%s: %w", secret, eventstore.ErrStreamNotFound), 404, CodeNotFound, "", false},
		{"store closed", eventstore.ErrClosed, 503, CodeUnavailable, "", true},
		{"deadline", fmt.Errorf("%s: %w", secret, context.DeadlineExceeded), 503, CodeUnavailable, "", true},
		{"cancelled", context.Canceled, 503, CodeUnavailable, "", true},
		{"money decimals", fmt.Errorf("%w: 1.001", money.ErrTooManyDecimals), 400, CodeInvalidField, "", false},
		{"unknown", errors.New(secret), 500, CodeInternal, "", false},
		{"api error without status is unknown", &Error{Message: secret}, 500, CodeInternal, "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/x", nil)
			w := httptest.NewRecorder()
			withRequestID(quietLogger(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				writeError(w, r, c.err)
			})).ServeHTTP(w, r)
			body := errorOf(t, w, c.status, c.code)
			if body.Field != c.field || body.Retryable != c.retryable {
				t.Errorf("body %+v, want field %q retryable %v", body, c.field, c.retryable)
			}
			if strings.Contains(w.Body.String(), "revision 7") || strings.Contains(w.Body.String(), "eventstore") {
				t.Errorf("body leaks internals: %s", w.Body)
			}
			if c.retryable != (w.Header().Get("Retry-After") != "") {
				t.Errorf("Retry-After %q with retryable %v", w.Header().Get("Retry-After"), c.retryable)
			}
			if c.status >= 500 && (body.RequestID == "" || body.RequestID != w.Header().Get("X-Request-ID")) {
				t.Errorf("5xx body request_id %q, header %q", body.RequestID, w.Header().Get("X-Request-ID"))
			}
		})
	}
}

func TestUnauthorizedCarriesChallenge(t *testing.T) {
	w := do(t, testRouter(), "GET", "/api/v1/counterparty/"+bankA+"/rbac/permission", "", nil)
	errorOf(t, w, 401, CodeUnauthenticated)
	if !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("WWW-Authenticate = %q", w.Header().Get("WWW-Authenticate"))
	}
}

func TestPanicIsRecoveredAsInternal(t *testing.T) {
	h := testRouter(Route{"GET", "/test/panic", Public, func(w http.ResponseWriter, r *http.Request) error {
		panic("secret internal state")
	}})
	w := do(t, h, "GET", "/test/panic", "", nil)
	body := errorOf(t, w, 500, CodeInternal)
	if strings.Contains(w.Body.String(), "secret") || body.RequestID == "" {
		t.Fatalf("panic answer %s", w.Body)
	}
	// The node keeps serving.
	if w := do(t, h, "GET", "/healthz", "", nil); w.Code != 200 {
		t.Fatalf("after a panic /healthz = %d", w.Code)
	}
}

func TestPanicAfterAnswerStartedWritesNothingMore(t *testing.T) {
	h := testRouter(Route{"GET", "/test/late-panic", Public, func(w http.ResponseWriter, r *http.Request) error {
		writeJSON(w, http.StatusOK, map[string]string{"status": "partial"})
		panic("late")
	}})
	w := do(t, h, "GET", "/test/late-panic", "", nil)
	if w.Code != 200 || strings.Count(w.Body.String(), "{") != 1 {
		t.Fatalf("got %d %s", w.Code, w.Body)
	}
}
