package bankauth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kazna-ledger/kazna/auth"
)

// fakeBank answers every request with status and body, and records what Kazna sent.
type fakeBank struct {
	t       *testing.T
	keys    *auth.Keyring
	status  int
	body    string
	path    string
	session auth.Session
	header  http.Header
}

func (b *fakeBank) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.path, b.header = r.URL.Path, r.Header.Clone()
	s, err := auth.VerifySession(r.Header.Get("X-Session-ID"), b.keys.JWKS(), time.Now())
	if err != nil {
		b.t.Errorf("bank: X-Session-ID does not verify: %v", err)
	}
	b.session = s
	w.WriteHeader(b.status)
	_, _ = w.Write([]byte(b.body))
}

func newFake(t *testing.T, status int, body string) (*fakeBank, *httptest.Server, *Client) {
	t.Helper()
	kr := testKeyring(t, 0)
	b := &fakeBank{t: t, keys: kr, status: status, body: body}
	srv := httptest.NewServer(b)
	t.Cleanup(srv.Close)
	return b, srv, NewClient(kr, ClientOptions{Timeout: 500 * time.Millisecond})
}

func TestClientHappyPaths(t *testing.T) {
	ctx := context.Background()
	t.Run("user_auth", func(t *testing.T) {
		b, srv, c := newFake(t, 200, `{"external_id":"123456789","first_name":"Olena","last_name":"Shevchenko",`+
			`"email":"olena@example.com","phone":"+380501234567","key":"s3cret"}`)
		u, err := c.UserAuth(ctx, srv.URL+"/auth/", "clerk@bank.example", "olena-login", auth.FlowSignUp)
		if err != nil {
			t.Fatal(err)
		}
		want := User{ExternalID: "123456789", FirstName: "Olena", LastName: "Shevchenko", Email: "olena@example.com",
			Phone: "+380501234567", Key: "s3cret"}
		if u != want {
			t.Fatalf("user = %#v", u)
		}
		if b.path != "/auth/user_auth" || b.session.Subject != "clerk@bank.example" || b.session.Object != "olena-login" ||
			b.session.Flow != auth.FlowSignUp {
			t.Fatalf("bank saw path %s, session %+v", b.path, b.session)
		}
		if b.header.Get("Authorization") != "" || b.header.Get("Cookie") != "" {
			t.Fatalf("extra credentials sent: %v", b.header)
		}
		if strings.Contains(u.String(), "s3cret") || strings.Contains(strings.ToLower(u.GoString()), "s3cret") {
			t.Fatal("User.String shows the key")
		}
	})
	t.Run("key", func(t *testing.T) {
		b, srv, c := newFake(t, 200, `{"key":"s3cret"}`)
		k, err := c.Key(ctx, srv.URL, "clerk", "123456789", auth.FlowSignIn)
		if err != nil || k != "s3cret" {
			t.Fatalf("key = %q, %v", k, err)
		}
		if b.path != "/key" || b.session.Object != "123456789" || b.session.Flow != auth.FlowSignIn || b.session.Subject != "clerk" {
			t.Fatalf("bank saw %s %+v", b.path, b.session)
		}
	})
	t.Run("external_id", func(t *testing.T) {
		b, srv, c := newFake(t, 200, `{"external_id":"123456789"}`)
		id, err := c.ExternalID(ctx, srv.URL, "clerk", "123456789", auth.FlowSignUpProcessing)
		if err != nil || id != "123456789" {
			t.Fatalf("external id = %q, %v", id, err)
		}
		if b.path != "/external_id" || b.session.Object != "123456789" || b.session.Flow != auth.FlowSignUpProcessing {
			t.Fatalf("bank saw %s %+v", b.path, b.session)
		}
	})
}

