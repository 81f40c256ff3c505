package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/kazna-ledger/kazna/auth"
	"github.com/kazna-ledger/kazna/bankauth"
)

// Bounds of the standalone bank authorization service and of its JWKS fetches.
const (
	jwksPath = "/api/v1/.well-known/jwks.json"
	// jwksTTL is how long fetched keys are used before they are fetched again. Kazna publishes a new key
	// 5 minutes before it signs, so a minute never misses one; an unknown kid re-fetches sooner anyway.
	jwksTTL = time.Minute
	// jwksRefetchEvery limits re-fetches forced by unknown kids, so that tokens with invented kids cannot
	// make the service hammer Kazna.
	jwksRefetchEvery = 2 * time.Second
	// jwksMaxStale is how long keys that can no longer be fetched are still used (Kazna restarting).
	jwksMaxStale = 10 * time.Minute
	jwksTimeout  = 5 * time.Second
	jwksMaxBytes = 1 << 20
	// bankAuthShutdown bounds the wait for requests in flight at shutdown.
	bankAuthShutdown   = 10 * time.Second
	bankAuthUsersFile  = "bank-auth-users.json"
	maxSessionKIDBytes = 2 << 10
)

const bankAuthHelp = `It serves GET /user_auth, /key and /external_id (guide §4) for a bank whose auth_url points here, and
checks that every request carries in X-Session-ID a session token signed by Kazna, with the public keys
fetched from <kazna-url>` + jwksPath + ` (kept a minute, fetched again for an unknown key id).
It is a demo, not a bank: it authorizes every subject Kazna names and invents customers on sign-up,
keeping their keys in the --users file (mode 0600). 'kazna serve --demo' runs the same service in-process.

Example, beside 'kazna serve':
  kazna bank-auth --addr 127.0.0.1:9090 --kazna-url http://127.0.0.1:8080`

func bankAuthFlags(fs *flag.FlagSet, c *config) {
	stringFlag(fs, &c.BankAuthAddr, "addr", "KAZNA_BANK_AUTH_ADDR", "127.0.0.1:9090", "address the bank authorization service listens on")
	stringFlag(fs, &c.KaznaURL, "kazna-url", "KAZNA_URL", "http://127.0.0.1:8080", "base URL of Kazna; its public keys are fetched from <url>"+jwksPath)
	stringFlag(fs, &c.BankAuthUsers, "users", "KAZNA_BANK_AUTH_USERS", "", "JSON file of the service's users (customers' keys, kept with mode 0600); empty: <data>/"+bankAuthUsersFile)
}

// checkKaznaURL accepts an absolute http or https URL without query or fragment.
func checkKaznaURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("--kazna-url (KAZNA_URL) must be an http or https base URL such as http://127.0.0.1:8080, not %q", s)
	}
	return nil
}

// bankAuth runs the reference bank authorization service until ctx ends. It is a demo: it authorizes every
// subject Kazna names and invents customers on sign-up (see bankauth.ReferenceService).
func bankAuth(ctx context.Context, c *config, _ io.Writer) error {
	log := c.logger().With("component", "bank-auth")
	users := c.BankAuthUsers
	if users == "" {
		users = filepath.Join(c.Data, bankAuthUsersFile)
	}
	if err := os.MkdirAll(filepath.Dir(users), 0o700); err != nil {
		return fmt.Errorf("create the directory of %s: %w", users, err)
	}
	keys := newJWKSCache(strings.TrimRight(c.KaznaURL, "/")+jwksPath, log)
	svc, err := bankauth.NewReferenceService(bankauth.ReferenceOptions{JWKS: keys.get, DirectoryPath: users})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.BankAuthAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.BankAuthAddr, err)
	}
	srv := newBankAuthServer(keys.refreshOnUnknownKID(svc))
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	if c.onListen != nil {
		c.onListen(ln.Addr().String())
	}
	log.Info("reference bank authorization service serving (a demo: it authorizes every subject Kazna names)",
		"addr", "http://"+ln.Addr().String(), "kazna", c.KaznaURL, "users", users, "version", version)
	select {
	case err := <-served:
		return fmt.Errorf("http server stopped: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), bankAuthShutdown)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("bank authorization service stopped")
	return nil
}

// newBankAuthServer bounds every phase of a request: the service's answers are small and immediate.
func newBankAuthServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 10 * time.Second, IdleTimeout: time.Minute, MaxHeaderBytes: 64 << 10}
}

