package uniqueness_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kazna-ledger/kazna/domain/uniqueness"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func TestClaimDecider(t *testing.T) {
	claimed := uniqueness.ValueClaimed{Owner: "a", Value: "Acme", At: t0}
	free := uniqueness.State{}
	held := uniqueness.Evolve(free, claimed)
	released := uniqueness.Evolve(held, uniqueness.ValueReleased{Owner: "a", At: t0})
	for name, tc := range map[string]struct {
		state   uniqueness.State
		cmd     any
		want    []uniqueness.Event
		wantErr error
	}{
		"claim a free value":      {free, uniqueness.Claim{Owner: "a", Value: "Acme", At: t0}, []uniqueness.Event{claimed}, nil},
		"the holder claims again": {held, uniqueness.Claim{Owner: "a", Value: "Acme", At: t0}, nil, nil},
		"another owner claims":    {held, uniqueness.Claim{Owner: "b", At: t0}, nil, uniqueness.ErrTaken},
		"claim after release":     {released, uniqueness.Claim{Owner: "b", At: t0}, []uniqueness.Event{uniqueness.ValueClaimed{Owner: "b", At: t0}}, nil},
		"no owner":                {free, uniqueness.Claim{At: t0}, nil, uniqueness.ErrInvalid},
		"huge value":              {free, uniqueness.Claim{Owner: "a", Value: strings.Repeat("v", uniqueness.MaxValueBytes+1)}, nil, uniqueness.ErrInvalid},
		"huge owner":              {free, uniqueness.Claim{Owner: strings.Repeat("o", uniqueness.MaxOwnerBytes+1)}, nil, uniqueness.ErrInvalid},
		"release":                 {held, uniqueness.Release{Owner: "a", At: t0}, []uniqueness.Event{uniqueness.ValueReleased{Owner: "a", At: t0}}, nil},
		"release twice":           {released, uniqueness.Release{Owner: "a", At: t0}, nil, nil},
		"release by another":      {held, uniqueness.Release{Owner: "b", At: t0}, nil, uniqueness.ErrNotHolder},
		"release without owner":   {held, uniqueness.Release{}, nil, uniqueness.ErrInvalid},
		"unknown command":         {free, 1, nil, uniqueness.ErrUnknownCommand},
	} {
		got, err := uniqueness.Decide(tc.state, tc.cmd)
		if tc.wantErr != nil {
			if !errors.Is(err, tc.wantErr) || got != nil {
				t.Errorf("%s: %v, %v; want %v", name, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %#v, %v; want %#v", name, got, err, tc.want)
		}
	}
	if len(uniqueness.Events.Types()) != 2 {
		t.Fatal(uniqueness.Events.Types())
	}
}

func TestKeys(t *testing.T) {
	if uniqueness.Normalise("  Acme \t  Bank ") != "acme bank" {
		t.Fatal(uniqueness.Normalise("  Acme \t  Bank "))
	}
	if uniqueness.Key("ab", "c") == uniqueness.Key("a", "bc") {
		t.Fatal("parts run together")
	}
	if uniqueness.Key("Acme Bank") != uniqueness.Key("acme  bank") || len(uniqueness.Key("x")) != 64 {
		t.Fatal("key")
	}
	if s := uniqueness.Stream("p-", "\xff\x00 x"); strings.ContainsAny(s, " \x00") {
		t.Fatalf("stream %q", s)
	}
}
