package api

import (
	"context"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/app"
	"github.com/kazna-ledger/kazna/domain/money"
	"github.com/kazna-ledger/kazna/projections"
)

// CustomerService runs the customers, digital entities and segments of guide §7–§8 and seed 002
// (app.Customers). Every write answers the log position of its last event, so a read can wait for it.
type CustomerService interface {
	RegisterCustomer(ctx context.Context, cp uuid.UUID, in app.CustomerInput, w app.Write) (app.OpenedCustomer, error)
	UpdateCustomer(ctx context.Context, cp, guid uuid.UUID, patch app.CustomerPatch, w app.Write) (app.Written, error)
	// OpenCustomerAccount opens one more account of the customer; Written.GUID is the account's.
	OpenCustomerAccount(ctx context.Context, cp, customerGUID uuid.UUID, iban string, w app.Write) (app.Written, error)
	// OpenEntity opens an additional processing or emission entity; Written.GUID is the account's.
	OpenEntity(ctx context.Context, cp uuid.UUID, in app.EntityInput, w app.Write) (app.Written, error)
	BlockAccount(ctx context.Context, cp, accountGUID uuid.UUID, reason string, w app.Write) (app.Written, error)
	UnblockAccount(ctx context.Context, cp, accountGUID uuid.UUID, w app.Write) (app.Written, error)
	SetSegment(ctx context.Context, cp, accountGUID uuid.UUID, segment string, w app.Write) (app.Written, error)

	Customer(ctx context.Context, cp, guid string) (projections.Customer, bool)
	ListCustomers(ctx context.Context, q projections.CustomerQuery) ([]projections.Customer, int, error)
	Account(ctx context.Context, cp, guid string) (projections.Account, bool)
	CustomerAccounts(ctx context.Context, cp, customerGUID string) ([]projections.Account, bool)
	ListAccounts(ctx context.Context, q projections.AccountQuery) ([]projections.Account, int, error)
	Segments(ctx context.Context, cp string, names []string) map[string][]projections.Account
	// Asset is the platform's asset and its issuer, to describe an account's holdings.
	Asset() (asset money.Asset, issuer string)
}

// customerRoutes are the routes of customers, digital entities and segments.
func customerRoutes(svc CustomerService) []Route {
	_ = svc
	return nil
}