// jwksCache fetches Kazna's public keys over HTTP and keeps them for jwksTTL.
type jwksCache struct {
	url    string
	client *http.Client
	log    *slog.Logger
	now    func() time.Time

	mu        sync.Mutex
	keys      auth.JWKSet
	fetchedAt time.Time // of the keys held; zero before the first success
	triedAt   time.Time // of the last attempt, successful or not
}

func newJWKSCache(u string, log *slog.Logger) *jwksCache {
	return &jwksCache{url: u, client: &http.Client{Timeout: jwksTimeout}, log: log, now: time.Now}
}

// get returns the keys, fetching them when the cached ones are older than jwksTTL. When a fetch fails, keys
// fetched less than jwksMaxStale ago are still used.
func (c *jwksCache) get() (auth.JWKSet, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if !c.fetchedAt.IsZero() && now.Sub(c.fetchedAt) < jwksTTL {
		return c.keys, nil
	}
	if err := c.fetchLocked(now); err != nil {
		if !c.fetchedAt.IsZero() && now.Sub(c.fetchedAt) < jwksMaxStale {
			return c.keys, nil
		}
		return auth.JWKSet{}, err
	}
	return c.keys, nil
}

// refresh re-fetches at once if kid is not among the cached keys (at most every jwksRefetchEvery).
func (c *jwksCache) refresh(kid string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fetchedAt.IsZero() {
		return // get fetches
	}
	for _, k := range c.keys.Keys {
		if k.Kid == kid {
			return
		}
	}
	now := c.now()
	if now.Sub(c.triedAt) < jwksRefetchEvery {
		return
	}
	_ = c.fetchLocked(now) // on failure the cached keys stay
}

func (c *jwksCache) fetchLocked(now time.Time) error {
	c.triedAt = now
	keys, err := c.fetch()
	if err != nil {
		c.log.Warn("cannot fetch Kazna's public keys", "url", c.url, "err", err)
		return err
	}
	c.keys, c.fetchedAt = keys, now
	return nil
}

func (c *jwksCache) fetch() (auth.JWKSet, error) {
	ctx, cancel := context.WithTimeout(context.Background(), jwksTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return auth.JWKSet{}, fmt.Errorf("jwks: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return auth.JWKSet{}, fmt.Errorf("jwks: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return auth.JWKSet{}, fmt.Errorf("jwks: %s answered %d", c.url, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, jwksMaxBytes+1))
	if err != nil {
		return auth.JWKSet{}, fmt.Errorf("jwks: read: %w", err)
	}
	if len(body) > jwksMaxBytes {
		return auth.JWKSet{}, fmt.Errorf("jwks: answer larger than %d bytes", jwksMaxBytes)
	}
	var set auth.JWKSet
	if err := json.Unmarshal(body, &set); err != nil {
		return auth.JWKSet{}, errors.New("jwks: answer is not a JSON key set")
	}
	return set, nil
}

// refreshOnUnknownKID re-fetches the keys before next serves a session token signed by a kid the cache
// does not hold (Kazna rotated its key since the last fetch).
func (c *jwksCache) refreshOnUnknownKID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if kid := tokenKID(r.Header.Get("X-Session-ID")); kid != "" {
			c.refresh(kid)
		}
		next.ServeHTTP(w, r)
	})
}

// tokenKID is the kid in a JWT's header, or "" (the token itself is checked by the service).
func tokenKID(token string) string {
	head, _, ok := strings.Cut(token, ".")
	if !ok || len(head) > maxSessionKIDBytes {
		return ""
	}
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return ""
	}
	var h struct {
		Kid string `json:"kid"`
	}
	if json.Unmarshal(raw, &h) != nil {
		return ""
	}
	return h.Kid
}
