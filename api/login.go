package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kazna-ledger/kazna/app"
)

// CodeInvalidCredentials is the one answer to a refused login (401), whatever was wrong: it never tells
// whether the login exists.
const CodeInvalidCredentials = "invalid_credentials"

// Bounds of login: field lengths as in openapi.json, and failed attempts per login.
const (
	maxLoginBytes        = 320
	maxPasswordBytes     = 128
	loginFailuresAllowed = 10
	loginFailureWindow   = time.Minute
	// maxLoginsTracked bounds the limiter's memory; when it is full of live entries it starts afresh
	// (a flood of distinct logins must not grow memory without bound).
	maxLoginsTracked = 100_000
)

// LoginService checks a login and password and issues a platform access token (app.Platform).
type LoginService interface {
	Login(ctx context.Context, login, password string) (app.Token, error)
}

type loginRequest struct {
	Login    string `json:"login"`
	Password string `json:"password"`
}

func (q loginRequest) Validate() error {
	return firstError(
		requireString("login", q.Login),
		maxLen("login", q.Login, maxLoginBytes),
		requireString("password", q.Password),
		maxLen("password", q.Password, maxPasswordBytes),
	)
}

func maxLen(field, v string, n int) error {
	if len(v) > n {
		return InvalidField(field, "must be at most "+strconv.Itoa(n)+" bytes")
	}
	return nil
}

type loginResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
}

var invalidCredentials = &Error{Status: http.StatusUnauthorized, Code: CodeInvalidCredentials,
	Message: "the login or the password is wrong"}

type loginHandler struct {
	svc     LoginService
	limiter *loginLimiter
}

func newLoginHandler(svc LoginService) loginHandler {
	return loginHandler{svc: svc, limiter: newLoginLimiter(loginFailuresAllowed, loginFailureWindow, time.Now)}
}

func (h loginHandler) login(w http.ResponseWriter, r *http.Request) error {
	var req loginRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if h.svc == nil {
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable,
			Message: "login is not available yet; retry later", Retryable: true}
	}
	if wait, blocked := h.limiter.blocked(req.Login); blocked {
		// Not through writeError: the pause here is the limiter's, not the one-second retry of conflicts.
		w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
		writeJSON(w, http.StatusTooManyRequests, errorBody{Code: CodeRateLimited, Retryable: true,
			Error: "too many failed logins for this login; retry after the time in Retry-After"})
		return nil
	}
	tok, err := h.svc.Login(r.Context(), req.Login, req.Password)
	if errors.Is(err, app.ErrInvalidCredentials) {
		h.limiter.fail(req.Login)
		return invalidCredentials
	}
	if err != nil {
		return err
	}
	h.limiter.reset(req.Login)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, loginResponse{AccessToken: tok.AccessToken, TokenType: tok.TokenType,
		ExpiresIn: int64(tok.ExpiresIn / time.Second)})
	return nil
}

// loginLimiter counts failed logins per login in fixed windows. It is per node: in a cluster each node
// allows its own share.
type loginLimiter struct {
	max    int
	window time.Duration
	now    func() time.Time

	mu      sync.Mutex
	entries map[string]loginFailures
}

type loginFailures struct {
	start time.Time
	count int
}

func newLoginLimiter(max int, window time.Duration, now func() time.Time) *loginLimiter {
	return &loginLimiter{max: max, window: window, now: now, entries: map[string]loginFailures{}}
}

func limiterKey(login string) string { return strings.ToLower(strings.TrimSpace(login)) }

// blocked reports whether login has used up its failures in the current window, and how long until it ends.
func (l *loginLimiter) blocked(login string) (time.Duration, bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.entries[limiterKey(login)]
	if !ok || now.Sub(e.start) >= l.window || e.count < l.max {
		return 0, false
	}
	return e.start.Add(l.window).Sub(now), true
}

func (l *loginLimiter) fail(login string) {
	now := l.now()
	key := limiterKey(login)
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.entries[key]
	if !ok || now.Sub(e.start) >= l.window {
		if !ok && len(l.entries) >= maxLoginsTracked {
			for k, old := range l.entries {
				if now.Sub(old.start) >= l.window {
					delete(l.entries, k)
				}
			}
			if len(l.entries) >= maxLoginsTracked {
				clear(l.entries)
			}
		}
		e = loginFailures{start: now}
	}
	e.count++
	l.entries[key] = e
}

func (l *loginLimiter) reset(login string) {
	l.mu.Lock()
	delete(l.entries, limiterKey(login))
	l.mu.Unlock()
}
