package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/app"
	"github.com/kazna-ledger/kazna/domain/counterparty"
	"github.com/kazna-ledger/kazna/eventstore"
)

// fakeSigners keeps signer keys per bank, deciding with the domain's rule.
type fakeSigners struct {
	mu   sync.Mutex
	keys map[uuid.UUID][]string
}

func (f *fakeSigners) SignerKeys(_ context.Context, cp uuid.UUID) (app.SignerKeysView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return app.SignerKeysView{Addresses: append([]string{}, f.keys[cp]...), Multisig: true, CallbackURL: "https://bank.test/cb/",
		PlatformSigner: "GPLATFORM", UpdatedAt: time.Unix(0, 0).UTC()}, nil
}

func (f *fakeSigners) SetSignerKeys(_ context.Context, _ app.Request, cp uuid.UUID, addresses []string) (eventstore.Position, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	evs, err := counterparty.Decide(counterparty.State{Exists: true, GUID: cp.String(), SignerKeys: f.keys[cp]},
		counterparty.SetSignerKeys{Addresses: addresses})
	if err != nil {
		return eventstore.Position{}, err
	}
	if f.keys == nil {
		f.keys = map[uuid.UUID][]string{}
	}
	for _, e := range evs {
		f.keys[cp] = e.(counterparty.CounterpartySignerKeysSet).Addresses
	}
	return eventstore.Position{}, nil
}

func TestSignerKeysEndpoints(t *testing.T) {
	d := testDeps()
	fake := &fakeSigners{}
	d.Signers = fake
	h := newRouter(d, Routes(d))
	path := "/api/v1/counterparty/" + bankA + "/signers"
	const k1, k2 = "GAHHH4JJ2EVGO7IPODERHE2JMSBSHF3HWCNFEL26MQGATGSMJKZCGJYJ", "GC63UKIHPPR4F74IZ6BU24ZCJXHO4Y4C2KAUATDAQQFXKRW5FT6AJKYS"

	w := do(t, h, "PUT", path, "bank-a-"+RoleAdministrator, strings.NewReader(`{"addresses":["`+k1+`","`+k2+`"]}`), "Content-Type", "application/json")
	if w.Code != http.StatusOK {
		t.Fatalf("PUT: %d %s", w.Code, w.Body)
	}
	var got signersView
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got.Addresses, ",") != k1+","+k2 || got.SignURL != "https://bank.test/cb/sign" || !got.Multisig || got.PlatformSigner == "" {
		t.Errorf("answer %+v", got)
	}
	// Bad input is 400 naming the field, and changes nothing.
	for _, body := range []string{`{}`, `{"addresses":["GBAD"]}`, `{"addresses":["` + k1 + `","` + k1 + `"]}`,
		`{"addresses":["` + k1 + `","` + k1 + `","` + k1 + `","` + k1 + `","` + k1 + `"]}`} {
		w := do(t, h, "PUT", path, "bank-a-"+RoleAdministrator, strings.NewReader(body), "Content-Type", "application/json")
		if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "addresses") {
			t.Errorf("PUT %s: %d %s", body, w.Code, w.Body)
		}
	}
	w = do(t, h, "GET", path, "bank-a-"+RoleAdministrator, nil)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), k2) {
		t.Errorf("GET: %d %s", w.Code, w.Body)
	}
	// Another bank's administrator cannot read or change bank A's keys.
	if w := do(t, h, "GET", path, "bank-b-admin", nil); w.Code != http.StatusForbidden && w.Code != http.StatusNotFound {
		t.Errorf("bank B reads A's signers: %d", w.Code)
	}
	if w := do(t, h, "PUT", path, "bank-a-nobody", strings.NewReader(`{"addresses":[]}`), "Content-Type", "application/json"); w.Code != http.StatusForbidden {
		t.Errorf("an employee without jwk.write: %d", w.Code)
	}
}
