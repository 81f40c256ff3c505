package employee

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/kazna-ledger/kazna/command"
	"github.com/kazna-ledger/kazna/domain/text"
	"github.com/kazna-ledger/kazna/domain/uniqueness"
)

// Bounds.
const (
	MaxLoginBytes     = 254 // an e-mail address (RFC 5321)
	MaxNameRunes      = 100
	MaxPhoneBytes     = 32
	MaxRoles          = 32
	MaxRoleNameRunes  = 100
	MaxPasswordHash   = 512
	MinTokenBytes     = 16 // a raw token shorter than this is guessable
	MaxTokenBytes     = 512
	MaxVerificationTT = 7 * 24 * time.Hour
)

// Stream is the stream of the employee with this GUID.
func Stream(guid uuid.UUID) string { return "employee-" + guid.String() }

// LoginStream is the reservation stream of a login within a counterparty (see package uniqueness).
func LoginStream(counterpartyGUID uuid.UUID, login string) string {
	return uniqueness.Stream("employee-login-"+counterpartyGUID.String()+"-", login)
}

// HashToken is the stored form of a raw verification token: hex SHA-256. A fast hash is enough because
// the token is random, single-use and short-lived, unlike a password.
func HashToken(raw string) string {
	sum := sha256.Sum256([]byte(raw))
	return hex.EncodeToString(sum[:])
}

// Profile is what an administrator may change.
type Profile struct {
	// Login is how the employee signs in, usually the e-mail address; stored lower-case.
	Login        string `json:"login"`
	Email        string `json:"email,omitempty"`
	Name         string `json:"name"`
	Surname      string `json:"surname,omitempty"`
	PaternalName string `json:"paternal_name,omitempty"`
	Phone        string `json:"phone,omitempty"`
	// BranchGUID is empty for an employee who sees the whole counterparty (guide §16.1).
	BranchGUID string `json:"branch_guid,omitempty"`
}

// Verification is an issued one-time token.
type Verification struct {
	TokenSHA256 string
	ExpiresAt   time.Time
	Used        bool
}

