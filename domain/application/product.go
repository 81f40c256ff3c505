package application

import (
	"fmt"
	"strings"
)

// Product is an API product: a named part of Kazna's bank API that an application subscribes to (guide
// sections grouped the way a bank's developer portal groups its APIs).
type Product string

// The products. ReadOnly grants every read endpoint of the others; the rest grant their own endpoints, reads
// and writes.
const (
	ProductCustomers      Product = "customers"
	ProductAccounts       Product = "accounts"
	ProductPayments       Product = "payments"
	ProductEmission       Product = "emission"
	ProductLimits         Product = "limits"
	ProductReconciliation Product = "reconciliation"
	ProductReadOnly       Product = "read-only"
)

// ProductSpec describes a product in the catalogue.
type ProductSpec struct {
	Name        Product
	Title       string
	Description string
	// Sensitive products move money or create it: a subscription is a request the platform administrator
	// approves or rejects. Others are granted at once.
	Sensitive bool
}

// catalogue is every product, in a fixed order: a product's index is its bit in a ProductSet.
var catalogue = []ProductSpec{
	{ProductCustomers, "Customers", "Register customers, open their wallets, KYC data and segments.", false},
	{ProductAccounts, "Accounts", "Digital entities and accounts: open, block, balances.", false},
	{ProductPayments, "Payments", "Create, confirm and cancel transfers; read their history.", true},
	{ProductEmission, "Emission", "Issue and burn e-money against the reserve.", true},
	{ProductLimits, "Limits", "Individual and standard limits of customers and segments.", false},
	{ProductReconciliation, "Reconciliation", "Inter-bank reconciliation reports and their statuses.", false},
	{ProductReadOnly, "Read-only", "Every read endpoint of the products above, and the dictionaries.", false},
}

// Catalogue returns the products in catalogue order. The slice is a copy.
func Catalogue() []ProductSpec { return append([]ProductSpec(nil), catalogue...) }

// Index is the product's position in the catalogue (its bit in a ProductSet), or -1 for an unknown product.
func (p Product) Index() int {
	for i, s := range catalogue {
		if s.Name == p {
			return i
		}
	}
	return -1
}

// Known reports whether p is in the catalogue.
func (p Product) Known() bool { return p.Index() >= 0 }

// Sensitive reports whether a subscription to p needs the platform's approval.
func (p Product) Sensitive() bool {
	if i := p.Index(); i >= 0 {
		return catalogue[i].Sensitive
	}
	return false
}

// ProductAt is the product with index i; "" outside the catalogue.
func ProductAt(i int) Product {
	if i < 0 || i >= len(catalogue) {
		return ""
	}
	return catalogue[i].Name
}

// ProductCount is the number of products in the catalogue.
func ProductCount() int { return len(catalogue) }

// ProductSet is a set of products, one bit per catalogue index: cheap to carry on every request.
type ProductSet uint16

// With returns the set with p added (unchanged for an unknown product).
func (s ProductSet) With(p Product) ProductSet {
	if i := p.Index(); i >= 0 {
		return s | 1<<i
	}
	return s
}

// Has reports whether p is in the set.
func (s ProductSet) Has(p Product) bool {
	i := p.Index()
	return i >= 0 && s&(1<<i) != 0
}

// Products lists the set's products in catalogue order.
func (s ProductSet) Products() []Product {
	var out []Product
	for i, spec := range catalogue {
		if s&(1<<i) != 0 {
			out = append(out, spec.Name)
		}
	}
	return out
}

// String is the set as an OAuth scope: product names separated by spaces, in catalogue order.
func (s ProductSet) String() string {
	var b strings.Builder
	for _, p := range s.Products() {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(string(p))
	}
	return b.String()
}

// ParseScope reads an OAuth scope (RFC 6749 §3.3: names separated by spaces) of product names.
func ParseScope(scope string) (ProductSet, error) {
	var s ProductSet
	for _, name := range strings.Fields(scope) {
		p := Product(name)
		if !p.Known() {
			return 0, fmt.Errorf("application: unknown product %q in the scope", name)
		}
		s = s.With(p)
	}
	return s, nil
}

// Plan is a tariff plan: how fast and how much an application may call one product.
type Plan struct {
	Name string
	// RatePerMinute bounds the calls admitted in one minute.
	RatePerMinute int
	// MonthlyQuota bounds the calls admitted in one calendar month (UTC).
	MonthlyQuota int64
}

// plans are the tariff plans every product offers.
var plans = []Plan{
	{Name: "basic", RatePerMinute: 60, MonthlyQuota: 10_000},
	{Name: "standard", RatePerMinute: 600, MonthlyQuota: 1_000_000},
	{Name: "premium", RatePerMinute: 6_000, MonthlyQuota: 50_000_000},
	// enterprise is for a bank's core system: 1,000 calls a second.
	{Name: "enterprise", RatePerMinute: 60_000, MonthlyQuota: 2_000_000_000},
}

// Plans returns the tariff plans. The slice is a copy.
func Plans() []Plan { return append([]Plan(nil), plans...) }

// PlanByName finds a plan.
func PlanByName(name string) (Plan, bool) {
	for _, p := range plans {
		if p.Name == name {
			return p, true
		}
	}
	return Plan{}, false
}
