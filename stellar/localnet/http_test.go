package localnet

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stellar/go-stellar-sdk/clients/horizonclient"
	"github.com/stellar/go-stellar-sdk/xdr"
)

func TestProblemsForBadRequests(t *testing.T) {
	h := newHarness(t, Config{})
	srv := httptest.NewServer(h.n.Handler())
	defer srv.Close()
	root := h.n.Root().Address()
	unknown := randomKeys(t, 1)[0].Address()
	cases := []struct {
		method, path string
		status       int
		kind         string
	}{
		{"GET", "/nope", 404, "not_found"},
		{"GET", "/accounts/" + unknown, 404, "not_found"},
		{"GET", "/accounts/" + unknown + "/payments", 404, "not_found"},
		{"GET", "/accounts/" + root + "/data/missing", 404, "not_found"},
		{"GET", "/accounts/not-an-account", 400, "bad_request"},
		{"GET", "/accounts/" + root + "/payments?limit=0", 400, "bad_request"},
		{"GET", "/accounts/" + root + "/payments?limit=201", 400, "bad_request"},
		{"GET", "/accounts/" + root + "/payments?limit=ten", 400, "bad_request"},
		{"GET", "/accounts/" + root + "/transactions?order=sideways", 400, "bad_request"},
		{"GET", "/accounts/" + root + "/transactions?cursor=-4", 400, "bad_request"},
		{"GET", "/accounts/" + root + "/transactions?cursor=abc", 400, "bad_request"},
		{"GET", "/ledgers?include_failed=maybe", 400, "bad_request"},
		{"GET", "/transactions/" + strings.Repeat("ab", 32), 404, "not_found"},
		{"GET", "/transactions/xyz", 400, "bad_request"},
		{"GET", "/ledgers/999999", 404, "not_found"},
		{"GET", "/operations/12", 404, "not_found"},
		{"DELETE", "/transactions", 405, "method_not_allowed"},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, nil)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var p problem
		err = json.NewDecoder(resp.Body).Decode(&p)
		resp.Body.Close()
		if err != nil || resp.StatusCode != c.status || p.Status != c.status || !strings.HasSuffix(p.Type, "/"+c.kind) ||
			!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
			t.Errorf("%s %s: status %d, problem %+v (%v)", c.method, c.path, resp.StatusCode, p, err)
		}
	}
}

// TestGarbageSubmissions posts inputs no client would build; each must get a 400 problem, never a panic.
func TestGarbageSubmissions(t *testing.T) {
	h := newHarness(t, Config{})
	srv := httptest.NewServer(h.n.Handler())
	defer srv.Close()
	inputs := []string{
		"", "!!!", "AAAA", base64.StdEncoding.EncodeToString([]byte("not xdr at all")),
		base64.StdEncoding.EncodeToString(make([]byte, 4096)), strings.Repeat("A", maxEnvelopeBytes+8),
		// A v1 envelope whose declared operation count is absurd.
		base64.StdEncoding.EncodeToString([]byte{0, 0, 0, 2, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
			17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 0, 0, 0, 100, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255}),
	}
	for i, in := range inputs {
		resp, err := srv.Client().PostForm(srv.URL+"/transactions", url.Values{"tx": {in}})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("input %d: status %d body %s", i, resp.StatusCode, body)
		}
	}
	// The network still works.
	if _, err := h.hc.Root(); err != nil {
		t.Fatal(err)
	}
	if _, err := h.hc.SubmitTransactionXDR("AAAA"); err == nil {
		t.Fatal("garbage accepted")
	} else if rc := resultCodesOf(err); rc == nil || rc.TransactionCode != "tx_malformed" {
		t.Fatalf("garbage: %v", err)
	}
}

func FuzzSubmit(f *testing.F) {
	n, err := Open(Config{})
	if err != nil {
		f.Fatal(err)
	}
	defer n.Close()
	f.Add("AAAAAgAAAAA=")
	f.Add("")
	// A valid envelope lets mutations reach validation and application, not just the decoder.
	root := n.Root()
	f.Add(rawEnvelope(f, n.Passphrase(), root, int64(1)<<32+1, 200,
		[]xdr.Operation{paymentOp(f, root.Address(), 5), paymentOp(f, randomKeys(f, 1)[0].Address(), 5)}, root))
	f.Fuzz(func(t *testing.T, b64 string) {
		out := n.submit(t.Context(), b64)
		if out.rec == nil && out.rej == nil && out.err == nil {
			t.Fatal("submission produced no outcome")
		}
	})
}

func TestListenRefusesNonLoopback(t *testing.T) {
	n, err := Open(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if _, _, err := n.Listen("0.0.0.0:0"); err == nil {
		t.Fatal("Listen on all interfaces succeeded")
	}
	base, shutdown, err := n.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t.Context())
	hc := &horizonclient.Client{HorizonURL: base + "/"}
	root, err := hc.Root()
	if err != nil || root.NetworkPassphrase != DefaultPassphrase {
		t.Fatalf("Root over Listen: %v %+v", err, root)
	}
}
