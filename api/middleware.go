package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"
)

// Middleware order, outermost first: request ID → access log → recover → (router) → authenticate →
// path GUIDs → authorize → handler. The access log wraps recovery, not the other way round, so that the
// log line of a panicked request shows the 500 that recovery wrote.

// maxRequestIDLen bounds an X-Request-ID taken from the client; longer or odd ones are replaced.
const maxRequestIDLen = 64

type requestKey struct{}

// requestInfo is what the outer middleware needs to learn from the inner ones (route template, caller), set
// once per request by the handler goroutine.
type requestInfo struct {
	id      string
	logger  *slog.Logger
	route   string
	subject string
}

func infoFrom(ctx context.Context) *requestInfo {
	info, _ := ctx.Value(requestKey{}).(*requestInfo)
	return info
}

// RequestID returns the ID of the request, as echoed in X-Request-ID and written in logs and 500 answers.
func RequestID(ctx context.Context) string {
	if info := infoFrom(ctx); info != nil {
		return info.id
	}
	return ""
}

func loggerFrom(ctx context.Context) *slog.Logger {
	if info := infoFrom(ctx); info != nil && info.logger != nil {
		return info.logger
	}
	return slog.Default()
}

// saneRequestID accepts a client's request ID only if it is short and made of characters that are safe in
// logs and headers, so that a caller cannot forge log lines.
func saneRequestID(s string) bool {
	if s == "" || len(s) > maxRequestIDLen {
		return false
	}
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.', c == ':':
		default:
			return false
		}
	}
	return true
}

func withRequestID(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-ID")
		if !saneRequestID(id) {
			id = uuid.NewString()
		}
		w.Header().Set("X-Request-ID", id)
		info := &requestInfo{id: id, logger: logger}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestKey{}, info)))
	})
}

// statusRecorder remembers the status written, for the access log and for recovery (which must not write a
// second header).
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		info := infoFrom(r.Context())
		route := "-"
		var subject, id string
		if info != nil {
			id, subject = info.id, info.subject
			if info.route != "" {
				route = info.route
			}
		}
		loggerFrom(r.Context()).LogAttrs(r.Context(), slog.LevelInfo, "http request",
			slog.String("method", r.Method), slog.String("route", route), slog.Int("status", rec.status),
			slog.Duration("duration", time.Since(start)), slog.String("caller", subject), slog.String("request_id", id))
	})
}

// recoverPanics turns a panic in a handler into a logged 500, so that one bad request cannot take the node
// down. http.ErrAbortHandler is the server's own way to abort a response and passes through.
func recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(v)
			}
			loggerFrom(r.Context()).Error("panic in handler", "request_id", RequestID(r.Context()),
				"method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			if rec, ok := w.(*statusRecorder); ok && rec.status != 0 {
				return // the answer has started; nothing sensible can follow it
			}
			writeError(w, r, &Error{Status: http.StatusInternalServerError, Code: CodeInternal,
				Message: "internal error; quote the request ID to support", Err: errPanic})
		}()
		next.ServeHTTP(w, r)
	})
}

var errPanic = errors.New("handler panicked")

// unauthenticated is the one answer to a request without acceptable credentials. It does not say what was
// wrong with a token: that would help someone forging one.
var unauthenticated = &Error{Status: http.StatusUnauthorized, Code: CodeUnauthenticated,
	Message: "missing or invalid credentials; send Authorization: Bearer <token> or CX-Authorization: <bank JWT>"}

// guard runs the checks of one route before its handler: the caller (401), the GUIDs in the path (400), the
// caller's bank against the path's bank (403) and the route's permission (403).
func guard(auth Authenticator, rt Route, next http.Handler) http.Handler {
	perm, known := PermissionByName(rt.Permission)
	// Only the bank's own API (/api/v1/counterparty/{counterparty_guid}/…) is kept within a bank; the
	// platform's /api/v1/counterparties/{counterparty_guid} names a bank it administers, not the caller's.
	bankScoped := strings.HasPrefix(rt.Path, cp+"/")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := infoFrom(r.Context())
		if info != nil {
			info.route = rt.Path
		}
		if rt.Permission == Public {
			if err := checkPathGUIDs(r); err != nil {
				writeError(w, r, err)
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		if !known {
			// A route table mistake: refuse rather than guess (a test keeps the table clean).
			writeError(w, r, fmt.Errorf("route %s %s names unknown permission %q", rt.Method, rt.Path, rt.Permission))
			return
		}
		caller, err := authenticate(auth, r)
		if err != nil {
			writeError(w, r, err)
			return
		}
		if info != nil {
			info.subject = caller.Subject
		}
		r = r.WithContext(withCaller(r.Context(), caller))
		if err := checkPathGUIDs(r); err != nil {
			writeError(w, r, err)
			return
		}
		bank := ""
		if bankScoped {
			bank, _ = parseGUID(mux.Vars(r)["counterparty_guid"]) // checkPathGUIDs ran first
		}
		if err := authorize(caller, perm, bank); err != nil {
			writeError(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func authenticate(auth Authenticator, r *http.Request) (Caller, error) {
	if auth == nil {
		return Caller{}, unauthenticated // no authenticator wired: nobody gets in
	}
	caller, err := auth.Authenticate(r)
	if err != nil {
		var ae *Error
		if errors.As(err, &ae) && ae.Status != http.StatusUnauthorized {
			return Caller{}, err
		}
		loggerFrom(r.Context()).Info("authentication refused", "request_id", RequestID(r.Context()), "err", err)
		return Caller{}, unauthenticated
	}
	if !caller.valid() {
		loggerFrom(r.Context()).Error("authenticator returned an unusable caller", "request_id", RequestID(r.Context()),
			"kind", caller.Kind.String(), "subject", caller.Subject)
		return Caller{}, unauthenticated
	}
	return caller, nil
}

// checkPathGUIDs refuses a malformed GUID in any path variable named *_guid, before a handler looks it up.
func checkPathGUIDs(r *http.Request) error {
	for name, value := range mux.Vars(r) {
		if !strings.HasSuffix(name, "_guid") {
			continue
		}
		if _, ok := parseGUID(value); !ok {
			return InvalidField(name, "must be a GUID like 3f2c1a9e-8d4b-4c7e-9a1f-2b6d5e8c0a17")
		}
	}
	return nil
}

// authorize decides whether caller may use a route guarded by perm; bank is the bank the path acts within,
// "" for routes outside a bank.
func authorize(c Caller, perm Permission, bank string) error {
	if bank != "" {
		switch {
		case c.Kind == CallerPlatformStaff:
			if !c.IsPlatformAdministrator() {
				return &Error{Status: http.StatusForbidden, Code: CodeForbidden,
					Message: "only the platform administrator acts within a bank"}
			}
		case !c.ownsCounterparty(bank):
			return &Error{Status: http.StatusForbidden, Code: CodeForbidden,
				Message: "this counterparty is not yours: you may act only within your own bank"}
		}
	}
	if !c.may(perm) {
		if c.Kind == CallerApplication {
			return applicationRefused(perm)
		}
		msg := "permission " + perm.Name + " is required"
		if perm.Platform && c.Kind != CallerPlatformStaff {
			msg += "; it belongs to the platform administrator"
		}
		return &Error{Status: http.StatusForbidden, Code: CodeForbidden, Message: msg, Permission: perm.Name}
	}
	return nil
}
