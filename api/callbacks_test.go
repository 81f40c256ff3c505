package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/app"
	"github.com/kazna-ledger/kazna/domain/callback"
	"github.com/kazna-ledger/kazna/domain/counterparty"
	"github.com/kazna-ledger/kazna/domain/payment"
	"github.com/kazna-ledger/kazna/eventstore"
)

var _ CallbackService = (*app.Callbacks)(nil)

// fakeCallbacks answers a fixed secret and the log of one payment of bank A.
type fakeCallbacks struct {
	payment uuid.UUID

	mu       sync.Mutex
	requests []app.Request
	banks    []uuid.UUID
}

var fakeSecret = bytes.Repeat([]byte{0xab}, callback.SecretBytes)

func (f *fakeCallbacks) RotateCallbackSecret(_ context.Context, r app.Request, cp uuid.UUID) ([]byte, eventstore.Position, error) {
	if cp.String() != bankA {
		return nil, eventstore.Position{}, counterparty.ErrNotFound
	}
	f.mu.Lock()
	f.requests, f.banks = append(f.requests, r), append(f.banks, cp)
	f.mu.Unlock()
	return bytes.Clone(fakeSecret), eventstore.Position{Commit: 9, Prepare: 9}, nil
}

var callbackAt = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func (f *fakeCallbacks) PaymentCallbacks(_ context.Context, cp, pay uuid.UUID) ([]app.CallbackEntry, error) {
	if cp.String() != bankA || pay != f.payment {
		return nil, payment.ErrNotFound
	}
	return []app.CallbackEntry{
		{Kind: callback.KindPayOut, Counterparty: bankA, URL: "https://a.test/api/dcm/notify/pay-out", Attempt: 1, Status: 503,
			Error: "HTTP 503: busy", At: callbackAt},
		{Kind: callback.KindPayOut, Counterparty: bankA, URL: "https://a.test/api/dcm/notify/pay-out", Attempt: 2, Status: 200,
			Delivered: true, At: callbackAt.Add(time.Second)},
	}, nil
}

func TestCallbackSecretEndpoint(t *testing.T) {
	fake := &fakeCallbacks{}
	d := testDeps()
	d.Callbacks = fake
	h := NewRouter(d)
	path := "/api/v1/counterparty/" + bankA + "/callbacks/secret"

	// No body at all, then {}: both set a secret, answered once in base64 and never cached.
	for _, body := range []string{"", "{}"} {
		var hdr []string
		if body != "" {
			hdr = []string{"Content-Type", "application/json"}
		}
		w := do(t, h, "POST", path, "bank-a-"+RoleAdministrator, strings.NewReader(body), append(hdr, "Idempotency-Key", "rotate-1")...)
		if w.Code != 200 || w.Header().Get("Cache-Control") != "no-store" {
			t.Fatalf("body %q: %d %s (Cache-Control %q)", body, w.Code, w.Body, w.Header().Get("Cache-Control"))
		}
		var got map[string]string
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || len(got) != 1 {
			t.Fatalf("answer %s: %v", w.Body, err)
		}
		if raw, err := base64.StdEncoding.DecodeString(got["secret"]); err != nil || !bytes.Equal(raw, fakeSecret) {
			t.Fatalf("secret %q: %v", got["secret"], err)
		}
	}
	fake.mu.Lock()
	reqs := slices.Clone(fake.requests)
	fake.mu.Unlock()
	if len(reqs) != 2 || reqs[0].Actor != "emp@0b0c" || reqs[0].IdempotencyKey != "rotate-1" || !bytes.Equal(reqs[0].Fingerprint, reqs[1].Fingerprint) {
		t.Fatalf("requests %+v: an empty body and {} must be the same request", reqs)
	}

	// A bank system may; an Operator may not (the permission is the Administrator's); no field is taken.
	if w := do(t, h, "POST", path, "cx:bank-a-system", nil); w.Code != 200 {
		t.Fatalf("bank system: %d %s", w.Code, w.Body)
	}
	if body := errorOf(t, do(t, h, "POST", path, "bank-a-"+RoleOperator, nil), 403, CodeForbidden); body.Permission != PermCallbacksWrite {
		t.Fatalf("denial %+v", body)
	}
	errorOf(t, do(t, h, "POST", path, "bank-a-"+RoleAdministrator, strings.NewReader(`{"secret":"mine"}`), "Content-Type", "application/json"), 400, CodeUnknownField)
	errorOf(t, do(t, h, "POST", path, "bank-a-"+RoleAdministrator, strings.NewReader(`{}`), "Content-Type", "text/plain"), 415, CodeUnsupportedMediaType)
	// An unknown bank (the platform administrator may name any): 404.
	errorOf(t, do(t, h, "POST", "/api/v1/counterparty/"+uuid.NewString()+"/callbacks/secret", "platform-admin", nil), 404, CodeNotFound)

	d.Callbacks = nil
	errorOf(t, do(t, NewRouter(d), "POST", path, "bank-a-"+RoleAdministrator, nil), 503, CodeUnavailable)
}

func TestPaymentCallbacksEndpoint(t *testing.T) {
	fake := &fakeCallbacks{payment: uuid.New()}
	d := testDeps()
	d.Callbacks = fake
	h := NewRouter(d)
	path := "/api/v1/counterparty/" + bankA + "/payments/" + fake.payment.String() + "/callbacks"

	w := do(t, h, "GET", path, "bank-a-"+RoleObserver, nil)
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	// The wire shape, key by key.
	var raw struct {
		Callbacks []map[string]any `json:"callbacks"`
		Total     int              `json:"total"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &raw); err != nil || raw.Total != 2 || len(raw.Callbacks) != 2 {
		t.Fatalf("answer %s: %v", w.Body, err)
	}
	keys := []string{"abandoned", "at", "attempt", "counterparty_guid", "delivered", "error", "kind", "status", "url"}
	for _, c := range raw.Callbacks {
		got := slices.Sorted(func(yield func(string) bool) {
			for k := range c {
				if !yield(k) {
					return
				}
			}
		})
		if !reflect.DeepEqual(got, keys) {
			t.Fatalf("entry keys %v, want %v", got, keys)
		}
	}
	var list callbackList
	dec := json.NewDecoder(bytes.NewReader(w.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&list); err != nil {
		t.Fatal(err)
	}
	want := callbackView{Kind: callback.KindPayOut, Counterparty: bankA, URL: "https://a.test/api/dcm/notify/pay-out", Attempt: 2,
		Status: 200, Delivered: true, At: callbackAt.Add(time.Second)}
	if list.Callbacks[1] != want || list.Callbacks[0].Error != "HTTP 503: busy" || list.Callbacks[0].Delivered {
		t.Fatalf("entries %+v", list.Callbacks)
	}

	errorOf(t, do(t, h, "GET", "/api/v1/counterparty/"+bankA+"/payments/"+uuid.NewString()+"/callbacks", "bank-a-"+RoleObserver, nil), 404, CodeNotFound)
	errorOf(t, do(t, h, "GET", "/api/v1/counterparty/"+bankA+"/payments/not-a-guid/callbacks", "bank-a-"+RoleObserver, nil), 400, CodeInvalidField)
	// Another bank cannot read bank A's path, and a caller without payments.read cannot either.
	errorOf(t, do(t, h, "GET", path, "bank-b-admin", nil), 403, CodeForbidden)
	errorOf(t, do(t, h, "GET", path, "bank-a-nobody", nil), 403, CodeForbidden)
	d.Callbacks = nil
	errorOf(t, do(t, NewRouter(d), "GET", path, "bank-a-"+RoleObserver, nil), 503, CodeUnavailable)
}
