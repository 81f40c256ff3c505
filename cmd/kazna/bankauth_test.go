package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kazna-ledger/kazna/auth"
)

func testKeyring(t *testing.T) *auth.Keyring {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	sk, err := auth.NewSigningKey(priv, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	kr, err := auth.NewKeyring(auth.KeyringConfig{}, sk)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// TestBankAuthCommand runs kazna bank-auth in-process against a JWKS server: a session token signed by Kazna's
// key is accepted, a forged or missing one is refused, and after a key rotation the unknown kid is fetched at once.
func TestBankAuthCommand(t *testing.T) {
	kazna, impostor := testKeyring(t), testKeyring(t)
	var current atomic.Pointer[auth.Keyring]
	current.Store(kazna)
	var fetches atomic.Int32
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != jwksPath {
			http.NotFound(w, r)
			return
		}
		fetches.Add(1)
		json.NewEncoder(w).Encode(current.Load().JWKS())
	}))
	defer jwks.Close()

	data := t.TempDir()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	addrCh := make(chan string, 1)
	var logs syncBuffer
	c := &config{Data: data, LogLevel: "info", LogFormat: "text", BankAuthAddr: "127.0.0.1:0", KaznaURL: jwks.URL,
		logOut: &logs, onListen: func(a string) { addrCh <- a }}
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- bankAuth(ctx, c, io.Discard) }()
	var base string
	select {
	case a := <-addrCh:
		base = "http://" + a
	case err := <-done:
		t.Fatalf("bank-auth stopped: %v; logs:\n%s", err, logs.String())
	case <-time.After(10 * time.Second):
		t.Fatal("bank-auth did not listen")
	}

	get := func(token string) (int, map[string]string) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+"/user_auth", nil)
		if token != "" {
			req.Header.Set("X-Session-ID", token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]string
		json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	session := func(kr *auth.Keyring) string {
		tok, err := kr.IssueSession("employee-1", "olena@example.com", auth.FlowSignUp, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	if code, body := get(session(kazna)); code != 200 || body["external_id"] == "" || body["key"] == "" {
		t.Fatalf("a session signed by Kazna: %d %v, want 200 with external_id and key", code, body)
	}
	for name, tok := range map[string]string{"forged": session(impostor), "missing": "", "garbage": "not.a.token"} {
		if code, _ := get(tok); code != http.StatusUnauthorized {
			t.Fatalf("%s session token: %d, want 401", name, code)
		}
	}
	// Kazna rotates to a new key: the first token with its kid makes the service fetch the keys again.
	time.Sleep(jwksRefetchEvery)
	rotated := testKeyring(t)
	current.Store(rotated)
	before := fetches.Load()
	if code, _ := get(session(rotated)); code != 200 {
		t.Fatalf("a session signed by Kazna's new key: %d, want 200", code)
	}
	if fetches.Load() != before+1 {
		t.Fatalf("the unknown kid should fetch the keys once: %d fetches, was %d", fetches.Load(), before)
	}
	if fi, err := os.Stat(filepath.Join(data, bankAuthUsersFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the users file should exist with mode 0600: %v %v", fi, err)
	}

	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("bank-auth: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("bank-auth did not stop")
	}
	if strings.Contains(logs.String(), "eyJ") {
		t.Fatalf("a token reached the log:\n%s", logs.String())
	}
}

func TestBankAuthRefusesABadKaznaURL(t *testing.T) {
	for _, u := range []string{"ftp://x", "127.0.0.1:8080", "http://user:pw@host", "http://host/?q=1"} {
		if code, _, errOut := runCLI(t, "bank-auth", "--kazna-url", u); code != 2 || !strings.Contains(errOut, "KAZNA_URL") {
			t.Fatalf("--kazna-url %q: exit %d %s, want 2 naming KAZNA_URL", u, code, errOut)
		}
	}
	if code, _, _ := runCLI(t, "serve", "--demo", "--demo-bank-auth-addr", "0.0.0.0:9090"); code != 2 {
		t.Fatalf("a demo bank-auth address off loopback must be refused: exit %d", code)
	}
	t.Setenv("KAZNA_DEMO", "yes please")
	if code, _, errOut := runCLI(t, "serve"); code != 2 || !strings.Contains(errOut, "KAZNA_DEMO") {
		t.Fatalf("a bad KAZNA_DEMO must be refused naming it: exit %d %s", code, errOut)
	}
}