// State is an employee as decisions need it.
type State struct {
	Exists           bool
	GUID             string
	CounterpartyGUID string
	Profile          Profile
	Roles            []string
	Disabled         bool
	Verified         bool
	PasswordHash     string
	Verification     Verification
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// ProfileInput is a profile as a command gives it.
type ProfileInput struct {
	Login        string    `json:"login"`
	Email        string    `json:"email"`
	Name         string    `json:"name"`
	Surname      string    `json:"surname"`
	PaternalName string    `json:"paternal_name"`
	Phone        string    `json:"phone"`
	BranchGUID   uuid.UUID `json:"branch_guid"`
}

// Commands.
type (
	Create struct {
		GUID             uuid.UUID    `json:"guid"`
		CounterpartyGUID uuid.UUID    `json:"counterparty_guid"`
		Profile          ProfileInput `json:"profile"`
		Roles            []string     `json:"roles"`
		At               time.Time    `json:"at"`
	}
	// Update replaces the profile; a new login needs its claim first (LoginStream).
	Update struct {
		Profile ProfileInput `json:"profile"`
		At      time.Time    `json:"at"`
	}
	Disable struct {
		At time.Time `json:"at"`
	}
	Enable struct {
		At time.Time `json:"at"`
	}
	// IssueVerification replaces any earlier token with Token (raw, random, from the app layer), valid
	// until At+TTL.
	IssueVerification struct {
		Token string        `json:"-"` // never in a fingerprint or a log
		TTL   time.Duration `json:"ttl"`
		At    time.Time     `json:"at"`
	}
	// SetPassword sets the password hash if Token is the current, unused, unexpired token.
	SetPassword struct {
		Token        string    `json:"-"`
		PasswordHash string    `json:"-"`
		At           time.Time `json:"at"`
	}
	ChangeRoles struct {
		Roles []string  `json:"roles"`
		At    time.Time `json:"at"`
	}
)

// Event is an event of an employee stream; every type name starts with "Employee".
type Event interface{ isEmployeeEvent() }

type (
	EmployeeCreated struct {
		GUID             string    `json:"guid"`
		CounterpartyGUID string    `json:"counterparty_guid"`
		Profile          Profile   `json:"profile"`
		Roles            []string  `json:"roles"`
		At               time.Time `json:"at"`
	}
	EmployeeUpdated struct {
		GUID             string    `json:"guid"`
		CounterpartyGUID string    `json:"counterparty_guid"`
		Profile          Profile   `json:"profile"`
		At               time.Time `json:"at"`
	}
	EmployeeDisabled struct {
		GUID             string    `json:"guid"`
		CounterpartyGUID string    `json:"counterparty_guid"`
		At               time.Time `json:"at"`
	}
	EmployeeEnabled struct {
		GUID             string    `json:"guid"`
		CounterpartyGUID string    `json:"counterparty_guid"`
		At               time.Time `json:"at"`
	}
	EmployeeVerificationIssued struct {
		GUID             string    `json:"guid"`
		CounterpartyGUID string    `json:"counterparty_guid"`
		TokenSHA256      string    `json:"token_sha256"`
		ExpiresAt        time.Time `json:"expires_at"`
		At               time.Time `json:"at"`
	}
	// EmployeePasswordSet carries the password hash because the log is the only state: the sign-in read
	// model needs it. It is a slow salted hash (auth.HashPassword), never the password.
	EmployeePasswordSet struct {
		GUID             string    `json:"guid"`
		CounterpartyGUID string    `json:"counterparty_guid"`
		PasswordHash     string    `json:"password_hash"`
		At               time.Time `json:"at"`
	}
	EmployeeRolesChanged struct {
		GUID             string    `json:"guid"`
		CounterpartyGUID string    `json:"counterparty_guid"`
		Roles            []string  `json:"roles"`
		At               time.Time `json:"at"`
	}
)

func (EmployeeCreated) isEmployeeEvent()            {}
func (EmployeeUpdated) isEmployeeEvent()            {}
func (EmployeeDisabled) isEmployeeEvent()           {}
func (EmployeeEnabled) isEmployeeEvent()            {}
func (EmployeeVerificationIssued) isEmployeeEvent() {}
func (EmployeePasswordSet) isEmployeeEvent()        {}
func (EmployeeRolesChanged) isEmployeeEvent()       {}

// Evolve folds one event into the state.
func Evolve(s State, e Event) State {
	switch e := e.(type) {
	case EmployeeCreated:
		s = State{Exists: true, GUID: e.GUID, CounterpartyGUID: e.CounterpartyGUID, Profile: e.Profile,
			Roles: slices.Clone(e.Roles), CreatedAt: e.At, UpdatedAt: e.At}
	case EmployeeUpdated:
		s.Profile, s.UpdatedAt = e.Profile, e.At
	case EmployeeDisabled:
		s.Disabled, s.UpdatedAt = true, e.At
	case EmployeeEnabled:
		s.Disabled, s.UpdatedAt = false, e.At
	case EmployeeVerificationIssued:
		s.Verification = Verification{TokenSHA256: e.TokenSHA256, ExpiresAt: e.ExpiresAt}
	case EmployeePasswordSet:
		s.PasswordHash, s.Verified, s.Verification.Used, s.UpdatedAt = e.PasswordHash, true, true, e.At
	case EmployeeRolesChanged:
		s.Roles, s.UpdatedAt = slices.Clone(e.Roles), e.At
	}
	return s
}

// Decide decides a command in a state.
func Decide(s State, cmd any) ([]Event, error) {
	if c, ok := cmd.(Create); ok {
		return decideCreate(s, c)
	}
	if _, known := cmd.(interface{ employeeCommand() }); !known {
		return nil, fmt.Errorf("%w: %T", ErrUnknownCommand, cmd)
	}
	if !s.Exists {
		return nil, ErrNotFound
	}
	id, cp := s.GUID, s.CounterpartyGUID
	switch c := cmd.(type) {
	case Update:
		p, err := c.Profile.normalise()
		if err != nil {
			return nil, err
		}
		if p == s.Profile {
			return nil, nil
		}
		return []Event{EmployeeUpdated{GUID: id, CounterpartyGUID: cp, Profile: p, At: c.At}}, nil
	case Disable:
		if s.Disabled {
			return nil, nil
		}
		return []Event{EmployeeDisabled{GUID: id, CounterpartyGUID: cp, At: c.At}}, nil
	case Enable:
		if !s.Disabled {
			return nil, nil
		}
		return []Event{EmployeeEnabled{GUID: id, CounterpartyGUID: cp, At: c.At}}, nil
	case IssueVerification:
		if s.Disabled {
			return nil, ErrDisabled
		}
		if len(c.Token) < MinTokenBytes || len(c.Token) > MaxTokenBytes {
			return nil, invalid("token", fmt.Sprintf("must be %d to %d bytes", MinTokenBytes, MaxTokenBytes))
		}
		if c.TTL <= 0 || c.TTL > MaxVerificationTT {
			return nil, invalid("ttl", fmt.Sprintf("must be positive and at most %v", MaxVerificationTT))
		}
		return []Event{EmployeeVerificationIssued{GUID: id, CounterpartyGUID: cp, TokenSHA256: HashToken(c.Token), ExpiresAt: c.At.Add(c.TTL), At: c.At}}, nil
	case SetPassword:
		if s.Disabled {
			return nil, ErrDisabled
		}
		if c.PasswordHash == "" || len(c.PasswordHash) > MaxPasswordHash {
			return nil, invalid("password_hash", fmt.Sprintf("must be 1 to %d bytes", MaxPasswordHash))
		}
		v := s.Verification
		if v.TokenSHA256 == "" || len(c.Token) > MaxTokenBytes ||
			subtle.ConstantTimeCompare([]byte(HashToken(c.Token)), []byte(v.TokenSHA256)) != 1 {
			return nil, ErrTokenInvalid
		}
		if v.Used {
			return nil, ErrTokenUsed
		}
		if !c.At.Before(v.ExpiresAt) {
			return nil, ErrTokenExpired
		}
		return []Event{EmployeePasswordSet{GUID: id, CounterpartyGUID: cp, PasswordHash: c.PasswordHash, At: c.At}}, nil
	case ChangeRoles:
		roles, err := normaliseRoles(c.Roles)
		if err != nil {
			return nil, err
		}
		if slices.Equal(roles, s.Roles) {
			return nil, nil
		}
		return []Event{EmployeeRolesChanged{GUID: id, CounterpartyGUID: cp, Roles: roles, At: c.At}}, nil
	}
	return nil, fmt.Errorf("%w: %T", ErrUnknownCommand, cmd)
}

func (Update) employeeCommand()            {}
func (Disable) employeeCommand()           {}
func (Enable) employeeCommand()            {}
func (IssueVerification) employeeCommand() {}
func (SetPassword) employeeCommand()       {}
func (ChangeRoles) employeeCommand()       {}

func decideCreate(s State, c Create) ([]Event, error) {
	if c.GUID == uuid.Nil {
		return nil, invalid("guid", "required (a non-zero GUID)")
	}
	if c.CounterpartyGUID == uuid.Nil {
		return nil, invalid("counterparty_guid", "required (a non-zero GUID)")
	}
	if s.Exists {
		return nil, ErrAlreadyExists
	}
	p, err := c.Profile.normalise()
	if err != nil {
		return nil, err
	}
	roles, err := normaliseRoles(c.Roles)
	if err != nil {
		return nil, err
	}
	return []Event{EmployeeCreated{GUID: c.GUID.String(), CounterpartyGUID: c.CounterpartyGUID.String(), Profile: p, Roles: roles, At: c.At}}, nil
}

// normalise checks a profile. The login defaults to the e-mail; the name to the login (the guide's rule).
func (in ProfileInput) normalise() (Profile, error) {
	var p Profile
	var err error
	if p.Email, err = checkEmail(in.Email); err != nil {
		return p, err
	}
	login := strings.TrimSpace(in.Login)
	if login == "" {
		login = p.Email
	}
	if login == "" || len(login) > MaxLoginBytes || !utf8.ValidString(login) ||
		strings.ContainsFunc(login, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return p, invalid("login", fmt.Sprintf("required: 1 to %d bytes with no spaces (or an email)", MaxLoginBytes))
	}
	p.Login = strings.ToLower(login)
	for _, f := range []struct {
		field string
		in    string
		out   *string
	}{{"name", in.Name, &p.Name}, {"surname", in.Surname, &p.Surname}, {"paternal_name", in.PaternalName, &p.PaternalName}} {
		if *f.out, err = checkText(f.field, f.in, MaxNameRunes); err != nil {
			return p, err
		}
	}
	if p.Name == "" {
		p.Name = p.Login
	}
	if p.Phone, err = checkPhone(in.Phone); err != nil {
		return p, err
	}
	if in.BranchGUID != uuid.Nil {
		p.BranchGUID = in.BranchGUID.String()
	}
	return p, nil
}

func checkText(field, s string, maxRunes int) (string, error) {
	clean, err := text.Clean(s, text.Rule{MaxRunes: maxRunes})
	if err != nil {
		return "", invalid(field, err.Error())
	}
	return clean, nil
}

// checkEmail is deliberately loose (one @, something on each side, a dot in the domain, no spaces): the
// verification mail is the real check.
func checkEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	at := strings.LastIndexByte(s, '@')
	if len(s) > MaxLoginBytes || !utf8.ValidString(s) || at < 1 || at == len(s)-1 || strings.Count(s, "@") != 1 ||
		!strings.Contains(s[at+1:], ".") || strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return "", invalid("email", "is not an e-mail address")
	}
	return strings.ToLower(s), nil
}

