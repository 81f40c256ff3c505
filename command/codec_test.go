package command_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/kazna-ledger/kazna/command"
)

func TestRegistryRoundTrip(t *testing.T) {
	if walletEvents == nil {
		t.Fatal("the wallet registry failed to build")
	}
	for _, e := range []walletEvent{Deposited{100}, Withdrawn{1}, FeeCharged{0}} {
		typ, data, err := walletEvents.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		back, err := walletEvents.Decode(typ, data)
		if err != nil || back != e {
			t.Fatalf("%T: encoded as %s %s, decoded %#v, %v", e, typ, data, back, err)
		}
	}
	if got := walletEvents.Types(); !reflect.DeepEqual(got, []string{"Deposited", "FeeCharged", "Withdrawn"}) {
		t.Fatalf("Types() = %v", got)
	}
	// Unknown fields are a newer writer's additions, not an error.
	if e, err := walletEvents.Decode("Deposited", []byte(`{"amount_minor":5,"note":"x"}`)); err != nil || e != (Deposited{5}) {
		t.Fatalf("decode with an extra field: %#v, %v", e, err)
	}
}

type unregistered struct{}

func (unregistered) isWalletEvent() {}

type pointerEvent struct{ N int }

func (*pointerEvent) isWalletEvent() {}

func TestRegistryRefusals(t *testing.T) {
	if _, _, err := walletEvents.Encode(unregistered{}); !errors.Is(err, command.ErrUnknownEventType) {
		t.Errorf("encode an unregistered type: %v", err)
	}
	if _, _, err := walletEvents.Encode(nil); !errors.Is(err, command.ErrUnknownEventType) {
		t.Errorf("encode nil: %v", err)
	}
	if _, err := walletEvents.Decode("Nope", []byte(`{}`)); !errors.Is(err, command.ErrUnknownEventType) {
		t.Errorf("decode an unknown type: %v", err)
	}
	if _, err := walletEvents.Decode("Deposited", []byte(`{"amount_minor":"ten"}`)); err == nil {
		t.Errorf("decode bad JSON: no error")
	}
	var nilRegistry *command.Registry[walletEvent]
	if _, err := nilRegistry.Decode("Deposited", nil); !errors.Is(err, command.ErrUnknownEventType) {
		t.Errorf("nil registry: %v", err)
	}

	r := command.NewRegistry[walletEvent]()
	if err := command.Register[walletEvent, Deposited](r, "Deposited"); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"name twice":         command.Register[walletEvent, Withdrawn](r, "Deposited"),
		"type twice":         command.Register[walletEvent, Deposited](r, "Deposited2"),
		"empty name":         command.Register[walletEvent, Withdrawn](r, ""),
		"interface type":     command.Register[walletEvent, walletEvent](r, "Any"),
		"not an event":       command.Register[walletEvent, struct{}](r, "Struct"),
		"value of ptr event": command.Register[walletEvent, pointerEvent](r, "Ptr"),
		"nil registry":       command.Register[walletEvent, Withdrawn](nil, "Withdrawn"),
	} {
		if !errors.Is(err, command.ErrRegistry) {
			t.Errorf("%s: want ErrRegistry, got %v", name, err)
		}
	}

	// A pointer type whose methods are on the pointer registers and round-trips.
	if err := command.Register[walletEvent, *pointerEvent](r, "Ptr"); err != nil {
		t.Fatal(err)
	}
	typ, data, err := r.Encode(&pointerEvent{N: 3})
	if err != nil {
		t.Fatal(err)
	}
	back, err := r.Decode(typ, data)
	if p, ok := back.(*pointerEvent); err != nil || !ok || p.N != 3 {
		t.Fatalf("pointer event decoded as %#v, %v", back, err)
	}
}
