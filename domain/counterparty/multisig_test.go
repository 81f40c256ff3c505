package counterparty

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
)

// CosignerWeights: for every number of bank keys, the customer, the platform and any one bank key reach the
// payment threshold, and no set missing the customer, the platform or every bank key does.
func TestCosignerWeightsNeedAllThreeParties(t *testing.T) {
	for n := 1; n <= MaxSignerKeys; n++ {
		w, err := CosignerWeights(n)
		if err != nil {
			t.Fatal(err)
		}
		all := int(w.Customer) + int(w.Platform) + n*int(w.BankKey)
		for _, c := range []struct {
			name  string
			total int
			ok    bool
		}{
			{"customer + platform + one bank key", int(w.Customer) + int(w.Platform) + int(w.BankKey), true},
			{"customer + platform", int(w.Customer) + int(w.Platform), false},
			{"customer + every bank key", int(w.Customer) + n*int(w.BankKey), false},
			{"platform + every bank key", int(w.Platform) + n*int(w.BankKey), false},
		} {
			if (c.total >= int(w.Medium)) != c.ok || (c.total >= int(w.High)) != c.ok {
				t.Errorf("%d bank keys, %s: weight %d, thresholds %d/%d", n, c.name, c.total, w.Medium, w.High)
			}
		}
		if all > 255 || w.Low != 1 {
			t.Errorf("%d bank keys: %+v", n, w)
		}
	}
	if _, err := CosignerWeights(0); err == nil {
		t.Error("no bank key accepted")
	}
}

func TestSignerKeys(t *testing.T) {
	const k1, k2 = "GAHHH4JJ2EVGO7IPODERHE2JMSBSHF3HWCNFEL26MQGATGSMJKZCGJYJ", "GC63UKIHPPR4F74IZ6BU24ZCJXHO4Y4C2KAUATDAQQFXKRW5FT6AJKYS"
	s := State{Exists: true, GUID: uuid.NewString()}
	evs, err := Decide(s, SetSignerKeys{Addresses: []string{k1, k2}, At: time.Now()})
	if err != nil || len(evs) != 1 {
		t.Fatalf("%v %v", evs, err)
	}
	s = Evolve(s, evs[0])
	if len(s.SignerKeys) != 2 {
		t.Fatalf("%v", s.SignerKeys)
	}
	if evs, err := Decide(s, SetSignerKeys{Addresses: []string{k1, k2}}); err != nil || len(evs) != 0 {
		t.Fatalf("same keys again: %v %v", evs, err)
	}
	var inv *ErrInvalid
	for _, bad := range [][]string{{"GBAD"}, {k1, k1}, {k1, k2, k1, k2, k1}} {
		if _, err := Decide(s, SetSignerKeys{Addresses: bad}); !errors.As(err, &inv) {
			t.Errorf("%v: %v", bad, err)
		}
	}
	if _, err := Decide(State{}, SetSignerKeys{Addresses: []string{k1}}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown counterparty: %v", err)
	}
}

func TestCosigningRecordIsWrittenOnce(t *testing.T) {
	const acct, plat, k1 = "GAHHH4JJ2EVGO7IPODERHE2JMSBSHF3HWCNFEL26MQGATGSMJKZCGJYJ", "GC63UKIHPPR4F74IZ6BU24ZCJXHO4Y4C2KAUATDAQQFXKRW5FT6AJKYS", "GAHHH4JJ2EVGO7IPODERHE2JMSBSHF3HWCNFEL26MQGATGSMJKZCGJYJ"
	w, _ := CosignerWeights(1)
	cmd := RecordCosigning{AccountGUID: uuid.New(), CounterpartyGUID: uuid.New(), Address: acct, BankSigners: []string{k1}, PlatformSigner: plat, Weights: w}
	evs, err := decideCosigned(CosignedAccount{}, cmd)
	if err != nil || len(evs) != 1 {
		t.Fatalf("%v %v", evs, err)
	}
	s := evolveCosigned(CosignedAccount{}, evs[0])
	if evs, err := decideCosigned(s, cmd); err != nil || len(evs) != 0 {
		t.Fatalf("retry: %v %v", evs, err)
	}
	other := cmd
	other.PlatformSigner = acct
	if _, err := decideCosigned(s, other); !errors.Is(err, ErrAlreadyExists) {
		t.Fatalf("another set-up: %v", err)
	}
	bad := cmd
	bad.Weights.Medium = 2
	if _, err := decideCosigned(CosignedAccount{}, bad); err == nil {
		t.Fatal("weak thresholds accepted")
	}
}