// checkPhone is text.Phone, refused under this package's field name.
func checkPhone(s string) (string, error) {
	out, err := text.Phone(s, MaxPhoneBytes)
	if err != nil {
		return "", invalid("phone", err.Error())
	}
	return out, nil
}

// normaliseRoles trims, sorts and deduplicates role names so that equal sets compare equal.
func normaliseRoles(in []string) ([]string, error) {
	if len(in) > MaxRoles {
		return nil, invalid("roles", fmt.Sprintf("at most %d roles", MaxRoles))
	}
	out := make([]string, 0, len(in))
	for _, r := range in {
		name, err := checkText("roles", r, MaxRoleNameRunes)
		if err != nil {
			return nil, err
		}
		if name == "" {
			return nil, invalid("roles", "a role name is empty")
		}
		out = append(out, name)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// Decider is the employee aggregate.
var Decider = command.Decider[State, any, Event]{Evolve: Evolve, Decide: Decide}

// Events is the codec of employee streams.
var Events = newEvents()

func newEvents() *command.Registry[Event] {
	r := command.NewRegistry[Event]()
	// Fixed names of distinct concrete types: these cannot fail, and a test checks every type round-trips.
	_ = errors.Join(
		command.Register[Event, EmployeeCreated](r, "EmployeeCreated"),
		command.Register[Event, EmployeeUpdated](r, "EmployeeUpdated"),
		command.Register[Event, EmployeeDisabled](r, "EmployeeDisabled"),
		command.Register[Event, EmployeeEnabled](r, "EmployeeEnabled"),
		command.Register[Event, EmployeeVerificationIssued](r, "EmployeeVerificationIssued"),
		command.Register[Event, EmployeePasswordSet](r, "EmployeePasswordSet"),
		command.Register[Event, EmployeeRolesChanged](r, "EmployeeRolesChanged"),
	)
	return r
}

// EventTypePrefixes select this package's events in a projection filter.
var EventTypePrefixes = []string{"Employee"}
