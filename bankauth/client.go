package bankauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kazna-ledger/kazna/auth"
)

// Errors of a call to a bank's authorization service. Every error of the client wraps exactly one of them.
var (
	// ErrRefused: the bank answered 401, it does not let the subject act on the object. The operation is declined.
	ErrRefused = errors.New("bank refused")
	// ErrTimeout: the bank did not answer within the time limit (1 s by default).
	ErrTimeout = errors.New("bank did not answer in time")
	// ErrBadAnswer: the bank answered 200 with a body Kazna cannot use.
	ErrBadAnswer = errors.New("bank's answer is unusable")
	// ErrUnavailable: network failure or any status other than 200 and 401.
	ErrUnavailable = errors.New("bank authorization service unavailable")
)

const (
	// DefaultTimeout is the guide's limit: each method must answer within 1 second.
	DefaultTimeout = time.Second
	// maxAnswerBytes bounds an answer body; real answers are a few hundred bytes.
	maxAnswerBytes = 64 << 10
	// maxExternalIDRunes is the guide's limit on external_id.
	maxExternalIDRunes = 500
	// maxFieldBytes bounds every other field of an answer, the key included.
	maxFieldBytes = 4 << 10
	// sessionHeader carries Kazna's session JWT.
	sessionHeader = "X-Session-ID"
)

// SessionIssuer signs the X-Session-ID token for one call; *auth.Keyring is one.
type SessionIssuer interface {
	IssueSession(sub, obj string, flow auth.Flow, now time.Time) (string, error)
}

// User is a bank's answer to /user_auth. Key is the customer's secret: String, GoString and LogValue hide it.
type User struct {
	ExternalID string
	FirstName  string
	LastName   string
	Email      string
	Phone      string
	Key        string
}

// String describes the user without the key.
func (u User) String() string {
	return fmt.Sprintf("bank user %s (%s %s, %s, %s, key hidden)", u.ExternalID, u.FirstName, u.LastName, u.Email, u.Phone)
}

// GoString is String, so that %#v does not print the key either.
func (u User) GoString() string { return u.String() }

// LogValue keeps the key out of structured logs.
func (u User) LogValue() slog.Value {
	return slog.GroupValue(slog.String("external_id", u.ExternalID), slog.String("key", "hidden"))
}

// ClientOptions tunes a Client. Zero values take the defaults.
type ClientOptions struct {
	// Timeout bounds each call from sending the request to reading the whole answer. Default DefaultTimeout.
	Timeout time.Duration
	// HTTP is the client to send with; its redirect policy is replaced (redirects are refused, so the session
	// token never reaches another host). Default: a client with http.DefaultTransport's settings.
	HTTP *http.Client
	// Now is the clock for session tokens. Default time.Now.
	Now func() time.Time
}

// Client calls banks' authorization services. It is safe for concurrent use.
type Client struct {
	sessions SessionIssuer
	http     *http.Client
	timeout  time.Duration
	now      func() time.Time
}

