package localnet

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestAccountsByAssetRefusals: GET /accounts takes exactly one filter, a well-formed asset and an account ID
// as its cursor, as Horizon does; an asset nobody holds is an empty page.
func TestAccountsByAssetRefusals(t *testing.T) {
	n, err := Open(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	root := n.Root().Address()
	for _, c := range []struct {
		query string
		code  int
		n     int
	}{
		{"", 400, 0},
		{"?asset=eUAH:" + root + "&signer=" + root, 400, 0},
		{"?asset=eUAH", 400, 0},
		{"?asset=eUAH:GNOTANACCOUNT", 400, 0},
		{"?asset=eUAH:" + root + "&cursor=12", 400, 0},
		{"?asset=eUAH:" + root + "&limit=201", 400, 0},
		{"?asset=eUAH:" + root, 200, 0},
		{"?signer=" + root, 200, 1}, // the root signs for itself
		{"?sponsor=" + root, 200, 0},
	} {
		w := httptest.NewRecorder()
		n.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/accounts"+c.query, nil))
		if w.Code != c.code {
			t.Errorf("%s: %d, want %d: %s", c.query, w.Code, c.code, w.Body)
			continue
		}
		if c.code == 200 {
			var p struct {
				Embedded struct {
					Records []struct {
						ID string `json:"id"`
					} `json:"records"`
				} `json:"_embedded"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || len(p.Embedded.Records) != c.n {
				t.Errorf("%s: %d records (%v): %s", c.query, len(p.Embedded.Records), err, w.Body)
			}
		}
	}
}
