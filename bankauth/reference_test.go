package bankauth

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/kazna-ledger/kazna/auth"
)

func newReference(t *testing.T, kr *auth.Keyring, path string) (*ReferenceService, *httptest.Server) {
	t.Helper()
	ref, err := NewReferenceService(ReferenceOptions{
		JWKS:          func() (auth.JWKSet, error) { return kr.JWKS(), nil },
		DirectoryPath: path,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ref)
	t.Cleanup(srv.Close)
	return ref, srv
}

func TestReferenceServiceEndToEnd(t *testing.T) {
	kr := testKeyring(t, 0)
	path := filepath.Join(t.TempDir(), "users.json")
	_, srv := newReference(t, kr, path)
	c := NewClient(kr, ClientOptions{})
	ctx := context.Background()

	// Unknown login on sign-in: refused.
	if _, err := c.UserAuth(ctx, srv.URL, "clerk", "olena", auth.FlowSignIn); !errors.Is(err, ErrRefused) {
		t.Fatalf("unknown sign-in: %v", err)
	}
	// Sign-up registers the login with an external id and a 32-byte key.
	u, err := c.UserAuth(ctx, srv.URL, "clerk", "olena", auth.FlowSignUp)
	if err != nil {
		t.Fatal(err)
	}
	if raw, err := base64.StdEncoding.DecodeString(u.Key); err != nil || len(raw) != 32 || u.ExternalID == "" {
		t.Fatalf("registered user = %v (key %d bytes, %v)", u, len(raw), err)
	}
	// Known login on sign-in, and a second sign-up: the same user, not a new one.
	for _, f := range []auth.Flow{auth.FlowSignIn, auth.FlowSignUpEmission} {
		again, err := c.UserAuth(ctx, srv.URL, "clerk", "olena", f)
		if err != nil || again != u {
			t.Fatalf("%s: %v, %v", f, again, err)
		}
	}
	if k, err := c.Key(ctx, srv.URL, "clerk", u.ExternalID, auth.FlowSignIn); err != nil || k != u.Key {
		t.Fatalf("key: %v", err)
	}
	if id, err := c.ExternalID(ctx, srv.URL, "clerk", u.ExternalID, auth.FlowSignIn); err != nil || id != u.ExternalID {
		t.Fatalf("external id: %q, %v", id, err)
	}
	for _, f := range []auth.Flow{auth.FlowSignIn, auth.FlowSignUp} {
		if _, err := c.Key(ctx, srv.URL, "clerk", "no-such-id", f); !errors.Is(err, ErrRefused) {
			t.Fatalf("key of unknown id (%s): %v", f, err)
		}
		if _, err := c.ExternalID(ctx, srv.URL, "clerk", "no-such-id", f); !errors.Is(err, ErrRefused) {
			t.Fatalf("unknown external id (%s): %v", f, err)
		}
	}

	// The directory survives a restart, in a file only the owner can read.
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("directory mode %v", st.Mode().Perm())
	}
	_, srv2 := newReference(t, kr, path)
	if again, err := c.UserAuth(ctx, srv2.URL, "clerk", "olena", auth.FlowSignIn); err != nil || again != u {
		t.Fatalf("after restart: %v, %v", again, err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := NewReferenceService(ReferenceOptions{JWKS: func() (auth.JWKSet, error) { return kr.JWKS(), nil }, DirectoryPath: path}); err == nil {
		t.Fatal("world-readable directory accepted")
	}
}

func TestReferenceServiceRefusesBadTokens(t *testing.T) {
	kr := testKeyring(t, 0)
	impostor := testKeyring(t, 1)
	_, srv := newReference(t, kr, "")

	get := func(path, token string) int {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if token != "" {
			req.Header.Set("X-Session-ID", token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	now := time.Now()
	good, _ := kr.IssueSession("clerk", "olena", auth.FlowSignUp, now)
	if code := get("/user_auth", good); code != 200 {
		t.Fatalf("good token: %d", code)
	}
	forged, _ := impostor.IssueSession("clerk", "mallory", auth.FlowSignUp, now)
	expired, _ := kr.IssueSession("clerk", "mallory", auth.FlowSignUp, now.Add(-5*time.Minute))
	apiToken, _, _ := kr.Issue(auth.Claims{Subject: "clerk"}, time.Minute, now)
	kid := kr.JWKS().Keys[0].Kid
	none := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "clerk", "obj": "mallory", "flow": "sign-up",
		"iss": "kazna", "aud": "bank-auth", "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()})
	none.Header["kid"] = kid
	noneTok, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)

	for name, tok := range map[string]string{
		"no token": "", "garbage": "abc", "other signer": forged, "expired": expired,
		"API token": apiToken, "alg none": noneTok,
	} {
		for _, path := range []string{"/user_auth", "/key", "/external_id"} {
			if code := get(path, tok); code != http.StatusUnauthorized {
				t.Errorf("%s on %s: %d", name, path, code)
			}
		}
	}
	if code := get("/elsewhere", good); code != http.StatusNotFound {
		t.Errorf("unknown path: %d", code)
	}
}