// NewClient returns a client that signs each call's X-Session-ID with sessions.
func NewClient(sessions SessionIssuer, opts ClientOptions) *Client {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	hc := &http.Client{}
	if t, ok := http.DefaultTransport.(*http.Transport); ok {
		hc.Transport = t.Clone()
	}
	if opts.HTTP != nil {
		copied := *opts.HTTP
		hc = &copied
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Client{sessions: sessions, http: hc, timeout: opts.Timeout, now: opts.Now}
}

// UserAuth asks the bank at baseURL for the customer with this login (GET {baseURL}/user_auth, obj = login). The
// answer must carry external_id (at most 500 characters) and key.
func (c *Client) UserAuth(ctx context.Context, baseURL, sub, login string, flow auth.Flow) (User, error) {
	ans, err := c.call(ctx, "/user_auth", baseURL, sub, login, flow)
	if err != nil {
		return User{}, err
	}
	var u User
	for _, f := range []struct {
		name     string
		into     *string
		required bool
	}{
		{"external_id", &u.ExternalID, true},
		{"key", &u.Key, true},
		{"first_name", &u.FirstName, false},
		{"last_name", &u.LastName, false},
		{"email", &u.Email, false},
		{"phone", &u.Phone, false},
	} {
		if *f.into, err = ans.field(f.name, f.required); err != nil {
			return User{}, err
		}
	}
	return u, nil
}

// Key asks the bank at baseURL for the secret key of the customer with this external id (GET {baseURL}/key).
func (c *Client) Key(ctx context.Context, baseURL, sub, externalID string, flow auth.Flow) (string, error) {
	ans, err := c.call(ctx, "/key", baseURL, sub, externalID, flow)
	if err != nil {
		return "", err
	}
	return ans.field("key", true)
}

// ExternalID asks the bank at baseURL to confirm a customer by external id (GET {baseURL}/external_id) and returns
// the external_id it answers; the caller decides whether it must equal the one asked.
func (c *Client) ExternalID(ctx context.Context, baseURL, sub, externalID string, flow auth.Flow) (string, error) {
	ans, err := c.call(ctx, "/external_id", baseURL, sub, externalID, flow)
	if err != nil {
		return "", err
	}
	return ans.field("external_id", true)
}

// answer is a decoded 200 body, with the context to name in errors.
type answer struct {
	where  string
	fields map[string]json.RawMessage
}

// field returns a string member; obligatory ones must be present and non-empty.
func (a answer) field(name string, required bool) (string, error) {
	raw, ok := a.fields[name]
	if !ok || string(raw) == "null" {
		if required {
			return "", fmt.Errorf("%s: %w: %q is missing", a.where, ErrBadAnswer, name)
		}
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%s: %w: %q is not a string", a.where, ErrBadAnswer, name)
	}
	switch {
	case required && s == "":
		return "", fmt.Errorf("%s: %w: %q is empty", a.where, ErrBadAnswer, name)
	case name == "external_id" && utf8.RuneCountInString(s) > maxExternalIDRunes:
		return "", fmt.Errorf("%s: %w: %q is longer than %d characters", a.where, ErrBadAnswer, name, maxExternalIDRunes)
	case len(s) > maxFieldBytes:
		return "", fmt.Errorf("%s: %w: %q is longer than %d bytes", a.where, ErrBadAnswer, name, maxFieldBytes)
	}
	return s, nil
}

// call sends one GET with a fresh session token and returns the decoded 200 answer.
func (c *Client) call(ctx context.Context, path, baseURL, sub, obj string, flow auth.Flow) (answer, error) {
	endpoint, err := endpointURL(baseURL, path)
	if err != nil {
		return answer{}, fmt.Errorf("bankauth: %s: %w", path, err)
	}
	where := "bankauth: " + path + " at " + endpoint
	if c.sessions == nil {
		return answer{}, fmt.Errorf("%s: no session token issuer", where)
	}
	token, err := c.sessions.IssueSession(sub, obj, flow, c.now())
	if err != nil {
		return answer{}, fmt.Errorf("%s: session token: %w", where, err)
	}

	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return answer{}, fmt.Errorf("%s: %w: %v", where, ErrUnavailable, err)
	}
	req.Header.Set(sessionHeader, token)
	req.Header.Set("Accept", "application/json")

	resp, err := c.http.Do(req)
	if err != nil {
		return answer{}, transportError(where, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized:
		drain(resp.Body)
		return answer{}, fmt.Errorf("%s: %w (HTTP 401)", where, ErrRefused)
	default:
		drain(resp.Body)
		return answer{}, fmt.Errorf("%s: %w: HTTP %d", where, ErrUnavailable, resp.StatusCode)
	}

	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes+1))
	if err != nil {
		return answer{}, transportError(where, err)
	}
	if len(body) > maxAnswerBytes {
		return answer{}, fmt.Errorf("%s: %w: body larger than %d bytes", where, ErrBadAnswer, maxAnswerBytes)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		// Name the position only: the body may hold a secret.
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return answer{}, fmt.Errorf("%s: %w: not JSON (syntax error at byte %d)", where, ErrBadAnswer, syn.Offset)
		}
		return answer{}, fmt.Errorf("%s: %w: not a JSON object", where, ErrBadAnswer)
	}
	return answer{where: where, fields: fields}, nil
}

// transportError classifies a failure to get or read an answer.
func transportError(where string, err error) error {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Errorf("%s: %w: %w", where, ErrTimeout, err)
	}
	return fmt.Errorf("%s: %w: %w", where, ErrUnavailable, err)
}

// drain reads a little of an unused body so the connection can be reused.
func drain(body io.Reader) { _, _ = io.Copy(io.Discard, io.LimitReader(body, 4<<10)) }

// endpointURL joins a bank's base URL and a method path. It refuses URLs with credentials, a query or a fragment,
// so that nothing secret can sit in a URL that errors and logs show.
func endpointURL(baseURL, path string) (string, error) {
	u, err := url.Parse(baseURL)
	switch {
	case err != nil:
		return "", errors.New("bank URL does not parse")
	case u.Scheme != "https" && u.Scheme != "http":
		return "", fmt.Errorf("bank URL scheme %q, want https or http", u.Scheme)
	case u.Host == "":
		return "", errors.New("bank URL has no host")
	case u.User != nil:
		return "", errors.New("bank URL must not carry credentials")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "", errors.New("bank URL must not have a query or fragment")
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawPath = ""
	return u.String(), nil
}
