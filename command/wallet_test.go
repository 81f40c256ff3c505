package command_test

import (
	"errors"
	"fmt"

	"github.com/kazna-ledger/kazna/command"
)

// A toy wallet, only for these tests: its one invariant is that the balance never goes below zero, which
// only holds under concurrency if Handle appends with the revision it decided on.

type walletEvent interface{ isWalletEvent() }

type Deposited struct {
	AmountMinor int64 `json:"amount_minor"`
}

type Withdrawn struct {
	AmountMinor int64 `json:"amount_minor"`
}

type FeeCharged struct {
	AmountMinor int64 `json:"amount_minor"`
}

func (Deposited) isWalletEvent()  {}
func (Withdrawn) isWalletEvent()  {}
func (FeeCharged) isWalletEvent() {}

type wallet struct {
	BalanceMinor int64
	Events       int
}

// Commands. Deposit of zero is a no-op that decides no event.
type (
	Deposit struct{ AmountMinor int64 }
	// DepositWithFee produces two events, to test that a replay returns all of them.
	DepositWithFee struct{ AmountMinor, FeeMinor int64 }
	Withdraw       struct{ AmountMinor int64 }
)

var errInvalidAmount = errors.New("wallet: amount must be positive")

// InsufficientFunds is a typed domain error, to check that Handle passes it through unchanged.
type InsufficientFunds struct{ BalanceMinor, AmountMinor int64 }

func (e *InsufficientFunds) Error() string {
	return fmt.Sprintf("wallet: balance %d is below %d", e.BalanceMinor, e.AmountMinor)
}

func evolveWallet(s wallet, e walletEvent) wallet {
	switch e := e.(type) {
	case Deposited:
		s.BalanceMinor += e.AmountMinor
	case Withdrawn:
		s.BalanceMinor -= e.AmountMinor
	case FeeCharged:
		s.BalanceMinor -= e.AmountMinor
	}
	s.Events++
	return s
}

func decideWallet(s wallet, cmd any) ([]walletEvent, error) {
	switch c := cmd.(type) {
	case Deposit:
		if c.AmountMinor < 0 {
			return nil, errInvalidAmount
		}
		if c.AmountMinor == 0 {
			return nil, nil
		}
		return []walletEvent{Deposited{c.AmountMinor}}, nil
	case DepositWithFee:
		if c.AmountMinor <= 0 || c.FeeMinor < 0 || c.FeeMinor > c.AmountMinor {
			return nil, errInvalidAmount
		}
		return []walletEvent{Deposited{c.AmountMinor}, FeeCharged{c.FeeMinor}}, nil
	case Withdraw:
		if c.AmountMinor <= 0 {
			return nil, errInvalidAmount
		}
		if c.AmountMinor > s.BalanceMinor {
			return nil, &InsufficientFunds{BalanceMinor: s.BalanceMinor, AmountMinor: c.AmountMinor}
		}
		return []walletEvent{Withdrawn{c.AmountMinor}}, nil
	}
	return nil, fmt.Errorf("wallet: unknown command %T", cmd)
}

var walletDecider = command.Decider[wallet, any, walletEvent]{Evolve: evolveWallet, Decide: decideWallet}

var walletEvents = func() *command.Registry[walletEvent] {
	r := command.NewRegistry[walletEvent]()
	if err := errors.Join(
		command.Register[walletEvent, Deposited](r, "Deposited"),
		command.Register[walletEvent, Withdrawn](r, "Withdrawn"),
		command.Register[walletEvent, FeeCharged](r, "FeeCharged"),
	); err != nil {
		return nil // the registry tests and every Handle (ErrInvalid on a nil codec) then fail
	}
	return r
}()

// A counter, the smallest aggregate: its event type is its own event interface.

type Incremented struct{}

type Increment struct{}

var counterDecider = command.Decider[int, Increment, Incremented]{
	Evolve: func(n int, _ Incremented) int { return n + 1 },
	Decide: func(int, Increment) ([]Incremented, error) { return []Incremented{{}}, nil },
}

var counterEvents = func() *command.Registry[Incremented] {
	r := command.NewRegistry[Incremented]()
	if command.Register[Incremented, Incremented](r, "Incremented") != nil {
		return nil
	}
	return r
}()
