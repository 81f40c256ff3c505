package category

import "github.com/google/uuid"

// standardNamespaceDocument names the namespace of the standard categories' GUIDs. Changing it changes every
// standard GUID, and a node would seed the categories a second time under new streams.
const standardNamespaceDocument = "https://github.com/kazna-ledger/kazna/categories"

var standardNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte(standardNamespaceDocument))

// StandardGUID is the GUID of the standard category with this code: UUIDv5 of the code, so that every node,
// every restart and every bank's records name the same category.
func StandardGUID(code string) uuid.UUID { return uuid.NewSHA1(standardNamespace, []byte(code)) }

// Definition is one standard category: its code (the name) and the guide's meaning of it.
type Definition struct {
	Name        string
	Description string
}

// standard is guide §13's table, in its order. The list can be extended through the API; these are the
// categories every platform starts with.
var standard = []Definition{
	{"01", "Cash withdrawal at an ATM"},
	{"02", "Cash withdrawal at the bank's cash desk"},
	{"03", "Cash withdrawal from POS"},
	{"04", "Cash replenishment through the bank's cash desk"},
	{"10", "Payment by requisites"},
	{"11", "Payment for eCOM services (within the bank)"},
	{"12", "Payment for eCOM services (third-party resources)"},
	{"13", "Payment by POS"},
	{"14", `Payment via QR ("DirectPay")`},
	{"20", "Transfer to account (within the bank)"},
	{"21", "Transfer to an account (to another bank)"},
	{"30", "Transfer from another account (within the bank)"},
	{"31", "Top up from another account (third-party bank/resource)"},
	{"32", "Card top-up"},
	{"40", "Deduction of bank commission"},
	{"50", "Technical payments (chargebacks, etc.)"},
	{"51", "Full refund"},
	{"52", "Refund of part of the amount"},
}

// Standard returns the guide's categories in the guide's order. The slice is a copy.
func Standard() []Definition { return append([]Definition(nil), standard...) }