func TestClientFailures(t *testing.T) {
	ctx := context.Background()
	for name, tc := range map[string]struct {
		status int
		body   string
		call   string
		want   error
	}{
		"401":                  {401, `{"error":"no"}`, "user_auth", ErrRefused},
		"500":                  {500, `oops`, "user_auth", ErrUnavailable},
		"404":                  {404, ``, "key", ErrUnavailable},
		"204":                  {204, ``, "key", ErrUnavailable},
		"garbage":              {200, `<html>hello</html>`, "user_auth", ErrBadAnswer},
		"json array":           {200, `[]`, "user_auth", ErrBadAnswer},
		"json null":            {200, `null`, "key", ErrBadAnswer},
		"trailing garbage":     {200, `{"key":"a"} x`, "key", ErrBadAnswer},
		"missing external_id":  {200, `{"key":"s3cret-value"}`, "user_auth", ErrBadAnswer},
		"missing key":          {200, `{"external_id":"1"}`, "user_auth", ErrBadAnswer},
		"empty key":            {200, `{"external_id":"1","key":""}`, "user_auth", ErrBadAnswer},
		"numeric external_id":  {200, `{"external_id":123,"key":"k"}`, "user_auth", ErrBadAnswer},
		"external_id too long": {200, `{"external_id":"` + strings.Repeat("9", 501) + `","key":"k"}`, "user_auth", ErrBadAnswer},
		"key missing on /key":  {200, `{"external_id":"1"}`, "key", ErrBadAnswer},
		"missing on /ext":      {200, `{"key":"s3cret-value"}`, "external_id", ErrBadAnswer},
		"oversized":            {200, `{"key":"` + strings.Repeat("a", 70<<10) + `"}`, "key", ErrBadAnswer},
	} {
		t.Run(name, func(t *testing.T) {
			_, srv, c := newFake(t, tc.status, tc.body)
			var err error
			switch tc.call {
			case "user_auth":
				_, err = c.UserAuth(ctx, srv.URL, "clerk", "login", auth.FlowSignIn)
			case "key":
				_, err = c.Key(ctx, srv.URL, "clerk", "1", auth.FlowSignIn)
			case "external_id":
				_, err = c.ExternalID(ctx, srv.URL, "clerk", "1", auth.FlowSignIn)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if name == "oversized" && !strings.Contains(err.Error(), "larger than 65536 bytes") {
				t.Fatalf("oversized answer not named as such: %v", err)
			}
			// The error names the call and the bank, and never the answer's secret.
			if msg := err.Error(); !strings.Contains(msg, "/"+tc.call) || !strings.Contains(msg, srv.URL) ||
				strings.Contains(msg, "s3cret") {
				t.Fatalf("error message %q", msg)
			}
		})
	}
}

func TestClientTimeout(t *testing.T) {
	kr := testKeyring(t, 0)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)

	c := NewClient(kr, ClientOptions{}) // the default: the guide's 1 s
	start := time.Now()
	_, err := c.UserAuth(context.Background(), srv.URL, "clerk", "login", auth.FlowSignIn)
	elapsed := time.Since(start)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if elapsed < 900*time.Millisecond || elapsed > 1900*time.Millisecond {
		t.Fatalf("gave up after %v, want about 1 s", elapsed)
	}
}

func TestClientSlowBody(t *testing.T) {
	// Headers arrive at once but the body trickles: the time limit covers reading the answer too.
	kr := testKeyring(t, 0)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		_, _ = w.Write([]byte(`{"key":`))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer srv.Close()
	c := NewClient(kr, ClientOptions{Timeout: 200 * time.Millisecond})
	if _, err := c.Key(context.Background(), srv.URL, "clerk", "1", auth.FlowSignIn); !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
}

func TestClientRefusesRedirects(t *testing.T) {
	kr := testKeyring(t, 0)
	leaked := make(chan string, 1)
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked <- r.Header.Get("X-Session-ID")
		_, _ = w.Write([]byte(`{"key":"k"}`))
	}))
	defer elsewhere.Close()
	srv := httptest.NewServer(http.RedirectHandler(elsewhere.URL+"/key", http.StatusFound))
	defer srv.Close()
	c := NewClient(kr, ClientOptions{Timeout: time.Second})
	if _, err := c.Key(context.Background(), srv.URL, "clerk", "1", auth.FlowSignIn); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	select {
	case tok := <-leaked:
		t.Fatalf("session token followed the redirect (%d bytes)", len(tok))
	default:
	}
}

func TestClientBadInput(t *testing.T) {
	c := NewClient(testKeyring(t, 0), ClientOptions{Timeout: 200 * time.Millisecond})
	ctx := context.Background()
	for _, u := range []string{"", "ftp://bank.example", "https://", "https://user:pass@bank.example", "https://bank.example/?token=x", "::"} {
		if _, err := c.Key(ctx, u, "clerk", "1", auth.FlowSignIn); err == nil || strings.Contains(err.Error(), "pass") {
			t.Errorf("base URL %q: %v", u, err)
		}
	}
	if _, err := c.Key(ctx, "http://bank.example", "clerk", "1", auth.Flow("sign-out")); err == nil {
		t.Error("unknown flow accepted")
	}
	// Nothing listens on the port of a closed server.
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	if _, err := c.Key(ctx, srv.URL, "clerk", "1", auth.FlowSignIn); !errors.Is(err, ErrUnavailable) {
		t.Errorf("closed port: %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.Key(cancelled, "http://bank.example", "clerk", "1", auth.FlowSignIn); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}
